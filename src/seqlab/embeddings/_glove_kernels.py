"""Numba kernels behind :mod:`seqlab.embeddings.glove` (co-occurrence counting, AdaGrad).

Counting follows Stanford's ``cooccur.c``: every in-vocabulary token ``w2`` at position ``t``
looks back at the ``window`` tokens before it in the same sentence; a context word ``w1`` at
distance ``d`` adds ``1/d`` (or 1) to ``X[w1, w2]`` and, when symmetric, to ``X[w2, w1]``.
Pairs of frequent words ((i+1)(j+1) <= max_product, ids sorted by count) go to a dense table as
in ``cooccur.c``; the others to an open-addressing hash table that grows (up to its share of
the memory limit) and, at its largest, is drained into a sorted run whenever it fills. Keys
are ``i * V + j`` (int64), so sorting by key sorts by (row, column). The increments come from
a table ``increments[d - 1]`` (the weight of distance ``d``): int64 fixed-point units when
the caller counts exactly (then every sum is exact and the result does not depend on how the
counts were split into runs), float64 otherwise; every kernel works with either. Runs that
outgrow the memory limit are spilled to disk and merged k ways (:func:`kway_merge`), as
``cooccur.c`` merges its ``overflow_*.bin`` files.

Training follows ``glove.c``'s ``glove_thread``: one AdaGrad step per non-zero entry, Hogwild
(lock-free) when several threads run the kernel on disjoint shares of the epoch's blocks.
All kernels release the GIL.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Fibonacci hashing: multiply by 2^64 / golden ratio, keep the top bits.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# Let LLVM reassociate sums and approximate 1/sqrt (then refined), keeping NaN/inf semantics.
_FAST = {"reassoc", "contract", "arcp", "nsz", "afn"}


@njit(nogil=True, cache=True, error_model="numpy")
def count_chunk(
    ids: np.ndarray,  # (N,) int32 token ids of whole sentences, concatenated
    bounds: np.ndarray,  # (S+1,) int64 sentence offsets into ids
    sentence: int,  # resume at this sentence ...
    position: int,  # ... and this absolute token position
    window: int,
    increments: np.ndarray,  # (window,) what distance d adds: increments[d - 1]
    symmetric: bool,
    vocab_size: int,
    dense_offsets: np.ndarray,  # (V+1,) int64 start of each dense row
    dense: np.ndarray,  # (n_dense,) dense part of X, of the increments' dtype
    keys: np.ndarray,  # (cap,) int64 hash keys, -1 = empty
    values: np.ndarray,  # (cap,) hash values, of the increments' dtype
    filled: int,  # occupied hash slots on entry
    max_fill: int,  # stop (to be drained) before exceeding this many occupied slots
) -> tuple[int, int, int]:
    """Add the co-occurrences of ``ids`` to ``dense`` and the hash table.

    Returns ``(sentence, position, filled)``: where to resume (``sentence == S`` when done)
    and the occupied slots. Stops before a token whose pairs might overfill the table.
    """
    cap = keys.shape[0]
    shift = np.uint64(64 - int(np.log2(cap)))
    n_sent = bounds.shape[0] - 1
    per_token = 2 * window
    s = sentence
    t = position
    while s < n_sent:
        begin = bounds[s]
        end = bounds[s + 1]
        if t < begin:
            t = begin
        while t < end:
            if filled + per_token > max_fill:
                return s, t, filled
            w2 = np.int64(ids[t])
            first = max(begin, t - window)
            for k in range(t - 1, first - 1, -1):
                w1 = np.int64(ids[k])
                x = increments[t - k - 1]
                for side in range(2 if symmetric else 1):
                    # side 0: X[w1, w2] (context before the word); side 1: X[w2, w1]
                    a = w1 if side == 0 else w2
                    b = w2 if side == 0 else w1
                    row_start = dense_offsets[a]
                    if b < dense_offsets[a + 1] - row_start:
                        dense[row_start + b] += x
                        continue
                    key = a * vocab_size + b
                    slot = np.int64((np.uint64(key) * _GOLDEN) >> shift)
                    while True:
                        stored = keys[slot]
                        if stored == key:
                            values[slot] += x
                            break
                        if stored == -1:
                            keys[slot] = key
                            values[slot] = x
                            filled += 1
                            break
                        slot = (slot + 1) & (cap - 1)
            t += 1
        s += 1
    return s, t, filled


@njit(nogil=True, cache=True)
def rehash(
    keys: np.ndarray, values: np.ndarray, new_keys: np.ndarray, new_values: np.ndarray
) -> None:
    """Insert every entry of a hash table into a larger, empty one (``new_keys`` all -1)."""
    cap = new_keys.shape[0]
    shift = np.uint64(64 - int(np.log2(cap)))
    for slot in range(keys.shape[0]):
        key = keys[slot]
        if key < 0:
            continue
        at = np.int64((np.uint64(key) * _GOLDEN) >> shift)
        while new_keys[at] != -1:
            at = (at + 1) & (cap - 1)
        new_keys[at] = key
        new_values[at] = values[slot]


@njit(nogil=True, cache=True)
def drain_table(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The occupied entries of a hash table as a sorted run; empties the table."""
    n = 0
    for slot in range(keys.shape[0]):
        if keys[slot] >= 0:
            n += 1
    out_keys = np.empty(n, np.int64)
    out_values = np.empty(n, values.dtype)
    n = 0
    for slot in range(keys.shape[0]):
        if keys[slot] >= 0:
            out_keys[n] = keys[slot]
            out_values[n] = values[slot]
            keys[slot] = -1
            n += 1
    order = np.argsort(out_keys)
    return out_keys[order], out_values[order]


@njit(nogil=True, cache=True)
def dense_run(
    dense_offsets: np.ndarray, dense: np.ndarray, vocab_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The non-zero entries of the dense table as a sorted run (row-major order)."""
    n = 0
    for k in range(dense.shape[0]):
        if dense[k] != 0.0:
            n += 1
    out_keys = np.empty(n, np.int64)
    out_values = np.empty(n, dense.dtype)
    n = 0
    for a in range(vocab_size):
        start = dense_offsets[a]
        for b in range(dense_offsets[a + 1] - start):
            x = dense[start + b]
            if x != 0.0:
                out_keys[n] = np.int64(a) * vocab_size + b
                out_values[n] = x
                n += 1
    return out_keys, out_values


@njit(nogil=True, cache=True)
def merge_runs(
    keys1: np.ndarray, values1: np.ndarray, keys2: np.ndarray, values2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two sorted runs, summing the values of equal keys."""
    n1 = keys1.shape[0]
    n2 = keys2.shape[0]
    out_keys = np.empty(n1 + n2, np.int64)
    out_values = np.empty(n1 + n2, values1.dtype)
    i = 0
    j = 0
    n = 0
    while i < n1 or j < n2:
        if j >= n2 or (i < n1 and keys1[i] < keys2[j]):
            out_keys[n] = keys1[i]
            out_values[n] = values1[i]
            i += 1
        elif i >= n1 or keys2[j] < keys1[i]:
            out_keys[n] = keys2[j]
            out_values[n] = values2[j]
            j += 1
        else:
            out_keys[n] = keys1[i]
            out_values[n] = values1[i] + values2[j]
            i += 1
            j += 1
        n += 1
    return out_keys[:n].copy(), out_values[:n].copy()


@njit(nogil=True, cache=True)
def _sift_down(heap: np.ndarray, heap_keys: np.ndarray, size: int, at: int) -> None:
    """Restore the min-heap order of ``heap`` (run numbers keyed by ``heap_keys``, ties by
    run number) below ``at``."""
    while True:
        low = at
        for child in (2 * at + 1, 2 * at + 2):
            if child < size:
                a, b = heap[child], heap[low]
                if heap_keys[a] < heap_keys[b] or (heap_keys[a] == heap_keys[b] and a < b):
                    low = child
        if low == at:
            return
        heap[at], heap[low] = heap[low], heap[at]
        at = low


@njit(nogil=True, cache=True)
def kway_merge(
    keys: np.ndarray,  # (M,) int64 sorted runs, one after the other (a memory map)
    values: np.ndarray,  # (M,) their values
    offsets: np.ndarray,  # (R+1,) int64 start of each run
    vocab_size: int,
    scale: float,  # the values' unit: X = value / scale
    rows: np.ndarray,  # (n,) int32 out: i of each distinct key (n = 0: only count them)
    cols: np.ndarray,  # (n,) int32 out: j
    out: np.ndarray,  # (n,) float32 out: X_ij
) -> int:
    """Merge R sorted runs k ways (a min-heap of run heads, ``cooccur.c``'s ``merge_files``),
    summing the values of equal keys in run order; returns the number of distinct keys.

    With ``rows`` of size 0 it only counts them (the first of two passes: the caller then
    allocates exactly ``n`` entries). Reads every run once, sequentially.
    """
    n_runs = offsets.shape[0] - 1
    pos = offsets[:-1].copy()
    head = np.empty(n_runs, np.int64)
    heap = np.empty(n_runs, np.int64)
    size = 0
    for r in range(n_runs):
        if offsets[r] < offsets[r + 1]:
            head[r] = keys[offsets[r]]
            heap[size] = r
            size += 1
    for at in range(size // 2 - 1, -1, -1):
        _sift_down(heap, head, size, at)
    write = rows.shape[0] > 0
    n = 0
    while size > 0:
        key = head[heap[0]]
        total = values[0] - values[0]  # zero of the values' dtype
        while size > 0 and head[heap[0]] == key:  # every run holding this key, in order
            r = heap[0]
            total += values[pos[r]]
            pos[r] += 1
            if pos[r] < offsets[r + 1]:
                head[r] = keys[pos[r]]
            else:
                size -= 1
                heap[0] = heap[size]
            _sift_down(heap, head, size, 0)
        if write:
            rows[n] = key // vocab_size
            cols[n] = key % vocab_size
            out[n] = np.float32(total / scale)
        n += 1
    return n


@njit(nogil=True, cache=True, fastmath=_FAST, error_model="numpy")
def adagrad_epoch(
    rows: np.ndarray,  # (nnz,) int32 i of each non-zero X_ij (shuffled once)
    cols: np.ndarray,  # (nnz,) int32 j
    log_x: np.ndarray,  # (nnz,) float32 log X_ij
    weight: np.ndarray,  # (nnz,) float32 f(X_ij)
    blocks: np.ndarray,  # (n,) int64 blocks to visit, in this order (this thread's share)
    block_size: int,  # block q holds entries [q * block_size, (q + 1) * block_size)
    w: np.ndarray,  # (V, E) float32 word vectors w_i
    w_ctx: np.ndarray,  # (V, E) float32 context vectors w~_j
    b: np.ndarray,  # (V,) float32 word biases b_i
    b_ctx: np.ndarray,  # (V,) float32 context biases b~_j
    gsq_w: np.ndarray,  # (V, E) float32 AdaGrad sums of squared (eta * gradient)
    gsq_ctx: np.ndarray,  # (V, E) float32
    gsq_b: np.ndarray,  # (V,) float32
    gsq_bctx: np.ndarray,  # (V,) float32
    eta: float,  # learning rate
) -> float:
    """One AdaGrad step per entry of each block in ``blocks``; returns Σ f(X_ij) diff_ij² (f64).

    diff = w_i·w~_j + b_i + b~_j − log X_ij ;  g = eta · f(X_ij) · diff  (gradient of ½J)
    w_i  -= g w~_j / sqrt(G_w_i) ;  G_w_i += (g w~_j)²   (and symmetrically for w~_j, b_i, b~_j)

    Both vector steps use the parameters before the entry's update, and each step divides by
    the squared-gradient sum before it grows, as ``glove.c`` does. ``error_model="numpy"``
    (no zero-division branch) and fast-math let LLVM vectorise the loops (rsqrt + Newton).
    """
    dim = w.shape[1]
    cost = 0.0
    upd_w = np.empty(dim, np.float32)
    upd_c = np.empty(dim, np.float32)
    nnz = rows.shape[0]
    for q in blocks:
        for e in range(q * block_size, min((q + 1) * block_size, nnz)):
            i = rows[e]
            j = cols[e]
            dot = np.float32(0.0)
            for d in range(dim):
                dot += w[i, d] * w_ctx[j, d]
            diff = dot + b[i] + b_ctx[j] - log_x[e]
            fdiff = weight[e] * diff
            cost += np.float64(fdiff) * np.float64(diff)
            g = np.float32(eta) * fdiff
            for d in range(dim):
                t1 = g * w_ctx[j, d]  # eta · ∂(½J)/∂w_i
                t2 = g * w[i, d]  # eta · ∂(½J)/∂w~_j
                upd_w[d] = t1 / np.sqrt(gsq_w[i, d])
                upd_c[d] = t2 / np.sqrt(gsq_ctx[j, d])
                gsq_w[i, d] += t1 * t1
                gsq_ctx[j, d] += t2 * t2
            for d in range(dim):
                w[i, d] -= upd_w[d]
                w_ctx[j, d] -= upd_c[d]
            b[i] -= g / np.sqrt(gsq_b[i])
            b_ctx[j] -= g / np.sqrt(gsq_bctx[j])
            gsq_b[i] += g * g
            gsq_bctx[j] += g * g
    return cost
