"""``LanguageModel``: train, sample, score and evaluate a recurrent language model.

The user-facing API of the course's language-model topics, mirrored by ``seqlab lm``:

* :meth:`LanguageModel.train` — character-, word- or subword-level (``level="bpe"``: the
  pieces of a BPE model learned from the training text), on a built-in corpus (``dinos``,
  ``sonnets``, ``tinyshakespeare``) or any UTF-8 text file, with :class:`seqlab.train.Trainer`
  (checkpoints, ``resume``, time budget, early stopping, metrics, loss curve, DDP);
* :meth:`LanguageModel.sample` — novel sequences, one token at a time (temperature, top-k,
  top-p, never ``<UNK>`` by default), stopping at ``<EOS>``;
* :meth:`LanguageModel.score` — log P(sentence) = Σ_t log P(y<t> | y<1..t-1>), with the
  surprisal of every token and the perplexity;
* :meth:`LanguageModel.evaluate` — loss, perplexity and bits per character on held-out text.

A trained model is a directory: ``config.json``, ``model.safetensors``, ``vocab.json``,
``tokenizer.json`` (a BPE model only), ``metrics.jsonl``, ``loss_curve.png`` (and
``checkpoint/`` while training).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab._io import DataError
from seqlab.data import Vocab
from seqlab.data.batching import pad, shuffled_batches
from seqlab.data.datasets import TextCorpus, TextFile, load_dataset
from seqlab.data.parallel import iter_lines
from seqlab.data.subword import TextTokenizer
from seqlab.data.text import sequences, tokenize
from seqlab.data.tokens import (
    TokenSplit,
    corpus_tokens,
    encode_text,
    gather_windows,
    random_windows,
    split_tokens,
)
from seqlab.decoding import Sampling, SearchConfig, search
from seqlab.models.rnn_lm import LMConfig, RNNLanguageModel, State
from seqlab.models.transformer import (
    SlidingWindowLM,
    TransformerLanguageModel,
    TransformerLMConfig,
)
from seqlab.tasks.base import Preset, Task, TaskConfig
from seqlab.train import TrainConfig

__all__ = [
    "MAX_SAMPLE_LENGTH",
    "PRESET",
    "TRANSFORMER_PRESET",
    "LMTaskConfig",
    "LanguageModel",
    "SentenceScore",
]

# The most tokens :meth:`LanguageModel.sample` draws per sequence (``max_length``): a
# larger value is refused rather than left to run for hours.
MAX_SAMPLE_LENGTH = 100_000

Level = Literal["char", "word", "bpe"]
LEVELS = ("char", "word", "bpe")  # the tokens a language model reads
Unit = Literal["line", "text"]


@dataclass(frozen=True, kw_only=True)
class LMTaskConfig(TaskConfig):
    """How a language model reads its corpus; saved as ``config.json`` with the model's."""

    task: ClassVar[str] = "language_model"
    model_kind: ClassVar[str] = "language_model"

    level: Level  # "char", "word" or "bpe" (subword pieces of a BPE model) tokens
    unit: Unit  # "line": each line is one sequence (names); "text": one running stream
    # the network, of the class the registry holds for arch ("rnn": LMConfig, "transformer":
    # TransformerLMConfig); vocab_size is set when the vocab is built
    model: LMConfig | TransformerLMConfig
    bptt: int = 100  # truncated-BPTT window: tokens per training sequence ("text" unit)
    batch_size: int = 32  # sequences per step
    min_count: int = 1  # rarer tokens map to <UNK>
    max_vocab: int | None = None  # keep only the most frequent tokens (None = all)
    corpus: str = ""  # where the training text came from (dataset name or file)
    vocab_size: int = 8000  # "bpe": at most this many pieces, learned from the training text

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if self.vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {self.vocab_size}")
        if self.unit not in ("line", "text"):
            raise ValueError(f"unit must be 'line' or 'text', got {self.unit!r}")
        if self.bptt < 1 or self.batch_size < 1:
            raise ValueError("bptt and batch_size must be >= 1")
        positions = getattr(self.model, "max_positions", None)
        if positions is not None and self.bptt > positions:
            raise ValueError(
                f"bptt {self.bptt} exceeds the transformer's max_positions {positions} (its "
                "context): give a bptt of at most that"
            )


# The defaults of `seqlab lm train`: a 2-layer character LSTM (the corpus sets the unit).
PRESET: Preset[LMTaskConfig] = Preset(
    config=LMTaskConfig(level="char", unit="text", model=LMConfig(vocab_size=2)),
    train=TrainConfig(max_steps=2000),
)
# ... with --arch transformer: a small GPT (pre-norm, learned positions that start from the
# sinusoids, GELU), sized for a 2-core CPU (nanoGPT's CPU shape): 4 layers of 128, a window of
# 128 tokens that is its whole context, no dropout, Adam's betas (0.9, 0.98), a warm-up before
# cosine decay (which ends with a --time-budget), batches of 16 windows at lr 4e-3: a short run
# is limited by its steps (benchmarks/char_lm.py --threads 2: 1.461 nats/char after 10
# minutes, the 2-layer LSTM 1.507; screens in docs/language-models.md).
TRANSFORMER_PRESET: Preset[LMTaskConfig] = Preset(
    config=LMTaskConfig(
        arch="transformer",
        level="char",
        unit="text",
        bptt=128,
        batch_size=16,
        model=TransformerLMConfig(
            vocab_size=2,
            d_model=128,
            num_heads=4,
            num_layers=4,
            dim_feedforward=512,
            dropout=0.0,
            max_positions=128,
        ),
    ),
    train=TrainConfig(
        max_steps=10_000,  # a --time-budget of 10 minutes binds first on 2 cores
        lr=4e-3,
        betas=(0.9, 0.98),
        schedule="cosine",
        warmup_steps=200,
        weight_decay=0.1,
    ),
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
    """The :class:`seqlab.train.Trainable` adapter of a "line" model: padded lines."""

    def __init__(self, lm: LanguageModel, train: list[list[int]], valid: list[list[int]]):
        self.lm = lm
        self.model = lm.model
        self.config = lm.config
        self.train_seqs = train
        self.valid_seqs = valid

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Tensor]:
        del epoch
        for rows in shuffled_batches(len(self.train_seqs), self.config.batch_size, generator):
            yield self.lm._pad([self.train_seqs[j] for j in rows])  # (B, T+1)

    def batches_per_epoch(self) -> int:
        """How many batches :meth:`train_batches` yields (``--epochs`` lays the schedule
        over epochs × this)."""
        return -(-len(self.train_seqs) // self.config.batch_size)

    def training_loss(self, batch: Tensor) -> tuple[Tensor, int]:
        return self.lm._loss(batch)

    def validate(self) -> dict[str, float]:
        if not self.valid_seqs:
            return {}
        return self.lm._evaluate_ids(self.valid_seqs, max_tokens=200_000)


class _StreamTrainable:
    """The :class:`seqlab.train.Trainable` adapter of a "text" model: random windows of
    the token stream (an array or a memory-mapped token file), as nanoGPT's ``get_batch``.

    A batch is the ``(B,)`` window starts, drawn from the trainer's generator (a resumed
    run replays them); :meth:`training_loss` reads just those windows, so under DDP each
    rank reads only the rows of its own part of the batch.
    """

    def __init__(self, lm: LanguageModel, split: TokenSplit, corpus: str):
        self.lm = lm
        self.model = lm.model
        self.config = lm.config
        self.split = split
        n = len(split.train)
        if n < 2:
            raise DataError(
                corpus or "corpus",
                "the training text has fewer than 2 tokens",
                hint="give a longer text",
            )
        self.length = min(self.config.bptt, n - 1) + 1  # tokens per window: L inputs + 1

    def batches_per_epoch(self) -> int:
        """As many windows as cover the training tokens once, in batches (the schedule of
        ``--epochs``)."""
        step = self.length - 1
        windows = (len(self.split.train) - self.length) // step + 1
        return -(-windows // self.config.batch_size)

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Tensor]:
        del epoch
        n, size = len(self.split.train), self.config.batch_size
        return random_windows(n, self.length, size, self.batches_per_epoch(), generator)

    def training_loss(self, batch: Tensor) -> tuple[Tensor, int]:
        return self.lm._loss(gather_windows(self.split.train, batch, self.length))  # (B, L+1)

    def validate(self) -> dict[str, float]:
        valid = self.split.valid
        if len(valid) == 0:
            return {}
        ids = np.asarray(valid[:200_000], dtype=np.int64)
        stream = torch.cat([torch.tensor([self.split.context]), torch.from_numpy(ids)])  # (M+1,)
        return self.lm._result(*self.lm._stream_total(stream, None))


class LanguageModel(Task):
    """A trained (or freshly built) recurrent language model with its vocabulary."""

    config_class = LMTaskConfig
    artifacts: ClassVar[dict[str, tuple[str, type]]] = {"vocab": ("vocab.json", Vocab)}
    optional_artifacts: ClassVar[dict[str, tuple[str, type]]] = {
        "tokenizer": ("tokenizer.json", TextTokenizer),  # level "bpe" only
    }
    what = "language model"
    command = "seqlab lm train"
    resume_ignores = ("model.impl",)  # the kernel may change on resume (same function)

    model: RNNLanguageModel | TransformerLanguageModel
    config: LMTaskConfig
    vocab: Vocab
    tokenizer: TextTokenizer | None  # the BPE model of a "bpe" language model (else None)

    def __init__(
        self,
        model: RNNLanguageModel | TransformerLanguageModel,
        vocab: Vocab,
        config: LMTaskConfig,
        path: Path | None = None,
        tokenizer: TextTokenizer | None = None,
    ) -> None:
        if model.config.vocab_size != len(vocab):
            raise ValueError(
                f"model has {model.config.vocab_size} outputs but the vocabulary {len(vocab)}"
            )
        if (config.level == "bpe") != (tokenizer is not None):
            raise ValueError("a 'bpe' language model needs its tokenizer, and only it has one")
        artifacts = {"tokenizer": tokenizer} if tokenizer is not None else {}
        super().__init__(model, config, path, vocab=vocab, **artifacts)

    # -- building and training -----------------------------------------------------------
    @classmethod
    def prepare_data(cls, data: TextCorpus | TextFile | str) -> TextCorpus | TextFile:
        """A built-in corpus by name (``"dinos"``), or the :class:`TextCorpus` or
        :class:`TextFile` given."""
        return load_dataset(data) if isinstance(data, str) else data

    @classmethod
    def build(
        cls, data: TextCorpus | TextFile, config: LMTaskConfig
    ) -> tuple[LanguageModel, tuple[list[list[int]], list[list[int]]] | TokenSplit]:
        """A fresh model and vocabulary for ``data``; returns (lm, encoded): the (train, valid)
        id lists of a "line" model, the :class:`~seqlab.data.tokens.TokenSplit` of a "text"
        model (a memory-mapped token file for a :class:`TextFile`)."""
        if isinstance(data, TextFile):
            if config.unit == "text":
                return cls._build_from_file(data, config)
            data = data.read()
        subwords = cls._subwords(data.train.split("\n"), config)
        if config.unit == "text":
            if subwords is None:
                vocab = cls._vocab(sequences(data.train, config.level, unit="text"), config)
            else:
                vocab = subwords.vocab(("<UNK>", "<EOS>"))
            lm = cls._new(vocab, config, subwords)
            split = TokenSplit(
                encode_text(data.train, vocab, subwords),
                encode_text(data.valid, vocab, subwords),
                lm._start_ids()[-1],
            )
            return lm, split
        if subwords is None:
            train_tok = sequences(data.train, config.level, unit=config.unit)
            lm = cls._new(cls._vocab(train_tok, config), config)
        else:
            lm = cls._new(subwords.vocab(("<UNK>", "<EOS>")), config, subwords)
            train_tok = lm._sequences(data.train)
        valid_tok = lm._sequences(data.valid) if data.valid else []
        start = lm._start_ids()
        cap = lm._context  # a transformer reads at most max_positions tokens: longer lines cut
        train_ids = [(start + lm.vocab.encode(s))[: cap + 1] for s in train_tok]
        valid_ids = [start + lm.vocab.encode(s) for s in valid_tok]
        return lm, (train_ids, valid_ids)

    @classmethod
    def _build_from_file(
        cls, data: TextFile, config: LMTaskConfig
    ) -> tuple[LanguageModel, TokenSplit]:
        """A "text" model on a token file: the vocabulary counted over the whole file (as
        nanoGPT's prepare.py), the split by position or the ``valid`` file."""
        subwords = cls._subwords(cls._training_lines(data), config)
        level = "word" if subwords is not None else config.level
        vocab, tokens = corpus_tokens(
            data.path,
            level=level,
            min_count=config.min_count,
            max_vocab=config.max_vocab,
            tokenizer=subwords,
        )
        lm = cls._new(vocab, config, subwords)
        if data.valid is not None:
            _, valid = corpus_tokens(data.valid, level=level, vocab=vocab, tokenizer=subwords)
            return lm, TokenSplit(tokens.array(), valid.array(), lm._start_ids()[-1])
        try:
            return lm, split_tokens(tokens.array(), data.valid_fraction)
        except ValueError as err:
            raise DataError(
                data.path, str(err), hint="give a longer text, or valid_fraction=0 (no validation)"
            ) from None

    @staticmethod
    def _training_lines(data: TextFile) -> Iterator[str]:
        """The lines of ``data`` that train, streamed: all of them beside a validation file,
        else those before the held-out tail (``valid_fraction`` of the lines, about the
        tokens :func:`~seqlab.data.tokens.split_tokens` holds out)."""
        if data.valid is not None or data.valid_fraction <= 0:
            yield from iter_lines(data.path)
            return
        total = sum(1 for _ in iter_lines(data.path))
        keep = max(1, int(total * (1 - data.valid_fraction)))
        for i, line in enumerate(iter_lines(data.path)):
            if i >= keep:
                return
            yield line

    @staticmethod
    def _subwords(lines: Iterable[str], config: LMTaskConfig) -> TextTokenizer | None:
        """The BPE model of a "bpe" language model, learned from the training text only."""
        if config.level != "bpe":
            return None
        return TextTokenizer.train(
            lines, "subword", vocab_size=config.vocab_size, byte_fallback=True
        )

    @classmethod
    def _vocab(cls, sequences: list[list[str]], config: LMTaskConfig) -> Vocab:
        return Vocab.build(
            sequences,
            level=config.level,
            min_count=config.min_count,
            max_size=config.max_vocab,
            specials=("<UNK>", "<EOS>"),
        )

    @classmethod
    def _new(
        cls, vocab: Vocab, config: LMTaskConfig, subwords: TextTokenizer | None = None
    ) -> LanguageModel:
        """A fresh model for ``vocab`` (the config's vocab_size set to it)."""
        config = replace(config, model=replace(config.model, vocab_size=len(vocab)))
        return cls(cls.build_model(config), vocab, config, tokenizer=subwords)  # type: ignore[arg-type]

    def trainable(
        self,
        encoded: tuple[list[list[int]], list[list[int]]] | TokenSplit,
        data: TextCorpus | TextFile,
    ) -> _LMTrainable | _StreamTrainable:
        if isinstance(encoded, TokenSplit):
            return _StreamTrainable(self, encoded, self.config.corpus)
        return _LMTrainable(self, *encoded)

    # -- helpers ---------------------------------------------------------------------------
    def _tokenize(self, text: str) -> list[str]:
        """The tokens of ``text``: characters, words or subword pieces."""
        if self.tokenizer is not None:
            return self.tokenizer(text)
        return tokenize(text, self.config.level)  # type: ignore[arg-type]

    def _sequences(self, text: str) -> list[list[str]]:
        """:func:`~seqlab.data.text.sequences` of ``text`` for this model's tokens (a BPE
        model's lines are cut into pieces, each followed by ``<EOS>``)."""
        if self.tokenizer is None:
            return sequences(text, self.config.level, unit=self.config.unit)  # type: ignore[arg-type]
        if self.config.unit == "line":
            return [
                [*self.tokenizer(s), "<EOS>"] for line in text.split("\n") if (s := line.strip())
            ]
        return [self.vocab.decode(encode_text(text, self.vocab, self.tokenizer).tolist())]

    def _join(self, tokens: Sequence[str]) -> str:
        """Tokens back to text (a BPE model's pieces decoded by sentencepiece)."""
        if self.tokenizer is not None:
            return self.tokenizer.detokenize(tokens)
        return self.vocab.join(tokens)

    def _joiner(self) -> Callable[[str], str]:
        return self.tokenizer.joiner() if self.tokenizer is not None else self.vocab.joiner()

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

    @property
    def _context(self) -> int:
        """The most tokens the network reads at once: a transformer's trained positions, the
        smaller of its max_positions and the training window (positions beyond the window
        were never trained: learned ones are still at their random start)."""
        positions = getattr(self.model.config, "max_positions", None)
        return 1 << 62 if positions is None else min(positions, self.config.bptt)

    def _stream_nll(self, x: Tensor, y: Tensor, state: State) -> tuple[float, State]:
        """Summed −log P(y | x) over (B, N) lanes read in BPTT windows from ``state`` (an
        RNN's state carries across windows; a transformer reads strided windows instead)."""
        if self.config.arch != "rnn":
            return self._window_nll(x, y), None
        total = 0.0
        for i in range(0, x.shape[1], self.config.bptt):
            logits, state = self.model(x[:, i : i + self.config.bptt], state)  # (B, w, V)
            total += F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                y[:, i : i + self.config.bptt].reshape(-1),
                reduction="sum",
            ).item()
        return total, state

    def _window_nll(self, x: Tensor, y: Tensor) -> float:
        """Summed −log P(y | x) of a transformer over (B, N) lanes: windows of at most
        max_positions tokens, each after the first re-reading the half before as context
        and scoring the new half (no cache grows beyond the model's positions)."""
        n, size = x.shape[1], self._context
        stride = max(1, size // 2)
        total, done = 0.0, 0
        while done < n:
            end = min(done + stride, n) if done else min(size, n)
            start = max(0, end - size)
            logits, _ = self.model(x[:, start:end])  # (B, end - start, V)
            scored = logits[:, done - start :]  # (B, end - done, V)
            total += F.cross_entropy(
                scored.reshape(-1, scored.shape[-1]), y[:, done:end].reshape(-1), reduction="sum"
            ).item()
            done = end
        return total

    def _loss(self, batch: Tensor) -> tuple[Tensor, int]:
        """Mean cross-entropy of each next token of a (B, T+1) batch, and the target count."""
        inputs, targets = self._split(batch)  # (B, T), (B, T)
        logits, _ = self.model(inputs)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return loss, int((targets != -100).sum())

    def _evaluate_ids(
        self, seqs: list[list[int]], max_tokens: int | None = None, *, lanes: int | None = None
    ) -> dict:
        """Mean NLL per predicted token over ``seqs`` (state carried through "text" streams).

        A "text" stream is read as ``lanes`` parallel pieces (default: the training batch
        size; validation is then fast and each piece but the first starts from a zero state);
        ``lanes=1`` reads it in one piece, exactly as the model would generate it. Every
        token is scored: the remainder after the equal pieces continues the last one.
        """
        if self.config.unit == "text":
            stream = torch.tensor([i for s in seqs for i in s], dtype=torch.long)  # (N,)
            if max_tokens is not None:
                stream = stream[: max_tokens + 1]
            return self._result(*self._stream_total(stream, lanes))
        with self.eval_mode():
            total, count = 0.0, 0
            for i in range(0, len(seqs), 64):
                inputs, targets = self._split(self._pad(seqs[i : i + 64]))
                logits, _ = self.model(inputs)
                total += F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
                ).item()
                count += int((targets != -100).sum())
        return self._result(total, count)

    def _result(self, total: float, count: int) -> dict[str, Any]:
        """Loss (mean NLL), perplexity, token count and, at char level, bits per character."""
        loss = total / max(count, 1)
        result: dict[str, Any] = {
            "loss": loss,
            "perplexity": math.exp(min(loss, 700.0)),
            "tokens": count,
        }
        if self.config.level == "char":
            result["bits_per_char"] = loss / math.log(2)
        return result

    def _stream_total(self, stream: Tensor, lanes: int | None) -> tuple[float, int]:
        """Summed −log P of ``stream[1:]`` given what precedes each, read as ``lanes``
        parallel pieces (see :meth:`_evaluate_ids`), and the count of predicted tokens."""
        n = stream.numel() - 1  # predicted tokens
        lanes = max(1, min(lanes or self.config.batch_size, n // 2))
        per = n // lanes
        with self.eval_mode():
            x = stream[: lanes * per].view(lanes, per).to(self.device)  # (B, N/B)
            y = stream[1 : lanes * per + 1].view(lanes, per).to(self.device)  # (B, N/B)
            total, state = self._stream_nll(x, y, None)
            if lanes * per < n:  # the tail continues the last lane
                last = torch.tensor([lanes - 1], device=self.device)
                tail_x = stream[None, lanes * per : n].to(self.device)  # (1, r)
                tail_y = stream[None, lanes * per + 1 : n + 1].to(self.device)  # (1, r)
                tail, _ = self._stream_nll(tail_x, tail_y, self.model.reorder_state(state, last))
                total += tail
        return total, n

    # -- the course's uses -----------------------------------------------------------------
    def evaluate(self, text: str) -> dict[str, Any]:
        """Loss (nats/token), perplexity and, at char level, bits per character on ``text``;
        ``tokens`` is the number of tokens predicted and ``unknown_tokens`` how many of the
        text's tokens are not in the vocabulary (each is read and predicted as ``<UNK>``:
        capitals for a lower-case model, say).

        A "text" model reads ``text`` as one stream from a zero state, as it would generate
        it; a "line" model scores each line (and its ``<EOS>``) from the start.
        """
        toks = self._sequences(text)
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
        tokens = self._tokenize(text.strip())
        if self.config.unit == "line" or self.config.level != "char":
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

        A transformer reads through a sliding window of its context: once it holds that many
        tokens, it goes on from the last half of them (so samples may be longer than the
        context, as in nanoGPT).
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not 1 <= max_length <= MAX_SAMPLE_LENGTH:
            raise ValueError(
                f"max_length must be between 1 and {MAX_SAMPLE_LENGTH:,} tokens, got {max_length:,}"
            )
        prefix_tokens = self._tokenize(prefix) if prefix else []
        context = self._start_ids() + self.vocab.encode(prefix_tokens)
        banned = (self.vocab.unk_id,) if no_unk and self.vocab.unk_id is not None else ()
        sampling = None
        if not greedy:
            sampling = Sampling(
                temperature=temperature, top_k=top_k, top_p=top_p, generator=self.generator(seed)
            )
        config = SearchConfig(max_length=max_length, sampling=sampling, banned_ids=banned)

        model: Any = self.model
        window = None
        if isinstance(self.model, TransformerLanguageModel):  # past its context: slide
            model = window = SlidingWindowLM(self.model, self._context)

        def init_state(rows: Sequence[int]) -> State:
            # read all but the last context token; the search feeds that one first
            x = torch.tensor([context[:-1]] * len(rows), dtype=torch.long, device=self.device)
            if window is not None:  # x: (B, P-1)
                return window.start(x)
            return self.model.init_state(len(rows)) if len(context) == 1 else self.model(x)[1]

        # <UNK> stays visible when it was allowed; <EOS> (and <PAD>/<SOS>) are not text
        hidden = {
            i for i in (self.vocab.eos_id, self.vocab.pad_id, self.vocab.sos_id) if i is not None
        }
        on_token = None if on_text is None else self._streamer(n, prefix_tokens, hidden, on_text)
        with self.eval_mode():
            hyps = search(
                model,
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
            self._join(prefix_tokens + self.vocab.decode(i for i in h[0].tokens if i not in hidden))
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
        joiners = [self._joiner() for _ in range(n)]
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
