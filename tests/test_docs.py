"""The documentation's links and API references point at things that exist.

`make docs` (part of `make test`, and so of CI) builds the site with ``mkdocs build --strict``,
which checks the links between pages and every ``::: seqlab.xxx`` block; these tests check the
same without mkdocs, plus what mkdocs does not see: README.md's links (README is not a page of
the site), and that no page points at a folder a user's clone does not have.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", *DOCS.rglob("*.md")])

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
_CODE_SPAN = re.compile(r"``.+?``|`[^`\n]+`", re.DOTALL)
# [text](target) and ![alt](target), target without spaces, optional "title".
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_API_BLOCK = re.compile(r"^:::\s+([\w.]+)\s*$", re.MULTILINE)
_MEMBERS = re.compile(r"^\s+members:\s*\[([^\]]*)\]\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text with fenced code blocks and inline code removed (links there are not links)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def _links(page: Path) -> list[str]:
    return _LINK.findall(_prose(page.read_text(encoding="utf-8")))


def _relative(target: str) -> bool:
    return not re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, re.IGNORECASE)


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def test_pages_are_found() -> None:
    names = {_name(p) for p in PAGES}
    assert {"README.md", "docs/index.md", "docs/api/nn.md"} <= names


def test_link_pattern_reads_links_and_images_but_not_code() -> None:
    text = '[a](x.md) ![b](img/y.png "t") [c](<z w.md>) `[d](no.md)`\n```\n[e](no.md)\n```\n'
    assert _LINK.findall(_prose(text)) == ["x.md", "img/y.png"]


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_relative_links_point_to_existing_files(page: Path) -> None:
    broken = []
    for target in _links(page):
        if not _relative(target):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        if path and not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{_name(page)} links to missing files: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_no_link_leaves_the_repository_or_the_site(page: Path) -> None:
    """A docs page links within docs/ (mkdocs copies nothing else); no page names ../shared."""
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text and "shared/data" not in text, (
        f"{_name(page)} refers to a shared/ folder that a user's clone does not have"
    )
    root = ROOT if page.name == "README.md" and page.parent == ROOT else DOCS
    for target in _links(page):
        if _relative(target):
            resolved = (page.parent / target.split("#", 1)[0]).resolve()
            assert resolved.is_relative_to(root), f"{_name(page)}: {target} leaves {root.name}/"


def _api_references() -> list[tuple[str, str, list[str]]]:
    """(page, identifier, members) for every ``::: identifier`` block of the docs."""
    refs = []
    for page in DOCS.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        blocks = list(_API_BLOCK.finditer(text))
        for k, block in enumerate(blocks):
            end = blocks[k + 1].start() if k + 1 < len(blocks) else len(text)
            options = _MEMBERS.search(text, block.end(), end)
            members = (
                [m.strip().strip("'\"") for m in options.group(1).split(",") if m.strip()]
                if options
                else []
            )
            refs.append((_name(page), block.group(1), members))
    return sorted(refs)


def test_the_api_reference_covers_every_public_package() -> None:
    identifiers = {ident for _, ident, _ in _api_references()}
    packages = "nn functional models decoding metrics embeddings data train tasks viz".split()
    assert not [p for p in packages if f"seqlab.{p}" not in identifiers]


@pytest.mark.parametrize(
    ("page", "identifier", "members"),
    _api_references(),
    ids=[f"{p}:{i}" for p, i, _ in _api_references()],
)
def test_api_references_exist(page: str, identifier: str, members: list[str]) -> None:
    """Each ``::: seqlab.xxx`` names a module (or a module's attribute) that imports."""
    module_name, obj = identifier, None
    while True:
        try:
            obj = importlib.import_module(module_name)
            break
        except ModuleNotFoundError as error:  # seqlab.x.Name: try the module seqlab.x
            if "." not in module_name or error.name != module_name:
                raise
            module_name = module_name.rsplit(".", 1)[0]
    for attr in identifier[len(module_name) :].strip(".").split("."):
        if attr:
            assert hasattr(obj, attr), f"{page}: {identifier} is gone ({module_name} has no {attr})"
            obj = getattr(obj, attr)
    missing = [m for m in members if not hasattr(obj, m)]
    assert not missing, f"{page}: {identifier} has no {missing}"
    exported = set(getattr(obj, "__all__", []))
    if identifier.count(".") == 1 and exported:  # a package page: its __all__ must import
        assert not [n for n in exported if not hasattr(obj, n)], f"{identifier}.__all__"


def _rst_markup():
    """docs/_griffe/rst_markup.py, the griffe extension that turns reST habits into Markdown."""
    pytest.importorskip("griffe")  # the docs extra; under CI=true its absence fails (conftest)
    spec = importlib.util.spec_from_file_location("rst_markup", DOCS / "_griffe" / "rst_markup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rst_markup_turns_rest_habits_into_markdown() -> None:
    rst = _rst_markup()
    import griffe

    obj = griffe.Module("seqlab.example")
    text = """Step a<t> from a<t-1>; P(y* | x) > P(ŷ | x) but *emphasis* stays.

See :class:`~seqlab.nn.GRU`, :func:`helper` and :math:`x_t`; ``<EOS>`` stays code.

* an item continued
  on a second line with a literal block::

      p_n = 2/7

Shape:
    x: (B, E) -> (B, H)

>>> 1 + 1
2
"""
    md = rst.convert(obj, text)
    assert "a&lt;t> from a&lt;t-1>" in md
    assert r"P(y\* | x)" in md and "*emphasis*" in md
    assert '<autoref identifier="seqlab.nn.GRU" optional><code>GRU</code></autoref>' in md
    assert "`helper`" in md and "`x_t`" in md and "``<EOS>``" in md
    assert "    on a second line with a literal block:\n\n    ```text\n    p_n = 2/7\n    ```" in md
    assert "**Shape:**\n\n```text\nx: (B, E) -> (B, H)\n```" in md
    assert "```pycon\n>>> 1 + 1\n2\n```" in md
