"""Argument checks shared by every config (``TrainConfig``, the embedding trainers, the task
configs): each raises ``ValueError`` with a message that names the field and the value."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

__all__ = [
    "check_choice",
    "check_positive_float",
    "check_positive_int",
    "from_fields",
    "is_float_in",
    "is_int",
    "is_number",
    "require",
]


def require(condition: bool, message: str) -> None:
    """``ValueError(message)`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(message)


def is_int(value: object) -> bool:
    """True for a Python or NumPy integer that is not a bool."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """True for a finite real number (int or float, not a bool)."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    return ok and math.isfinite(value)


def is_float_in(value: object, low: float, high: float, *, closed_high: bool = True) -> bool:
    """True for a real number (not a bool, not NaN) in [low, high] (or [low, high))."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return False
    return low <= value <= high if closed_high else low <= value < high


def check_positive_int(name: str, value: object, *, allow_none: bool = False) -> None:
    """``value`` is an integer > 0 (or None when ``allow_none``)."""
    if allow_none and value is None:
        return
    require(is_int(value) and value > 0, f"{name} must be a positive integer, got {value!r}")


def check_positive_float(name: str, value: object, *, allow_none: bool = False) -> None:
    """``value`` is a finite number > 0 (or None when ``allow_none``)."""
    if allow_none and value is None:
        return
    require(is_number(value) and value > 0, f"{name} must be > 0, got {value!r}")


def check_choice(name: str, value: object, options: Iterable[str]) -> None:
    """``value`` is one of ``options`` (a ``Literal``'s ``get_args``)."""
    options = tuple(options)
    require(value in options, f"{name} must be one of {list(options)}, got {value!r}")


def from_fields(cls: type[T], d: Mapping[str, Any]) -> T:
    """``cls(**d)`` for a dataclass, with a ``ValueError`` naming any field it lacks."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
    return cls(**d)
