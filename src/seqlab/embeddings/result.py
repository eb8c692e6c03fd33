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
    seconds: float  # wall-clock training time (vocabulary building included)
    words_per_second: float  # corpus words processed per second of training (epochs included)
    config: dict[str, Any] = field(default_factory=dict)  # the trainer's config as a dict
