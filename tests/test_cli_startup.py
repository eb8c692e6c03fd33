"""Start-up: ``import seqlab``, ``seqlab --help`` and ``seqlab bleu`` do not import torch;
``seqlab bleu`` and ``import seqlab.metrics`` import neither NumPy nor Pydantic either.

Each check runs in a fresh interpreter and looks at what got imported (``sys.modules`` or
``-X importtime``), not at the clock: importing torch is what made ``seqlab bleu`` take 1.5 s
instead of 0.2 s, and NumPy (~0.1 s) and Pydantic (typer's value conversion, ~0.1 s) what
kept it at 0.25 s where sacreBLEU's CLI takes 0.1 s. Values converted without Pydantic
(seqlab.cli._values) are compared with typer's own conversion on random input.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

import seqlab
from seqlab.cli import COMMANDS, load_command
from seqlab.cli._help import polish


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it leaves a dict in ``out``; return it."""
    script = f"import json, sys\nout = {{}}\n{code}\nprint(json.dumps(out))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def _heavy(modules: list[str], also: tuple[str, ...] = ()) -> list[str]:
    """The heavy packages among ``modules`` (torch and friends, and the ``also`` ones)."""
    heavy = ("torch", "matplotlib", "numba", *also)
    return sorted(m for m in modules if m.split(".")[0] in heavy)


# what `seqlab bleu` and `import seqlab.metrics` do without (each ~0.1 s to import)
LIGHT = ("numpy", "pydantic")


def test_import_seqlab_and_metrics_do_not_import_torch() -> None:
    out = _fresh(
        "import seqlab, seqlab.metrics\n"
        "out['bleu'] = seqlab.metrics.corpus_bleu(['a cat sat here'], [['a cat sat here']]).score\n"
        "hyps = [f'w{i % 7} w{i % 5} w{i % 3} x' for i in range(500)]\n"
        "out['corpus'] = seqlab.metrics.corpus_bleu(hyps, [hyps]).counts\n"
        "out['modules'] = list(sys.modules)"
    )
    # 500 sentences: fewer than it takes for NumPy's import to pay for itself
    assert _heavy(out["modules"], LIGHT) == []
    assert "seqlab.metrics.tagging" not in out["modules"]  # imported on first use
    assert out["bleu"] == pytest.approx(100.0)
    assert out["corpus"] == [2000, 1500, 1000, 500]  # hypotheses = references, 4 words each


def test_seqlab_help_imports_no_command_module() -> None:
    out = _fresh(
        "import contextlib, io\n"
        "from seqlab.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    out['code'] = main(['--help'])\n"
        "out['help'] = buf.getvalue()\n"
        "out['modules'] = list(sys.modules)"
    )
    assert out["code"] == 0
    assert _heavy(out["modules"], LIGHT) == []
    assert not [
        m
        for m in out["modules"]
        if m.startswith("seqlab.cli.") and m not in ("seqlab.cli._help", "seqlab.cli._values")
    ]
    for name in COMMANDS:  # every command is listed, with its short help
        assert f"\n│ {name} " in out["help"], name
    assert "Versions of seqlab, torch" in out["help"]


@pytest.mark.parametrize("args", [["info", "--help"], ["bleu", "--help"], ["--version"]])
def test_light_commands_do_not_import_torch(args: list[str]) -> None:
    out = _fresh(
        "import contextlib, io\n"
        "from seqlab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    out['code'] = main({args!r})\n"
        "out['modules'] = list(sys.modules)"
    )
    assert out["code"] == 0
    assert _heavy(out["modules"]) == []


def _imported(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``python -X importtime -m seqlab ARGS``; the result and every module it imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "seqlab", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    modules = [line.rsplit("|", 1)[1].strip() for line in lines]
    assert "seqlab.cli" in modules  # the report is read right
    return proc, modules


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--json"],
        ["--width", "3", "--tokenize", "intl", "--smooth-method", "floor", "--smooth-value", "0.2"],
        ["--sentence-level", "--short", "--lowercase"],
        ["--explain"],
    ],
)
def test_seqlab_bleu_imports_neither_torch_numpy_nor_pydantic(
    tmp_path: Path, options: list[str]
) -> None:
    (tmp_path / "ref.txt").write_text("the cat sat on the mat\nhello world\n")
    (tmp_path / "hyp.txt").write_text("the cat sat on a mat\nhello there world\n")
    proc, modules = _imported(["bleu", "ref.txt", "-i", "hyp.txt", *options], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _heavy(modules, (*LIGHT, "rich")) == []
    assert not [m for m in modules if m.startswith(("seqlab.data", "seqlab.metrics.tagging"))]
    if not options:  # sacreBLEU gives 45.91 on these files too
        assert proc.stdout.startswith("BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|")
        assert " = 45.91 77.8/42.9/40.0/33.3 (BP = 1.000 ratio = 1.125 hyp_len = 9" in proc.stdout
    if options == ["--json"]:
        result = json.loads(proc.stdout)
        assert (result["sys_len"], result["ref_len"]) == (9, 8)


def test_a_bad_value_still_gets_typers_message(tmp_path: Path) -> None:
    # a value converted without Pydantic when plain; typer (and Pydantic) decide otherwise
    (tmp_path / "ref.txt").write_text("a b\n")
    proc, modules = _imported(["bleu", "ref.txt", "-i", "ref.txt", "--width", "two"], tmp_path)
    assert proc.returncode == 2
    assert "Invalid value for '--width'" in proc.stderr
    assert "Input should be a valid integer" in proc.stderr  # Pydantic's words
    assert "pydantic" in modules


# ------------------------------------------------------------- values without Pydantic


def _sample(
    text: str = typer.Option("x"),
    whole: int = typer.Option(0),
    real: float = typer.Option(0.0),
    path: Path = typer.Option(Path(".")),
    existing: Path | None = typer.Option(None, exists=True),
    real_file: Path | None = typer.Option(None, exists=True, dir_okay=False, resolve_path=True),
    wholes: list[int] = typer.Option([]),
    paths: list[Path] = typer.Argument(None),
) -> None:
    """Parameters of every type the direct conversion covers."""


def _sample_command() -> Any:
    app = typer.Typer()
    app.command()(_sample)
    return polish(typer.main.get_command(app))


SAMPLE = _sample_command()
PARAMS = {param.name: param for param in SAMPLE.params}
NUMBERS = st.one_of(
    st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{1,17})?", fullmatch=True),  # the plain forms
    st.text(alphabet="0123456789-+._ e,٣", max_size=8),  # and odd ones
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=False),
)
PATHS = st.one_of(
    st.sampled_from(["", ".", "-", "a//b/", "./x", "~/y", "missing.txt", "here.txt", "dir"]),
    st.text(alphabet="ab./-~ ", max_size=6),
    st.builds(Path, st.sampled_from(["here.txt", "dir", "nope"])),
)


def _outcome(converter: Any, value: Any, param: Any) -> tuple[str, str]:
    """What a converter makes of a value: its type and repr, or its error message."""
    from typer._click import Context

    try:
        out = converter.coerce(value, param=param, ctx=Context(SAMPLE))
    except Exception as exc:  # the error itself is the outcome
        message = getattr(exc, "format_message", exc.__str__)()
        return type(exc).__name__, message
    if isinstance(out, float) and math.isnan(out):
        return "float", "nan"
    return type(out).__name__, repr(out)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted(PARAMS)),
    number=NUMBERS,
    path=PATHS,
    many=st.lists(st.one_of(NUMBERS, PATHS), max_size=3),
)
def test_direct_values_equal_typers_own(
    name: str, number: Any, path: Any, many: list[Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    from typer._coercion import build_runtime_param

    from seqlab.cli._values import _Direct

    param = PARAMS[name]
    folder = tmp_path_factory.getbasetemp()
    (folder / "here.txt").touch()
    (folder / "dir").mkdir(exist_ok=True)
    value = {"whole": number, "real": number, "text": number}.get(name, path)
    if name in ("wholes", "paths"):
        value = many
    ours = param.get_runtime_param()
    assert isinstance(ours, _Direct)
    theirs = build_runtime_param(param.type_descriptor)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert _outcome(ours, value, param) == _outcome(theirs, value, param), (name, value)


def test_the_console_script_runs_lazily() -> None:
    # the real entry point (python -m seqlab, sys.exit included), not only main()
    script = (
        "import atexit, json, runpy, sys\n"
        "atexit.register(lambda: sys.stderr.write('\\n' + json.dumps(list(sys.modules))))\n"
        "sys.argv = ['seqlab', 'bleu', '--help']\n"
        "runpy.run_module('seqlab', run_name='__main__')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    imported = json.loads(proc.stderr.splitlines()[-1])
    assert "seqlab.cli.bleu" in imported and _heavy(imported) == []
    assert "Usage: seqlab bleu" in proc.stdout


def test_the_short_help_table_matches_each_group() -> None:
    for name, (_, _, short_help) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        assert command.help == short_help, name  # `seqlab --help` shows what the group says


def test_seqlab_attributes_are_imported_on_first_use() -> None:
    out = _fresh(
        "import seqlab\n"
        "out['before'] = 'seqlab.nn' in sys.modules\n"
        "out['lstm'] = seqlab.nn.LSTM.__name__\n"
        "out['functional'] = seqlab.functional.__name__\n"
        "from seqlab import nn, functional\n"
        "out['same'] = nn is seqlab.nn and functional is seqlab.functional\n"
        "out['dir'] = [n for n in seqlab.__all__ if n not in dir(seqlab)]"
    )
    assert out == {
        "before": False,
        "lstm": "LSTM",
        "functional": "seqlab.functional",
        "same": True,
        "dir": [],
    }
    assert all(hasattr(seqlab, name) for name in seqlab.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        seqlab.nope  # noqa: B018


def test_the_full_command_tree_is_still_reachable() -> None:
    # tests and tools walk the tree: app -> click group -> .commands[...] loads on access
    root = typer.main.get_command(seqlab.cli.app)
    assert list(root.commands) == list(COMMANDS)  # type: ignore[attr-defined]
    train = root.commands["lm"].commands["train"]  # type: ignore[attr-defined]
    assert "steps" in {p.name for p in train.params}
