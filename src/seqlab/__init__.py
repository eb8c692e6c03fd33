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

import json
from pathlib import Path
from typing import Any

from seqlab import functional, nn

__version__ = "0.1.0"

__all__ = ["__version__", "functional", "load", "nn"]


def load(path: str | Path, **kwargs: Any) -> Any:
    """Load a trained model directory as the right task object (by its config.json)."""
    from seqlab._io import DataError

    cfg = Path(path) / "config.json"
    try:
        task = json.loads(cfg.read_text(encoding="utf-8")).get("task")
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise DataError(
            path, f"not a seqlab model directory ({exc})", hint="train one first"
        ) from None
    if task == "language_model":
        from seqlab.tasks.language_model import LanguageModel

        return LanguageModel.load(path, **kwargs)
    if task == "translator":
        from seqlab.tasks.translator import Translator

        return Translator.load(path, **kwargs)
    raise DataError(cfg, f"unknown task {task!r}", hint="was it written by a newer seqlab?")
