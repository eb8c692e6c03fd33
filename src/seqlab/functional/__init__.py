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
from seqlab.functional.ctc import (
    CTCInfeasibleWarning,
    ctc_feasible,
    ctc_loss,
    ctc_min_input_lengths,
)
from seqlab.functional.recurrent import gru_cell, lstm_cell, rnn_cell
from seqlab.functional.transformer import (
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
    to_torch_mask,
)

__all__ = [
    "CTCInfeasibleWarning",
    "additive_attention",
    "additive_scores",
    "attend",
    "causal_mask",
    "crf_log_partition",
    "crf_nll",
    "crf_score",
    "ctc_feasible",
    "ctc_loss",
    "ctc_min_input_lengths",
    "dot_attention",
    "dot_scores",
    "general_attention",
    "gru_cell",
    "iob2_transition_mask",
    "lstm_cell",
    "masked_softmax",
    "padding_mask",
    "project_keys",
    "rnn_cell",
    "scaled_dot_product_attention",
    "to_torch_mask",
    "transition_mask",
    "viterbi_decode",
]
