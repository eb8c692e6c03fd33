"""The dimension glossary used in shape comments and shape errors across seqlab.

Every line of seqlab that changes a tensor's shape carries a trailing comment such as
``# (B, T, H)``. The letters mean:

==== ==========================================
B    batch size
T    source / time length
S    target length
E    input (embedding) size
H    hidden size
G    number of stacked gates (1 RNN, 3 GRU, 4 LSTM)
D    directions (1 or 2)
L    layers
V    vocabulary size
C    classes
K    beam size
nh   attention heads
hs   head size
==== ==========================================
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["check_shape", "format_shape"]


def format_shape(shape: Sequence[object]) -> str:
    """``(3, 5)`` for a shape; names are kept as given (``(B, T, E=10)``)."""
    inner = ", ".join(str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def check_shape(
    tensor: torch.Tensor, expected: Sequence[int | str | None], name: str = "input"
) -> None:
    """Raise ``ValueError`` unless ``tensor`` has ``len(expected)`` dims matching ``expected``.

    ``expected`` holds an int (that size), a glossary letter or ``None`` (any size), or a
    string such as ``"E=10"`` (the letter is for the message, the number is checked).

    >>> check_shape(torch.zeros(3, 5), ("B", "E=4"))
    Traceback (most recent call last):
    ...
    ValueError: expected input of shape (B, E=4), got (3, 5)
    """
    ok = tensor.dim() == len(expected)
    if ok:
        for size, want in zip(tensor.shape, expected, strict=True):
            if isinstance(want, int) and size != want:
                ok = False
            elif isinstance(want, str) and "=" in want and size != int(want.split("=")[1]):
                ok = False
    if not ok:
        raise ValueError(
            f"expected {name} of shape {format_shape(expected)}, "
            f"got {format_shape(tuple(tensor.shape))}"
        )
