"""Numba kernels behind :mod:`seqlab.embeddings.word2vec` (Hogwild SGD, as word2vec.c).

One call of :func:`train_chunk` trains on a chunk of whole sentences (int32 ids, concatenated):
it subsamples frequent words, draws each center word's dynamic window ``b = rand % window`` and
makes one SGD step per example, exactly as word2vec.c's ``TrainModelThread``:

- skip-gram: each (center, context) pair trains the context word's input vector ``syn0[ctx]``
  to predict the center word (word2vec.c's and gensim's order of the pair);
- CBOW: the mean (or sum) ``h`` of the window's input vectors predicts the center word, and
  every context word's input vector receives the full error ``neu1e``, as word2vec.c does
  for both (gensim too for the mean; for the sum gensim divides ``neu1e`` by ``count``). For
  the sum this is the true gradient, for the mean ``count`` times it.

The objectives, for a hidden vector ``h`` (``syn0[ctx]`` or the CBOW mean) and target ``o``:

- negative sampling: ``L = -log σ(u_o·h) - Σ_k log σ(-u_k·h)``, ``u = syn1neg``, noise words
  ``k`` drawn from unigram^ns_exponent with Walker's alias method (O(1) per draw, exact up to
  2^-32; a noise word equal to ``o`` is skipped, as word2vec.c does);
- hierarchical softmax: ``L = -Σ_j log σ((1 - 2 code_j) · u_{point_j}·h)`` along the Huffman
  path of ``o`` (``u = syn1``, the V-1 inner nodes);
- full softmax: ``L = -log softmax(U h)_o`` over all V output vectors.

HogBatch (``hogbatch=True``, skip-gram with negative sampling; Ji et al. 2016, "Parallelizing
Word2Vec in Shared and Distributed Memory"): a center word ``o`` with window contexts
``c_1..c_m`` draws ``K`` noise words once, shared by its ``m`` pairs, and takes one step from
the snapshot ``H = syn0[c_1..c_m]`` (m, E), ``U = syn1neg[o, k_1..k_K]`` (K+1, E)::

    G = (y - σ(H Uᵀ)) · alpha        (m, K+1), y = (1, 0, ..., 0)
    syn0[c_j] += (G U)_j             syn1neg[o, k] += (Gᵀ H)_k

(:func:`batch_negative`). The arithmetic is the pair mode's (m(K+1) dot products and twice
as many row updates), but the K+1 output rows are read once per center instead of m times
(held in L1 as ``U``), the noise draws fall from m·K to K, and the products run on 2×2
register blocks, so a loaded element feeds two multiply-adds and an output row is stored
m/2 times instead of m times. The loss of a pair takes one ``log`` of ``Π_k (1 + z_k)``
instead of K+1 ``log1p``. It is not word2vec.c's trajectory (a pair no longer sees the
updates of the center's earlier pairs, and a center's pairs share noise words). It is the
default update of skip-gram with negative sampling (``Word2VecConfig(update="auto")``).

No vendor library: every product here is a numba loop that LLVM vectorises for the host CPU
(16-wide AVX-512 FMAs on the AMD Zen 4 it was profiled on; AVX2 or AVX-512 on an Intel Xeon);
the only calls out are libm's ``exp``/``log``. gensim's inner loop calls OpenBLAS's level-1
``sdot``/``saxpy`` once per vector instead. HogBatch's gain is fewer row reads from the
(V, E) matrices (their cost per pair fell from 167 to 58 ns at K = 8 in the profile of
docs/embeddings.md) and fewer loads per multiply-add, which do not depend on the vendor.

Sigmoids and log-sigmoids are exact float32 expressions (``exp``/``log1p``, numerically
stable), not word2vec.c's clipped 1000-entry table, so the loss is the true loss and one step
equals a torch SGD step on the same formula (tests/test_word2vec.py). Dot products run in
float32 (vectorised by LLVM); per-example losses are summed in float64. Matrices are indexed
``m[row, k]`` (no row views: a view costs two atomic reference-count updates) and the
per-example helpers are inlined into :func:`train_chunk`. Randomness is word2vec.c's 48-bit
linear congruential generator ``r = r * 25214903917 + 11``, seeded per chunk by the caller.
All kernels release the GIL, so Python threads run them in parallel on different chunks over
shared matrices (Hogwild).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Let LLVM reassociate sums (vectorised dot products) but keep NaN/inf semantics.
_FAST = {"reassoc", "contract", "arcp", "nsz"}
_MASK48 = (1 << 48) - 1
_LCG_MUL = 25214903917
_LCG_ADD = 11
_TWO32 = 4294967296.0
_TWO31 = 2147483648

OBJECTIVE_NEGATIVE = 0
OBJECTIVE_HIERARCHICAL = 1
OBJECTIVE_SOFTMAX = 2


_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)


@njit(nogil=True, fastmath=_FAST, cache=True, inline="always")
def _step(
    hmat: np.ndarray,  # (*, E) float32 matrix holding the hidden vector
    hrow: int,  # row of hmat that is the hidden vector h
    out: np.ndarray,  # (*, E) float32 output vectors, updated in place
    orow: int,  # row of out: the output vector u
    label: float,  # 1.0 (target) or 0.0 (noise / bit 1)
    alpha: float,  # learning rate
    neu1e: np.ndarray,  # (E,) float32 accumulates g u (before u's update)
) -> float:
    """One logistic step on ``f = u·h``; returns ``-log σ(±f)`` (float32 math)."""
    size = neu1e.shape[0]
    f = _ZERO
    for k in range(size):
        f += hmat[hrow, k] * out[orow, k]
    x = f if label == 1.0 else -f  # the loss is -log σ(x)
    e = np.exp(-abs(x))  # in (0, 1]: no overflow
    loss = np.log1p(e) - min(x, _ZERO)  # -log σ(x), stable
    sig = _ONE / (_ONE + e) if x >= _ZERO else e / (_ONE + e)  # σ(x)
    p = sig if label == 1.0 else _ONE - sig  # σ(f)
    g = np.float32((label - p) * alpha)  # g = (label - σ(u·h)) · alpha
    for k in range(size):
        neu1e[k] += g * out[orow, k]
        out[orow, k] += g * hmat[hrow, k]
    return loss


@njit(nogil=True, fastmath=_FAST, cache=True, inline="always")
def pair_negative(
    hmat: np.ndarray,  # (*, E) float32 matrix holding h (syn0, or a CBOW buffer)
    hrow: int,  # row of hmat that is h
    syn1neg: np.ndarray,  # (V, E) float32 output vectors, updated in place
    target: int,  # the word to predict (label 1)
    noise: np.ndarray,  # (>= n_noise,) int32 noise words (label 0)
    n_noise: int,  # how many of ``noise`` to use; those equal to target are skipped
    alpha: float,  # learning rate
    neu1e: np.ndarray,  # (E,) float32 accumulates alpha * -dL/dh (caller zeroes it)
) -> float:
    """One negative-sampling SGD step on the output side; returns the example's loss.

    L = -log σ(u_o·h) - Σ_k log σ(-u_k·h);  g = (label - σ(u·h)) · alpha;
    neu1e += g u (before u's update);  u += g h.  The caller then adds neu1e to h's rows.
    """
    loss = _step(hmat, hrow, syn1neg, target, 1.0, alpha, neu1e)
    for d in range(n_noise):
        word = noise[d]
        if word != target:
            loss += _step(hmat, hrow, syn1neg, word, 0.0, alpha, neu1e)
    return loss


@njit(nogil=True, fastmath=_FAST, cache=True, inline="always")
def _logistic(f: float, label: float, alpha: float) -> tuple[float, float, float]:
    """One logistic output ``f``: ``(g, 1 + z, min(x, 0))`` with ``g = (label - σ(f)) · alpha``,
    ``x = ±f`` and ``z = exp(-|x|)``, so that ``-log σ(x) = log(1 + z) - min(x, 0)``."""
    x = f if label == 1.0 else -f  # the loss is -log σ(x)
    z = np.exp(-abs(x))  # in (0, 1]: no overflow
    sig = _ONE / (_ONE + z) if x >= _ZERO else z / (_ONE + z)  # σ(x)
    p = sig if label == 1.0 else _ONE - sig  # σ(f)
    return np.float32((label - p) * alpha), 1.0 + np.float64(z), min(x, _ZERO)


@njit(nogil=True, fastmath=_FAST, cache=True, inline="always")
def batch_negative(
    syn0: np.ndarray,  # (V, E) float32 input vectors, updated in place
    contexts: np.ndarray,  # (>= m,) int32 rows of syn0: the center's context words c_1..c_m
    m: int,  # number of context words (>= 1)
    syn1neg: np.ndarray,  # (V, E) float32 output vectors, updated in place
    target: int,  # the center word o (label 1)
    noise: np.ndarray,  # (>= n_noise,) int32 shared noise words k_1..k_K (label 0)
    n_noise: int,  # K; a noise word equal to target is skipped
    alpha: float,  # learning rate
    hbuf: np.ndarray,  # (>= m + 1, E) float32 work buffer: the snapshot H (+ a zero pad row)
    ubuf: np.ndarray,  # (>= K + 2, E) float32 work buffer: the snapshot U (+ a zero pad row)
    gbuf: np.ndarray,  # (>= m + 1, >= K + 2) float32 work buffer: G (+ zero pad)
) -> float:
    """HogBatch step (Ji et al. 2016) for one center word; returns the summed loss of its pairs.

    With H = syn0[c_1..c_m] (m, E), U = syn1neg[o, k_1..k_K] (K+1, E), labels y = (1, 0..0):

        F = H Uᵀ (m, K+1);  L = -Σ_j [log σ(F_j0) + Σ_k log σ(-F_jk)];
        G = (y - σ(F)) · alpha  (a column whose noise word equals o is zero);
        syn0[c_j] += (G U)_j;  syn1neg[o, k] += (Gᵀ H)_k,

    both updates from the same snapshot (H, U): for m = 1 and distinct noise words it is
    word2vec.c's pair step (which lets a repeated noise word see its first update).
    Repeated rows (a context word twice, a noise word drawn twice) get the sum of their
    updates. The three products run on 2×2 (F) and 1×2 / 2×1 register blocks over the
    copied H and U (padded to even sizes with zero rows and zero G), so each loaded
    element feeds 2 multiply-adds and each row of syn0 / syn1neg is stored (K+1)/2 and
    m/2 times instead of K+1 and m times.
    """
    size = syn0.shape[1]
    n_out = n_noise + 1
    mp = m + (m & 1)  # rows of H, padded to even
    kp = n_out + (n_out & 1)  # rows of U, padded to even
    for k in range(kp):  # U snapshot: the target first, then the noise words
        if k < n_out:
            row = target if k == 0 else noise[k - 1]
            for e in range(size):
                ubuf[k, e] = syn1neg[row, e]
        else:
            for e in range(size):
                ubuf[k, e] = _ZERO
    for j in range(mp):  # H snapshot
        if j < m:
            row = contexts[j]
            for e in range(size):
                hbuf[j, e] = syn0[row, e]
        else:
            for e in range(size):
                hbuf[j, e] = _ZERO
    loss = 0.0
    for j in range(0, mp, 2):  # F = H Uᵀ in 2×2 blocks, then G
        # -Σ_k log σ(x_jk) = log Π_k (1 + z_jk) - Σ_k min(x_jk, 0): one log per pair (the
        # product lies in [1, 2^(K+1)], float64) instead of K+1 log1p calls
        prod0 = 1.0
        prod1 = 1.0
        for k in range(0, kp, 2):
            f00 = _ZERO
            f01 = _ZERO
            f10 = _ZERO
            f11 = _ZERO
            for e in range(size):
                h0 = hbuf[j, e]
                h1 = hbuf[j + 1, e]
                u0 = ubuf[k, e]
                u1 = ubuf[k + 1, e]
                f00 += h0 * u0
                f01 += h0 * u1
                f10 += h1 * u0
                f11 += h1 * u1
            for dj in range(2):
                for dk in range(2):
                    jj = j + dj
                    kk = k + dk
                    if jj >= m or kk >= n_out or (kk > 0 and noise[kk - 1] == target):
                        gbuf[jj, kk] = _ZERO
                        continue
                    if dj == 0:
                        f = f00 if dk == 0 else f01
                    else:
                        f = f10 if dk == 0 else f11
                    g, one_z, min_x = _logistic(f, _ONE if kk == 0 else _ZERO, alpha)
                    gbuf[jj, kk] = g
                    loss -= min_x
                    if dj == 0:
                        prod0 *= one_z
                    else:
                        prod1 *= one_z
        loss += np.log(prod0) + np.log(prod1)  # prod1 = 1 for a pad row
    for j in range(m):  # syn0[c_j] += Σ_k G_jk U_k, two U rows per pass
        row = contexts[j]
        for k in range(0, kp, 2):
            g0 = gbuf[j, k]
            g1 = gbuf[j, k + 1]
            for e in range(size):
                syn0[row, e] += g0 * ubuf[k, e] + g1 * ubuf[k + 1, e]
    for k in range(n_out):  # syn1neg[k] += Σ_j G_jk H_j, two H rows per pass
        row = target if k == 0 else noise[k - 1]
        for j in range(0, mp, 2):
            g0 = gbuf[j, k]
            g1 = gbuf[j + 1, k]
            for e in range(size):
                syn1neg[row, e] += g0 * hbuf[j, e] + g1 * hbuf[j + 1, e]
    return loss


@njit(nogil=True, fastmath=_FAST, cache=True, inline="always")
def pair_hierarchical(
    hmat: np.ndarray,  # (*, E) float32 matrix holding h
    hrow: int,  # row of hmat that is h
    syn1: np.ndarray,  # (V-1, E) float32 inner-node vectors, updated in place
    codes: np.ndarray,  # (V, L) uint8 Huffman bits, root first
    points: np.ndarray,  # (V, L) int32 inner nodes, root first
    lengths: np.ndarray,  # (V,) int32 code lengths
    target: int,  # the word to predict
    alpha: float,  # learning rate
    neu1e: np.ndarray,  # (E,) float32 accumulates alpha * -dL/dh
) -> float:
    """One hierarchical-softmax SGD step; returns the example's loss.

    L = -Σ_j log σ((1 - 2 c_j) u_j·h);  g_j = (1 - c_j - σ(u_j·h)) · alpha  (word2vec.c).
    """
    loss = 0.0
    for j in range(lengths[target]):
        label = 1.0 - np.float64(codes[target, j])
        loss += _step(hmat, hrow, syn1, points[target, j], label, alpha, neu1e)
    return loss


@njit(nogil=True, fastmath=_FAST, cache=True)
def pair_softmax(
    hmat: np.ndarray,  # (*, E) float32 matrix holding h
    hrow: int,  # row of hmat that is h
    out: np.ndarray,  # (V, E) float32 output vectors, updated in place
    target: int,  # the word to predict
    alpha: float,  # learning rate
    neu1e: np.ndarray,  # (E,) float32 accumulates alpha * -dL/dh
    scores: np.ndarray,  # (V,) float64 work buffer
) -> float:
    """One full-softmax SGD step; returns the example's loss.

    L = logsumexp(U h) - u_o·h;  g_j = (1[j = o] - softmax(U h)_j) · alpha.
    """
    size = neu1e.shape[0]
    n_words = out.shape[0]
    top = -np.inf
    for j in range(n_words):
        f = _ZERO
        for k in range(size):
            f += hmat[hrow, k] * out[j, k]
        scores[j] = f
        top = max(top, scores[j])
    total = 0.0
    for j in range(n_words):
        total += np.exp(scores[j] - top)
    lse = top + np.log(total)
    loss = lse - scores[target]
    for j in range(n_words):
        p = np.exp(scores[j] - lse)
        label = 1.0 if j == target else 0.0
        g = np.float32((label - p) * alpha)
        for k in range(size):
            neu1e[k] += g * out[j, k]
            out[j, k] += g * hmat[hrow, k]
    return loss


@njit(nogil=True, cache=True)
def alias_table(probs: np.ndarray) -> np.ndarray:
    """Walker's alias table (Vose's construction) of ``probs`` (V,), packed in int64.

    Entry ``i`` holds ``threshold << 32 | alias`` (threshold in units of 2^-31, < 2^31, so the
    entry stays positive): a uniform bucket ``i`` yields word ``i`` when a 31-bit draw is
    below ``threshold`` and word ``alias`` otherwise, so each draw costs
    two random numbers and one memory access (word2vec.c's 1e8-entry table: 400 MB).
    """
    n = probs.shape[0]
    scaled = probs * n / probs.sum()  # (V,) mean 1
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    n_small = 0
    n_large = 0
    for i in range(n):
        if scaled[i] < 1.0:
            small[n_small] = i
            n_small += 1
        else:
            large[n_large] = i
            n_large += 1
    threshold = np.ones(n, dtype=np.float64)
    alias = np.arange(n)
    while n_small > 0 and n_large > 0:
        n_small -= 1
        a = small[n_small]
        b = large[n_large - 1]
        threshold[a] = scaled[a]
        alias[a] = b
        scaled[b] -= 1.0 - scaled[a]
        if scaled[b] < 1.0:
            n_large -= 1
            small[n_small] = b
            n_small += 1
    table = np.empty(n, dtype=np.int64)
    for i in range(n):
        t = min(np.int64(np.round(threshold[i] * _TWO31)), np.int64(_TWO31 - 1))
        table[i] = (t << 32) | alias[i]
    return table


@njit(nogil=True, cache=True)
def alias_probabilities(table: np.ndarray) -> np.ndarray:
    """The distribution an alias table draws from (float64), for tests."""
    n = table.shape[0]
    probs = np.zeros(n, dtype=np.float64)
    for i in range(n):
        keep = (table[i] >> 32) / _TWO31
        probs[i] += keep / n
        probs[table[i] & 0xFFFFFFFF] += (1.0 - keep) / n
    return probs


@njit(nogil=True, cache=True, inline="always")
def _next(state: int) -> int:
    """word2vec.c's LCG on 48 bits; ``state >> 16`` is the 32-bit draw."""
    return (state * _LCG_MUL + _LCG_ADD) & _MASK48


@njit(nogil=True, cache=True, inline="always")
def draw_noise(table: np.ndarray, state: int) -> tuple[int, int]:
    """One word from the alias table; returns (word, new LCG state)."""
    state = _next(state)
    bucket = ((state >> 16) * table.shape[0]) >> 32  # uniform in [0, V) without division
    entry = table[bucket]
    state = _next(state)
    word = bucket if (state >> 17) < (entry >> 32) else entry & 0xFFFFFFFF
    return word, state


@njit(nogil=True, cache=True)
def draw_many(table: np.ndarray, seed: int, n: int) -> np.ndarray:
    """``n`` noise words (int64) from the alias table, for tests."""
    out = np.empty(n, dtype=np.int64)
    state = seed & _MASK48
    for i in range(n):
        out[i], state = draw_noise(table, state)
    return out


@njit(nogil=True, cache=True, inline="always")
def reduced_window(state: int, window: int) -> tuple[int, int]:
    """word2vec.c's dynamic window: ``window - b`` with ``b = rand % window``, uniform in
    ``1..window``; returns (radius, new LCG state)."""
    state = _next(state)
    return window - (state >> 16) % window, state


@njit(nogil=True, cache=True)
def draw_windows(seed: int, n: int, window: int) -> np.ndarray:
    """The first ``n`` window radii :func:`train_chunk` draws from ``seed`` when nothing else
    draws (no subsampling, no noise words), for tests."""
    out = np.empty(n, dtype=np.int64)
    state = seed & _MASK48
    for i in range(n):
        out[i], state = reduced_window(state, window)
    return out


@njit(nogil=True, cache=True, inline="always")
def subsample(
    ids: np.ndarray,  # (N,) int32 word ids
    begin: int,  # first position of the sentence in ids
    end: int,  # one past its last position
    keep_prob: np.ndarray,  # (V,) float64 probability of keeping each word
    state: int,  # LCG state
    out: np.ndarray,  # (>= end - begin,) int32 receives the kept ids
) -> tuple[int, int]:
    """Keep ``ids[i]`` with probability ``keep_prob[ids[i]]``; returns (kept, state)."""
    n = 0
    for i in range(begin, end):
        word = ids[i]
        keep = keep_prob[word]
        if keep < 1.0:
            state = _next(state)
            if (state >> 16) / _TWO32 >= keep:  # word2vec.c: discard when keep < uniform
                continue
        out[n] = word
        n += 1
    return n, state


@njit(nogil=True, fastmath=_FAST, cache=True)
def train_chunk(
    syn0: np.ndarray,  # (V, E) float32 input vectors, updated in place
    syn1: np.ndarray,  # (V, E) or (V-1, E) float32 output vectors of the objective
    ids: np.ndarray,  # (N,) int32 ids of whole sentences, concatenated
    bounds: np.ndarray,  # (S+1,) int64 sentence offsets into ids
    keep_prob: np.ndarray,  # (V,) float64 subsampling keep probability per word
    noise_table: np.ndarray,  # (V,) int64 alias table of the noise distribution
    codes: np.ndarray,  # (V, L) uint8 Huffman codes (hierarchical softmax)
    points: np.ndarray,  # (V, L) int32 Huffman paths (hierarchical softmax)
    code_lengths: np.ndarray,  # (V,) int32 Huffman code lengths (hierarchical softmax)
    skipgram: bool,  # True: skip-gram, False: CBOW
    objective: int,  # OBJECTIVE_NEGATIVE / _HIERARCHICAL / _SOFTMAX
    window: int,  # maximum window radius
    negative: int,  # noise words per example
    cbow_mean: bool,  # CBOW hidden vector: mean (True) or sum (False) of the context
    alpha_start: float,  # learning rate at the chunk's first word ...
    alpha_end: float,  # ... decaying linearly to this at its end
    seed: int,  # LCG seed of this chunk
    hogbatch: bool = False,  # skip-gram + negative: one batch_negative step per center word
) -> tuple[float, int, int]:
    """Train on one chunk; returns (summed loss, examples, words kept after subsampling).

    Examples are (context, center) pairs for skip-gram (also with ``hogbatch``: a center with
    m context words counts m), center words for CBOW.
    """
    size = syn0.shape[1]
    n_total = ids.shape[0]
    state = seed & _MASK48
    buf = np.empty(n_total, dtype=np.int32)
    neu1 = np.empty((1, size), dtype=np.float32)  # CBOW hidden vector, as row 0
    neu1e = np.empty(size, dtype=np.float32)
    noise = np.empty(max(negative, 1), dtype=np.int32)
    batched = hogbatch and skipgram and objective == OBJECTIVE_NEGATIVE
    span = 2 * window + 1 if batched else 1  # most context words of one center, + a pad row
    n_out = negative + 2 if batched else 1  # target and noise words, + a pad row
    ctx = np.empty(span, dtype=np.int32)  # HogBatch: the center's context words
    hbuf = np.empty((span, size), dtype=np.float32)  # HogBatch: H snapshot
    ubuf = np.empty((n_out, size), dtype=np.float32)  # HogBatch: U snapshot
    gbuf = np.empty((span, n_out), dtype=np.float32)  # HogBatch: G
    scores = np.empty(syn1.shape[0] if objective == OBJECTIVE_SOFTMAX else 1, dtype=np.float64)
    loss = 0.0
    examples = 0
    kept = 0
    for s in range(bounds.shape[0] - 1):
        begin = bounds[s]
        n, state = subsample(ids, begin, bounds[s + 1], keep_prob, state, buf)
        kept += n
        alpha = alpha_start + (alpha_end - alpha_start) * (begin - bounds[0]) / max(n_total, 1)
        for pos in range(n):
            reduced, state = reduced_window(state, window)  # uniform in 1..window
            lo = max(0, pos - reduced)
            hi = min(n, pos + reduced + 1)
            center = buf[pos]
            if batched:
                m = 0
                for c in range(lo, hi):
                    if c != pos:
                        ctx[m] = buf[c]
                        m += 1
                if m == 0:
                    continue
                for d in range(negative):  # shared by the center's m pairs
                    noise[d], state = draw_noise(noise_table, state)
                loss += batch_negative(
                    syn0, ctx, m, syn1, center, noise, negative, alpha, hbuf, ubuf, gbuf
                )
                examples += m
            elif skipgram:
                for c in range(lo, hi):
                    if c == pos:
                        continue
                    context = buf[c]
                    for k in range(size):
                        neu1e[k] = 0.0
                    if objective == OBJECTIVE_NEGATIVE:
                        for d in range(negative):
                            noise[d], state = draw_noise(noise_table, state)
                        loss += pair_negative(
                            syn0, context, syn1, center, noise, negative, alpha, neu1e
                        )
                    elif objective == OBJECTIVE_HIERARCHICAL:
                        loss += pair_hierarchical(
                            syn0, context, syn1, codes, points, code_lengths, center, alpha, neu1e
                        )
                    else:
                        loss += pair_softmax(syn0, context, syn1, center, alpha, neu1e, scores)
                    for k in range(size):
                        syn0[context, k] += neu1e[k]
                    examples += 1
            else:
                count = 0
                for k in range(size):
                    neu1[0, k] = 0.0
                    neu1e[k] = 0.0
                for c in range(lo, hi):
                    if c == pos:
                        continue
                    context = buf[c]
                    for k in range(size):
                        neu1[0, k] += syn0[context, k]
                    count += 1
                if count == 0:
                    continue
                if cbow_mean:
                    inv = np.float32(1.0 / count)
                    for k in range(size):
                        neu1[0, k] *= inv
                if objective == OBJECTIVE_NEGATIVE:
                    for d in range(negative):
                        noise[d], state = draw_noise(noise_table, state)
                    loss += pair_negative(neu1, 0, syn1, center, noise, negative, alpha, neu1e)
                elif objective == OBJECTIVE_HIERARCHICAL:
                    loss += pair_hierarchical(
                        neu1, 0, syn1, codes, points, code_lengths, center, alpha, neu1e
                    )
                else:
                    loss += pair_softmax(neu1, 0, syn1, center, alpha, neu1e, scores)
                for c in range(lo, hi):
                    if c == pos:
                        continue
                    context = buf[c]
                    for k in range(size):
                        syn0[context, k] += neu1e[k]
                examples += 1
    return loss, examples, kept
