"""Decoding over the step protocol: greedy, sampling, beam search and its error analysis.

Every search works on any model with ``step(tokens, state)`` and ``reorder_state(state,
index)`` (:class:`StepModel`); the model builds the initial state (``init_state(...)``).
:func:`search` is the driver every task calls: greedy, sampling or beam search over many
inputs, in batches (:class:`SearchConfig`).
"""

from seqlab.decoding.beam import NBestList, beam_search
from seqlab.decoding.ctc import (
    CTCHypothesis,
    Lexicon,
    ShallowFusion,
    ctc_beam_search,
    ctc_collapse,
    ctc_greedy_decode,
)
from seqlab.decoding.error_analysis import (
    ErrorAnalysis,
    ErrorRow,
    analyze_errors,
    format_table,
    write_csv,
)
from seqlab.decoding.greedy import greedy_search, sequence_log_prob
from seqlab.decoding.protocol import (
    Hypothesis,
    StepModel,
    check_search_args,
    normalized_score,
    select_rows,
    state_device,
)
from seqlab.decoding.sampling import filter_logits, sample_next, sample_search, seeded_generator
from seqlab.decoding.search import Sampling, SearchConfig, search

__all__ = [
    "CTCHypothesis",
    "ErrorAnalysis",
    "ErrorRow",
    "Hypothesis",
    "Lexicon",
    "NBestList",
    "Sampling",
    "SearchConfig",
    "ShallowFusion",
    "StepModel",
    "analyze_errors",
    "beam_search",
    "check_search_args",
    "ctc_beam_search",
    "ctc_collapse",
    "ctc_greedy_decode",
    "filter_logits",
    "format_table",
    "greedy_search",
    "normalized_score",
    "sample_next",
    "sample_search",
    "search",
    "seeded_generator",
    "select_rows",
    "sequence_log_prob",
    "state_device",
    "write_csv",
]
