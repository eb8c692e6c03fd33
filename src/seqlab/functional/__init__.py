"""Pure tensor functions: recurrent cell steps, backward-through-time kernels, attention."""

from seqlab.functional.attention import (
    additive_attention,
    additive_scores,
    attend,
    dot_attention,
    dot_scores,
    general_attention,
    masked_softmax,
    project_keys,
)
from seqlab.functional.recurrent import gru_cell, lstm_cell, rnn_cell

__all__ = [
    "additive_attention",
    "additive_scores",
    "attend",
    "dot_attention",
    "dot_scores",
    "general_attention",
    "gru_cell",
    "lstm_cell",
    "masked_softmax",
    "project_keys",
    "rnn_cell",
]
