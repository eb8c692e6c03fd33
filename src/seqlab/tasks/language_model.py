"""``LanguageModel``: train, sample, score and evaluate a recurrent language model.

The user-facing API of the course's language-model topics, mirrored by ``seqlab lm``:

* :meth:`LanguageModel.train` — character- or word-level, on a built-in corpus (``dinos``,
  ``sonnets``, ``tinyshakespeare``) or any UTF-8 text file, with :class:`seqlab.train.Trainer`
  (checkpoints, ``resume``, time budget, early stopping, metrics, loss curve, DDP);
* :meth:`LanguageModel.sample` — novel sequences, one token at a time (temperature, top-k,
  top-p, never ``<UNK>`` by default), stopping at ``<EOS>``;
* :meth:`LanguageModel.score` — log P(sentence) = Σ_t log P(y<t> | y<1..t-1>), with the
  surprisal of every token and the perplexity;
* :meth:`LanguageModel.evaluate` — loss, perplexity and bits per character on held-out text.

A trained model is a directory: ``config.json``, ``model.safetensors``, ``vocab.json``,
``metrics.jsonl``, ``loss_curve.png`` (and ``checkpoint/`` while training).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab._io import DataError
from seqlab.data import Vocab
from seqlab.data.batching import pad, shuffled_batches
from seqlab.data.datasets import TextCorpus, load_dataset
from seqlab.data.text import sequences, tokenize
from seqlab.decoding import Sampling, SearchConfig, search
from seqlab.models.rnn_lm import LMConfig, RNNLanguageModel, State
from seqlab.tasks.base import Preset, Task, TaskConfig
from seqlab.train import TrainConfig

__all__ = ["MAX_SAMPLE_LENGTH", "PRESET", "LMTaskConfig", "LanguageModel", "SentenceScore"]

# The most tokens :meth:`LanguageModel.sample` draws per sequence (``max_length``): a
# larger value is refused rather than left to run for hours.
MAX_SAMPLE_LENGTH = 100_000

Level = Literal["char", "word"]
Unit = Literal["line", "text"]


@dataclass(frozen=True, kw_only=True)
class LMTaskConfig(TaskConfig):
    """How a language model reads its corpus; saved as ``config.json`` with the model's."""

    task: ClassVar[str] = "language_model"
    model_kind: ClassVar[str] = "language_model"

    level: Level  # "char" or "word" tokens
    unit: Unit  # "line": each line is one sequence (names); "text": one running stream
    model: LMConfig  # the network (arch "rnn"); vocab_size is set when the vocab is built
    bptt: int = 100  # truncated-BPTT window: tokens per training sequence ("text" unit)
    batch_size: int = 32  # sequences per step
    min_count: int = 1  # rarer tokens map to <UNK>
    max_vocab: int | None = None  # keep only the most frequent tokens (None = all)
    corpus: str = ""  # where the training text came from (dataset name or file)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {self.level!r}")
        if self.unit not in ("line", "text"):
            raise ValueError(f"unit must be 'line' or 'text', got {self.unit!r}")
        if self.bptt < 1 or self.batch_size < 1:
            raise ValueError("bptt and batch_size must be >= 1")


# The defaults of `seqlab lm train`: a 2-layer character LSTM (the corpus sets the unit).
PRESET: Preset[LMTaskConfig] = Preset(
    config=LMTaskConfig(level="char", unit="text", model=LMConfig(vocab_size=2)),
    train=TrainConfig(max_steps=2000),
)


@dataclass(frozen=True)
class SentenceScore:
    """log P of a token sequence under the model, token by token."""

    text: str  # the sentence as given
    tokens: list[str]  # what was scored (including <EOS> for line-unit models)
    log_probs: list[float] = field(repr=False)  # natural-log P of each token given the past

    @property
    def log_prob(self) -> float:
        """log P(sentence) = Σ_t log P(y<t> | y<1..t-1>) (nats)."""
        return float(sum(self.log_probs))

    @property
    def perplexity(self) -> float:
        return math.exp(-self.log_prob / max(len(self.tokens), 1))

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "log_prob": self.log_prob,
            "log10_prob": self.log_prob / math.log(10),
            "perplexity": self.perplexity,
            "tokens": [
                {"token": t, "log_prob": lp, "surprisal_bits": -lp / math.log(2)}
                for t, lp in zip(self.tokens, self.log_probs, strict=True)
            ],
        }


class _LMTrainable:
    """The :class:`seqlab.train.Trainable` adapter: batches of token ids and the loss."""

    def __init__(self, lm: LanguageModel, train: list[list[int]], valid: list[list[int]]):
        self.lm = lm
        self.model = lm.model
        self.config = lm.config
        self.train_seqs = train
        self.valid_seqs = valid
        self.stream = torch.tensor([i for s in train for i in s], dtype=torch.long)  # (N,)
        if self.config.unit == "text" and self.stream.numel() < 2:
            raise DataError(
                self.config.corpus or "corpus",
                "the training text has fewer than 2 tokens",
                hint="give a longer text",
            )

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Tensor]:
        del epoch
        cfg = self.config
        if cfg.unit == "text":
            length = min(cfg.bptt, self.stream.numel() - 1)
            last = self.stream.numel() - length - 1
            starts = torch.arange(0, last + 1, length)
            shift = int(torch.randint(0, length, (1,), generator=generator)) if last else 0
            starts = (starts + shift).clamp(max=last)
            order = starts[torch.randperm(len(starts), generator=generator)]
            offsets = torch.arange(length + 1)
            for i in range(0, len(order), cfg.batch_size):
                idx = order[i : i + cfg.batch_size, None] + offsets  # (B, L+1)
                yield self.stream[idx]
        else:
            for rows in shuffled_batches(len(self.train_seqs), cfg.batch_size, generator):
                yield self.lm._pad([self.train_seqs[j] for j in rows])

    def batches_per_epoch(self) -> int:
        """How many batches :meth:`train_batches` yields (``--epochs`` lays the schedule
        over epochs × this)."""
        size = self.config.batch_size
        if self.config.unit == "text":
            length = min(self.config.bptt, self.stream.numel() - 1)
            windows = (self.stream.numel() - length - 1) // length + 1
            return -(-windows // size)
        return -(-len(self.train_seqs) // size)

    def training_loss(self, batch: Tensor) -> tuple[Tensor, int]:
        inputs, targets = self.lm._split(batch)  # (B, T), (B, T)
        logits, _ = self.model(inputs)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return loss, int((targets != -100).sum())

    def validate(self) -> dict[str, float]:
        if not self.valid_seqs:
            return {}
        return self.lm._evaluate_ids(self.valid_seqs, max_tokens=200_000)


class LanguageModel(Task):
    """A trained (or freshly built) recurrent language model with its vocabulary."""

    config_class = LMTaskConfig
    artifacts: ClassVar[dict[str, tuple[str, type]]] = {"vocab": ("vocab.json", Vocab)}
    what = "language model"
    command = "seqlab lm train"
    resume_ignores = ("model.impl",)  # the kernel may change on resume (same function)

    model: RNNLanguageModel
    config: LMTaskConfig
    vocab: Vocab

    def __init__(
        self, model: RNNLanguageModel, vocab: Vocab, config: LMTaskConfig, path: Path | None = None
    ) -> None:
        if model.config.vocab_size != len(vocab):
            raise ValueError(
                f"model has {model.config.vocab_size} outputs but the vocabulary {len(vocab)}"
            )
        super().__init__(model, config, path, vocab=vocab)

    # -- building and training -----------------------------------------------------------
    @classmethod
    def prepare_data(cls, data: TextCorpus | str) -> TextCorpus:
        """A built-in corpus by name (``"dinos"``), or the :class:`TextCorpus` given."""
        return load_dataset(data) if isinstance(data, str) else data

    @classmethod
    def build(
        cls, data: TextCorpus, config: LMTaskConfig
    ) -> tuple[LanguageModel, tuple[list[list[int]], list[list[int]]]]:
        """A fresh model and vocabulary for ``data``; returns (lm, (train ids, valid ids))."""
        train_tok = sequences(data.train, config.level, unit=config.unit)
        valid_tok = sequences(data.valid, config.level, unit=config.unit) if data.valid else []
        vocab = Vocab.build(
            train_tok,
            level=config.level,
            min_count=config.min_count,
            max_size=config.max_vocab,
            specials=("<UNK>", "<EOS>"),
        )
        config = replace(config, model=replace(config.model, vocab_size=len(vocab)))
        lm = cls(cls.build_model(config), vocab, config)  # type: ignore[arg-type]
        start = lm._start_ids()
        train_ids = [start + vocab.encode(s) for s in train_tok]
        valid_ids = [start + vocab.encode(s) for s in valid_tok]
        return lm, (train_ids, valid_ids)

    def trainable(
        self, encoded: tuple[list[list[int]], list[list[int]]], data: TextCorpus
    ) -> _LMTrainable:
        return _LMTrainable(self, *encoded)

    # -- helpers ---------------------------------------------------------------------------
    def _start_ids(self) -> list[int]:
        """The context before a sequence's first token."""
        if self.config.unit == "text" and self.config.level == "char" and "\n" in self.vocab:
            return [self.vocab["\n"]]
        return [self.vocab.eos_id]

    def _pad(self, seqs: Sequence[Sequence[int]]) -> Tensor:
        """Right-pad id lists to one (B, T+1) batch; padding targets become -100."""
        return pad(seqs, -100)[0]  # (B, T+1)

    def _split(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T+1) ids -> inputs (B, T) (padding read as <EOS>), targets (B, T)."""
        batch = batch.to(self.device)
        inputs = batch[:, :-1].clamp(min=0)
        inputs = torch.where(batch[:, :-1] < 0, self.vocab.eos_id, inputs)
        return inputs, batch[:, 1:]

    def _stream_nll(self, x: Tensor, y: Tensor, state: State) -> tuple[float, State]:
        """Summed −log P(y | x) over (B, N) lanes read in BPTT windows from ``state``."""
        total = 0.0
        for i in range(0, x.shape[1], self.config.bptt):
            logits, state = self.model(x[:, i : i + self.config.bptt], state)  # (B, w, V)
            total += F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                y[:, i : i + self.config.bptt].reshape(-1),
                reduction="sum",
            ).item()
        return total, state

    def _evaluate_ids(
        self, seqs: list[list[int]], max_tokens: int | None = None, *, lanes: int | None = None
    ) -> dict:
        """Mean NLL per predicted token over ``seqs`` (state carried through "text" streams).

        A "text" stream is read as ``lanes`` parallel pieces (default: the training batch
        size; validation is then fast and each piece but the first starts from a zero state);
        ``lanes=1`` reads it in one piece, exactly as the model would generate it. Every
        token is scored: the remainder after the equal pieces continues the last one.
        """
        with self.eval_mode():
            total, count = self._nll_ids(seqs, max_tokens, lanes)
        loss = total / max(count, 1)
        result: dict[str, Any] = {
            "loss": loss,
            "perplexity": math.exp(min(loss, 700.0)),
            "tokens": count,
        }
        if self.config.level == "char":
            result["bits_per_char"] = loss / math.log(2)
        return result

    def _nll_ids(
        self, seqs: list[list[int]], max_tokens: int | None, lanes: int | None
    ) -> tuple[float, int]:
        """Summed −log P over the predicted tokens of ``seqs``, and their count."""
        total, count = 0.0, 0
        if self.config.unit == "text":
            stream = torch.tensor([i for s in seqs for i in s], dtype=torch.long)
            if max_tokens is not None:
                stream = stream[: max_tokens + 1]
            n = stream.numel() - 1  # predicted tokens
            lanes = max(1, min(lanes or self.config.batch_size, n // 2))
            per = n // lanes
            x = stream[: lanes * per].view(lanes, per).to(self.device)  # (B, N/B)
            y = stream[1 : lanes * per + 1].view(lanes, per).to(self.device)  # (B, N/B)
            total, state = self._stream_nll(x, y, None)
            if lanes * per < n:  # the tail continues the last lane
                last = torch.tensor([lanes - 1], device=self.device)
                tail_x = stream[None, lanes * per : n].to(self.device)  # (1, r)
                tail_y = stream[None, lanes * per + 1 : n + 1].to(self.device)  # (1, r)
                tail, _ = self._stream_nll(tail_x, tail_y, self.model.reorder_state(state, last))
                total += tail
            count = n
        else:
            for i in range(0, len(seqs), 64):
                inputs, targets = self._split(self._pad(seqs[i : i + 64]))
                logits, _ = self.model(inputs)
                total += F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
                ).item()
                count += int((targets != -100).sum())
        return total, count

    # -- the course's uses -----------------------------------------------------------------
    def evaluate(self, text: str) -> dict[str, Any]:
        """Loss (nats/token), perplexity and, at char level, bits per character on ``text``;
        ``tokens`` is the number of tokens predicted and ``unknown_tokens`` how many of the
        text's tokens are not in the vocabulary (each is read and predicted as ``<UNK>``:
        capitals for a lower-case model, say).

        A "text" model reads ``text`` as one stream from a zero state, as it would generate
        it; a "line" model scores each line (and its ``<EOS>``) from the start.
        """
        toks = sequences(text, self.config.level, unit=self.config.unit)
        start = self._start_ids()
        result = self._evaluate_ids([start + self.vocab.encode(s) for s in toks], lanes=1)
        result["unknown_tokens"] = sum(t not in self.vocab for s in toks for t in s)
        return result

    @torch.no_grad()
    def score(self, text: str) -> SentenceScore:
        """log P(text) token by token (line-unit models also score the closing ``<EOS>``).

        An empty or blank ``text`` is a ``ValueError`` (it would score ``<EOS>`` alone).
        """
        if not text.strip():
            raise ValueError("nothing to score: the sentence is empty")
        tokens = tokenize(text.strip(), self.config.level)
        if self.config.unit == "line" or self.config.level == "word":
            tokens = [*tokens, "<EOS>"]
        if not tokens:
            raise ValueError("nothing to score: the sentence is empty")
        ids = self._start_ids() + self.vocab.encode(tokens)
        x = torch.tensor([ids[:-1]], device=self.device)
        with self.eval_mode():
            logits, _ = self.model(x)  # (1, T, V)
        logp = logits[0].log_softmax(-1)  # (T, V)
        picked = logp.gather(1, torch.tensor(ids[1:], device=self.device)[:, None])[:, 0]
        shown = [t if t in self.vocab else f"{t} (<UNK>)" for t in tokens]
        return SentenceScore(text, shown, picked.tolist())

    @torch.no_grad()
    def sample(
        self,
        n: int = 10,
        *,
        max_length: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        prefix: str = "",
        seed: int | None = None,
        no_unk: bool = True,
        greedy: bool = False,
        on_text: Callable[[int, str | None], None] | None = None,
    ) -> list[str]:
        """``n`` novel sequences, drawn token by token until ``<EOS>`` or ``max_length``.

        Each sequence starts with ``prefix`` (which the model reads first) and continues
        with at most ``max_length`` drawn tokens (1 to :data:`MAX_SAMPLE_LENGTH`, 100,000).
        ``no_unk`` bans ``<UNK>`` (the course's advice); with ``no_unk=False`` it may appear
        and is shown as ``<UNK>``.

        ``on_text(i, piece)`` streams the text while it is drawn: ``piece`` is what sequence
        ``i`` gains (its prefix first, then the text of each token as it is drawn), and
        ``None`` once sequence ``i`` is complete; the pieces of ``i`` joined are the ``i``-th
        text returned. The ``n`` sequences are drawn together, so their pieces interleave.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not 1 <= max_length <= MAX_SAMPLE_LENGTH:
            raise ValueError(
                f"max_length must be between 1 and {MAX_SAMPLE_LENGTH:,} tokens, got {max_length:,}"
            )
        prefix_tokens = tokenize(prefix, self.config.level) if prefix else []
        context = self._start_ids() + self.vocab.encode(prefix_tokens)
        banned = (self.vocab.unk_id,) if no_unk and self.vocab.unk_id is not None else ()
        sampling = None
        if not greedy:
            sampling = Sampling(
                temperature=temperature, top_k=top_k, top_p=top_p, generator=self.generator(seed)
            )
        config = SearchConfig(max_length=max_length, sampling=sampling, banned_ids=banned)

        def init_state(rows: Sequence[int]) -> State:
            # read all but the last context token; the search feeds that one first
            if len(context) == 1:
                return self.model.init_state(len(rows))
            x = torch.tensor([context[:-1]] * len(rows), device=self.device)  # (B, P-1)
            return self.model(x)[1]

        # <UNK> stays visible when it was allowed; <EOS> (and <PAD>/<SOS>) are not text
        hidden = {
            i for i in (self.vocab.eos_id, self.vocab.pad_id, self.vocab.sos_id) if i is not None
        }
        on_token = None if on_text is None else self._streamer(n, prefix_tokens, hidden, on_text)
        with self.eval_mode():
            hyps = search(
                self.model,
                init_state,
                n,
                config,
                bos_id=context[-1],
                eos_id=self.vocab.eos_id,
                on_token=on_token,
            )
        if on_text is not None:  # the sequences cut at max_length are complete now
            for i, h in enumerate(hyps):
                if not h[0].finished:
                    on_text(i, None)
        return [
            self.vocab.join(
                prefix_tokens + self.vocab.decode(i for i in h[0].tokens if i not in hidden)
            )
            for h in hyps
        ]

    def _streamer(
        self,
        n: int,
        prefix_tokens: list[str],
        hidden: set[int],
        on_text: Callable[[int, str | None], None],
    ) -> Callable[[int, int], None]:
        """The search's ``on_token`` for :meth:`sample`'s ``on_text``: token ids to text."""
        joiners = [self.vocab.joiner() for _ in range(n)]
        started = [False] * n
        eos = self.vocab.eos_id

        def on_token(i: int, token: int) -> None:
            if not started[i]:
                started[i] = True
                text = "".join(map(joiners[i], prefix_tokens))
                if text:
                    on_text(i, text)
            if token == eos:
                on_text(i, None)
            elif token not in hidden:
                on_text(i, joiners[i](self.vocab.token(token)))

        return on_token
