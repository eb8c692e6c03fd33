"""What every embedding trainer returns: the vectors and an honest record of the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seqlab.embeddings.keyed_vectors import KeyedVectors

__all__ = ["EmbeddingResult"]


@dataclass(frozen=True, kw_only=True)
class EmbeddingResult:
    """The outcome of ``train_word2vec`` / ``train_glove`` / ``train_nnlm``."""

    vectors: KeyedVectors  # the trained word vectors (frozen lookup)
    epoch_losses: list[float]  # true mean training loss per epoch (per example, not saturated)
    seconds: float  # wall-clock time of the whole call (vocabulary and counting included)
    words_per_second: float  # corpus words (in the vocabulary) x epochs / seconds of training
    # alone: vocabulary building and GloVe's co-occurrence counting are not in the denominator
    config: dict[str, Any] = field(default_factory=dict)  # the trainer's config as a dict
    counting_seconds: float | None = None  # GloVe: seconds spent counting co-occurrences
