"""Evaluation metrics: BLEU (sacreBLEU-exact, faster), entity F1 for tagging (seqeval-exact),
classification reports (accuracy, per-class and macro F1, confusion; scikit-learn-exact)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from seqlab.metrics.asr import (
        AlignmentChunk,
        ErrorReport,
        align,
        cer,
        char_errors,
        format_alignment,
        wer,
        word_errors,
    )
    from seqlab.metrics.classification import (
        ClassificationReport,
        ClassScore,
        classification_report,
        confusion_matrix,
    )
    from seqlab.metrics.tagging import (
        SpanError,
        TaggingScores,
        TypeScore,
        entities,
        entity_scores,
        wrong_spans,
    )

# Imported on first use: tagging pulls in seqlab.data and NumPy, which `seqlab bleu` and
# `import seqlab.metrics` for BLEU do not need (tests/test_cli_startup.py checks it).
_LAZY = dict.fromkeys(
    ("SpanError", "TaggingScores", "TypeScore", "entities", "entity_scores", "wrong_spans"),
    "seqlab.metrics.tagging",
) | dict.fromkeys(
    ("ClassScore", "ClassificationReport", "classification_report", "confusion_matrix"),
    "seqlab.metrics.classification",
) | dict.fromkeys(
    ("AlignmentChunk", "ErrorReport", "align", "cer", "char_errors", "format_alignment", "wer",
     "word_errors"),
    "seqlab.metrics.asr",
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seqlab.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AlignmentChunk",
    "BLEUConfig",
    "BLEUScore",
    "BLEUStatistics",
    "ClassScore",
    "ClassificationReport",
    "ErrorReport",
    "SpanError",
    "TaggingScores",
    "TypeScore",
    "align",
    "bleu_statistics",
    "cer",
    "char_errors",
    "classification_report",
    "compute_bleu",
    "confusion_matrix",
    "corpus_bleu",
    "entities",
    "entity_scores",
    "format_alignment",
    "sentence_bleu",
    "tokenize",
    "wer",
    "word_errors",
    "wrong_spans",
]
