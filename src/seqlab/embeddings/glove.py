"""GloVe: global vectors from weighted least squares on log co-occurrence counts.

Pennington, Socher & Manning (2014), "GloVe: Global Vectors for Word Representation"; the
reference behaviour is Stanford's ``cooccur.c`` + ``glove.c``. The course's cost::

    J = Σ_{i,j: X_ij > 0} f(X_ij) (θ_i·e_j + b_i + b'_j − log X_ij)²,  f(x) = min(1, (x/x_max)^α)

with ``θ`` = ``w`` (word vectors) and ``e`` = ``w~`` (context vectors).

Pipeline of :func:`train_glove`:

1. vocabulary: :func:`seqlab.embeddings.corpus.build_vocab` (``min_count``, ``max_vocab_size``),
   ids sorted by count; out-of-vocabulary tokens are dropped *before* windowing (as
   ``cooccur.c`` does), and a sentence (line) is a document: windows never cross it.
2. :func:`cooccurrence_matrix`: for each token, each context word ``d <= window`` positions
   before it adds ``1/d`` to ``X[context, word]`` and, symmetric, to ``X[word, context]`` —
   the same as counting ``window`` words on either side. Sparse and memory-bounded: a dense
   table for pairs of frequent words plus a hash table drained into sorted runs (see
   :mod:`seqlab.embeddings._glove_kernels`); runs beyond the memory limit are spilled to
   disk and merged k ways at the end (``cooccur.c``'s overflow files); the result is a
   sorted COO matrix. Sums are exact (int64 in units of 1/lcm(1..window)), so the matrix is
   the same, bit for bit, whatever the memory limit and however many runs spilled.
3. training: each visit of a non-zero is one AdaGrad step (initial squared-gradient sums 1,
   as ``glove.c``) on ``w_i, w~_j, b_i, b~_j``. On CPU the non-zeros are shuffled once (as
   ``glove.c``'s ``shuffle``) and cut into blocks of 256 whose order is redrawn every epoch;
   ``workers`` threads run a numba kernel over disjoint shares of the blocks without locks
   (Hogwild, like ``glove.c``'s pthreads). With ``engine="torch"`` (the default on a
   non-CPU device) minibatches of entries are updated with their summed gradients.
4. vectors: ``combine="sum"`` gives ``w + w~`` (``glove.c``'s ``-model 2``, the default);
   ``"average"`` the course's symmetric ``(w + w~) / 2``; ``"word"`` ``w`` alone.

Choices against ``glove.c``: parameters and squared-gradient sums are float32 (``glove.c``:
double); co-occurrences are accumulated in float64 and stored in float32; the visiting order
changes every epoch at block level (``glove.c`` shuffles the file once); no clipping of the
gradient components (``glove.c`` clips them at ±100) and no NaN guard; the initialisation is
``glove.c``'s: every weight and bias uniform in [-0.5, 0.5) / E.
``epoch_losses`` holds ``J / nnz`` accumulated during the pass (``glove.c`` prints half of it).

Tested in ``tests/test_glove.py`` against a brute-force double loop (counting) and a NumPy
float64 AdaGrad step.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from seqlab._device import check_device, parse_device, resolve_device
from seqlab._progress import ProgressBar
from seqlab._validate import is_int, is_number, require
from seqlab.embeddings import _glove_kernels as K
from seqlab.embeddings.corpus import SentenceCorpus, build_vocab
from seqlab.embeddings.keyed_vectors import KeyedVectors
from seqlab.embeddings.result import EmbeddingResult

__all__ = [
    "GloVeConfig",
    "cooccurrence_matrix",
    "glove_weight",
    "train_glove",
]

Combine = Literal["sum", "average", "word"]
Engine = Literal["auto", "numba", "torch"]

_CHUNK_TOKENS = 1 << 20  # tokens counted per kernel call (a 4 MiB id buffer)
_EXACT_SCALE_MAX = 1 << 32  # exact int64 counting while lcm(1..window) stays below this
_BLOCK = 256  # numba engine: entries visited in sequence; blocks are reshuffled every epoch


@dataclass(frozen=True, kw_only=True)
class GloVeConfig:
    """How :func:`train_glove` counts and trains (defaults: ``glove.c``'s demo settings)."""

    vector_size: int = 100  # E: dimensions of w and w~
    window: int = 10  # context words on each side (cooccur.c -window-size)
    x_max: float = 100.0  # f(x) = min(1, (x / x_max)^alpha): counts >= x_max weigh 1
    alpha: float = 0.75  # exponent of the weighting function
    epochs: int = 25  # passes over the non-zero co-occurrences (glove.c -iter)
    learning_rate: float = 0.05  # AdaGrad's eta (glove.c -eta)
    min_count: int = 5  # rarer words are left out of the vocabulary (and of the windows)
    max_vocab_size: int | None = None  # keep only the most frequent words (None: all)
    combine: Combine = "sum"  # output vectors: "sum" w + w~, "average" (w + w~)/2, "word" w
    distance_weighting: bool = True  # a context word d positions away counts 1/d (else 1)
    symmetric: bool = True  # count context on both sides (else only words to the right)
    memory_limit_mb: float = 4096.0  # working memory of the counting (tables and runs), MiB;
    # sorted runs beyond it spill to disk (cooccur.c -memory 4.0)
    spill_dir: str | None = None  # where spilled runs go (None: the system's temp folder)
    workers: int = 2  # Hogwild threads of the numba engine (1: deterministic)
    engine: Engine = "auto"  # "numba" (CPU), "torch" (minibatches, any device), "auto"
    batch_size: int = 16384  # non-zeros per minibatch of the torch engine
    seed: int = 1  # initial vectors and the order of every epoch
    device: str = "cpu"  # "cpu", "cuda[:N]" (torch engine) or "auto" (cuda only with
    # engine="torch" and a GPU, else cpu); stored resolved; an absent device is a ValueError

    def __post_init__(self) -> None:
        for name in ("vector_size", "window", "epochs", "workers", "batch_size"):
            value = getattr(self, name)
            require(is_int(value) and value > 0, f"{name} must be a positive int, got {value!r}")
        require(
            is_int(self.min_count) and self.min_count >= 1,
            f"min_count must be an int >= 1, got {self.min_count!r}",
        )
        require(
            self.max_vocab_size is None
            or (is_int(self.max_vocab_size) and self.max_vocab_size > 0),
            f"max_vocab_size must be None or a positive int, got {self.max_vocab_size!r}",
        )
        for name in ("x_max", "alpha", "learning_rate", "memory_limit_mb"):
            value = getattr(self, name)
            require(is_number(value) and value > 0, f"{name} must be > 0, got {value!r}")
        require(
            self.combine in ("sum", "average", "word"),
            f"combine must be 'sum', 'average' or 'word', got {self.combine!r}",
        )
        require(
            self.engine in ("auto", "numba", "torch"),
            f"engine must be 'auto', 'numba' or 'torch', got {self.engine!r}",
        )
        for name in ("distance_weighting", "symmetric"):
            value = getattr(self, name)
            require(isinstance(value, bool), f"{name} must be a bool, got {value!r}")
        require(is_int(self.seed) and self.seed >= 0, f"seed must be an int >= 0: {self.seed!r}")
        require(isinstance(self.device, str), f"device must be a string: {self.device!r}")
        require(
            self.spill_dir is None or isinstance(self.spill_dir, str),
            f"spill_dir must be None or a folder (str), got {self.spill_dir!r}",
        )
        # "auto": the CPU's numba engine unless engine="torch" is asked for explicitly
        gpu_path = self.engine == "torch"
        object.__setattr__(self, "device", resolve_device(self.device, gpu_path=gpu_path))
        device = parse_device(self.device)
        require(
            not (self.engine == "numba" and device.type != "cpu"),
            f"engine 'numba' runs on the CPU only, got device {self.device!r}",
        )
        check_device(self.device)  # last: a device this process lacks is a ValueError here

    @property
    def resolved_engine(self) -> Literal["numba", "torch"]:
        """The engine that runs: "auto" is numba on the CPU and torch elsewhere."""
        if self.engine != "auto":
            return self.engine
        return "numba" if torch.device(self.device).type == "cpu" else "torch"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- the weighting function ----------------------------------------------------------------


def glove_weight(x: np.ndarray, x_max: float = 100.0, alpha: float = 0.75) -> np.ndarray:
    """f(x) = min(1, (x / x_max)^alpha), elementwise (float64 in, float64 out for float64)."""
    x = np.asarray(x)
    if np.any(x < 0):
        raise ValueError("co-occurrence counts must be >= 0")
    # f(x) = (x / x_max)^α below x_max, 1 from x_max on
    return np.minimum(1.0, (x / x_max) ** alpha)


# -- counting --------------------------------------------------------------------------------


def _chunks(sentences: Iterable[np.ndarray], vocab_size: int) -> Iterator[tuple[np.ndarray, ...]]:
    """Concatenate sentences into (ids, bounds) chunks of about ``_CHUNK_TOKENS`` tokens."""
    parts: list[np.ndarray] = []
    lengths: list[int] = []
    total = 0
    for sentence in sentences:
        ids = np.asarray(sentence)
        if ids.ndim != 1:
            raise ValueError(f"expected a sentence of shape (T,), got {ids.shape}")
        if ids.size == 0:
            continue
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"expected integer word ids, got dtype {ids.dtype}")
        if ids.min() < 0 or ids.max() >= vocab_size:
            raise ValueError(f"word ids must be in [0, {vocab_size}), got {ids.min()}..{ids.max()}")
        parts.append(ids.astype(np.int32, copy=False))
        lengths.append(ids.size)
        total += ids.size
        if total >= _CHUNK_TOKENS:
            yield np.concatenate(parts), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            parts, lengths, total = [], [], 0
    if parts:
        yield np.concatenate(parts), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _dense_layout(vocab_size: int, max_entries: int) -> np.ndarray:
    """Row offsets of the dense table: row i holds columns j with (i+1)(j+1) <= max_product.

    ``max_product`` is the largest that keeps the table within ``max_entries`` (cooccur.c's
    rule: ids are sorted by frequency, so frequent pairs — most of the counts — go there).
    """

    def size(p: int) -> int:
        i = np.arange(1, vocab_size + 1, dtype=np.int64)
        return int(np.minimum(vocab_size, p // i).sum())

    low, high = 0, vocab_size * vocab_size
    if size(high) <= max_entries:
        low = high
    else:
        while high - low > 1:  # largest p with size(p) <= max_entries
            mid = (low + high) // 2
            low, high = (mid, high) if size(mid) <= max_entries else (low, mid)
    i = np.arange(1, vocab_size + 1, dtype=np.int64)
    row_len = np.minimum(vocab_size, low // i)
    return np.concatenate([[0], np.cumsum(row_len)]).astype(np.int64)  # (V+1,)


def _increments(window: int, distance_weighting: bool) -> tuple[np.ndarray, float]:
    """``(increments, scale)``: what a context word d positions away adds (``increments[d -
    1]``) in units of ``1 / scale``.

    Exact integers where they fit: 1/d = (L / d) / L with L = lcm(1..window) (2,520 for
    window 10; every window up to 22), so sums do not depend on their order. Wider windows
    add float64 ``1/d`` (then a spilled run may change the last bit of a sum).
    """
    if not distance_weighting:
        return np.ones(window, np.int64), 1.0
    lcm = math.lcm(*range(1, window + 1))
    if lcm <= _EXACT_SCALE_MAX:
        return np.array([lcm // d for d in range(1, window + 1)], np.int64), float(lcm)
    return 1.0 / np.arange(1, window + 1, dtype=np.float64), 1.0


class _Runs:
    """Sorted runs (int64 keys, values), merged into one in memory while they fit in
    ``max_entries``; beyond that the merged run is appended to a spill file on disk, and
    :meth:`matrix` merges the spilled runs k ways (as ``cooccur.c``'s ``merge_files``)."""

    def __init__(self, max_entries: int, dtype: np.dtype, spill_dir: str | None) -> None:
        self.max_entries = max_entries
        self.dtype = dtype  # the values' dtype (int64: exact units; float64)
        self.spill_dir = spill_dir
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.folder: tempfile.TemporaryDirectory[str] | None = None
        self.offsets = [0]  # start of each spilled run in the spill files

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        self.runs.append((keys, values))
        sizes = [k.size for k, _ in self.runs]
        if sum(sizes) - max(sizes) > self.max_entries:  # new runs beside the largest: merge
            self.runs = [self.merged()]
            if self.runs[0][0].size > self.max_entries:  # the merged run outgrew memory
                self.spill()

    def merged(self) -> tuple[np.ndarray, np.ndarray]:
        runs = self.runs or [(np.empty(0, np.int64), np.empty(0, self.dtype))]
        while len(runs) > 1:  # pairwise passes: O(n log(runs))
            nxt = [K.merge_runs(*runs[k], *runs[k + 1]) for k in range(0, len(runs) - 1, 2)]
            runs = nxt + ([runs[-1]] if len(runs) % 2 else [])
        return runs[0]

    def spill(self) -> None:
        """Append the runs in memory, merged, to the spill files; free them."""
        keys, values = self.merged()
        self.runs = []
        if self.folder is None:
            self.folder = tempfile.TemporaryDirectory(prefix="seqlab-glove-", dir=self.spill_dir)
        folder = Path(self.folder.name)
        with (folder / "keys.bin").open("ab") as handle:
            keys.tofile(handle)
        with (folder / "values.bin").open("ab") as handle:
            values.tofile(handle)
        self.offsets.append(self.offsets[-1] + keys.size)

    def matrix(self, vocab_size: int, scale: float) -> tuple[np.ndarray, ...]:
        """The merged runs as ``(rows, cols, values)``: int32, int32, float32 (value /
        scale); from the spill files (two k-way passes: count, then fill) if any."""
        if self.folder is None:
            keys, values = self.merged()
            self.runs = []
            rows = (keys // vocab_size).astype(np.int32)  # (nnz,)
            cols = (keys % vocab_size).astype(np.int32)  # (nnz,)
            return rows, cols, (values / scale).astype(np.float32)
        try:
            if self.runs:
                self.spill()
            folder = Path(self.folder.name)
            n = self.offsets[-1]
            keys = np.memmap(folder / "keys.bin", np.int64, "r", shape=(n,))  # (M,)
            values = np.memmap(folder / "values.bin", self.dtype, "r", shape=(n,))  # (M,)
            offsets = np.array(self.offsets, np.int64)  # (R+1,)
            none = np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.float32)
            nnz = K.kway_merge(keys, values, offsets, vocab_size, scale, *none)
            out = np.empty(nnz, np.int32), np.empty(nnz, np.int32), np.empty(nnz, np.float32)
            K.kway_merge(keys, values, offsets, vocab_size, scale, *out)
            del keys, values
            return out
        finally:
            self.folder.cleanup()
            self.folder = None

    @property
    def spilled(self) -> int:
        """How many runs went to disk."""
        return len(self.offsets) - 1


def cooccurrence_matrix(
    sentences: Iterable[np.ndarray],
    vocab_size: int,
    *,
    window: int = 10,
    distance_weighting: bool = True,
    symmetric: bool = True,
    memory_limit_mb: float = 4096.0,
    spill_dir: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The co-occurrence matrix X of id sentences as a sorted COO ``(rows, cols, values)``.

    ``sentences`` yields 1-D integer arrays of ids in ``[0, vocab_size)`` (one per sentence;
    windows never cross sentences; ids are best sorted by decreasing frequency, which puts the
    heavy pairs in the dense table). For each token ``w`` and each word ``c`` that is
    ``d <= window`` positions before it, ``X[c, w] += 1/d`` (1 without ``distance_weighting``)
    and, if ``symmetric``, ``X[w, c] += 1/d``: so X[i, j] sums over j's occurrences on both
    sides of i (symmetric) or only to the right of i (not symmetric).

    ``memory_limit_mb`` bounds the working memory: a dense table (about a third), a hash table
    (a third) and sorted runs (a third), merged in memory while they fit, else spilled to a
    temporary folder in ``spill_dir`` (default: the system's) and merged k ways at the end;
    the returned matrix (12 bytes per non-zero) comes on top. Counts are summed exactly (in
    int64 units of 1/lcm(1..window), for windows up to 22), so any limit gives the same
    matrix, bit for bit.

    Returns int32 ``rows``, int32 ``cols`` (sorted by row, then column) and float32
    ``values`` (accumulated in float64), each of shape (nnz,).
    """
    require(is_int(vocab_size) and vocab_size > 0, f"vocab_size must be > 0: {vocab_size!r}")
    require(is_int(window) and window > 0, f"window must be a positive int, got {window!r}")
    require(
        is_number(memory_limit_mb) and memory_limit_mb > 0,
        f"memory_limit_mb must be > 0, got {memory_limit_mb!r}",
    )
    require(vocab_size < 2**31, "vocab_size must be < 2^31")
    budget = int(memory_limit_mb * 2**20)
    dense_offsets = _dense_layout(vocab_size, budget // 3 // 8)  # float64 entries
    increments, scale = _increments(window, distance_weighting)
    dense = np.zeros(int(dense_offsets[-1]), increments.dtype)
    # hash slots: key int64 + value float64, filled to 2/3 at most; the table starts small and
    # grows 4x at a time up to its share of the budget (room for one token's pairs at least)
    max_cap = 1 << max(6, int(math.log2(max(budget // 3 // 16, 1))))
    max_cap = max(max_cap, 1 << math.ceil(math.log2(8 * window)))
    cap = min(max_cap, 1 << 16)
    keys = np.full(cap, -1, np.int64)
    values = np.zeros(cap, increments.dtype)
    runs = _Runs(max(budget // 3 // 16, max_cap), increments.dtype, spill_dir)
    filled = 0
    # exact counting: no int64 sum may overflow; each token adds at most 2 Σ increments
    # to one entry, so stop before the tokens counted could reach that
    max_tokens = (2**63 - 1) // (2 * int(increments.sum())) if increments.dtype.kind == "i" else 0
    tokens = 0
    for ids, bounds in _chunks(sentences, vocab_size):
        tokens += ids.size
        if max_tokens and tokens > max_tokens:
            raise ValueError(
                f"over {max_tokens:,} tokens: the exact counts of window={window} could "
                "overflow; use a smaller window or a shorter corpus"
            )
        sentence, position = 0, 0
        n_sent = bounds.size - 1
        while sentence < n_sent:
            sentence, position, filled = K.count_chunk(
                ids, bounds, sentence, position, window, increments, symmetric,
                vocab_size, dense_offsets, dense, keys, values, filled, 2 * keys.size // 3,
            )  # fmt: skip
            if sentence < n_sent and keys.size < max_cap:  # full: grow the table
                bigger = min(max_cap, 4 * keys.size)
                new_keys = np.full(bigger, -1, np.int64)
                new_values = np.zeros(bigger, increments.dtype)
                K.rehash(keys, values, new_keys, new_values)
                keys, values = new_keys, new_values
            elif sentence < n_sent:  # full at its largest: drain it into a sorted run
                runs.add(*K.drain_table(keys, values))
                filled = 0
    if filled:
        runs.add(*K.drain_table(keys, values))
    runs.add(*K.dense_run(dense_offsets, dense, vocab_size))
    del dense, keys, values
    return runs.matrix(vocab_size, scale)  # type: ignore[return-value]


# -- training ---------------------------------------------------------------------------------


@dataclass
class _Params:
    """GloVe's parameters and AdaGrad state (float32, NumPy on CPU for the numba engine)."""

    w: np.ndarray  # (V, E) word vectors
    w_ctx: np.ndarray  # (V, E) context vectors
    b: np.ndarray  # (V,) word biases
    b_ctx: np.ndarray  # (V,) context biases
    gsq_w: np.ndarray  # (V, E) AdaGrad sums of squared steps, starting at 1
    gsq_ctx: np.ndarray  # (V, E)
    gsq_b: np.ndarray  # (V,)
    gsq_bctx: np.ndarray  # (V,)


def _init_params(vocab_size: int, dim: int, rng: np.random.Generator) -> _Params:
    """glove.c: W = (rand() / RAND_MAX − 0.5) / E for vectors and biases; gradsq = 1."""

    def uniform(*shape: int) -> np.ndarray:
        return ((rng.random(shape) - 0.5) / dim).astype(np.float32)

    return _Params(
        w=uniform(vocab_size, dim),
        w_ctx=uniform(vocab_size, dim),
        b=uniform(vocab_size),
        b_ctx=uniform(vocab_size),
        gsq_w=np.ones((vocab_size, dim), np.float32),
        gsq_ctx=np.ones((vocab_size, dim), np.float32),
        gsq_b=np.ones(vocab_size, np.float32),
        gsq_bctx=np.ones(vocab_size, np.float32),
    )


def _numba_epoch(
    p: _Params,
    entries: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    blocks: np.ndarray,
    eta: float,
    pool: ThreadPoolExecutor | None,
    workers: int,
) -> float:
    """One Hogwild pass over ``entries`` (rows, cols, log X, f(X)) block by block: Σ f·diff².

    Thread k takes the k-th contiguous share of ``blocks`` (the epoch's block order).
    """
    args = (p.w, p.w_ctx, p.b, p.b_ctx, p.gsq_w, p.gsq_ctx, p.gsq_b, p.gsq_bctx, eta)
    if pool is None or workers == 1:
        return float(K.adagrad_epoch(*entries, blocks, _BLOCK, *args))
    shares = np.array_split(blocks, workers)
    futures = [pool.submit(K.adagrad_epoch, *entries, share, _BLOCK, *args) for share in shares]
    return float(sum(f.result() for f in futures))


def _torch_epoch(
    t: dict[str, torch.Tensor],
    rows: torch.Tensor,
    cols: torch.Tensor,
    log_x: torch.Tensor,
    weight: torch.Tensor,
    order: torch.Tensor,
    eta: float,
    batch_size: int,
) -> float:
    """One pass of minibatch AdaGrad over ``order`` (summed gradients of ½J per batch)."""
    cost = torch.zeros((), dtype=torch.float64, device=rows.device)
    for start in range(0, order.numel(), batch_size):
        idx = order[start : start + batch_size]  # (B,)
        i, j = rows[idx], cols[idx]  # (B,), (B,)
        wi, wj = t["w"][i], t["w_ctx"][j]  # (B, E), (B, E)
        # diff = w_i·w~_j + b_i + b~_j − log X_ij
        diff = (wi * wj).sum(1) + t["b"][i] + t["b_ctx"][j] - log_x[idx]  # (B,)
        fdiff = weight[idx] * diff  # (B,)
        cost += (fdiff.double() * diff.double()).sum()
        g = eta * fdiff  # (B,) eta · f · diff
        _adagrad_rows(t["w"], t["gsq_w"], i, g[:, None] * wj)  # (B, E)
        _adagrad_rows(t["w_ctx"], t["gsq_ctx"], j, g[:, None] * wi)
        _adagrad_rows(t["b"], t["gsq_b"], i, g)
        _adagrad_rows(t["b_ctx"], t["gsq_bctx"], j, g)
    return float(cost)


def _adagrad_rows(
    param: torch.Tensor, gsq: torch.Tensor, index: torch.Tensor, step: torch.Tensor
) -> None:
    """param[u] -= s_u / sqrt(G_u); G_u += s_u², with s_u the batch's steps summed per row u."""
    unique, inverse = torch.unique(index, return_inverse=True)  # (U,), (B,)
    summed = torch.zeros((unique.numel(), *step.shape[1:]), dtype=step.dtype, device=step.device)
    summed.index_add_(0, inverse, step)  # (U, ...) Σ over the batch's entries of each row
    param[unique] -= summed / gsq[unique].sqrt()
    gsq[unique] += summed * summed


def _log_and_weight(
    values: np.ndarray, x_max: float, alpha: float, block: int = 1 << 20
) -> tuple[np.ndarray, np.ndarray]:
    """``log X`` and ``f(X)`` (float32, computed in float64) of the matrix's values, a block
    at a time: no float64 copy of all ``nnz`` values is held."""
    log_x = np.empty(values.size, np.float32)  # (nnz,)
    weight = np.empty(values.size, np.float32)  # (nnz,)
    for a in range(0, values.size, block):
        v = values[a : a + block].astype(np.float64)  # (b,)
        log_x[a : a + block] = np.log(v)
        weight[a : a + block] = glove_weight(v, x_max, alpha)
    return log_x, weight


def _train_matrix(
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    vocab_size: int,
    config: GloVeConfig,
    *,
    progress: bool = False,
) -> tuple[_Params, list[float]]:
    """Fit GloVe's parameters to a COO matrix; returns them and J/nnz per epoch."""
    nnz = rows.size
    require(nnz > 0, "the co-occurrence matrix is empty: the corpus has no word pairs")
    rng = np.random.default_rng(config.seed)
    p = _init_params(vocab_size, config.vector_size, rng)
    log_x, weight = _log_and_weight(values, config.x_max, config.alpha)  # (nnz,) each
    losses: list[float] = []
    bar = ProgressBar("glove", config.epochs, enabled=progress)
    try:
        if config.resolved_engine == "numba":
            # shuffle the entries once (the kernel then reads them sequentially), and visit
            # them in a fresh random order of blocks every epoch
            order = rng.permutation(nnz)  # (nnz,)
            entries = (rows[order], cols[order], log_x[order], weight[order])
            del order, log_x, weight  # training holds the shuffled copies only
            n_blocks = -(-nnz // _BLOCK)
            workers = config.workers
            with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
                for _ in range(config.epochs):
                    blocks = rng.permutation(n_blocks)  # (n_blocks,) this epoch's order
                    cost = _numba_epoch(p, entries, blocks, config.learning_rate, pool, workers)
                    losses.append(cost / nnz)
                    bar.update(len(losses), f"J/nnz {losses[-1]:.4g}")
        else:
            device = torch.device(config.device)
            t = {k: torch.from_numpy(v).to(device) for k, v in vars(p).items()}
            tr = torch.from_numpy(rows.astype(np.int64)).to(device)
            tc = torch.from_numpy(cols.astype(np.int64)).to(device)
            tl, tw = torch.from_numpy(log_x).to(device), torch.from_numpy(weight).to(device)
            gen = torch.Generator(device="cpu").manual_seed(config.seed)
            for _ in range(config.epochs):
                order = torch.randperm(nnz, generator=gen).to(device)  # (nnz,)
                cost = _torch_epoch(
                    t, tr, tc, tl, tw, order, config.learning_rate, config.batch_size
                )
                losses.append(cost / nnz)
                bar.update(len(losses), f"J/nnz {losses[-1]:.4g}")
            p = _Params(**{k: v.cpu().numpy() for k, v in t.items()})
    finally:
        bar.close()
    return p, losses


def combine_vectors(w: np.ndarray, w_ctx: np.ndarray, combine: Combine) -> np.ndarray:
    """The output vectors: w + w~ ("sum"), (w + w~) / 2 ("average") or w ("word")."""
    if combine == "sum":
        return (w + w_ctx).astype(np.float32)  # (V, E)
    if combine == "average":
        return ((w + w_ctx) / 2).astype(np.float32)  # (V, E)
    if combine == "word":
        return w.astype(np.float32, copy=True)  # (V, E)
    raise ValueError(f"combine must be 'sum', 'average' or 'word', got {combine!r}")


def train_glove(
    corpus: SentenceCorpus | str | os.PathLike[str] | Iterable[Sequence[str]],
    config: GloVeConfig | None = None,
    *,
    progress: bool = False,
) -> EmbeddingResult:
    """Train GloVe vectors on ``corpus`` (a :class:`~seqlab.embeddings.corpus.SentenceCorpus`, a
    path to a text / .gz file, or an iterable of token lists).

    Returns an :class:`EmbeddingResult`: the vectors (as ``config.combine`` says), ``J/nnz``
    per epoch, the wall time (vocabulary and counting included), the seconds spent counting
    co-occurrences (``counting_seconds``) and, as word2vec reports it, corpus tokens (in the
    vocabulary) × epochs per second of training (counting excluded).
    """
    config = config or GloVeConfig()
    started = time.perf_counter()
    if not isinstance(corpus, SentenceCorpus):
        corpus = SentenceCorpus(corpus)
    words, counts = build_vocab(
        corpus, min_count=config.min_count, max_vocab_size=config.max_vocab_size
    )
    require(len(words) > 0, f"no word occurs at least min_count={config.min_count} times")
    key_to_index = {w: i for i, w in enumerate(words)}
    n_tokens = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal n_tokens
        for ids in corpus.encode(key_to_index):
            n_tokens += len(ids)
            yield ids

    counting_started = time.perf_counter()
    rows, cols, values = cooccurrence_matrix(
        counted(),
        len(words),
        window=config.window,
        distance_weighting=config.distance_weighting,
        symmetric=config.symmetric,
        memory_limit_mb=config.memory_limit_mb,
        spill_dir=config.spill_dir,
    )
    training_started = time.perf_counter()
    p, losses = _train_matrix(rows, cols, values, len(words), config, progress=progress)
    vectors = combine_vectors(p.w, p.w_ctx, config.combine)
    ended = time.perf_counter()
    return EmbeddingResult(
        vectors=KeyedVectors(list(words), vectors, counts=counts),
        epoch_losses=losses,
        seconds=ended - started,
        # as word2vec's: corpus words x epochs per second of training (counting excluded)
        words_per_second=n_tokens * config.epochs / max(ended - training_started, 1e-9),
        counting_seconds=training_started - counting_started,
        config=config.to_dict(),
    )
