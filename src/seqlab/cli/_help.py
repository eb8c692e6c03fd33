"""How every command's ``--help`` reads, applied once where the CLI builds its commands.

* A flag takes no value, so it shows no ``<bool>`` type (typer shows one for every option).
* Arguments are named in upper case without braces everywhere (``MODEL_DIR``,
  ``[TEXTS]...`` when optional), as in the usage line of most tools, instead of typer's
  ``{model_dir}`` next to an explicit ``{IN}``.
* Help text comes from docstrings written for the API docs: ``x`` (reST literals) shows
  as plain x, and the lines of a paragraph are joined so that the terminal, not the
  docstring's line length, decides where they wrap (lists and ``\\b`` blocks keep their lines).

The same classes convert plain values without importing Pydantic (:mod:`seqlab.cli._values`).
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from seqlab.cli._values import fast_runtime_param

_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
_LIST_ITEM = re.compile(r"\s*(?:[-*•]|\d+[.)])\s")


def _direct_runtime_param(self: Any) -> Any:
    """typer's converter of a parameter's values, made by :func:`fast_runtime_param`."""
    if self._runtime_param is None:
        self._runtime_param = fast_runtime_param(self.type_descriptor)
    return self._runtime_param


class _Option(TyperOption):
    """An option whose help shows no type when it is a flag."""

    get_runtime_param = _direct_runtime_param

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return super().display_type_rich(ctx)


class _Argument(TyperArgument):
    """An argument named in upper case: ``MODEL_DIR`` (required), ``[TEXTS]...`` (optional)."""

    get_runtime_param = _direct_runtime_param

    @property
    def display_name_raw(self) -> str:
        if self.metavar is not None:
            return self.metavar
        return (self.name or "").upper()

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        if not self.required:
            name = f"[{name}]"
        if self.nargs != 1:
            name += "..."
        return name


def _flag_help_option(option: Any) -> Any:
    """The ``--help`` option (click makes it per command, on first use) is a flag too."""
    if option is not None and type(option) is TyperOption:
        option.__class__ = _Option
    return option


class PolishedCommand(TyperCommand):
    """A command rendered by the rules above."""

    def get_help_option(self, ctx: Any) -> Any:
        return _flag_help_option(super().get_help_option(ctx))


class PolishedGroup(TyperGroup):
    """A group rendered by the rules above."""

    def get_help_option(self, ctx: Any) -> Any:
        return _flag_help_option(super().get_help_option(ctx))


class ListingGroup(PolishedGroup):
    """A group whose ``get_command`` may answer a stand-in while its help lists the
    commands (``self._listing``), so that listing a command builds nothing."""

    _listing = False

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def plain_text(text: str | None) -> str | None:
    """Docstring help as terminal help: reST literals unquoted, paragraphs on one line each."""
    if not text:
        return text
    text = _LITERAL.sub(r"\1", text)
    paragraphs = re.split(r"\n\s*\n", text.strip("\n"))
    return "\n\n".join(_reflow(p) for p in paragraphs)


def _reflow(paragraph: str) -> str:
    lines = [line.strip() for line in paragraph.splitlines()]
    if paragraph.lstrip(" ").startswith("\b"):  # click's "keep these lines as they are"
        return paragraph
    if not any(_LIST_ITEM.match(line) for line in paragraph.splitlines()):
        return " ".join(line for line in lines if line)
    items: list[str] = []
    for raw, line in zip(paragraph.splitlines(), lines, strict=True):
        if _LIST_ITEM.match(raw) or not items:
            items.append(line)
        elif line:
            items[-1] += " " + line
    return "\n".join(items)


def polish(command: Any) -> Any:
    """Apply the rules above to ``command`` and every command under it; return it."""
    if type(command) is TyperCommand:
        command.__class__ = PolishedCommand
    elif type(command) is TyperGroup:
        command.__class__ = PolishedGroup
    polish_params(command.params)
    command.help = plain_text(command.help)
    if isinstance(command.short_help, str):
        command.short_help = plain_text(command.short_help)
    for sub in (getattr(command, "commands", None) or {}).values():
        polish(sub)
    return command


def polish_params(params: list[Any]) -> None:
    """Flags without a type, arguments in upper case, help text unquoted (in place)."""
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _Option
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
        if isinstance(getattr(param, "help", None), str):
            param.help = _LITERAL.sub(r"\1", param.help)
