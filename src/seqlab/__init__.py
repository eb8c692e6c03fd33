"""seqlab: the classic sequence-models curriculum as faithful, fast, usable software.

Public API so far:

* :mod:`seqlab.nn` — ``RNNCell``, ``GRUCell``, ``LSTMCell``; ``RNN``, ``GRU``, ``LSTM`` (torch.nn's
  contract, the course's variants as options); ``Recurrent``, ``Bidirectional``, ``Stacked``
  to run any cell as a deep or bidirectional RNN.
* :mod:`seqlab.functional` — the cell equations as pure functions, and the BPTT kernels.
* :mod:`seqlab.models` — the course's architectures: many-to-one, many-to-many, one-to-many,
  and the recurrent language model.
* :mod:`seqlab.data` — vocabularies, tokenizers, readers with clear errors, built-in corpora.
* :mod:`seqlab.train` — the fit loop shared by every task (checkpoints, resume, DDP).
* :mod:`seqlab.models` — also ``seqlab.models.seq2seq.Seq2Seq`` (encoder–decoder, attention).
* :mod:`seqlab.decoding` — greedy, sampling and beam search over any model's ``step``;
  beam-search error analysis.
* :mod:`seqlab.metrics` — BLEU, exactly as sacreBLEU computes it.
* :mod:`seqlab.embeddings` — ``KeyedVectors``, word2vec / GloVe / NNLM trainers, evaluation,
  debiasing.
* :mod:`seqlab.tasks` — ``LanguageModel`` and ``Translator`` (train / predict / evaluate /
  save / load).
* :func:`seqlab.load` — a trained model directory as its task object.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqlab._version import __version__

if TYPE_CHECKING:
    from seqlab import functional, nn

__all__ = ["__version__", "functional", "load", "nn"]

# Subpackages imported on first attribute access (``seqlab.nn.LSTM`` after ``import seqlab``),
# so that ``import seqlab`` and ``seqlab bleu`` do not pay for importing torch.
_LAZY = frozenset(
    {
        "data", "decoding", "embeddings", "functional", "metrics", "models", "nn", "shapes",
        "tasks", "train", "viz",
    }
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"seqlab.{name}")
    raise AttributeError(f"module 'seqlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)


def load(path: str | Path, **kwargs: Any) -> Any:
    """Load a trained model directory as its task object, found by the ``task`` named in its
    config.json (see :func:`seqlab.tasks.load_task`)."""
    from seqlab.tasks.base import load_task

    return load_task(path, **kwargs)
