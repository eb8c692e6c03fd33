"""Decoding over the step protocol: greedy, sampling, beam search and its error analysis.

Every search works on any model with ``step(tokens, state)`` and ``reorder_state(state,
index)`` (:class:`StepModel`); the model builds the initial state (``init_state(...)``).
"""

from seqlab.decoding.beam import NBestList, beam_search
from seqlab.decoding.error_analysis import (
    ErrorAnalysis,
    ErrorRow,
    analyze_errors,
    format_table,
    write_csv,
)
from seqlab.decoding.greedy import greedy_search, sample_search, sequence_log_prob
from seqlab.decoding.protocol import (
    Hypothesis,
    StepModel,
    normalized_score,
    select_rows,
    state_device,
)
from seqlab.decoding.sampling import filter_logits, sample_next

__all__ = [
    "ErrorAnalysis",
    "ErrorRow",
    "Hypothesis",
    "NBestList",
    "StepModel",
    "analyze_errors",
    "beam_search",
    "filter_logits",
    "format_table",
    "greedy_search",
    "normalized_score",
    "sample_next",
    "sample_search",
    "select_rows",
    "sequence_log_prob",
    "state_device",
    "write_csv",
]
