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
from seqlab.functional.crf import (
    crf_log_partition,
    crf_nll,
    crf_score,
    iob2_transition_mask,
    transition_mask,
    viterbi_decode,
)
from seqlab.functional.recurrent import gru_cell, lstm_cell, rnn_cell

__all__ = [
    "additive_attention",
    "additive_scores",
    "attend",
    "crf_log_partition",
    "crf_nll",
    "crf_score",
    "dot_attention",
    "dot_scores",
    "general_attention",
    "gru_cell",
    "iob2_transition_mask",
    "lstm_cell",
    "masked_softmax",
    "project_keys",
    "rnn_cell",
    "transition_mask",
    "viterbi_decode",
]
