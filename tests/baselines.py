"""Baselines that learning tests compute on the same data, so that a broken model fails:
an n-gram model counted on the training ids and scored on held-out ids, in nats per token."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def ngram_nll(
    train: Sequence[Sequence[int]],
    test: Sequence[Sequence[int]],
    *,
    n: int,
    vocab_size: int,
    k: float = 0.5,
) -> float:
    """Mean −log P(token | the n−1 tokens before it) over ``test``, with add-k smoothing.

    Each sequence's first id is its start context (never predicted); earlier positions are
    padded with it, as a language model reads its start token. Counts come from ``train``.
    """
    grams: Counter[tuple[int, ...]] = Counter()
    contexts: Counter[tuple[int, ...]] = Counter()
    for seq in train:
        for ctx, tok in _pairs(seq, n):
            grams[(*ctx, tok)] += 1
            contexts[ctx] += 1
    total, count = 0.0, 0
    for seq in test:
        for ctx, tok in _pairs(seq, n):
            p = (grams[(*ctx, tok)] + k) / (contexts[ctx] + k * vocab_size)
            total -= math.log(p)
            count += 1
    return total / max(count, 1)


def _pairs(seq: Sequence[int], n: int) -> list[tuple[tuple[int, ...], int]]:
    """(context of n−1 ids, next id) for every predicted position of ``seq``."""
    padded = [seq[0]] * (n - 1) + list(seq)
    return [(tuple(padded[i : i + n - 1]), padded[i + n - 1]) for i in range(1, len(seq))]


def best_ngram_nll(
    train: Sequence[Sequence[int]],
    test: Sequence[Sequence[int]],
    *,
    n: int,
    vocab_size: int,
    ks: Sequence[float] = (0.01, 0.05, 0.1, 0.5, 1.0),
) -> float:
    """The n-gram's held-out NLL with its best smoothing constant: the baseline at its best."""
    return min(ngram_nll(train, test, n=n, vocab_size=vocab_size, k=k) for k in ks)
