"""Command-line values without Pydantic, where the answer is certain.

typer (0.29 and later) turns every command-line string into its parameter's type with a
Pydantic ``TypeAdapter``; importing Pydantic takes about 0.1 s, as long as the rest of
``seqlab bleu``. The values seqlab's commands take are simple (``str``, ``int``, ``float``,
``Path`` and lists of them), so a value written the plain way (``3``, ``-0.5``,
``ref.txt``) is converted here, to what typer would give. Any other spelling (``1_000``,
`` 5``, ``1e3``), a bad value, a path that fails typer's checks, another type or a
constraint (``min=``, a parser, a choice) goes to typer's own conversion, so values,
errors and messages are typer's in every case (tests/test_cli_startup.py compares the two
on random input).

This leans on private names of typer (``_coercion.RuntimeParam``, the per-parameter
converter typer builds lazily, ``build_runtime_param``, ``_param_types.coerce_cli_path``
and ``BadParameter``); with a typer without them, typer's own conversion runs, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

try:  # typer >= 0.29
    from typer._click.exceptions import BadParameter
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path
except ImportError:  # pragma: no cover - other typer versions: typer converts everything
    RuntimeParam = None  # type: ignore[assignment,misc]

__all__ = ["fast_runtime_param"]

_MISS = object()  # "not certain here": typer decides
# what Pydantic's lax int and float read from a string exactly as int() and float() do
_INT = re.compile(r"-?[0-9]{1,18}")
_FLOAT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")

Convert = Callable[[Any, Any, Any], Any]  # (value, param, ctx) -> value or _MISS


def _typer(value: Any, param: Any, ctx: Any) -> Any:
    return _MISS


def _str(value: Any, param: Any, ctx: Any) -> Any:
    return value if type(value) is str else _MISS


def _int(value: Any, param: Any, ctx: Any) -> Any:
    if type(value) is int:
        return value
    if type(value) is str and _INT.fullmatch(value):
        return int(value)
    return _MISS


def _float(value: Any, param: Any, ctx: Any) -> Any:
    if type(value) is float:
        return value
    if type(value) is int and abs(value) < 2**53:  # exactly representable
        return float(value)
    if type(value) is str and _FLOAT.fullmatch(value):
        return float(value)
    return _MISS


def _path(info: Any) -> Convert:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, Path):  # a default: typer's own call, which needs no Pydantic
            return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
        if type(value) is not str:
            return _MISS
        # typer checks (exists, file_okay, ...) and returns Path(value), Pydantic's reading
        # of the string; its messages quote the string as given, so on a failed check typer
        # runs again to word it
        try:
            return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
        except BadParameter:
            return _MISS

    return convert


def _leaf(annotation: Any, info: Any) -> Convert | None:
    """The direct conversion of one value of ``annotation``, or None (typer converts)."""
    if info.parser is not None or getattr(info, "click_type", None) is not None:
        return None
    if annotation is str:
        return _str
    if info.min is not None or info.max is not None or info.clamp:
        return None
    if annotation is int:
        return _int
    if annotation is float:
        return _float
    if annotation is Path and info.path_type is None:
        return _path(info)
    return None


def _list(item: Convert) -> Convert:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, list | tuple):
            return _MISS
        out = [item(v, param, ctx) for v in value]
        return _MISS if any(v is _MISS for v in out) else out

    return convert


def _converter(descriptor: Any) -> Convert | None:
    if descriptor.file_annotation is not None:
        return None
    annotation, info = descriptor.annotation, descriptor.parameter_info
    if get_origin(annotation) is list:
        (item,) = get_args(annotation) or (None,)
        leaf = _leaf(item, info)
        return None if leaf is None else _list(leaf)
    return _leaf(annotation, info)


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _Direct(RuntimeParam):
        """Convert directly where certain; else with typer's converter, built then."""

        convert: Convert
        descriptor: Any

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            out = self.convert(value, param, ctx)
            if out is _MISS:  # once per value at most: no need to keep it
                typer_own = build_runtime_param(self.descriptor)
                return typer_own._coerce_value(value, param=param, ctx=ctx)
            return out


def fast_runtime_param(descriptor: Any) -> Any:
    """The converter for a typer parameter: direct where its type allows, else typer's.

    typer's own converter (and Pydantic) is built only when a value needs it, not when the
    parameter is read (typer asks for the converter before it looks at the value, even for
    a flag left out). None with a typer that has no such converters.
    """
    if RuntimeParam is None:
        return None
    return _Direct(
        parameter_info=descriptor.parameter_info,
        annotation=descriptor.annotation,
        convert=_converter(descriptor) or _typer,
        descriptor=descriptor,
    )
