"""Word embeddings from a neural language model (the course's "a glass of orange ___").

Bengio, Ducharme, Vincent & Jauvin (2003), "A Neural Probabilistic Language Model", as the
course's week 2 presents it: the words of a fixed context window are looked up in an
embedding matrix E, their vectors concatenated, passed through a tanh hidden layer and a
softmax over the vocabulary that predicts the target word::

    e_c = E o_c                         (one embedding per context word)
    h   = tanh(W_h [e_1; ...; e_C] + b_h)
    ŷ   = softmax(W_y h + b_y)          (P(target | context), over the V words)

Training minimises the cross-entropy −log ŷ_target with AdamW minibatches, driven by
:class:`seqlab.train.Trainer` (progress bar, time budget, metrics, checkpoints); the rows of E
become the :class:`~seqlab.embeddings.keyed_vectors.KeyedVectors`. Bengio's direct
input-to-output connections are left out, as in the course.

Contexts (``context``): ``"left"`` — the ``context_size`` words before the target (the
language model); ``"both"`` — ``context_size`` words on the left and ``context_size`` on the
right (the course's "4 words on left & right"). Windows stop at sentence edges, where a
padding id (row V of E, kept at zero and not exported) fills the missing positions;
out-of-vocabulary words are dropped before windowing (the convention of every seqlab
embedding trainer).

Tested in ``tests/test_nnlm.py``: window construction, the forward pass and the loss against
a hand computation with ``F.cross_entropy``, and learning on a planted corpus.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab._device import check_device, resolve_device
from seqlab._validate import is_float_in, is_int, is_number, require
from seqlab.embeddings.corpus import SentenceCorpus, build_vocab
from seqlab.embeddings.keyed_vectors import KeyedVectors
from seqlab.embeddings.result import EmbeddingResult
from seqlab.train import TrainConfig, Trainer
from seqlab.viz.curves import LossCurve

__all__ = ["NNLM", "NNLMConfig", "NNLMFit", "context_windows", "fit_nnlm", "train_nnlm"]

ContextKind = Literal["left", "both"]


@dataclass(frozen=True, kw_only=True)
class NNLMConfig:
    """How :func:`train_nnlm` builds and trains the neural language model."""

    context_size: int = 4  # n: context words on the left (and n on the right with "both")
    context: ContextKind = "left"  # "left": the n previous words; "both": n each side
    vector_size: int = 50  # E: the embedding dimension (the exported vectors)
    hidden_size: int = 128  # H: units of the tanh hidden layer
    epochs: int = 5  # passes over the (context, target) examples
    batch_size: int = 256  # examples per AdamW step
    learning_rate: float = 3e-3  # AdamW's learning rate (constant)
    weight_decay: float = 0.01  # AdamW's decoupled weight decay (torch's default)
    min_count: int = 5  # rarer words are left out of the vocabulary (and of the windows)
    max_vocab_size: int | None = 10000  # the softmax's V: keep the most frequent words
    time_budget: float | None = None  # stop training after this many seconds (None: no limit)
    seed: int = 1  # initial weights and the batch order of every epoch
    device: str = "cpu"  # torch device, or "auto" (cuda when available); stored resolved

    def __post_init__(self) -> None:
        for name in ("context_size", "vector_size", "hidden_size", "epochs", "batch_size"):
            value = getattr(self, name)
            require(is_int(value) and value > 0, f"{name} must be a positive int, got {value!r}")
        require(
            self.context in ("left", "both"),
            f"context must be 'left' or 'both', got {self.context!r}",
        )
        require(
            is_int(self.min_count) and self.min_count >= 1,
            f"min_count must be an int >= 1, got {self.min_count!r}",
        )
        require(
            self.max_vocab_size is None
            or (is_int(self.max_vocab_size) and self.max_vocab_size > 0),
            f"max_vocab_size must be None or a positive int, got {self.max_vocab_size!r}",
        )
        for name in ("learning_rate", "time_budget"):
            value = getattr(self, name)
            if name == "time_budget" and value is None:
                continue
            require(is_number(value) and value > 0, f"{name} must be > 0: {value!r}")
        wd = self.weight_decay
        require(
            is_float_in(wd, 0.0, math.inf, closed_high=False),
            f"weight_decay must be >= 0, got {wd!r}",
        )
        require(is_int(self.seed) and self.seed >= 0, f"seed must be an int >= 0: {self.seed!r}")
        require(isinstance(self.device, str), f"device must be a string: {self.device!r}")
        # "auto": a torch model runs on the GPU when there is one
        object.__setattr__(self, "device", resolve_device(self.device, gpu_path=True))
        check_device(self.device)

    @property
    def context_length(self) -> int:
        """C: input words per example (n, or 2n with context="both")."""
        return self.context_size * (2 if self.context == "both" else 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class NNLM(nn.Module):
    """Context words -> concatenated embeddings -> tanh hidden -> logits over V words.

    The embedding has V + 1 rows: row ``V`` (:attr:`pad_id`) pads windows at sentence edges
    and stays zero.
    """

    def __init__(
        self, vocab_size: int, *, context_length: int, vector_size: int, hidden_size: int
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.context_length = context_length
        self.pad_id = vocab_size
        self.embedding = nn.Embedding(vocab_size + 1, vector_size, padding_idx=vocab_size)
        self.hidden = nn.Linear(context_length * vector_size, hidden_size)
        self.output = nn.Linear(hidden_size, vocab_size)

    def forward(self, context: Tensor) -> Tensor:
        """Logits of the target word given its context.

        Shape:
            context: (B, C) word ids in [0, V] (V = padding)
            output: (B, V) unnormalised log-probabilities
        """
        if context.dim() != 2 or context.shape[1] != self.context_length:
            raise ValueError(
                f"expected context of shape (B, {self.context_length}), got {tuple(context.shape)}"
            )
        e = self.embedding(context)  # (B, C, E)  e_c = E o_c
        x = e.flatten(1)  # (B, C*E)  [e_1; ...; e_C]
        h = torch.tanh(self.hidden(x))  # (B, H)  h = tanh(W_h x + b_h)
        return self.output(h)  # (B, V)  softmax(W_y h + b_y) gives ŷ


def context_windows(
    sentences: Iterable[np.ndarray], context_size: int, context: ContextKind, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every (context, target) example of id sentences.

    For each position t of each sentence the target is ``s[t]`` and the context is
    ``s[t-n .. t-1]`` (``"left"``) or ``s[t-n .. t-1] + s[t+1 .. t+n]`` (``"both"``), with
    ``pad_id`` where the window leaves the sentence. Returns int64 contexts (N, C) and
    targets (N,).
    """
    require(context in ("left", "both"), f"context must be 'left' or 'both': {context!r}")
    n = context_size
    contexts: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for sentence in sentences:
        ids = np.asarray(sentence, dtype=np.int64)  # (T,)
        if ids.size == 0:
            continue
        pad = np.full(n, pad_id, np.int64)
        padded = np.concatenate([pad, ids, pad])  # (T + 2n,)
        t = np.arange(ids.size)[:, None]  # (T, 1) positions in ids = n + t in padded
        left = padded[t + np.arange(n)[None, :]]  # (T, n) padded[t .. t+n-1] = s[t-n .. t-1]
        if context == "both":
            right = padded[t + n + 1 + np.arange(n)[None, :]]  # (T, n) s[t+1 .. t+n]
            left = np.concatenate([left, right], axis=1)  # (T, 2n)
        contexts.append(left)
        targets.append(ids)
    width = n * (2 if context == "both" else 1)
    if not contexts:
        return np.empty((0, width), np.int64), np.empty(0, np.int64)
    return np.concatenate(contexts), np.concatenate(targets)


class _NNLMTask:
    """The :class:`seqlab.train.Trainable` adapter: shuffled minibatches and the mean loss."""

    def __init__(self, model: NNLM, contexts: Tensor, targets: Tensor, batch_size: int) -> None:
        self.model = model
        self.contexts = contexts  # (N, C) int32
        self.targets = targets  # (N,) int32
        self.batch_size = batch_size
        self.epoch = 0
        self.sums: dict[int, list[float]] = {}  # epoch -> [Σ loss·count, Σ count]

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[tuple]:
        self.epoch = epoch  # runs at the epoch's first batch, after the previous epoch ended
        order = torch.randperm(self.targets.numel(), generator=generator)  # (N,)
        for start in range(0, order.numel(), self.batch_size):
            idx = order[start : start + self.batch_size]  # (B,)
            yield self.contexts[idx].long(), self.targets[idx].long()  # (B, C), (B,)

    def training_loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, int]:
        contexts, targets = batch
        logits = self.model(contexts)  # (B, V)
        loss = F.cross_entropy(logits, targets)  # mean of −log ŷ_target
        count = int(targets.numel())
        acc = self.sums.setdefault(self.epoch, [0.0, 0.0])
        acc[0] += float(loss.detach()) * count
        acc[1] += count
        return loss, count

    def validate(self) -> dict[str, float]:
        return {}


@dataclass(frozen=True)
class NNLMFit:
    """A trained NNLM with its vocabulary, and the :class:`EmbeddingResult` of the run."""

    model: NNLM  # the network (eval mode, on the config's device)
    words: list[str]  # the vocabulary, most frequent first (row i of E is words[i])
    config: NNLMConfig  # how it was trained
    result: EmbeddingResult  # the vectors (rows of E) and the run's record

    @torch.no_grad()
    def predict(
        self, left: Sequence[str], right: Sequence[str] = (), *, k: int = 5
    ) -> list[tuple[str, float]]:
        """The ``k`` most probable target words after ``left`` (and before ``right`` when the
        model was trained with ``context="both"``), with their probabilities.

        ``left`` gives the words before the target (its last ``context_size`` are used; fewer
        are padded as at a sentence start); unknown words raise ``KeyError``.
        """
        n = self.config.context_size
        index = {w: i for i, w in enumerate(self.words)}
        missing = [w for w in (*left, *right) if w not in index]
        if missing:
            raise KeyError(f"words not in the vocabulary: {missing}")
        if right and self.config.context == "left":
            raise ValueError("this model reads left context only; give no right words")
        pad = self.model.pad_id
        ids = [pad] * n + [index[w] for w in left]
        ctx = ids[len(ids) - n :]
        if self.config.context == "both":
            ctx += ([index[w] for w in right] + [pad] * n)[:n]
        device = self.model.output.weight.device
        logits = self.model(torch.tensor([ctx], device=device))  # (1, V)
        probs = logits[0].softmax(-1)  # (V,)
        top = probs.topk(min(k, probs.numel()))
        return [(self.words[i], float(p)) for p, i in zip(top.values, top.indices, strict=True)]


def fit_nnlm(
    corpus: SentenceCorpus | str | os.PathLike[str] | Iterable[Sequence[str]],
    config: NNLMConfig | None = None,
    *,
    progress: bool = False,
    out_dir: str | os.PathLike[str] | None = None,
) -> NNLMFit:
    """Train an NNLM on ``corpus`` (a :class:`~seqlab.embeddings.corpus.SentenceCorpus`, a text file
    path, or sentences) and return the model, its vocabulary and the run's result.

    ``out_dir`` keeps the :class:`~seqlab.train.Trainer`'s files (``metrics.jsonl``,
    ``loss_curve.png``, ``model.safetensors``, ``checkpoint/``); by default they go to a
    temporary folder that is removed.
    """
    config = config or NNLMConfig()
    started = time.perf_counter()
    if not isinstance(corpus, SentenceCorpus):
        corpus = SentenceCorpus(corpus)
    words, counts = build_vocab(
        corpus, min_count=config.min_count, max_vocab_size=config.max_vocab_size
    )
    key_to_index = {w: i for i, w in enumerate(words)}
    vocab_size = len(words)
    contexts, targets = context_windows(
        corpus.encode(key_to_index), config.context_size, config.context, vocab_size
    )
    require(targets.size > 0, "the corpus has no word in the vocabulary")
    torch.manual_seed(config.seed)
    model = NNLM(
        vocab_size,
        context_length=config.context_length,
        vector_size=config.vector_size,
        hidden_size=config.hidden_size,
    )
    task = _NNLMTask(
        model,
        torch.from_numpy(contexts.astype(np.int32)),
        torch.from_numpy(targets.astype(np.int32)),
        config.batch_size,
    )
    steps_per_epoch = -(-targets.size // config.batch_size)
    max_steps = config.epochs * steps_per_epoch
    train_config = TrainConfig(
        max_steps=max_steps,
        optimizer="adamw",
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
        clip="none",
        eval_every=None,
        log_every=max(1, steps_per_epoch // 10),
        checkpoint_every_steps=max_steps,
        checkpoint_every_seconds=600.0,
        time_budget=config.time_budget,
        seed=config.seed,
        device=config.device,
        progress=progress,
    )
    model.to(config.device)
    training_started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seqlab-nnlm-") as tmp:
        out = Path(out_dir) if out_dir is not None else Path(tmp)
        curve = LossCurve(out / "loss_curve.png")
        Trainer(task, train_config, out, callbacks=[curve]).fit()
    training_seconds = time.perf_counter() - training_started
    model.eval()
    losses = [s / c for _, (s, c) in sorted(task.sums.items()) if c]
    table = model.embedding.weight.detach()[:vocab_size].float().cpu().numpy()  # (V, E)
    seconds = time.perf_counter() - started
    seen = sum(c for _, c in task.sums.values())
    result = EmbeddingResult(
        vectors=KeyedVectors(words, table, counts=counts),
        epoch_losses=losses,
        seconds=seconds,
        words_per_second=seen / max(training_seconds, 1e-9),  # targets x epochs / training s
        config=config.to_dict(),
    )
    return NNLMFit(model=model, words=list(words), config=config, result=result)


def train_nnlm(
    corpus: SentenceCorpus | str | os.PathLike[str] | Iterable[Sequence[str]],
    config: NNLMConfig | None = None,
    *,
    progress: bool = False,
) -> EmbeddingResult:
    """Train an NNLM on ``corpus`` and return its embeddings (see :func:`fit_nnlm`)."""
    return fit_nnlm(corpus, config, progress=progress).result
