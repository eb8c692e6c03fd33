"""BLEU's n-gram counting for a whole corpus at once, with NumPy (large corpora only).

:mod:`seqlab.metrics.bleu` imports this module only when a corpus is large enough for the
vectorised counter to pay for itself (NumPy's import included), so that ``seqlab bleu`` on
a small file and ``import seqlab.metrics`` do not import NumPy.
"""

from __future__ import annotations

from itertools import chain

import numpy as np

# a tokenized stream: every token end to end, and each segment's length (-1: no segment)
Stream = tuple[list[str], list[int]]


def closest_lengths(hyp: Stream, refs: list[Stream]) -> np.ndarray:
    """(S,) the closest reference length of every sentence, ties to the shorter."""
    hyp_len = np.asarray(hyp[1], dtype=np.int64)  # (S,)
    ref_lens = np.array([r[1] for r in refs], dtype=np.int64).T.reshape(len(hyp_len), -1)
    dist = np.abs(ref_lens - hyp_len[:, None])  # (S, K)
    # smallest (distance, length) first; a missing reference (-1) never wins
    key = dist * (int(ref_lens.max(initial=0)) + 1) + ref_lens
    key = np.where(ref_lens < 0, np.iinfo(np.int64).max, key)  # (S, K)
    return np.take_along_axis(ref_lens, key.argmin(axis=1)[:, None], axis=1)[:, 0]  # (S,)


def dense_rank(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace every key by the rank of its value among the distinct values (0..U-1)."""
    order = np.argsort(keys)
    ranked = keys[order]
    new = np.empty(len(ranked), dtype=np.int64)
    new[:1] = 0
    np.not_equal(ranked[1:], ranked[:-1], out=new[1:])
    np.cumsum(new, out=new)
    out = np.empty_like(new)
    out[order] = new
    return out, (int(new[-1]) + 1 if len(new) else 0)


def count_numpy(
    hyp: Stream, refs: list[Stream], order: int
) -> tuple[list[tuple[int, ...]], list[int]]:
    """Clipped matches (S, N) and closest-reference lengths (S,) of the whole corpus at
    once, with integer keys: the same numbers as :func:`seqlab.metrics.bleu._count_python`.

    Positions of every stream (hypotheses, then each reference stream) are laid end to end.
    The key of the n-gram starting at position i is built from the dense rank of its
    (n−1)-gram and its last token id: key_n[i] = rank_{n-1}[i] · V + id[i+n−1], with
    key_1[i] = sentence[i] · V + id[i], so equal keys mean the same n-gram in the same
    sentence. Counting each rank per stream with ``bincount`` gives count_h and
    max_k count_{r_k} for every distinct n-gram of every sentence at once. Only n-grams
    whose (n−1)-gram prefix matched can match, so each order keeps only those positions.
    """
    streams = [hyp, *refs]
    n_sent = len(hyp[1])
    lens = np.maximum(np.array([st[1] for st in streams], dtype=np.int64), 0)  # (K+1, S)
    flat = list(chain.from_iterable(st[0] for st in streams))
    index = dict.fromkeys(flat)
    index.update(zip(index, range(len(index)), strict=True))
    vocab = max(len(index), 1)
    ids = np.fromiter(map(index.__getitem__, flat), dtype=np.int64, count=len(flat))  # (P,)
    del flat, index  # a large young list: no garbage collection below should walk it
    if max(n_sent, len(ids)) * vocab >= 2**62:
        raise ValueError("corpus too large for 64-bit n-gram keys")
    bounds = np.concatenate([[0], np.cumsum(lens.sum(axis=1))])  # (K+2,) stream starts
    sent = np.repeat(np.tile(np.arange(n_sent, dtype=np.int64), len(streams)), lens.ravel())
    ends = np.repeat(np.cumsum(lens.ravel()), lens.ravel())  # (P,) end of each one's sentence
    room = ends - np.arange(len(ids))  # (P,) tokens from here to the end of the sentence

    correct = np.zeros((n_sent, order), dtype=np.int64)  # (S, N)
    rank = np.empty(len(ids), dtype=np.int64)  # (P,) rank of the (n-1)-gram at each position
    pos = np.arange(len(ids))  # (P_n,) positions whose n-gram can match
    for n in range(1, order + 1):
        if n == 1:
            keys = sent * vocab + ids  # (P,)
        else:
            keys = rank[pos] * vocab + ids[pos + n - 1]  # (P_n,)
        ranks, distinct = dense_rank(keys)  # (P_n,), U
        cut = np.searchsorted(pos, bounds)  # stream boundaries among the n-gram positions
        hyp_count = np.bincount(ranks[cut[0] : cut[1]], minlength=distinct)  # (U,) count_h
        ref_max = np.zeros(distinct, dtype=np.int64)  # (U,) max_k count_{r_k}
        for k in range(1, len(streams)):
            counts = np.bincount(ranks[cut[k] : cut[k + 1]], minlength=distinct)  # (U,)
            np.maximum(ref_max, counts, out=ref_max)
        clipped = np.minimum(hyp_count, ref_max)  # (U,)
        sent_of = np.empty(distinct, dtype=np.int64)  # (U,) the sentence of each n-gram
        sent_of[ranks] = sent[pos]
        correct[:, n - 1] = np.bincount(sent_of, weights=clipped, minlength=n_sent)  # (S,)
        # an (n+1)-gram can match only if its n-gram prefix occurs in hypothesis and reference
        keep = (room[pos] > n) & (clipped > 0)[ranks]
        rank[pos] = ranks
        pos = pos[keep]
        if len(pos) == 0:
            break
    rows = list(zip(*correct.T.tolist(), strict=True))  # (S,) tuples of N
    return rows, closest_lengths(hyp, refs).tolist()
