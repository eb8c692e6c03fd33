"""Griffe extension: render seqlab's reStructuredText-flavoured docstrings as Markdown.

seqlab's docstrings are prose with a few reST habits that Markdown renders badly or hides:

* Sphinx roles (``:class:`Vocab```, ``:func:`~seqlab.decoding.beam_search```) become code,
  linked to the API page that renders the target when there is one. The links are *optional*
  cross-references (mkdocs-autorefs drops a link it cannot resolve without a warning), so a
  renamed module never breaks the strict build;
* a paragraph ending in ``::`` and its indented literal block, a ``Shape:`` section and
  ``>>>`` examples become fenced code blocks;
* bullet items continued with a two-space indent are re-indented to Markdown's four;
* ``<`` outside code (``a<t-1>``, ``<EOS>``) is escaped, so the browser does not take it
  for an HTML tag and hide it, and so is a lone ``*`` after a word (``P(y* | x)``), which
  Markdown would pair with the next one into italics.

mkdocs.yml loads this file with ``extensions: [docs/_griffe/rst_markup.py]``; the build runs
from the repository root. It changes only the rendered docs, never the source.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|data|attr|exc|obj|const|math):`(~?)([^`]+)`")
_CODE_SPAN = re.compile(r"(``.+?``|`[^`\n]+`)", re.DOTALL)
_BULLET = re.compile(r"^(\s*)[*-] ")
_FENCE = "```"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block(lines: list[str], start: int, base: int) -> int:
    """Index after the indented block that starts at ``lines[start]`` (deeper than ``base``)."""
    end = start
    last = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
        if lines[end].strip():
            last = end + 1
        end += 1
    return last


def _fenced(body: list[str], indent: int, lang: str) -> list[str]:
    strip = min((_indent(line) for line in body if line.strip()), default=0)
    pad = " " * indent
    code = [pad + line[strip:] if line.strip() else "" for line in body]
    return [pad + _FENCE + lang, *code, pad + _FENCE, ""]


def _reindent_bullets(lines: list[str]) -> list[str]:
    """Turn reST bullets continued at +2 spaces into Markdown's +4."""
    out: list[str] = []
    bullet: int | None = None
    for line in lines:
        match = _BULLET.match(line)
        if match:
            bullet = len(match.group(1))
            out.append(line)
            continue
        if bullet is not None and line.strip():
            if _indent(line) <= bullet:
                bullet = None
            elif _indent(line) >= bullet + 2:
                line = "  " + line
        out.append(line)
    return out


def _structure(text: str) -> list[tuple[bool, str]]:
    """Split into (is_code, text) chunks, turning literal blocks, shapes and doctests to fences."""
    lines = _reindent_bullets(text.splitlines())
    chunks: list[tuple[bool, str]] = []
    prose: list[str] = []

    def code(block: list[str]) -> None:
        if prose:
            chunks.append((False, "\n".join(prose)))
            prose.clear()
        chunks.append((True, "\n".join(block)))

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        base = _indent(line)
        if stripped.startswith(_FENCE):  # an existing fence: keep it whole
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith(_FENCE):
                end += 1
            code(lines[i : end + 1])
            i = end + 1
        elif stripped.startswith(">>>"):
            end = i
            while end < len(lines) and lines[end].strip():
                end += 1
            code(_fenced(lines[i:end], base, "pycon"))
            i = end
        elif stripped == "Shape:" and i + 1 < len(lines) and _indent(lines[i + 1]) > base:
            end = _block(lines, i + 1, base)
            prose.extend([" " * base + "**Shape:**", ""])
            code(_fenced(lines[i + 1 : end], base, "text"))
            i = end
        elif stripped.endswith("::"):
            head = line.rstrip()[:-2].rstrip()
            start = i + 1
            while start < len(lines) and not lines[start].strip():
                start += 1
            # A bullet's text starts 4 columns in (after _reindent_bullets): its literal block
            # is deeper than that, and the next paragraph of the item is not part of it.
            indent = base + 4 if _BULLET.match(line) else base
            if start < len(lines) and _indent(lines[start]) > indent:
                if head.strip():
                    prose.extend([head + ":" if not head.endswith(":") else head, ""])
                end = _block(lines, start, indent)
                code(_fenced(lines[start:end], indent, "text"))
                i = end
            else:
                prose.append(line)
                i += 1
        else:
            prose.append(line)
            i += 1
    if prose:
        chunks.append((False, "\n".join(prose)))
    return chunks


def _scope_lookup(obj: griffe.Object, name: str) -> str | None:
    """The canonical path of ``name`` as seen from ``obj``'s docstring, if griffe knows it."""
    head, _, rest = name.partition(".")
    scopes: list[griffe.Object] = []
    node: griffe.Object | None = obj
    while node is not None:
        scopes.append(node)
        node = node.parent
    for scope in scopes:
        if head == scope.name and scope.is_module:
            target: Any = scope
        elif head in scope.members:
            target = scope.members[head]
        else:
            continue
        try:
            for part in rest.split(".") if rest else []:
                target = target.members[part]
            return target.canonical_path
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
    return None


def _role(obj: griffe.Object, match: re.Match[str]) -> str:
    kind, tilde, target = match.groups()
    title = target.rsplit(".", 1)[-1] if tilde else target
    if kind == "math":
        return f"`{target}`"
    path = None
    if target.startswith("seqlab."):
        path = target
    else:
        path = _scope_lookup(obj, target)
    if path is None or not path.startswith("seqlab"):
        return f"`{title}`"
    return f'<autoref identifier="{path}" optional><code>{title}</code></autoref>'


def _stars(text: str, emphasis: list[bool]) -> str:
    """Escape a lone ``*`` that ends a word without closing an emphasis (``y*``, ``P(y* | x)``).

    Markdown would pair two of them into italics; reST reads them as plain stars.
    """
    out = []
    for k, char in enumerate(text):
        if char == "\n":
            emphasis[0] = False
        if char != "*" or text[k - 1 : k] == "*" or text[k + 1 : k + 2] == "*":
            out.append(char)
            continue
        before = text[k - 1 : k]
        after = text[k + 1 : k + 2]
        if (not before or before.isspace() or before in "([{'\"") and after and not after.isspace():
            emphasis[0] = True  # opens *emphasis*
            out.append(char)
        elif emphasis[0] or not before or before.isspace():
            emphasis[0] = False  # closes it, or a bullet, or "a * b"
            out.append(char)
        else:
            out.append("\\*")
    return "".join(out)


def convert(obj: griffe.Object, text: str) -> str:
    """Markdown for one docstring of ``obj``."""
    # Roles first touch backticks, so find them before splitting on code spans.
    placeholders: list[str] = []

    def hold(match: re.Match[str]) -> str:
        placeholders.append(_role(obj, match))
        return f"\x00{len(placeholders) - 1}\x00"

    out = []
    for is_code, chunk in _structure(text):
        if is_code:
            out.append(chunk)
        else:
            held = _ROLE.sub(hold, chunk)
            parts = _CODE_SPAN.split(held)
            emphasis = [False]  # an emphasis opened by a lone "*" earlier on the line
            for k in range(0, len(parts), 2):
                parts[k] = _stars(parts[k].replace("<", "&lt;"), emphasis)
            out.append(
                re.sub(r"\x00(\d+)\x00", lambda m: placeholders[int(m.group(1))], "".join(parts))
            )
    return "\n".join(out)


class RstMarkup(griffe.Extension):
    """Rewrite every docstring of the loaded packages once the tree is complete."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and not obj.is_alias:
            obj.docstring.value = convert(obj, obj.docstring.value)
