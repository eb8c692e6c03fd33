# seqlab — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
DEMO_OUT   ?= out/demo
DEMO_ARGS  ?=

.PHONY: demo test test-slow lint docs format bench bench-quick clean

# The virtual environment, installed from the project's own files; torch is pinned by
# constraints.txt (the CPU build on these machines). `make demo` installs seqlab alone;
# `make test` adds the test tools and the docs tools (and so also serves the demo).
$(DEMO_STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e .
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[test,docs]'
	touch $(STAMP) $(DEMO_STAMP)

# DEMO_OUT and DEMO_ARGS (passed to examples/dates.py) let a test run the demo on tiny settings.
demo: $(DEMO_STAMP)
	$(VENV)/bin/seqlab info
	@echo
	$(PY) examples/dates.py --out $(DEMO_OUT)/dates $(DEMO_ARGS)
	@echo
	$(VENV)/bin/seqlab translate decode $(DEMO_OUT)/dates "3 May 1979" "sat 29 feb 2020" "the 4th of July, 1776" --beam 3
	@echo
	@mkdir -p $(DEMO_OUT)
	@printf 'The cat is on the mat.\nThere is a cat on the mat.\n' > $(DEMO_OUT)/bleu-ref.txt
	@printf 'The cat sat on the mat.\nThere is cat on the mat.\n' > $(DEMO_OUT)/bleu-hyp.txt
	$(VENV)/bin/seqlab bleu $(DEMO_OUT)/bleu-ref.txt -i $(DEMO_OUT)/bleu-hyp.txt

test: $(STAMP) lint docs
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The documentation site (docs/, mkdocs.yml) into build/site; --strict makes every warning an
# error: a broken link, a missing page, a docstring griffe cannot parse, an API page whose
# module is gone. NO_MKDOCS_2_WARNING silences mkdocs-material's banner about its future.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir build/site

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	cd benchmarks && ../$(PY) recurrent.py

bench-quick: $(STAMP)
	cd benchmarks && ../$(PY) recurrent.py --quick

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
