"""word2vec: skip-gram and CBOW with negative sampling, hierarchical softmax or full softmax.

Mikolov et al. (2013), "Efficient Estimation of Word Representations in Vector Space" and
"Distributed Representations of Words and Phrases and their Compositionality"; the reference
behaviour is word2vec.c and gensim's ``Word2Vec`` (what the course's notebooks use).

Skip-gram maximises ``log p(o | c)`` for every context word ``o`` within the window of a center
word ``c``, with ``p(o | c) = softmax(U v_c)_o`` (``v = syn0`` input vectors, ``U`` output
vectors). The three objectives (see :mod:`seqlab.embeddings._w2v_kernels` for the formulas):

- ``"softmax"``: the full V-way softmax (exact, O(V) per example: small vocabularies only);
- ``"hierarchical"``: binary decisions along the word's Huffman path (:mod:`.huffman`);
- ``"negative"``: ``log σ(u_o·v_c) + Σ_{k=1..K} log σ(-u_k·v_c)`` with ``K = negative`` noise
  words drawn from ``P(w) ∝ count(w)^ns_exponent`` (3/4 in the paper).

Like word2vec.c/gensim, the pair is trained in the order "context word's input vector predicts
the center word", frequent words are discarded with probability ``1 - (sqrt(t/f) + t/f)``
(``f`` = word frequency, ``t = sample``), each center word draws a window radius uniformly in
``1..window``, and the learning rate decays linearly from ``alpha`` to ``min_alpha`` over
``epochs × words``. Input vectors start uniform in ``[-0.5/E, 0.5/E)``, output vectors at zero.

Updates (skip-gram with negative sampling, numba engine): ``update="pair"`` takes word2vec.c's
SGD step per (context, center) pair; ``update="hogbatch"`` (Ji et al. 2016) takes one step per
center word ``o`` on all its window contexts ``c_1..c_m`` with ``K`` noise words drawn once
for the center: with ``H = syn0[c_1..c_m]`` (m, E) and ``U = syn1neg[o, k_1..k_K]`` (K+1, E),
``G = (y - σ(H Uᵀ))·alpha``, ``syn0[c] += G U`` and ``syn1neg[o, k] += Gᵀ H`` from the same
snapshot. Same objective and arithmetic, fewer memory passes and noise draws (see
:mod:`seqlab.embeddings._w2v_kernels`); a different SGD trajectory. ``update="auto"`` (the
default) is HogBatch wherever it applies (skip-gram, negative sampling, numba engine) and the
pair update elsewhere. ``negative=None`` (the default) is 5 noise words per pair for the pair
update (gensim's default) and 8 per center word for HogBatch: sharing 5 among a center's ~6
pairs costs about 0.4 points of analogy accuracy on text8, 8 matches the pair update's
accuracy (seed sweep in docs/embeddings.md) and is still 2.4x gensim's words/s.

Engines: ``"numba"`` (CPU) runs :func:`~seqlab.embeddings._w2v_kernels.train_chunk` on chunks of
``chunk_words`` words in ``workers`` Python threads over shared matrices (Hogwild, lock-free, as
word2vec.c and gensim), fed by a streaming reader: the corpus is never held in memory. With
``workers=1`` and a fixed seed training is deterministic; with more workers the interleaving of
updates is not (as in gensim). ``"torch"`` (the default on a non-CPU device) trains skip-gram
with negative sampling on minibatches of ``batch_size`` pairs (same subsampling, windows, noise
distribution and learning-rate schedule): every pair's step is taken at the batch's starting
point and the steps of a row are summed, except that a row's summed learning rate in one batch
is capped (``_add_rows``), so the frequent words, which recur hundreds of times in a batch,
cannot overshoot. On 2.1 M words of text8 (5 epochs) it reaches loss 2.308 against the numba
engine's 2.303 and 8.2% against 8.3-8.5% analogy accuracy (README). ``device="auto"`` picks
the GPU for that configuration when torch sees one.

Choices against gensim: exact sigmoids instead of a clipped table (gensim skips an update when
``|u·h| >= 6``); ``epoch_losses`` holds the true mean loss per example (per (center, context)
pair for skip-gram, per center word for CBOW) accumulated in float64; gensim's
``get_latest_training_loss`` sums in float32, saturates, and each worker overwrites the total.
Noise words are drawn with Walker's alias method (O(1), exact up to 2^-32) instead of a binary
search in a cumulative table (gensim) or word2vec.c's 1e8-entry table.

Tested in ``tests/test_word2vec.py``: one kernel step against torch autograd for every
objective, Huffman optimality, the noise table, subsampling, learning on a planted corpus.
"""

from __future__ import annotations

import dataclasses
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from seqlab._device import check_device, parse_device, resolve_device
from seqlab._progress import ProgressBar
from seqlab._validate import is_int, require
from seqlab.embeddings import _w2v_kernels as K
from seqlab.embeddings.corpus import SentenceCorpus, build_vocab
from seqlab.embeddings.huffman import HuffmanTree, build_huffman
from seqlab.embeddings.keyed_vectors import KeyedVectors
from seqlab.embeddings.result import EmbeddingResult

__all__ = [
    "Word2VecConfig",
    "keep_probabilities",
    "noise_distribution",
    "train_word2vec",
]

Method = Literal["skipgram", "cbow"]
Objective = Literal["negative", "hierarchical", "softmax"]
Engine = Literal["auto", "numba", "torch"]
Update = Literal["auto", "pair", "hogbatch"]

# Noise words of ``negative=None``: per (context, center) pair for the pair update (gensim's and
# word2vec.c's default), per center word for HogBatch, whose ~2·window/2 ≈ 6 pairs share them.
# Calibrated on the 2.1 M-word text8 prefix (skip-gram, 5 epochs, 5 seeds, docs/embeddings.md):
# HogBatch with 8 matches the pair update's (and gensim's) analogy accuracy, with 5 it is ~0.4
# points lower.
NEGATIVE_PAIR = 5
NEGATIVE_HOGBATCH = 8

_OBJECTIVE_CODE = {
    "negative": K.OBJECTIVE_NEGATIVE,
    "hierarchical": K.OBJECTIVE_HIERARCHICAL,
    "softmax": K.OBJECTIVE_SOFTMAX,
}


@dataclass(frozen=True, kw_only=True)
class Word2VecConfig:
    """Hyper-parameters of :func:`train_word2vec` (defaults: gensim's / word2vec.c's)."""

    method: Method = "skipgram"  # "skipgram" (context from center) or "cbow" (center from context)
    objective: Objective = "negative"  # "negative" sampling, "hierarchical" or full "softmax"
    vector_size: int = 100  # E, dimension of the word vectors
    window: int = 5  # maximum distance between center and context word (dynamic: 1..window)
    negative: int | None = None  # noise words per example (objective "negative"; 5-20 small
    # corpora); None: 5 per pair for update "pair", 8 per center word for "hogbatch"
    ns_exponent: float = 0.75  # noise distribution P(w) ∝ count(w)^ns_exponent (paper: 3/4)
    sample: float = 1e-3  # subsampling threshold t (0: keep every word)
    min_count: int = 5  # drop words seen fewer times than this
    max_vocab_size: int | None = None  # keep only the most frequent N words (None: all)
    epochs: int = 5  # passes over the corpus
    alpha: float = 0.025  # initial learning rate (gensim: 0.025 for both methods;
    # word2vec.c uses 0.05 for CBOW)
    min_alpha: float = 1e-4  # final learning rate (linear decay over epochs × words)
    cbow_mean: bool = True  # CBOW hidden vector is the mean (True) or sum (False) of context
    update: Update = "auto"  # skip-gram + negative on numba: "pair" (one SGD step per
    # (context, center) pair, word2vec.c/gensim) or "hogbatch" (one step per center word on
    # its m context words with K shared noise words, Ji et al. 2016; see module docstring);
    # "auto": "hogbatch" where it applies (skip-gram, negative, numba engine), else "pair"
    workers: int = 2  # Hogwild threads of the numba engine (1: deterministic with a seed)
    seed: int = 1  # seed of initialisation, subsampling, windows and noise draws
    device: str = "cpu"  # "cpu", "cuda[:N]" (torch engine) or "auto": cuda when available for
    # skip-gram with negative sampling (the only configuration with a GPU path), else cpu;
    # stored resolved. A device this process does not have is a ValueError.
    engine: Engine = "auto"  # "numba" (CPU threads), "torch" (minibatches, any device), "auto"
    batch_size: int = 4096  # examples per minibatch of the torch engine
    chunk_words: int = 10000  # words per job handed to a worker (the lr is fixed per sentence)
    max_cached_words: int = 250_000_000  # keep the encoded corpus (int32 ids, 4 bytes a word)
    # in memory after epoch 1 when it has at most this many words (0: re-read every epoch)

    def __post_init__(self) -> None:
        require(
            self.method in ("skipgram", "cbow"),
            f"method must be 'skipgram' or 'cbow', got {self.method!r}",
        )
        require(
            self.objective in _OBJECTIVE_CODE,
            f"objective must be 'negative', 'hierarchical' or 'softmax', got {self.objective!r}",
        )
        for name in ("vector_size", "window", "min_count", "epochs", "workers", "batch_size"):
            value = getattr(self, name)
            require(
                is_int(value) and value >= 1,
                f"{name} must be an integer >= 1, got {value!r}",
            )
        require(
            is_int(self.chunk_words) and self.chunk_words >= 1,
            f"chunk_words must be an integer >= 1, got {self.chunk_words!r}",
        )
        require(
            is_int(self.max_cached_words) and self.max_cached_words >= 0,
            f"max_cached_words must be an integer >= 0, got {self.max_cached_words!r}",
        )
        require(
            self.negative is None or (is_int(self.negative) and self.negative >= 0),
            f"negative must be None or an integer >= 0, got {self.negative!r}",
        )
        require(
            not (self.objective == "negative" and self.negative == 0),
            "objective 'negative' needs negative >= 1 noise words",
        )
        require(
            self.max_vocab_size is None or self.max_vocab_size >= 1,
            f"max_vocab_size must be None or >= 1, got {self.max_vocab_size!r}",
        )
        require(math.isfinite(self.ns_exponent), f"ns_exponent must be finite: {self.ns_exponent}")
        require(self.sample >= 0.0, f"sample must be >= 0, got {self.sample}")
        require(
            math.isfinite(self.alpha) and self.alpha > 0.0, f"alpha must be > 0, got {self.alpha}"
        )
        require(
            0.0 <= self.min_alpha <= self.alpha,
            f"min_alpha must be in [0, alpha={self.alpha}], got {self.min_alpha}",
        )
        require(
            self.engine in ("auto", "numba", "torch"),
            f"engine must be 'auto', 'numba' or 'torch', got {self.engine!r}",
        )
        require(
            self.update in ("auto", "pair", "hogbatch"),
            f"update must be 'auto', 'pair' or 'hogbatch', got {self.update!r}",
        )
        require(isinstance(self.device, str), f"device must be a string: {self.device!r}")
        # "auto": the GPU when there is one and the configuration has a GPU path (skip-gram
        # with negative sampling on the torch engine, which takes pair steps), else the CPU
        gpu_path = (
            self.method == "skipgram"
            and self.objective == "negative"
            and self.engine != "numba"
            and self.update != "hogbatch"
        )
        object.__setattr__(self, "device", resolve_device(self.device, gpu_path=gpu_path))
        device = parse_device(self.device)
        require(
            not (self.engine == "numba" and device.type != "cpu"),
            f"engine 'numba' runs on the CPU only, got device {self.device!r}",
        )
        require(
            not (self.resolved_engine == "torch" and self.objective != "negative"),
            f"the torch engine trains objective 'negative' only, got {self.objective!r} "
            "(use engine='numba' on the CPU)",
        )
        require(
            not (self.resolved_engine == "torch" and self.method == "cbow"),
            "the torch engine trains skip-gram only (use engine='numba' on the CPU for CBOW)",
        )
        require(
            self.update != "hogbatch"
            or (
                self.method == "skipgram"
                and self.objective == "negative"
                and self.resolved_engine == "numba"
            ),
            "update=hogbatch needs method=skipgram, objective=negative and the numba engine, "
            f"got method={self.method}, objective={self.objective}, "
            f"engine={self.resolved_engine}",
        )
        check_device(self.device)  # last: a device this process lacks is a ValueError here

    @property
    def resolved_engine(self) -> Literal["numba", "torch"]:
        """The engine that runs: "auto" is numba on the CPU and torch elsewhere."""
        if self.engine != "auto":
            return self.engine
        return "numba" if torch.device(self.device).type == "cpu" else "torch"

    @property
    def resolved_update(self) -> Literal["pair", "hogbatch"]:
        """The update that runs: "auto" is "hogbatch" for skip-gram with negative sampling on
        the numba engine, "pair" otherwise."""
        if self.update != "auto":
            return self.update
        batched = (
            self.method == "skipgram"
            and self.objective == "negative"
            and self.resolved_engine == "numba"
        )
        return "hogbatch" if batched else "pair"

    @property
    def resolved_negative(self) -> int:
        """Noise words per example: ``negative``, or for None 5 (pair) or 8 (HogBatch)."""
        if self.negative is not None:
            return self.negative
        return NEGATIVE_HOGBATCH if self.resolved_update == "hogbatch" else NEGATIVE_PAIR


# ----------------------------------------------------------------------------- distributions


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each word when subsampling, word2vec.c's formula.

    With ``f = count / total`` and ``t = sample``: ``keep = sqrt(t/f) + t/f`` (capped at 1),
    i.e. word2vec.c's ``(sqrt(cn / (t·total)) + 1) · (t·total) / cn``; ``sample = 0`` keeps all.
    """
    counts = np.asarray(counts, dtype=np.float64)  # (V,)
    if sample <= 0.0:
        return np.ones_like(counts)
    ratio = sample * counts.sum() / np.maximum(counts, 1.0)  # t / f
    return np.minimum(np.sqrt(ratio) + ratio, 1.0)  # (V,)


def noise_distribution(counts: np.ndarray, ns_exponent: float) -> np.ndarray:
    """The negative-sampling distribution ``P(w) = count(w)^ns_exponent / Σ count^ns_exponent``.

    The numba engine draws from it with an alias table (``_w2v_kernels.alias_table``), the
    torch engine by inverting its cumulative sum.
    """
    weights = np.asarray(counts, dtype=np.float64) ** ns_exponent  # (V,)
    return weights / weights.sum()  # (V,)


# ----------------------------------------------------------------------------- corpus chunks


def _as_corpus(corpus: Any) -> SentenceCorpus:
    if isinstance(corpus, SentenceCorpus):
        return corpus
    return SentenceCorpus(corpus)


def _chunks(sentences: Iterator[np.ndarray], chunk_words: int) -> Iterator[tuple[Any, Any]]:
    """Concatenate sentences into jobs of >= ``chunk_words`` ids: (ids int32, bounds int64)."""
    parts: list[np.ndarray] = []
    lengths = [0]
    size = 0
    for ids in sentences:
        parts.append(ids)
        size += ids.shape[0]
        lengths.append(ids.shape[0])
        if size >= chunk_words:
            yield np.concatenate(parts), np.cumsum(lengths, dtype=np.int64)
            parts, lengths, size = [], [0], 0
    if parts:
        yield np.concatenate(parts), np.cumsum(lengths, dtype=np.int64)


def _chunk_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 48-bit seed per (seed, epoch, chunk) (splitmix64's finaliser)."""
    z = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index) & (2**64 - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return (z ^ (z >> 31)) & (2**48 - 1)


# ----------------------------------------------------------------------------- training


@dataclass
class _Model:
    """The trainable state (NumPy float32 matrices shared by the worker threads)."""

    syn0: np.ndarray  # (V, E) input vectors: the word vectors
    syn1: np.ndarray  # (V, E) output vectors, or (V-1, E) inner nodes for hierarchical
    keep: np.ndarray  # (V,) float64 subsampling keep probability
    noise: np.ndarray  # (V,) float64 noise distribution
    alias: np.ndarray  # (V,) int64 alias table of the noise distribution
    tree: HuffmanTree  # Huffman codes (a 1-word dummy unless hierarchical)


def _init_model(counts: np.ndarray, config: Word2VecConfig) -> _Model:
    n_words, size = counts.shape[0], config.vector_size
    rng = np.random.default_rng(config.seed)
    # word2vec.c: (rand / RAND_MAX - 0.5) / E for the input vectors, zero output vectors
    syn0 = ((rng.random((n_words, size)) - 0.5) / size).astype(np.float32)  # (V, E)
    if config.objective == "hierarchical":
        require(n_words >= 2, "hierarchical softmax needs at least 2 words in the vocabulary")
        tree = build_huffman(counts)
        syn1 = np.zeros((n_words - 1, size), dtype=np.float32)  # (V-1, E)
    else:
        tree = HuffmanTree(
            codes=np.zeros((1, 1), np.uint8),
            points=np.zeros((1, 1), np.int32),
            lengths=np.zeros(1, np.int32),
        )
        syn1 = np.zeros((n_words, size), dtype=np.float32)  # (V, E)
    keep = keep_probabilities(counts, config.sample)
    noise = noise_distribution(counts, config.ns_exponent)
    alias = K.alias_table(noise)
    return _Model(syn0=syn0, syn1=syn1, keep=keep, noise=noise, alias=alias, tree=tree)


def _reporter(bar: ProgressBar, enabled: bool) -> Callable[[int, float, float], None]:
    """The engines' ``report(words done, mean loss, lr)`` shown on the shared progress bar:
    words done of words x epochs, then loss, words/s and learning rate."""
    start = time.perf_counter()

    def report(done: int, loss: float, lr: float) -> None:
        if enabled:
            rate = done / max(time.perf_counter() - start, 1e-9)
            bar.update(done, f"loss {loss:.4f}  {rate:,.0f} words/s  lr {lr:.5f}")

    return report


class _EncodedCorpus:
    """The corpus as chunks of int32 ids: streamed every epoch, or kept after the first pass
    when it has at most ``max_cached_words`` words (ids take 4 bytes a word)."""

    def __init__(
        self, corpus: SentenceCorpus, key_to_index: dict[str, int], config: Word2VecConfig
    ):
        self.corpus = corpus
        self.key_to_index = key_to_index
        self.chunk_words = config.chunk_words
        self.max_cached = config.max_cached_words
        self.cache: list[tuple[np.ndarray, np.ndarray]] | None = None

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One pass: (ids int32 (N,), sentence bounds int64 (S+1,)) per chunk."""
        if self.cache is not None:
            yield from self.cache
            return
        kept: list[tuple[np.ndarray, np.ndarray]] | None = [] if self.max_cached > 0 else None
        words = 0
        for chunk in _chunks(self.corpus.encode(self.key_to_index), self.chunk_words):
            words += chunk[0].shape[0]
            if kept is not None:
                kept.append(chunk)
                if words > self.max_cached:
                    kept = None
            yield chunk
        self.cache = kept


def _numba_epoch(
    corpus: _EncodedCorpus,
    model: _Model,
    config: Word2VecConfig,
    epoch: int,
    total_words: int,
    report: Callable[[int, float, float], None],
) -> tuple[float, int]:
    """One epoch with ``workers`` Hogwild threads; returns (summed loss, examples)."""
    skipgram = config.method == "skipgram"
    objective = _OBJECTIVE_CODE[config.objective]
    schedule = total_words * config.epochs
    alpha, min_alpha = config.alpha, config.min_alpha
    jobs: queue.Queue[Any] = queue.Queue(maxsize=2 * config.workers)
    lock = threading.Lock()
    tally = {"loss": 0.0, "examples": 0, "words": 0}
    errors: list[BaseException] = []
    done_before = epoch * total_words

    def work() -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            if errors:
                continue  # drain the queue so the producer never blocks
            ids, bounds, a0, a1, seed = job
            try:
                loss, examples, _kept = K.train_chunk(
                    model.syn0,
                    model.syn1,
                    ids,
                    bounds,
                    model.keep,
                    model.alias,
                    model.tree.codes,
                    model.tree.points,
                    model.tree.lengths,
                    skipgram,
                    objective,
                    config.window,
                    config.resolved_negative,
                    config.cbow_mean,
                    a0,
                    a1,
                    seed,
                    config.resolved_update == "hogbatch",
                )
            except BaseException as err:  # re-raised in the caller's thread
                errors.append(err)
                continue
            with lock:
                tally["loss"] += loss
                tally["examples"] += examples
                tally["words"] += ids.shape[0]
                mean = tally["loss"] / max(tally["examples"], 1)
                report(done_before + tally["words"], mean, a1)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(config.workers)]
    for t in threads:
        t.start()
    position = done_before
    try:
        for index, (ids, bounds) in enumerate(corpus.chunks()):
            # linear decay from alpha to min_alpha over epochs x words, as gensim
            a0 = alpha - (alpha - min_alpha) * min(position / schedule, 1.0)
            position += ids.shape[0]
            a1 = alpha - (alpha - min_alpha) * min(position / schedule, 1.0)
            jobs.put((ids, bounds, a0, a1, _chunk_seed(config.seed, epoch, index)))
    finally:
        for _ in threads:
            jobs.put(None)
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return float(tally["loss"]), int(tally["examples"])


def _run_numba(
    corpus: SentenceCorpus,
    key_to_index: dict[str, int],
    model: _Model,
    config: Word2VecConfig,
    total_words: int,
    report: Callable[[int, float, float], None],
) -> list[float]:
    """All epochs of the numba engine; returns the mean loss per example of each epoch."""
    encoded = _EncodedCorpus(corpus, key_to_index, config)
    losses: list[float] = []
    for epoch in range(config.epochs):
        loss, examples = _numba_epoch(encoded, model, config, epoch, total_words, report)
        require(
            examples > 0,
            f"no training example in epoch {epoch + 1}: subsampling dropped every word or no "
            "sentence has two words; lower `sample` or give a larger corpus",
        )
        losses.append(loss / examples)
    return losses


# τ of the torch engine: in one minibatch a row's n steps, each taken at learning rate lr, are
# summed while lr·n <= τ and scaled down to lr·n = τ beyond. Calibrated on 200k words of
# text8 (E = 50, 5 epochs): τ = 1 and 2 train to the same loss, τ = 4 diverges at batch 4096.
_BATCH_RATE_CAP = 1.0


def _add_rows(
    matrix: torch.Tensor,  # (V, E) updated in place
    rows: torch.Tensor,  # (N,) rows to update, repeats allowed
    steps: torch.Tensor,  # (N, E) the SGD step of each entry (learning rate included)
    weights: torch.Tensor,  # (N,) 1.0 for a real step, 0.0 for a skipped one (a zero step)
    lr: float,  # the learning rate the steps were taken with
    hits: torch.Tensor,  # (V,) zeros: a work buffer, left zeroed
) -> None:
    """``matrix[r] += min(1, τ / (lr · n_r)) · Σ_{i: rows[i] = r} steps[i]``.

    ``n_r`` is the number of real steps on row r in the batch. A row seen a few times gets
    the plain sum of its steps (word2vec's per-pair SGD updates, taken at the same point);
    a frequent word seen hundreds of times gets at most the step of ``τ / lr`` pairs, so its
    summed step never outgrows what sequential SGD could take (summing all of them diverges
    at batch sizes in the thousands). O(N): ``n_r`` goes through ``hits`` (scatter, gather,
    reset), no sort.
    """
    hits.index_add_(0, rows, weights)  # (V,) n_r
    scale = (_BATCH_RATE_CAP / (lr * hits[rows])).clamp_(max=1.0)  # (N,) min(1, τ / (lr n_r))
    matrix.index_add_(0, rows, steps * scale[:, None])  # (N, E)
    hits[rows] = 0.0


def _chunk_pairs(
    ids_np: np.ndarray,
    bounds_np: np.ndarray,
    keep: torch.Tensor,
    window: int,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Skip-gram (center, context) pairs of one chunk, shuffled (CPU int64 tensors, (P,))."""
    ids = torch.from_numpy(ids_np.astype(np.int64))  # (N,)
    sent = torch.repeat_interleave(
        torch.arange(bounds_np.shape[0] - 1), torch.from_numpy(np.diff(bounds_np))
    )  # (N,) sentence of each word
    kept = torch.rand(ids.shape[0], generator=gen, dtype=torch.float64) < keep[ids]  # (N,)
    ids, sent = ids[kept], sent[kept]  # (N',)
    n = ids.shape[0]
    # word2vec.c's reduced window: b = rand % window, radius window - b, uniform in 1..window
    reduced = window - torch.randint(0, window, (n,), generator=gen)  # (N',)
    centers, contexts = [], []
    for d in range(1, min(window, n - 1) + 1):
        # pairs at distance d in the same sentence, inside the center's reduced window
        same = sent[d:] == sent[:-d]  # (N'-d,)
        right = same & (reduced[:-d] >= d)  # center i, context i + d
        left = same & (reduced[d:] >= d)  # center i + d, context i
        idx = torch.arange(n - d)
        centers += [ids[idx[right]], ids[idx[left] + d]]
        contexts += [ids[idx[right] + d], ids[idx[left]]]
    if not centers:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
    center = torch.cat(centers)  # (P,)
    context = torch.cat(contexts)  # (P,)
    order = torch.randperm(center.shape[0], generator=gen)  # (P,)
    return center[order], context[order]


def _run_torch(
    corpus: SentenceCorpus,
    key_to_index: dict[str, int],
    model: _Model,
    config: Word2VecConfig,
    total_words: int,
    report: Callable[[int, float, float], None],
) -> tuple[list[float], np.ndarray]:
    """Negative sampling on minibatches with torch (any device); returns (losses, syn0).

    Each minibatch computes every pair's SGD step at the same parameters (the numba kernel's
    per-pair step, ``g = (label - σ(u·h)) · alpha``) and adds them to the rows of ``syn0`` and
    ``syn1`` with :func:`_add_rows`: summed, except that a row's summed learning rate in one
    batch is capped at ``τ`` (a plain sum makes frequent words, which are also the most drawn
    noise words, take steps hundreds of times too large: training diverged at the default
    batch size). The learning rate decays linearly over the words, batch by batch. A chunk
    whose mean loss is not finite or exceeds 3 times the untrained loss ``(1 + K) log 2``
    stops training with a ``ValueError``.
    """
    device = torch.device(config.device)
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    syn0 = torch.from_numpy(model.syn0).to(device)  # (V, E)
    syn1 = torch.from_numpy(model.syn1).to(device)  # (V, E)
    n_words = syn0.shape[0]
    keep = torch.from_numpy(model.keep)  # (V,) subsampling runs on the CPU
    noise_cdf = torch.from_numpy(np.cumsum(model.noise)).to(device)  # (V,)
    hits = torch.zeros(n_words, device=device)  # (V,) work buffer of _add_rows
    window, negative, batch_size = config.window, config.resolved_negative, config.batch_size
    schedule = total_words * config.epochs
    untrained = (1 + negative) * math.log(2.0)  # loss per pair with zero output vectors
    labels = torch.zeros(1 + negative, device=device)  # (1+K,) target first, then noise
    labels[0] = 1.0
    sign = 2.0 * labels - 1.0  # (1+K,)
    encoded = _EncodedCorpus(corpus, key_to_index, config)
    losses: list[float] = []
    done = 0
    for epoch in range(config.epochs):
        loss_sum, n_examples = 0.0, 0
        for ids_np, bounds_np in encoded.chunks():
            center_cpu, context_cpu = _chunk_pairs(ids_np, bounds_np, keep, window, gen)
            center, context = center_cpu.to(device), context_cpu.to(device)  # (P,), (P,)
            n_pairs = center.shape[0]
            chunk_loss = torch.zeros((), dtype=torch.float64, device=device)
            for start in range(0, n_pairs, batch_size):
                # linear decay from alpha to min_alpha over epochs x words, as word2vec.c
                where = done + ids_np.shape[0] * start / max(n_pairs, 1)
                lr = config.alpha - (config.alpha - config.min_alpha) * min(where / schedule, 1.0)
                c = center[start : start + batch_size]  # (B,)
                x = context[start : start + batch_size]  # (B,)
                b = c.shape[0]
                u = torch.rand((b, negative), generator=gen, dtype=torch.float64).to(device)
                noise = torch.searchsorted(noise_cdf, u, right=True)  # (B, K)
                noise = noise.clamp_(max=n_words - 1)
                targets = torch.cat([c[:, None], noise], dim=1)  # (B, 1+K)
                valid = torch.ones(b, 1 + negative, device=device)  # (B, 1+K)
                valid[:, 1:] = (noise != c[:, None]).float()  # noise equal to target: skipped
                h = syn0[x]  # (B, E)
                u_out = syn1[targets]  # (B, 1+K, E)
                f = torch.einsum("be,bke->bk", h, u_out)  # (B, E) x (B, 1+K, E) -> (B, 1+K)
                # L = -log σ(u_o·h) - Σ_k log σ(-u_k·h)
                chunk_loss -= (torch.nn.functional.logsigmoid(sign * f) * valid).sum().double()
                g = (labels - torch.sigmoid(f)) * valid * lr  # (B, 1+K)
                step0 = torch.einsum("bk,bke->be", g, u_out)  # (B, 1+K) x (B, 1+K, E) -> (B, E)
                step1 = g[:, :, None] * h[:, None, :]  # (B, 1+K, E)
                _add_rows(syn0, x, step0, valid[:, 0], lr, hits)
                flat = targets.reshape(-1)  # (B*(1+K),)
                _add_rows(syn1, flat, step1.flatten(0, 1), valid.reshape(-1), lr, hits)
            done += ids_np.shape[0]
            if n_pairs == 0:
                continue
            mean = float(chunk_loss) / n_pairs  # one device sync per chunk
            if not math.isfinite(mean) or mean > 3.0 * untrained:
                raise ValueError(
                    f"word2vec (torch engine) diverged in epoch {epoch + 1}: mean loss "
                    f"{mean:.4g} per pair (untrained: {untrained:.3f}); lower alpha "
                    f"(alpha={config.alpha:g}) or batch_size (batch_size={batch_size})"
                )
            loss_sum += float(chunk_loss)
            n_examples += n_pairs
            report(done, loss_sum / n_examples, lr)
        require(n_examples > 0, "no training example: the corpus is too small")
        losses.append(loss_sum / n_examples)
    return losses, syn0.cpu().numpy()


def train_word2vec(
    corpus: SentenceCorpus | str | os.PathLike[str] | Iterable[Sequence[str]],
    config: Word2VecConfig | None = None,
    *,
    progress: bool = False,
) -> EmbeddingResult:
    """Train word vectors on ``corpus`` (a :class:`SentenceCorpus`, a text file path, or sentences).

    A path is streamed (plain or gzip, one sentence per line); an in-memory iterable must be
    restartable or is materialised by :class:`SentenceCorpus`. ``progress=True`` shows a
    progress bar on stderr. Returns an :class:`EmbeddingResult` with the input vectors as
    :class:`KeyedVectors` (words sorted by count) and the mean loss per example of each epoch;
    its ``config`` records the update and noise words that ran (``"auto"`` and ``None``
    resolved).
    """
    config = config or Word2VecConfig()
    config = dataclasses.replace(
        config, update=config.resolved_update, negative=config.resolved_negative
    )
    start = time.perf_counter()
    corpus = _as_corpus(corpus)
    words, counts = build_vocab(
        corpus, min_count=config.min_count, max_vocab_size=config.max_vocab_size
    )
    key_to_index = {w: i for i, w in enumerate(words)}
    total_words = int(counts.sum())
    model = _init_model(counts, config)
    bar = ProgressBar("word2vec", total_words * config.epochs, enabled=progress)
    report = _reporter(bar, progress)
    train_start = time.perf_counter()
    try:
        if config.resolved_engine == "numba":
            losses = _run_numba(corpus, key_to_index, model, config, total_words, report)
            syn0 = model.syn0
        else:
            losses, syn0 = _run_torch(corpus, key_to_index, model, config, total_words, report)
    finally:
        bar.close()
    end = time.perf_counter()
    require(
        bool(np.isfinite(losses).all()) and bool(np.isfinite(syn0).all()),
        f"training diverged (non-finite loss or vectors, alpha={config.alpha}): lower alpha",
    )
    return EmbeddingResult(
        vectors=KeyedVectors(words, syn0, counts=counts),
        epoch_losses=losses,
        seconds=end - start,
        words_per_second=total_words * config.epochs / max(end - train_start, 1e-9),
        config=dataclasses.asdict(config),
    )
