"""``Translator``: train, decode, evaluate and analyse an attentive encoder–decoder.

The user-facing API of the course's week 3 (sequence-to-sequence models), mirrored by
``seqlab translate``:

* :meth:`Translator.train` — on the built-in ``"dates"`` task (date normalisation,
  :mod:`seqlab.data.dates`, character level) or on parallel text (a
  :class:`seqlab.data.parallel.ParallelCorpus`, e.g. read with
  :meth:`~seqlab.data.parallel.ParallelCorpus.from_files`; word level by default, or
  ``level="bpe"``: subword pieces of one BPE model learned from both sides of the training
  pairs, so that no word is unknown), through
  :meth:`seqlab.tasks.base.Task.train` (checkpoints, ``resume``, time budget, metrics, loss
  curve); :data:`PRESETS` holds the defaults of ``seqlab translate train`` per kind of data;
* :meth:`Translator.translate` — greedy search (``beam_size=1``) or beam search with the
  course's length normalisation ``1/Ty^α · Σ log P`` and an n-best list;
* :meth:`Translator.attention` — the attention weights α<t,t'> of a greedy translation,
  for :func:`seqlab.viz.attention.plot_attention`;
* :meth:`Translator.evaluate` — exact-match accuracy (dates: on the fixed held-out set) and
  corpus BLEU (:func:`seqlab.metrics.bleu.corpus_bleu`) for greedy and beam search;
* :meth:`Translator.analyze` — the course's beam-search error analysis: is the search or the
  model at fault for each wrong output (:mod:`seqlab.decoding.error_analysis`).

A trained model is a directory: ``config.json``, ``model.safetensors``, ``src_vocab.json``,
``vocab.json`` (the target vocabulary), ``tokenizer.json`` (a BPE model only),
``metrics.jsonl``, ``loss_curve.png``. Outputs are plain text (a BPE model's pieces decoded
by sentencepiece), which is what BLEU scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor

from seqlab._io import DataError
from seqlab.data import dates as dates_data
from seqlab.data.batching import hold_out, pad
from seqlab.data.parallel import (
    IdPair,
    Pair,
    PairTokenizer,
    ParallelCorpus,
    ParallelFiles,
    ParallelTokens,
    count_parallel,
    encode_parallel,
    read_pairs,
    read_parallel,
    train_subwords,
    training_pairs,
)
from seqlab.data.subword import TextTokenizer
from seqlab.data.tokens import chunked_length_buckets, length_buckets
from seqlab.data.vocab import EOS, PAD, SOS, UNK, Vocab
from seqlab.decoding import Hypothesis, Sampling, SearchConfig, search
from seqlab.decoding.beam import EarlyStopping
from seqlab.decoding.candidates import Candidate
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.models.transformer import TransformerConfig, TransformerSeq2Seq
from seqlab.tasks.base import Preset, Task, TaskConfig
from seqlab.train import TrainConfig

__all__ = [
    "PRESETS",
    "TRANSFORMER_PRESETS",
    "AttentionMap",
    "Candidate",
    "LayerAttention",
    "ParallelCorpus",
    "ParallelFiles",
    "Translation",
    "Translator",
    "TranslatorConfig",
    "read_pairs",
    "read_parallel",
]

Level = Literal["char", "word", "bpe"]
LEVELS = ("char", "word", "bpe")  # the tokens a translator reads and writes
DATASETS = ("dates",)  # built-in parallel datasets
DATES_TRAIN_SIZE = 100_000  # generated training pairs of the dates task
_DECODE_BATCH = 128  # sentences per decoding batch


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TranslatorConfig(TaskConfig):
    """How a translator reads its data; saved as ``config.json`` with the network's config."""

    task: ClassVar[str] = "translator"
    model_kind: ClassVar[str] = "seq2seq"

    # the network, of the class the registry holds for arch ("rnn": Seq2SeqConfig,
    # "transformer": TransformerConfig); vocabulary sizes are set when the vocabs are built
    model: Seq2SeqConfig | TransformerConfig
    level: Level = "word"  # tokens of both sides: "char", "word" or "bpe" (subword pieces)
    vocab_size: int = 8000  # "bpe": at most this many pieces, one BPE model for both sides
    lowercase: bool = False  # lower-case both sides before tokenising
    batch_size: int = 64  # sentence pairs per training step
    min_count: int = 1  # rarer tokens map to <UNK>
    max_vocab: int | None = None  # keep only the most frequent tokens per side (None: all)
    max_length: int = 100  # training pairs with a side longer than this (tokens) are dropped
    max_output_length: int | None = None  # decoding cap (tokens); None: set from training data
    # per-source decoding cap: floor(ratio·|x|) + 10 tokens for a source of |x| tokens (within
    # max_output_length), greedy and beam alike; None: set from training data (the largest
    # target/source length ratio), and a model saved without it uses max_output_length only
    max_output_ratio: float | None = None
    label_smoothing: float = 0.0  # ε of the training loss's label smoothing
    teacher_forcing: float = 1.0  # P(feed the reference y<t-1>); else the model's own argmax
    dataset: str = ""  # where the training data came from ("dates" or the files)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if min(self.batch_size, self.min_count, self.max_length, self.vocab_size) < 1:
            raise ValueError("batch_size, min_count, max_length and vocab_size must be >= 1")
        if self.max_output_length is not None and self.max_output_length < 1:
            raise ValueError(f"max_output_length must be >= 1, got {self.max_output_length}")
        if self.max_output_ratio is not None and not self.max_output_ratio > 0:
            raise ValueError(f"max_output_ratio must be > 0, got {self.max_output_ratio}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {self.teacher_forcing}")
        positions = getattr(self.model, "max_positions", None)
        if positions is not None and self.max_length >= positions:
            raise ValueError(
                f"max_length {self.max_length} must be below the transformer's max_positions "
                f"{positions} (a target is read after <SOS>)"
            )


def _preset(
    *,
    level: Level,
    size: tuple[int, int, int],
    min_count: int,
    max_length: int,
    label_smoothing: float,
    dropout: float,
    train: TrainConfig,
    dataset: str = "",
) -> Preset[TranslatorConfig]:
    embedding, hidden, attention_dim = size
    model = Seq2SeqConfig(
        src_vocab_size=2,  # set from the vocabularies when they are built
        tgt_vocab_size=2,
        embedding_dim=embedding,
        hidden_size=hidden,
        attention_dim=attention_dim,
        dropout=dropout,
    )
    config = TranslatorConfig(
        model=model,
        level=level,
        batch_size=64,
        min_count=min_count,
        max_length=max_length,
        label_smoothing=label_smoothing,
        dataset=dataset,
    )
    return Preset(config=config, train=train)


# The defaults of `seqlab translate train` per kind of data. "dates": tuned so that the
# held-out exact match reaches 99.9%, and 97% on the dates written by hand in
# tests/golden/real_dates.tsv, within 5 minutes of CPU training (benchmarks/dates.py: 100% and
# 100% in 87-99 s on 2 cores with years 1000-2999 and 44 forms, so unchanged since 1900-2099);
# "text": a small word-level model for Multi30k-sized data.
PRESETS: dict[str, Preset[TranslatorConfig]] = {
    "dates": _preset(
        level="char",
        size=(32, 64, 64),
        min_count=1,
        max_length=100,
        label_smoothing=0.0,
        dropout=0.0,
        dataset="dates",
        train=TrainConfig(
            max_steps=3000,
            lr=2e-3,
            schedule="cosine",
            warmup_steps=100,
            eval_every=250,
            time_budget=300.0,
        ),
    ),
    "text": _preset(
        level="word",
        size=(256, 256, 256),
        min_count=2,
        max_length=50,
        label_smoothing=0.1,
        dropout=0.2,
        train=TrainConfig(
            max_steps=20_000, lr=1e-3, schedule="cosine", warmup_steps=200, eval_every=1000
        ),
    ),
}


def _transformer_preset(
    *,
    level: Level,
    size: tuple[int, int, int, int],
    dropout: float,
    label_smoothing: float,
    max_length: int,
    train: TrainConfig,
    dataset: str = "",
) -> Preset[TranslatorConfig]:
    d_model, heads, layers, feedforward = size
    model = TransformerConfig(
        src_vocab_size=2,  # set from the vocabularies when they are built
        tgt_vocab_size=2,
        d_model=d_model,
        num_heads=heads,
        num_encoder_layers=layers,
        num_decoder_layers=layers,
        dim_feedforward=feedforward,
        dropout=dropout,
        max_positions=2 * max_length + 16,  # room for outputs longer than the inputs
    )
    config = TranslatorConfig(
        arch="transformer",
        model=model,
        level=level,
        max_length=max_length,
        label_smoothing=label_smoothing,
        dataset=dataset,
    )
    return Preset(config=config, train=train)


# The defaults of `seqlab translate train --arch transformer`: Adam's betas (0.9, 0.98) and a
# linear warm-up as in Vaswani et al. 2017 (then cosine decay rather than 1/sqrt(step), so
# that a time budget ends the schedule); "text" reads BPE pieces (8,000, joint).
TRANSFORMER_PRESETS: dict[str, Preset[TranslatorConfig]] = {
    "dates": _transformer_preset(
        level="char",
        size=(64, 4, 2, 256),
        dropout=0.0,
        label_smoothing=0.0,
        max_length=100,
        dataset="dates",
        train=TrainConfig(
            max_steps=3000,
            lr=1e-3,
            betas=(0.9, 0.98),
            schedule="cosine",
            warmup_steps=200,
            eval_every=250,
            time_budget=300.0,
        ),
    ),
    "text": _transformer_preset(
        level="bpe",
        size=(256, 4, 3, 1024),
        dropout=0.1,
        label_smoothing=0.1,
        max_length=100,
        train=TrainConfig(
            max_steps=20_000,
            lr=7e-4,
            betas=(0.9, 0.98),
            schedule="cosine",
            warmup_steps=1000,
            eval_every=1000,
        ),
    ),
}


def _output_cap(config: TranslatorConfig, longest: int) -> int:
    """The decoding length cap: twice the longest training target and 10 more, within a
    transformer's positions."""
    positions = getattr(config.model, "max_positions", None)
    cap = 2 * longest + 10
    return cap if positions is None else max(1, min(cap, positions - 1))


CAP_MARGIN = 10  # b of the per-source cap floor(a·|x|) + b: room beyond the longest ratio


def _length_ratio(
    src_lengths: Sequence[int] | np.ndarray, tgt_lengths: Sequence[int] | np.ndarray
) -> float:
    """The largest target/source length ratio of the training pairs (rounded up to 0.01):
    a of the per-source cap, so every training target fits it with ``CAP_MARGIN`` to spare."""
    ratio = float(np.max(np.asarray(tgt_lengths) / np.asarray(src_lengths)))
    return math.ceil(ratio * 100 - 1e-9) / 100


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Translation:
    """The translation of one source: the best candidate first."""

    source: str  # the input as given
    candidates: list[Candidate]  # n-best list, best first

    @property
    def text(self) -> str:
        """The best output."""
        return self.candidates[0].text

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "translation": self.text,
            "candidates": [c.to_dict() for c in self.candidates],
        }


@dataclass(frozen=True)
class AttentionMap:
    """α<t,t'> of one translation (greedy, or the output given): one row per output token
    (<EOS> last), one column per source token."""

    source_tokens: list[str]  # x<1..Tx>, as the model read them
    output_tokens: list[str]  # y<1..Ty>, with the closing "<EOS>" when it was emitted
    weights: Tensor  # (Ty, Tx) rows sum to 1
    text: str  # the translation, detokenised (without <EOS>)


@dataclass(frozen=True)
class LayerAttention:
    """Every layer's and head's attention weights of a Transformer translator for one
    output: the encoder's self-attention, the decoder's masked self-attention and its
    cross-attention over the source (:meth:`Translator.layer_attention`)."""

    source_tokens: list[str]  # x<1..S>, as the model read them
    output_tokens: list[str]  # y<1..T>, the decoder's queries; "<EOS>" last when emitted
    input_tokens: list[str]  # what the decoder read: <SOS> y<1..T-1> (its self-attention keys)
    encoder: Tensor  # (L, nh, S, S) rows sum to 1
    decoder: Tensor  # (L, nh, T, T) rows sum to 1, zero above the diagonal (no look-ahead)
    cross: Tensor  # (L, nh, T, S) rows sum to 1
    text: str  # the translation, detokenised (without <EOS>)


# -- the Trainable adapter -----------------------------------------------------------------

Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # src (B,T), lengths (B,), tgt_in, tgt_out (B,S)


class _Seq2SeqTrainable:
    """The :class:`seqlab.train.Trainable` adapter: length-bucketed batches and the loss.

    The training pairs are id lists in memory, or a memory-mapped
    :class:`~seqlab.data.parallel.ParallelTokens` (a corpus of any size). A batch is the
    ``(B,)`` row numbers of its pairs, drawn from the trainer's generator (a resumed run
    replays them): :func:`~seqlab.data.tokens.length_buckets` for pairs in memory (the
    batches of :func:`~seqlab.data.batching.bucketed_batches`),
    :func:`~seqlab.data.tokens.chunked_length_buckets` for token files (memory independent
    of the number of pairs). :meth:`training_loss` reads just those rows, so under DDP each
    rank reads only the pairs of its own part of the batch (the trainer splits the rows).
    """

    def __init__(
        self, tr: Translator, train: list[IdPair] | ParallelTokens, valid: list[Pair]
    ) -> None:
        self.tr = tr
        self.model = tr.model
        self.config = tr.config
        self.train_ids = train
        if isinstance(train, ParallelTokens):
            self.src_lengths = train.lengths()  # (N,) memory-mapped
        else:
            self.src_lengths = np.array([len(s) for s, _ in train], dtype=np.int64)  # (N,)
        self.valid = valid
        self.valid_ids = [tr._encode_pair(s, t) for s, t in valid]

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Tensor]:
        del epoch
        streamed = isinstance(self.train_ids, ParallelTokens)
        buckets = chunked_length_buckets if streamed else length_buckets
        for rows in buckets(self.src_lengths, self.config.batch_size, generator):
            yield torch.from_numpy(rows)  # (B,)

    def pairs(self, rows: Tensor) -> list[IdPair]:
        """The (source ids, target ids) of the batch's rows (read from the memory maps)."""
        picked = rows.cpu().numpy()  # (B,)
        train = self.train_ids
        if isinstance(train, ParallelTokens):
            return train.pairs(picked)
        return [train[j] for j in picked.tolist()]

    def batches_per_epoch(self) -> int:
        """How many batches :meth:`train_batches` yields (bucketing cuts chunks of whole
        batches, so only the last batch may be short)."""
        return -(-len(self.train_ids) // self.config.batch_size)

    def training_loss(self, rows: Tensor) -> tuple[Tensor, int]:
        src, lengths, tgt_in, tgt_out = self.tr._batch(self.pairs(rows))
        loss = self.model.loss(
            src,
            lengths,
            tgt_in,
            tgt_out,
            label_smoothing=self.config.label_smoothing,
            teacher_forcing=self.config.teacher_forcing,
        )
        return loss, int((tgt_out != self.config.model.tgt_pad_id).sum())

    def validate(self) -> dict[str, float]:
        if not self.valid_ids:
            return {}
        result = {"loss": self.tr._loss_ids(self.valid_ids)}
        if self.config.level == "char":  # exact match is telling for short outputs (dates)
            sample = self.valid[:500]
            outs = self.tr._search([s for s, _ in sample], self.tr._search_config(alpha=0.0))
            refs = [t.strip().lower() if self.config.lowercase else t.strip() for _, t in sample]
            hits = sum(o[0].text == t for o, t in zip(outs, refs, strict=True))
            result["exact_match"] = hits / len(sample)
        return result


# -- the task ------------------------------------------------------------------------------


class Translator(Task):
    """A trained (or freshly built) encoder–decoder with its two vocabularies."""

    config_class = TranslatorConfig
    artifacts: ClassVar[dict[str, tuple[str, type]]] = {
        "src_vocab": ("src_vocab.json", Vocab),
        "tgt_vocab": ("vocab.json", Vocab),
    }
    optional_artifacts: ClassVar[dict[str, tuple[str, type]]] = {
        "tokenizer": ("tokenizer.json", TextTokenizer),  # level "bpe" only
    }
    what = "translator"
    command = "seqlab translate train"

    model: Seq2Seq | TransformerSeq2Seq
    config: TranslatorConfig
    src_vocab: Vocab
    tgt_vocab: Vocab
    tokenizer: TextTokenizer | None  # the BPE model of a "bpe" translator (else None)
    train_pairs: int | None = None  # pairs the last build() encoded to train on (None: loaded)

    def __init__(
        self,
        model: Seq2Seq,
        src_vocab: Vocab,
        tgt_vocab: Vocab,
        config: TranslatorConfig,
        path: Path | None = None,
        tokenizer: TextTokenizer | None = None,
    ) -> None:
        if (config.level == "bpe") != (tokenizer is not None):
            raise ValueError("a 'bpe' translator needs its tokenizer, and only it has one")
        mc = model.config
        if mc.src_vocab_size != len(src_vocab) or mc.tgt_vocab_size != len(tgt_vocab):
            raise ValueError(
                f"model has vocabularies of {mc.src_vocab_size} and {mc.tgt_vocab_size} but "
                f"the vocabularies have {len(src_vocab)} and {len(tgt_vocab)} tokens"
            )
        artifacts = {"tokenizer": tokenizer} if tokenizer is not None else {}
        super().__init__(model, config, path, src_vocab=src_vocab, tgt_vocab=tgt_vocab, **artifacts)

    # -- building and training -------------------------------------------------------------
    @staticmethod
    def _pair_tokenizer(
        config: TranslatorConfig, subwords: TextTokenizer | None, max_length: int | None = None
    ) -> PairTokenizer:
        """How both sides become tokens: ``level``'s, or ``subwords``' pieces."""
        level = "word" if config.level == "bpe" else config.level
        return PairTokenizer(
            level=level, lowercase=config.lowercase, max_length=max_length, subwords=subwords
        )

    def _tokens(self, text: str) -> list[str]:
        return self._pair_tokenizer(self.config, self.tokenizer).tokens(text)

    @classmethod
    def prepare_data(
        cls, data: str | ParallelCorpus | ParallelFiles | Sequence[Pair]
    ) -> ParallelCorpus | ParallelFiles:
        """``"dates"`` (generated pairs, :meth:`ParallelCorpus.dates`), a
        :class:`ParallelCorpus`, a :class:`~seqlab.data.parallel.ParallelFiles` (files of any
        size, streamed into memory-mapped token files), or (source, target) pairs (every
        50th held out)."""
        if isinstance(data, ParallelCorpus | ParallelFiles):
            return data
        if isinstance(data, str):
            if data not in DATASETS:
                raise ValueError(f"unknown dataset {data!r}; built-in: {', '.join(DATASETS)}")
            return ParallelCorpus.dates(DATES_TRAIN_SIZE)
        train, valid = hold_out([(str(s), str(t)) for s, t in data], 0.02)
        return ParallelCorpus(train, valid, None, "pairs")

    @classmethod
    def build(
        cls, data: ParallelCorpus | ParallelFiles, config: TranslatorConfig
    ) -> tuple[Translator, list[IdPair] | ParallelTokens]:
        """A fresh model and vocabularies for ``data``; returns (translator, train ids): id
        lists, or the memory-mapped :class:`~seqlab.data.parallel.ParallelTokens` of a
        :class:`~seqlab.data.parallel.ParallelFiles`."""
        if isinstance(data, ParallelFiles):
            return cls._build_from_files(data, config)
        subwords = cls._subwords(data.train, config)
        pair_tok = cls._pair_tokenizer(config, subwords)
        tok = [(pair_tok.tokens(s), pair_tok.tokens(t)) for s, t in data.train]
        tok = [(s, t) for s, t in tok if s and t and max(len(s), len(t)) <= config.max_length]
        if not tok:
            raise DataError(
                data.name or "corpus",
                f"no training pair has both sides within max_length={config.max_length} tokens",
                hint="raise max_length",
            )
        src_vocab, tgt_vocab = cls._vocabs(
            (s for s, _ in tok), (t for _, t in tok), config, subwords
        )
        longest = max(len(t) for _, t in tok)
        ratio = _length_ratio([len(s) for s, _ in tok], [len(t) for _, t in tok])
        tr = cls._new(
            src_vocab,
            tgt_vocab,
            config,
            data.name,
            subwords,
            longest_target=longest,
            length_ratio=ratio,
        )
        ids = [(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t in tok]
        tr.train_pairs = len(ids)
        return tr, ids

    @classmethod
    def _build_from_files(
        cls, data: ParallelFiles, config: TranslatorConfig
    ) -> tuple[Translator, ParallelTokens]:
        """Two streamed passes (counting, then encoding into token files), both cached
        (a "bpe" model learns its pieces from a pass over the training pairs first)."""
        subwords = cls._subwords(training_pairs(data), config)
        tokenizer = cls._pair_tokenizer(config, subwords, config.max_length)
        counts = count_parallel(data, tokenizer)
        if counts.pairs == 0:
            raise DataError(
                data.src,
                f"no training pair has both sides within max_length={config.max_length} tokens",
                hint="raise max_length",
            )
        src_vocab, tgt_vocab = cls._vocabs(
            [counts.src_counts], [counts.tgt_counts], config, subwords
        )
        encoded = encode_parallel(data, counts, tokenizer, src_vocab, tgt_vocab)
        ratio = _length_ratio(encoded.index[:, 1], encoded.index[:, 3])
        tr = cls._new(
            src_vocab,
            tgt_vocab,
            config,
            data.name,
            subwords,
            longest_target=counts.longest,
            length_ratio=ratio,
        )
        tr.train_pairs = counts.pairs
        return tr, encoded

    @staticmethod
    def _subwords(pairs: Iterable[Pair], config: TranslatorConfig) -> TextTokenizer | None:
        """The BPE model of a "bpe" translator, learned from the training pairs only."""
        if config.level != "bpe":
            return None
        return train_subwords(pairs, vocab_size=config.vocab_size, lowercase=config.lowercase)

    @staticmethod
    def _vocabs(
        src: Iterable[Iterable[str]],
        tgt: Iterable[Iterable[str]],
        config: TranslatorConfig,
        subwords: TextTokenizer | None = None,
    ) -> tuple[Vocab, Vocab]:
        """The two vocabularies from token sequences (or Counters: each is added whole); a
        BPE model's are all its pieces (``min_count``/``max_vocab`` do not apply)."""
        if subwords is not None:
            return subwords.vocab((PAD, UNK)), subwords.vocab((PAD, UNK, SOS, EOS))
        common = {
            "level": config.level,
            "min_count": config.min_count,
            "max_size": config.max_vocab,
        }
        src_vocab = Vocab.build(src, specials=(PAD, UNK), **common)  # type: ignore[arg-type]
        tgt_vocab = Vocab.build(tgt, specials=(PAD, UNK, SOS, EOS), **common)  # type: ignore[arg-type]
        return src_vocab, tgt_vocab

    @classmethod
    def _new(
        cls,
        src_vocab: Vocab,
        tgt_vocab: Vocab,
        config: TranslatorConfig,
        name: str,
        subwords: TextTokenizer | None = None,
        *,
        longest_target: int,
        length_ratio: float,
    ) -> Translator:
        """A fresh model for the vocabularies; the decoding caps (unless ``config`` sets
        them) from the training pairs: ``longest_target``, the longest target (tokens), gives
        ``max_output_length``; ``length_ratio``, the largest target/source length ratio,
        gives ``max_output_ratio``."""
        model_cfg = replace(
            config.model,
            src_vocab_size=len(src_vocab),
            tgt_vocab_size=len(tgt_vocab),
            src_pad_id=src_vocab.pad_id,
            tgt_pad_id=tgt_vocab.pad_id,
        )
        config = replace(
            config,
            model=model_cfg,
            max_output_length=config.max_output_length or _output_cap(config, longest_target),
            max_output_ratio=config.max_output_ratio or length_ratio,
            dataset=config.dataset or name,
        )
        model = cls.build_model(config)
        return cls(model, src_vocab, tgt_vocab, config, tokenizer=subwords)  # type: ignore[arg-type]

    def trainable(
        self, encoded: list[IdPair] | ParallelTokens, data: ParallelCorpus | ParallelFiles
    ) -> _Seq2SeqTrainable:
        valid = encoded.valid if isinstance(encoded, ParallelTokens) else data.valid  # type: ignore[union-attr]
        return _Seq2SeqTrainable(self, encoded, valid)

    # -- encoding helpers ------------------------------------------------------------------
    def _src_tokens(self, text: str) -> list[str]:
        return self._tokens(text)

    def _encode_src(self, text: str) -> list[int]:
        tokens = self._src_tokens(text)
        if not tokens:
            raise ValueError(f"nothing to translate: the source {text!r} is empty")
        return self.src_vocab.encode(tokens)

    def _encode_pair(self, src: str, tgt: str) -> tuple[list[int], list[int]]:
        tgt_tokens = self._tokens(tgt)
        return self._encode_src(src), self.tgt_vocab.encode(tgt_tokens)

    def _sources(self, ids: Sequence[list[int]]) -> tuple[Tensor, Tensor]:
        """Right-padded source ids (B, T) and their lengths (B,), on the model's device."""
        return pad(ids, self.src_vocab.pad_id or 0, device=self.device)  # (B, T), (B,)

    def _batch(self, pairs: Sequence[tuple[list[int], list[int]]]) -> Batch:
        """Training tensors: source (B, T), lengths (B,), <SOS> y (B, S), y <EOS> (B, S)."""
        src, lengths = self._sources([s for s, _ in pairs])
        sos, eos = self.tgt_vocab.sos_id, self.tgt_vocab.eos_id
        pad_id = self.config.model.tgt_pad_id
        tgt_in, _ = pad([[sos, *t] for _, t in pairs], pad_id, device=self.device)  # (B, S)
        tgt_out, _ = pad([[*t, eos] for _, t in pairs], pad_id, device=self.device)  # (B, S)
        return src, lengths, tgt_in, tgt_out

    def _loss_ids(self, pairs: Sequence[IdPair]) -> float:
        """Mean teacher-forced cross-entropy per target token (nats)."""
        total, count = 0.0, 0
        with self.eval_mode():
            for i in range(0, len(pairs), _DECODE_BATCH):
                src, lengths, tgt_in, tgt_out = self._batch(pairs[i : i + _DECODE_BATCH])
                n = int((tgt_out != self.config.model.tgt_pad_id).sum())
                total += float(self.model.loss(src, lengths, tgt_in, tgt_out)) * n
                count += n
        return total / max(count, 1)

    def _join(self, ids: Sequence[int]) -> str:
        return self._detokenize(self.tgt_vocab.decode(ids))

    def _detokenize(self, tokens: Sequence[str]) -> str:
        """Output tokens as plain text (a BPE model's pieces decoded by sentencepiece)."""
        if self.tokenizer is not None:
            return self.tokenizer.detokenize(tokens)
        return self.tgt_vocab.join(tokens)

    @property
    def _cap(self) -> int:
        """The decoding length cap (tokens)."""
        return self.config.max_output_length or 100

    def _search_config(self, **fields: Any) -> SearchConfig:
        """A search with the decoding caps: ``max_output_length`` and the per-source
        floor(max_output_ratio·|x|) + CAP_MARGIN (every search, sampling included)."""
        ratio = self.config.max_output_ratio
        if ratio is not None:
            fields |= {"max_length_a": ratio, "max_length_b": CAP_MARGIN}
        return SearchConfig(max_length=self._cap, **fields)

    def _hypotheses(self, texts: Sequence[str], config: SearchConfig) -> list[list[Hypothesis]]:
        """The search's n-best lists of ``texts`` (the search driver over padded sources)."""
        ids = [self._encode_src(t) for t in texts]
        with self.eval_mode():
            return search(
                self.model,
                lambda rows: self.model.init_state(*self._sources([ids[r] for r in rows])),
                len(ids),
                config,
                bos_id=self.tgt_vocab.sos_id,
                eos_id=self.tgt_vocab.eos_id,
                source_lengths=[len(i) for i in ids],
            )

    def _search(self, texts: Sequence[str], config: SearchConfig) -> list[list[Candidate]]:
        return [
            [Candidate.from_hypothesis(h, self.tgt_vocab.decode, self._detokenize) for h in row]
            for row in self._hypotheses(texts, config)
        ]

    # -- the course's uses -----------------------------------------------------------------
    def loss(self, pairs: Sequence[Pair]) -> float:
        """Mean teacher-forced cross-entropy per target token (<EOS> included), in nats."""
        if not pairs:
            raise ValueError("no pairs to score")
        return self._loss_ids([self._encode_pair(s, t) for s, t in pairs])

    def translate(
        self,
        texts: str | Sequence[str],
        *,
        beam_size: int = 1,
        alpha: float = 0.7,
        n_best: int = 1,
        sample: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        early_stopping: EarlyStopping = "never",
    ) -> list[Translation]:
        """Translate each text: greedy search for ``beam_size=1``, else beam search ranking by
        ``log P(y|x) / Ty^α``; each :class:`Translation` holds ``n_best`` candidates.
        ``early_stopping`` is when beam search stops a sentence (HF generate's option):
        ``"never"`` once no live beam can beat its n-best list (exact), ``True`` as soon as
        ``n_best`` hypotheses ended, ``False`` transformers' heuristic (the best live beam
        scored as if it ended now); see :func:`seqlab.decoding.beam_search`.

        ``sample=True`` draws each output token from P(· | x, ŷ<1..t-1>) instead (with
        ``temperature``, ``top_k``, ``top_p``; the same ``seed`` gives the same outputs):
        the course's contrast to searching for the most likely translation. A single string
        is translated as a list of one.
        """
        if isinstance(texts, str):
            texts = [texts]
        sampling = None
        if sample:
            sampling = Sampling(
                temperature=temperature, top_k=top_k, top_p=top_p, generator=self.generator(seed)
            )
        config = self._search_config(
            beam_size=beam_size,
            n_best=n_best,
            alpha=alpha,
            early_stopping=early_stopping,
            sampling=sampling,
            batch_size=_DECODE_BATCH,
        )
        outs = self._search(texts, config)
        return [Translation(t, c) for t, c in zip(texts, outs, strict=True)]

    @torch.no_grad()
    def attention(self, text: str, output: Candidate | None = None) -> AttentionMap:
        """The attention weights of every output step for ``text``.

        Without ``output``: of the greedy translation. With ``output`` (a candidate of
        :meth:`translate`: beam search's best, a sample): of that output, fed to the decoder
        token by token, ``<EOS>`` last when it finished.
        """
        if self.config.arch == "rnn" and self.model.attention is None:
            raise ValueError("this model has no attention (trained with attention='none')")
        with self.eval_mode():
            return self._attention(text, output)

    def _attention(self, text: str, output: Candidate | None) -> AttentionMap:
        ids = self._encode_src(text)
        state = self.model.init_state(*self._sources([ids]))
        token = torch.tensor([self.tgt_vocab.sos_id], device=self.device)  # (1,)
        forced: list[int] | None = None
        if output is not None:
            forced = self.tgt_vocab.encode(output.tokens)
            forced += [self.tgt_vocab.eos_id] if output.finished else []
        limit = (
            len(forced) if forced is not None else self._search_config().length_caps([len(ids)])[0]
        )
        rows, out = [], []
        for t in range(limit):
            log_probs, state = self.model.step(token, state)  # (1, V)
            assert state.attention is not None
            rows.append(state.attention[0].cpu())  # (T,)
            if forced is not None:
                token = torch.tensor([forced[t]], device=self.device)  # (1,)
            else:
                token = log_probs.argmax(dim=-1)  # (1,)
            out.append(self.tgt_vocab.token(int(token)))
            if int(token) == self.tgt_vocab.eos_id:
                break
        src_tokens = [
            self.src_vocab.token(i) if i != self.src_vocab.unk_id else tok
            for i, tok in zip(ids, self._src_tokens(text), strict=True)
        ]
        words = [t for t in out if t != EOS]
        text_out = self._detokenize(words)
        return AttentionMap(src_tokens, out, torch.stack(rows), text_out)  # (Ty, Tx)

    @torch.no_grad()
    def layer_attention(self, text: str, output: Candidate | None = None) -> LayerAttention:
        """Every layer's and head's attention of a Transformer translator (``arch=
        "transformer"``) for ``text`` and ``output`` (default: the greedy translation), read
        in one teacher-forced pass over the output."""
        if self.config.arch != "transformer":
            raise ValueError("per-layer attention is a transformer's: use attention() instead")
        if output is None:
            output = self.translate([text])[0].candidates[0]
        ids = self._encode_src(text)
        forced = self.tgt_vocab.encode(output.tokens)
        forced += [self.tgt_vocab.eos_id] if output.finished or not forced else []
        tgt_in = torch.tensor([[self.tgt_vocab.sos_id, *forced[:-1]]], device=self.device)
        with self.eval_mode():
            maps = self.model.attention_weights(*self._sources([ids]), tgt_in)  # type: ignore[operator]
        out = [self.tgt_vocab.token(i) for i in forced]
        src_tokens = [
            self.src_vocab.token(i) if i != self.src_vocab.unk_id else tok
            for i, tok in zip(ids, self._src_tokens(text), strict=True)
        ]
        return LayerAttention(
            src_tokens,
            out,
            [SOS, *out[:-1]],
            maps["encoder"][:, 0].cpu(),  # (L, nh, S, S)
            maps["decoder"][:, 0].cpu(),  # (L, nh, T, T)
            maps["cross"][:, 0].cpu(),  # (L, nh, T, S)
            output.text,
        )

    def _reference_set(
        self,
        sources: Sequence[str] | None,
        references: Sequence[str | Sequence[str]] | None,
    ) -> tuple[list[str], list[list[str]]]:
        """(sources, references per source): a reference given as a string is one
        reference; a list of strings is several (any of them is right)."""
        if sources is None and references is None:
            if self.config.dataset != "dates":
                raise ValueError(
                    "give sources and references to evaluate on (only the dates model has a "
                    "built-in test set)"
                )
            test = dates_data.test_pairs()
            return [s for s, _ in test], [[t] for _, t in test]
        if sources is None or references is None:
            raise ValueError("give both sources and references")
        if len(sources) != len(references):
            raise ValueError(f"{len(sources)} sources but {len(references)} references")
        if not sources:
            raise ValueError("nothing to evaluate: no sentences")
        refs = [[r] if isinstance(r, str) else list(r) for r in references]
        for source, rs in zip(sources, refs, strict=True):
            if not rs:
                raise ValueError(f"no reference for {source!r}")
        return list(sources), refs

    def _closest_references(
        self,
        sources: Sequence[str],
        references: Sequence[Sequence[str]],
        outputs: Sequence[Hypothesis],
        alpha: float,
    ) -> list[str]:
        """For each source, the reference the error analysis compares with
        (:func:`seqlab.decoding.references.closest_references`: the one the output equals,
        else the one the model scores highest among those it can emit, else the first)."""
        from seqlab.decoding.references import closest_references

        chosen: list[str] = []
        with self.eval_mode():
            for k in range(0, len(sources), _DECODE_BATCH):
                part = range(k, min(k + _DECODE_BATCH, len(sources)))
                state = self.model.init_state(
                    *self._sources([self._encode_src(sources[i]) for i in part])
                )
                picks = closest_references(
                    self.model,
                    state,
                    [outputs[i] for i in part],
                    [[self._encode_pair(sources[i], r)[1] for r in references[i]] for i in part],
                    bos_id=self.tgt_vocab.sos_id,
                    eos_id=self.tgt_vocab.eos_id,
                    alpha=alpha,
                    unk_id=self.tgt_vocab.unk_id,
                )
                chosen += [references[i][j] for i, j in zip(part, picks, strict=True)]
        return chosen

    def evaluate(
        self,
        sources: Sequence[str] | None = None,
        references: Sequence[str | Sequence[str]] | None = None,
        *,
        beam_sizes: Sequence[int] = (1,),
        alpha: float = 0.7,
        bleu: bool | None = None,
    ) -> dict[str, Any]:
        """Exact-match accuracy (and corpus BLEU) per beam size.

        An output matches when its tokens equal a reference's tokens (the tokenisation the
        model was trained on, lowercased if it was); BLEU scores the detokenised text against
        every reference of its source. ``references`` holds one string per source, or a list
        of strings where a source has several translations (Tatoeba's; see
        :func:`seqlab.data.parallel.group_by_source`).

        Without ``sources``/``references`` a dates model is scored on the fixed held-out set
        (:func:`seqlab.data.dates.test_pairs`). ``bleu`` defaults to True for word-level
        and BPE models. Returns ``{"examples": n, "references": m, "results": [{"beam_size",
        "exact_match", "bleu", "signature", "errors"}...]}`` where ``errors`` lists up to 20
        wrong outputs (``reference``: the first; ``references``: all of them).
        """
        srcs, refs = self._reference_set(sources, references)
        want_bleu = self.config.level != "char" if bleu is None else bleu
        results = []
        lower = self.config.lowercase
        # exact match on tokens, as the model sees the reference: "Va !" and "Va!" (one
        # detokenised output) are the same sentence
        tokens = [[self._tokens(r) for r in rs] for rs in refs]
        norm = [[r.strip().lower() if lower else r.strip() for r in rs] for rs in refs]
        # reference streams as sacreBLEU takes them: stream j holds each source's j-th
        # reference, None where a source has fewer
        streams = [
            [rs[j] if j < len(rs) else None for rs in norm] for j in range(max(map(len, norm)))
        ]
        for k in beam_sizes:
            outs = self.translate(srcs, beam_size=k, alpha=alpha)
            hyps = [o.text for o in outs]
            exact = [o.candidates[0].tokens in t for o, t in zip(outs, tokens, strict=True)]
            entry: dict[str, Any] = {
                "beam_size": k,
                "exact_match": sum(exact) / len(exact),
                "errors": [
                    {"source": s, "reference": rs[0], "output": h}
                    | ({"references": rs} if len(rs) > 1 else {})
                    for s, rs, h, ok in zip(srcs, refs, hyps, exact, strict=True)
                    if not ok
                ][:20],
            }
            if want_bleu:
                from seqlab.metrics.bleu import corpus_bleu

                score = corpus_bleu(hyps, streams)
                entry["bleu"] = float(score.score)
                entry["signature"] = str(score.signature)
            results.append(entry)
        total = sum(map(len, refs))
        return {"examples": len(srcs), "references": total, "alpha": alpha, "results": results}

    def analyze(
        self,
        sources: Sequence[str] | None = None,
        references: Sequence[str | Sequence[str]] | None = None,
        *,
        beam_size: int = 3,
        alpha: float = 0.7,
    ) -> Any:
        """The course's error analysis of beam search on (source, reference) pairs.

        For each output ŷ that differs from the human y*: if P(y*|x) > P(ŷ|x) (both length
        normalised) the search is at fault, else the model; a y* with a word outside the
        target vocabulary is the model's fault (it cannot emit it). With several references
        for a source, ŷ is right when it equals any of them, else it is compared with the one
        the model scores highest among those it can emit. Without pairs a dates model is
        analysed on its held-out set. Returns an
        :class:`seqlab.decoding.ErrorAnalysis` (``format_table``, ``write_csv``).
        """
        from seqlab.decoding import ErrorAnalysis, analyze_errors

        srcs, refs = self._reference_set(sources, references)
        config = self._search_config(beam_size=beam_size, alpha=alpha, batch_size=_DECODE_BATCH)
        best = [h[0] for h in self._hypotheses(srcs, config)]
        chosen = self._closest_references(srcs, refs, best, alpha)
        sos, eos = self.tgt_vocab.sos_id, self.tgt_vocab.eos_id
        parts = []
        with self.eval_mode():
            for i in range(0, len(srcs), _DECODE_BATCH):
                chunk_src = srcs[i : i + _DECODE_BATCH]
                chunk_ref = chosen[i : i + _DECODE_BATCH]
                src, lengths = self._sources([self._encode_src(s) for s in chunk_src])
                ref_ids = [
                    self._encode_pair(s, r)[1] for s, r in zip(chunk_src, chunk_ref, strict=True)
                ]
                parts.append(
                    analyze_errors(
                        self.model,
                        self.model.init_state(src, lengths),
                        best[i : i + _DECODE_BATCH],
                        ref_ids,
                        bos_id=sos,
                        eos_id=eos,
                        alpha=alpha,
                        sources=list(chunk_src),
                        decode=self._join,
                        unk_id=self.tgt_vocab.unk_id,
                        reference_texts=list(chunk_ref),
                    )
                )
        return ErrorAnalysis.concat(parts)
