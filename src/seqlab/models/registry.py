"""The model registry: a task config names its architecture, the registry builds it.

Models are registered by *kind* (what the network does for a task: ``"language_model"``
reads tokens and predicts the next one, ``"seq2seq"`` maps a source to a target) and by
*architecture* (``"rnn"`` today; ``"transformer"`` joins the same kinds later). A task's
config holds ``arch``; the task asks the registry for the class, so a Transformer
translator is a config value, not a new task::

    @register_model("seq2seq", "rnn")
    class Seq2Seq(nn.Module):
        config_class = Seq2SeqConfig  # a frozen dataclass with to_dict() / from_dict()
        def __init__(self, config: Seq2SeqConfig) -> None: ...

Every registered class has a ``config_class`` (``to_dict()`` and ``from_dict(d)``, saved as
``config.json``'s ``"model"``) and is built as ``cls(config)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

__all__ = ["build_model", "model_archs", "model_class", "register_model"]

M = TypeVar("M", bound=type[nn.Module])

_MODELS: dict[tuple[str, str], type[nn.Module]] = {}


def register_model(kind: str, arch: str) -> Callable[[M], M]:
    """Class decorator: register a model class as architecture ``arch`` of ``kind``.

    Raises ``TypeError`` when the class has no ``config_class``, ``ValueError`` when another
    class already holds the name.
    """

    def decorate(cls: M) -> M:
        config_class = getattr(cls, "config_class", None)
        if config_class is None or not hasattr(config_class, "from_dict"):
            raise TypeError(
                f"{cls.__name__} needs a config_class with from_dict() to be registered"
            )
        held = _MODELS.get((kind, arch))
        if held is not None and held.__qualname__ != cls.__qualname__:
            raise ValueError(f"{kind} architecture {arch!r} is already {held.__qualname__}")
        _MODELS[(kind, arch)] = cls
        return cls

    return decorate


def model_archs(kind: str) -> list[str]:
    """The architectures registered for ``kind``, sorted."""
    return sorted(arch for k, arch in _MODELS if k == kind)


def model_class(kind: str, arch: str) -> type[nn.Module]:
    """The class registered as ``arch`` of ``kind``; ``ValueError`` naming the choices."""
    try:
        return _MODELS[(kind, arch)]
    except KeyError:
        known = ", ".join(repr(a) for a in model_archs(kind)) or "none"
        raise ValueError(f"unknown {kind} architecture {arch!r} (registered: {known})") from None


def build_model(kind: str, arch: str, config: Any) -> nn.Module:
    """A fresh ``arch`` model of ``kind`` built from its ``config``."""
    cls = model_class(kind, arch)
    if not isinstance(config, cls.config_class):  # type: ignore[attr-defined]
        raise TypeError(
            f"{cls.__name__} takes a {cls.config_class.__name__}, "  # type: ignore[attr-defined]
            f"got {type(config).__name__}"
        )
    return cls(config)
