"""An event n-gram model with add-k smoothing: the baseline the music LSTM must beat.

    P(w | h) = (c(h, w) + k) / (c(h) + k·V)

where h is the n − 1 events before w (left-padded with the start token), c counts the
training streams and V is the vocabulary size. A stream's first id is its start (the
``<EOS>`` before the first piece); every later id is predicted. :meth:`NGramModel.select`
picks the order and k with the lowest validation NLL, so the baseline is as good as the
held-out data lets it be. Tested against a brute-force count.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqlab._io import DataError, PathLike, atomic_write_json

__all__ = ["NGramModel"]

ORDERS = (1, 2, 3, 4, 5)  # the orders select() tries
KS = (0.01, 0.05, 0.2, 1.0)  # the add-k values select() tries


class NGramModel:
    """Counts of (n − 1 events, next event) and the add-k smoothed probabilities."""

    def __init__(
        self,
        *,
        order: int,
        k: float,
        vocab_size: int,
        bos_id: int,
        counts: dict[tuple[int, ...], Counter[int]] | None = None,
    ) -> None:
        if order < 1 or not k > 0 or vocab_size < 1:
            raise ValueError(
                f"need order >= 1, k > 0, vocab_size >= 1; got {order}, {k}, {vocab_size}"
            )
        self.order = order  # n: the event and the n - 1 before it
        self.k = k  # add-k smoothing
        self.vocab_size = vocab_size  # V
        self.bos_id = bos_id  # the id that pads a history before a stream's start
        self.counts: dict[tuple[int, ...], Counter[int]] = counts or {}  # h -> c(h, ·)
        self._totals = {h: sum(c.values()) for h, c in self.counts.items()}  # h -> c(h)

    def _grams(self, stream: Sequence[int]) -> Iterable[tuple[tuple[int, ...], int]]:
        """(history, event) for each predicted event stream[1:]."""
        padded = [self.bos_id] * (self.order - 1) + [int(x) for x in stream]
        for i in range(self.order, len(padded)):
            yield tuple(padded[i - self.order + 1 : i]), padded[i]

    @classmethod
    def fit(
        cls, streams: Iterable[Sequence[int]], *, order: int, k: float, vocab_size: int, bos_id: int
    ) -> NGramModel:
        """Count the n-grams of ``streams`` (each starting with its start id)."""
        model = cls(order=order, k=k, vocab_size=vocab_size, bos_id=bos_id)
        for stream in streams:
            for h, w in model._grams(stream):
                model.counts.setdefault(h, Counter())[w] += 1
        model._totals = {h: sum(c.values()) for h, c in model.counts.items()}
        return model

    def with_k(self, k: float) -> NGramModel:
        """The same counts with another k."""
        return NGramModel(
            order=self.order,
            k=k,
            vocab_size=self.vocab_size,
            bos_id=self.bos_id,
            counts=self.counts,
        )

    def log_probs(self, stream: Sequence[int]) -> np.ndarray:
        """log P of each event of ``stream[1:]`` given the events before it: ``(N − 1,)``."""
        out = []
        kv = self.k * self.vocab_size
        for h, w in self._grams(stream):
            seen = self.counts.get(h)
            c_hw = seen.get(w, 0) if seen is not None else 0
            out.append(math.log((c_hw + self.k) / (self._totals.get(h, 0) + kv)))
        return np.asarray(out)

    def nll(self, streams: Iterable[Sequence[int]]) -> tuple[float, int]:
        """Summed −log P over the predicted events of ``streams``, and their count."""
        total, count = 0.0, 0
        for stream in streams:
            lp = self.log_probs(stream)
            total -= float(lp.sum())
            count += len(lp)
        return total, count

    @classmethod
    def select(
        cls,
        train: Sequence[Sequence[int]],
        valid: Sequence[Sequence[int]],
        *,
        vocab_size: int,
        bos_id: int,
        orders: Sequence[int] = ORDERS,
        ks: Sequence[float] = KS,
    ) -> NGramModel:
        """The order and k (from the grids) of lowest NLL per event on ``valid``; without
        validation data, order 3 and k 0.05."""
        if not valid or sum(len(s) - 1 for s in valid) <= 0:
            return cls.fit(train, order=3, k=0.05, vocab_size=vocab_size, bos_id=bos_id)
        if not orders or not ks:
            raise ValueError("give at least one order and one k to choose from")
        scored: list[tuple[float, NGramModel]] = []
        for order in orders:
            counted = cls.fit(train, order=order, k=ks[0], vocab_size=vocab_size, bos_id=bos_id)
            for k in ks:
                model = counted.with_k(k)
                total, count = model.nll(valid)
                scored.append((total / count, model))
        return min(scored, key=lambda pair: pair[0])[1]  # the first of the lowest NLL

    # -- the artifact protocol (saved as ngram.json beside the model) ------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "k": self.k,
            "vocab_size": self.vocab_size,
            "bos_id": self.bos_id,
            "counts": [
                [list(h), {str(w): c for w, c in sorted(cs.items())}]
                for h, cs in sorted(self.counts.items())
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NGramModel:
        counts = {
            tuple(h): Counter({int(w): int(c) for w, c in cs.items()}) for h, cs in d["counts"]
        }
        return cls(
            order=int(d["order"]),
            k=float(d["k"]),
            vocab_size=int(d["vocab_size"]),
            bos_id=int(d["bos_id"]),
            counts=counts,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NGramModel) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def save(self, path: PathLike) -> Path:
        return atomic_write_json(path, self.to_dict(), indent=None)

    @classmethod
    def load(cls, path: PathLike) -> NGramModel:
        """Read :meth:`save`'s file; :class:`DataError` on a bad one."""
        file = Path(path)
        try:
            return cls.from_dict(json.loads(file.read_text(encoding="utf-8")))
        except (
            OSError,
            UnicodeDecodeError,
            json.JSONDecodeError,
            KeyError,
            TypeError,
            ValueError,
        ) as err:
            raise DataError(file, f"not an n-gram file ({err})", hint="retrain the model") from None
