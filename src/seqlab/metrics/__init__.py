"""Evaluation metrics: BLEU (sacreBLEU-exact, faster)."""

from __future__ import annotations

from seqlab.metrics.bleu import (
    BLEUConfig,
    BLEUScore,
    BLEUStatistics,
    bleu_statistics,
    compute_bleu,
    corpus_bleu,
    sentence_bleu,
    tokenize,
)

__all__ = [
    "BLEUConfig",
    "BLEUScore",
    "BLEUStatistics",
    "bleu_statistics",
    "compute_bleu",
    "corpus_bleu",
    "sentence_bleu",
    "tokenize",
]
