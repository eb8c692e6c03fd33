"""``Translator``: train, decode, evaluate and analyse an attentive encoder–decoder.

The user-facing API of the course's week 3 (sequence-to-sequence models), mirrored by
``seqlab translate``:

* :meth:`Translator.train` — on the built-in ``"dates"`` task (date normalisation,
  :mod:`seqlab.data.dates`, character level) or on parallel text (a :class:`ParallelCorpus`,
  e.g. read with :meth:`ParallelCorpus.from_files`; word level by default), with
  :class:`seqlab.train.Trainer` (checkpoints, ``resume``, time budget, metrics, loss curve);
* :meth:`Translator.translate` — greedy search (``beam_size=1``) or beam search with the
  course's length normalisation ``1/Ty^α · Σ log P`` and an n-best list;
* :meth:`Translator.attention` — the attention weights α<t,t'> of a greedy translation,
  for :func:`seqlab.viz.attention.plot_attention`;
* :meth:`Translator.evaluate` — exact-match accuracy (dates: on the fixed held-out set) and
  corpus BLEU (:func:`seqlab.metrics.bleu.corpus_bleu`) for greedy and beam search;
* :meth:`Translator.analyze` — the course's beam-search error analysis: is the search or the
  model at fault for each wrong output (:mod:`seqlab.decoding.error_analysis`).

A trained model is a directory: ``config.json``, ``model.safetensors``, ``src_vocab.json``,
``vocab.json`` (the target vocabulary), ``metrics.jsonl``, ``loss_curve.png``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from seqlab._io import DataError, PathLike, atomic_write_json
from seqlab.data import dates as dates_data
from seqlab.data.text import read_text, tokenize
from seqlab.data.vocab import EOS, PAD, SOS, UNK, Vocab
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.tasks._model_dir import SavedTask, read_config, read_weights
from seqlab.train import TrainConfig, Trainer, TrainResult

__all__ = [
    "PRESETS",
    "AttentionMap",
    "Candidate",
    "ParallelCorpus",
    "Translation",
    "Translator",
    "TranslatorConfig",
    "default_configs",
    "read_pairs",
    "read_parallel",
]

Level = Literal["char", "word"]
Pair = tuple[str, str]
FORMAT = 1  # version of the model-directory layout
DATASETS = ("dates",)  # built-in parallel datasets
_DECODE_BATCH = 128  # sentences per decoding batch


# -- data ----------------------------------------------------------------------------------


def _read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file, gzip-compressed when its name ends in ``.gz``."""
    lines = read_text(path, allow_empty=True).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_parallel(src_path: PathLike, tgt_path: PathLike) -> list[Pair]:
    """Sentence pairs from two line-aligned files (line i of one translates line i of the other).

    Files may be gzip-compressed (``.gz``). Lines blank on both sides are skipped. Raises a
    one-line :class:`DataError` naming both files when their line counts differ, when a line
    is blank on one side only, or when there is no pair at all.
    """
    src_file, tgt_file = Path(src_path), Path(tgt_path)
    src_lines, tgt_lines = _read_lines(src_file), _read_lines(tgt_file)
    if len(src_lines) != len(tgt_lines):
        raise DataError(
            src_file,
            f"{len(src_lines)} lines, but {tgt_file} has {len(tgt_lines)}",
            hint="parallel files need one translation per line, in the same order",
        )
    pairs: list[Pair] = []
    for number, (s, t) in enumerate(zip(src_lines, tgt_lines, strict=True), 1):
        s, t = s.strip(), t.strip()
        if not s and not t:
            continue
        if not s or not t:
            empty, other = (src_file, tgt_file) if not s else (tgt_file, src_file)
            raise DataError(
                empty,
                f"line is empty but line {number} of {other} is not",
                hint="the files are misaligned; fix or remove that pair",
                line=number,
            )
        pairs.append((s, t))
    if not pairs:
        raise DataError(
            src_file,
            f"no sentence pairs in it and {tgt_file}",
            hint="give files with one sentence per line",
        )
    return pairs


def read_pairs(path: PathLike, *, reverse: bool = False) -> list[Pair]:
    """Sentence pairs from one tab-separated file: ``source<TAB>target[<TAB>anything]``.

    This is the Tatoeba / manythings.org ``fra.txt`` layout (a third column of attribution is
    ignored). ``reverse=True`` reads the second column as the source. Blank lines are skipped;
    a line without a tab or with an empty side is a one-line :class:`DataError` naming the
    file and line; so is a file without any pair. ``.gz`` files are read compressed.
    """
    file = Path(path)
    pairs: list[Pair] = []
    for number, line in enumerate(_read_lines(file), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(
                file,
                "line has no tab",
                hint="each line must be 'source<TAB>target' (use --src/--tgt for two files)",
                line=number,
            )
        s, t = fields[0].strip(), fields[1].strip()
        if not s or not t:
            raise DataError(
                file,
                f"the {'source' if not s else 'target'} side of the line is empty",
                hint="fix or remove that pair",
                line=number,
            )
        pairs.append((t, s) if reverse else (s, t))
    if not pairs:
        raise DataError(file, "no sentence pairs in it", hint="give 'source<TAB>target' lines")
    return pairs


def _hold_out(pairs: list[Pair], fraction: float) -> tuple[list[Pair], list[Pair]]:
    """(train, valid): every k-th pair held out, k = round(1 / fraction), at most 2,000 pairs,
    none under 50 pairs. Spread over the file, so a file sorted by length (Tatoeba's) gives a
    validation set like the training set."""
    if len(pairs) < 50 or fraction <= 0:
        return pairs, []
    k = max(2, round(1 / fraction))
    picked = set(range(k - 1, len(pairs), k)[:2000])
    train = [p for i, p in enumerate(pairs) if i not in picked]
    return train, [pairs[i] for i in sorted(picked)]


@dataclass(frozen=True)
class ParallelCorpus:
    """Training, validation and (optionally) test sentence pairs (source, target)."""

    train: list[Pair]  # pairs to learn from
    valid: list[Pair] = field(default_factory=list)  # held out for the validation loss
    test: list[Pair] | None = None  # a fixed test set (the dates task's), else None
    name: str = ""  # where the data came from (dataset name or files)

    def __post_init__(self) -> None:
        if not self.train:
            raise ValueError(f"{self.name or 'corpus'}: no training pairs")

    @classmethod
    def from_files(
        cls,
        src: PathLike,
        tgt: PathLike,
        *,
        valid_src: PathLike | None = None,
        valid_tgt: PathLike | None = None,
        valid_fraction: float = 0.02,
    ) -> ParallelCorpus:
        """Pairs from parallel files; without validation files ``valid_fraction`` of the
        training pairs (every k-th, at most 2,000) are held out."""
        train = read_parallel(src, tgt)
        if (valid_src is None) != (valid_tgt is None):
            raise ValueError("give both --valid-src and --valid-tgt, or neither")
        if valid_src is not None and valid_tgt is not None:
            valid = read_parallel(valid_src, valid_tgt)
        else:
            train, valid = _hold_out(train, valid_fraction)
        return cls(train, valid, None, f"{src} -> {tgt}")

    @classmethod
    def from_pairs(
        cls,
        path: PathLike,
        *,
        valid: PathLike | None = None,
        reverse: bool = False,
        valid_fraction: float = 0.02,
    ) -> ParallelCorpus:
        """Pairs from a tab-separated file (:func:`read_pairs`, e.g. Tatoeba's); without a
        ``valid`` file ``valid_fraction`` of the pairs (every k-th, at most 2,000) are held
        out."""
        train = read_pairs(path, reverse=reverse)
        if valid is not None:
            held = read_pairs(valid, reverse=reverse)
        else:
            train, held = _hold_out(train, valid_fraction)
        return cls(train, held, None, f"{path} (columns 2 -> 1)" if reverse else str(path))

    @classmethod
    def dates(
        cls, train_size: int = 100_000, *, valid_size: int = 1000, seed: int = 0
    ) -> ParallelCorpus:
        """The date-normalisation task: generated training pairs (``seed``), the validation
        set and the fixed held-out test set of :mod:`seqlab.data.dates`."""
        return cls(
            dates_data.generate_pairs(train_size, seed=seed),
            dates_data.valid_pairs(valid_size),
            dates_data.test_pairs(),
            "dates",
        )


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TranslatorConfig:
    """How a translator reads its data; saved as ``config.json`` with the network's config."""

    model: Seq2SeqConfig  # the network (vocabulary sizes are set when the vocabs are built)
    level: Level = "word"  # tokens of both sides: "char" or "word"
    lowercase: bool = False  # lower-case both sides before tokenising
    batch_size: int = 64  # sentence pairs per training step
    min_count: int = 1  # rarer tokens map to <UNK>
    max_vocab: int | None = None  # keep only the most frequent tokens per side (None: all)
    max_length: int = 100  # training pairs with a side longer than this (tokens) are dropped
    max_output_length: int | None = None  # decoding cap (tokens); None: set from training data
    label_smoothing: float = 0.0  # ε of the training loss's label smoothing
    teacher_forcing: float = 1.0  # P(feed the reference y<t-1>); else the model's own argmax
    dataset: str = ""  # where the training data came from ("dates" or the files)

    def __post_init__(self) -> None:
        if self.level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {self.level!r}")
        if self.batch_size < 1 or self.min_count < 1 or self.max_length < 1:
            raise ValueError("batch_size, min_count and max_length must be >= 1")
        if self.max_output_length is not None and self.max_output_length < 1:
            raise ValueError(f"max_output_length must be >= 1, got {self.max_output_length}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {self.teacher_forcing}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return {"task": "translator", "format": FORMAT, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TranslatorConfig:
        d = {k: v for k, v in d.items() if k not in ("task", "format")}
        return cls(**{**d, "model": Seq2SeqConfig.from_dict(d["model"])})


# Defaults of `seqlab translate train` per kind of data (CLI option name -> value).
# "dates": tuned so that the held-out exact match reaches 99.9% within 5 minutes of CPU
# training (benchmarks/dates.py); "text": a small word-level model for Multi30k-sized data.
PRESETS: dict[str, dict[str, Any]] = {
    "dates": {
        "level": "char",
        "embedding": 32,
        "hidden": 64,
        "attention_dim": 64,
        "batch_size": 64,
        "min_count": 1,
        "max_length": 100,
        "label_smoothing": 0.0,
        "dropout": 0.0,
        "lr": 2e-3,
        "steps": 3000,
        "schedule": "cosine",
        "warmup": 100,
        "eval_every": 250,
        "time_budget": "5m",
        "train_size": 100_000,
    },
    "text": {
        "level": "word",
        "embedding": 256,
        "hidden": 256,
        "attention_dim": 256,
        "batch_size": 64,
        "min_count": 2,
        "max_length": 50,
        "label_smoothing": 0.1,
        "dropout": 0.2,
        "lr": 1e-3,
        "steps": 20_000,
        "schedule": "cosine",
        "warmup": 200,
        "eval_every": 1000,
        "time_budget": None,
        "train_size": None,
    },
}


def default_configs(
    kind: Literal["dates", "text"], **overrides: Any
) -> tuple[TranslatorConfig, TrainConfig]:
    """The configs ``seqlab translate train`` uses for ``kind``, with CLI-named overrides
    (``hidden=128``, ``steps=500``, ``time_budget="2m"`` ...)."""
    from seqlab.train import parse_duration

    o = {**PRESETS[kind], **overrides}
    unknown = set(o) - set(PRESETS[kind]) - {
        "cell", "attention", "bidirectional", "reset_after", "seed", "device", "progress",
        "max_vocab", "lowercase", "encoder_layers", "decoder_layers", "teacher_forcing",
    }  # fmt: skip
    if unknown:
        raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
    model = Seq2SeqConfig(
        src_vocab_size=2,  # set from the vocabularies when they are built
        tgt_vocab_size=2,
        embedding_dim=o["embedding"],
        hidden_size=o["hidden"],
        attention_dim=o["attention_dim"],
        encoder_layers=o.get("encoder_layers", 1),
        decoder_layers=o.get("decoder_layers", 1),
        cell=o.get("cell", "gru"),
        attention=o.get("attention", "bahdanau"),
        bidirectional=o.get("bidirectional", True),
        reset_after=o.get("reset_after", True),
        dropout=o["dropout"],
    )
    config = TranslatorConfig(
        model=model,
        level=o["level"],
        lowercase=o.get("lowercase", False),
        batch_size=o["batch_size"],
        min_count=o["min_count"],
        max_vocab=o.get("max_vocab"),
        max_length=o["max_length"],
        label_smoothing=o["label_smoothing"],
        teacher_forcing=o.get("teacher_forcing", 1.0),
        dataset="dates" if kind == "dates" else "",
    )
    budget = o["time_budget"]
    train = TrainConfig(
        max_steps=o["steps"],
        lr=o["lr"],
        schedule=o["schedule"],
        warmup_steps=min(o["warmup"], o["steps"] - 1),
        eval_every=o["eval_every"],
        time_budget=parse_duration(budget) if isinstance(budget, str) else budget,
        seed=o.get("seed", 0),
        device=o.get("device", "cpu"),
        progress=o.get("progress", True),
    )
    return config, train


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One output of the search."""

    text: str  # the output, detokenised
    tokens: list[str]  # its tokens (no <SOS>/<EOS>)
    log_prob: float  # log P(y | x) in nats, <EOS> included when finished
    score: float  # log_prob / Ty^α, what beam search ranks by
    finished: bool  # False when cut at the length cap


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
            "candidates": [
                {"text": c.text, "log_prob": c.log_prob, "score": c.score, "finished": c.finished}
                for c in self.candidates
            ],
        }


@dataclass(frozen=True)
class AttentionMap:
    """α<t,t'> of one translation (greedy, or the output given): one row per output token
    (<EOS> last), one column per source token."""

    source_tokens: list[str]  # x<1..Tx>, as the model read them
    output_tokens: list[str]  # y<1..Ty>, with the closing "<EOS>" when it was emitted
    weights: Tensor  # (Ty, Tx) rows sum to 1
    text: str  # the translation, detokenised (without <EOS>)


# -- the Task adapter ----------------------------------------------------------------------

Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # src (B,T), lengths (B,), tgt_in, tgt_out (B,S)


class _TrainingData:
    """The :class:`seqlab.train.Task` adapter: length-bucketed batches and the loss."""

    def __init__(
        self, tr: Translator, train: list[tuple[list[int], list[int]]], valid: list[Pair]
    ) -> None:
        self.tr = tr
        self.model = tr.model
        self.config = tr.config
        self.train_ids = train
        self.valid = valid
        self.valid_ids = [tr._encode_pair(s, t) for s, t in valid]

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        del epoch
        size = self.config.batch_size
        order = torch.randperm(len(self.train_ids), generator=generator).tolist()
        # sort chunks of 50 batches by source length: little padding, still random
        chunk = 50 * size
        batches = []
        for i in range(0, len(order), chunk):
            part = sorted(order[i : i + chunk], key=lambda j: len(self.train_ids[j][0]))
            batches += [part[k : k + size] for k in range(0, len(part), size)]
        for b in torch.randperm(len(batches), generator=generator).tolist():
            yield self.tr._batch([self.train_ids[j] for j in batches[b]])

    def shard(self, batch: Batch, rank: int, world_size: int) -> Batch | None:
        """This rank's rows of a global batch under DDP (uneven parts are weighted by
        their tokens; ``None`` when a short last batch leaves this rank no row)."""
        parts = [t.tensor_split(world_size) for t in batch]
        if not parts[0][rank].shape[0]:
            return None
        return tuple(p[rank] for p in parts)  # type: ignore[return-value]

    def training_loss(self, batch: Batch) -> tuple[Tensor, int]:
        src, lengths, tgt_in, tgt_out = batch
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
            outs = self.tr._search([s for s, _ in sample], beam_size=1, alpha=0.0, n_best=1)
            refs = [t.strip().lower() if self.config.lowercase else t.strip() for _, t in sample]
            hits = sum(o[0].text == t for o, t in zip(outs, refs, strict=True))
            result["exact_match"] = hits / len(sample)
        return result


def _check_out_dir(out: Path, tr: Translator, resume: bool) -> None:
    """Refuse to overwrite a model; on resume, refuse changed data or options."""
    cfg_path = out / "config.json"
    if not resume:
        if cfg_path.exists() or (out / "checkpoint").exists():
            raise FileExistsError(
                f"{out} already holds a model: continue it with --resume (resume=True), "
                "or choose another output folder"
            )
        return
    if not cfg_path.is_file():
        raise DataError(out, "nothing to resume (no config.json)", hint="train without --resume")
    saved = json.loads(cfg_path.read_text(encoding="utf-8"))
    same = (
        saved == tr.config.to_dict()
        and (out / "vocab.json").is_file()
        and (out / "src_vocab.json").is_file()
        and Vocab.load(out / "vocab.json") == tr.tgt_vocab
        and Vocab.load(out / "src_vocab.json") == tr.src_vocab
    )
    if not same:
        raise DataError(
            cfg_path,
            "the data or model options differ from the run being resumed",
            hint="resume with the same data and options, or use a new --out",
        )


# -- the task ------------------------------------------------------------------------------


class Translator(SavedTask):
    """A trained (or freshly built) encoder–decoder with its two vocabularies."""

    _what = "translator"

    def __init__(
        self,
        model: Seq2Seq,
        src_vocab: Vocab,
        tgt_vocab: Vocab,
        config: TranslatorConfig,
        path: Path | None = None,
    ) -> None:
        mc = model.config
        if mc.src_vocab_size != len(src_vocab) or mc.tgt_vocab_size != len(tgt_vocab):
            raise ValueError(
                f"model has vocabularies of {mc.src_vocab_size} and {mc.tgt_vocab_size} but "
                f"the vocabularies have {len(src_vocab)} and {len(tgt_vocab)} tokens"
            )
        self.model = model
        self.src_vocab = src_vocab
        self.tgt_vocab = tgt_vocab
        self.config = config
        self.path = path

    # -- building and training -------------------------------------------------------------
    @staticmethod
    def _tokens(text: str, level: Level, lowercase: bool) -> list[str]:
        return tokenize(text.strip().lower() if lowercase else text.strip(), level)

    @classmethod
    def build(
        cls, corpus: ParallelCorpus, config: TranslatorConfig
    ) -> tuple[Translator, list[tuple[list[int], list[int]]]]:
        """A fresh model and vocabularies for ``corpus``; returns (translator, train ids)."""
        tok = [
            (
                cls._tokens(s, config.level, config.lowercase),
                cls._tokens(t, config.level, config.lowercase),
            )
            for s, t in corpus.train
        ]
        tok = [(s, t) for s, t in tok if s and t and max(len(s), len(t)) <= config.max_length]
        if not tok:
            raise DataError(
                corpus.name or "corpus",
                f"no training pair has both sides within max_length={config.max_length} tokens",
                hint="raise max_length",
            )
        common = {
            "level": config.level,
            "min_count": config.min_count,
            "max_size": config.max_vocab,
        }
        src_vocab = Vocab.build((s for s, _ in tok), specials=(PAD, UNK), **common)
        tgt_vocab = Vocab.build((t for _, t in tok), specials=(PAD, UNK, SOS, EOS), **common)
        longest = max(len(t) for _, t in tok)
        model_cfg = Seq2SeqConfig.from_dict(
            {
                **config.model.to_dict(),
                "src_vocab_size": len(src_vocab),
                "tgt_vocab_size": len(tgt_vocab),
                "src_pad_id": src_vocab.pad_id,
                "tgt_pad_id": tgt_vocab.pad_id,
            }
        )
        config = TranslatorConfig(
            **{
                **asdict(config),
                "model": model_cfg,
                "max_output_length": config.max_output_length or 2 * longest + 10,
                "dataset": config.dataset or corpus.name,
            }
        )
        tr = cls(Seq2Seq(model_cfg), src_vocab, tgt_vocab, config)
        ids = [(src_vocab.encode(s), tgt_vocab.encode(t)) for s, t in tok]
        return tr, ids

    @classmethod
    def train(
        cls,
        data: str | ParallelCorpus | Sequence[Pair],
        out_dir: str | Path,
        config: TranslatorConfig,
        train_config: TrainConfig,
        *,
        resume: bool = False,
    ) -> tuple[Translator, TrainResult]:
        """Train on ``data`` into ``out_dir``.

        ``data`` is ``"dates"`` (100,000 generated pairs, see :meth:`ParallelCorpus.dates`),
        a :class:`ParallelCorpus`, or a list of (source, target) pairs (2%, every 50th pair,
        held out for validation). With ``resume=True`` an interrupted run continues from
        ``out_dir/checkpoint`` (a run stopped before its first checkpoint starts over with the
        same options).
        """
        corpus = _as_corpus(data)
        out = Path(out_dir)
        torch.manual_seed(train_config.seed)
        tr, train_ids = cls.build(corpus, config)
        tr.path = out
        tr.model.to(train_config.device)
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 writes files
            _check_out_dir(out, tr, resume)
            out.mkdir(parents=True, exist_ok=True)
            tr._save_meta(out)
        result = Trainer(_TrainingData(tr, train_ids, corpus.valid), train_config, out).fit(
            resume="if_saved" if resume else False  # killed before a checkpoint: start over
        )
        tr._load_best(out)
        return tr, result

    # -- saving and loading ----------------------------------------------------------------
    def _save_meta(self, out: Path) -> None:
        atomic_write_json(out / "config.json", self.config.to_dict())
        self.src_vocab.save(out / "src_vocab.json")
        self.tgt_vocab.save(out / "vocab.json")

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> Translator:
        """Load a model directory written by :meth:`train` or :meth:`save`."""
        root = Path(path)
        config = read_config(root, "translator", "a translator", TranslatorConfig.from_dict)
        src_vocab = Vocab.load(root / "src_vocab.json")
        tgt_vocab = Vocab.load(root / "vocab.json")
        model = Seq2Seq(config.model)
        read_weights(root, model, "seqlab translate train")
        model.to(device).eval()
        return cls(model, src_vocab, tgt_vocab, config, root)

    # -- encoding helpers ------------------------------------------------------------------
    def _src_tokens(self, text: str) -> list[str]:
        return self._tokens(text, self.config.level, self.config.lowercase)

    def _encode_src(self, text: str) -> list[int]:
        tokens = self._src_tokens(text)
        if not tokens:
            raise ValueError(f"nothing to translate: the source {text!r} is empty")
        return self.src_vocab.encode(tokens)

    def _encode_pair(self, src: str, tgt: str) -> tuple[list[int], list[int]]:
        tgt_tokens = self._tokens(tgt, self.config.level, self.config.lowercase)
        return self._encode_src(src), self.tgt_vocab.encode(tgt_tokens)

    def _sources(self, ids: Sequence[list[int]]) -> tuple[Tensor, Tensor]:
        """Right-padded source ids (B, T) and their lengths (B,), on the model's device."""
        lengths = torch.tensor([len(s) for s in ids])  # (B,)
        src = torch.full((len(ids), int(lengths.max())), self.src_vocab.pad_id or 0)  # (B, T)
        for row, s in enumerate(ids):
            src[row, : len(s)] = torch.tensor(s)
        return src.to(self.device), lengths.to(self.device)

    def _batch(self, pairs: Sequence[tuple[list[int], list[int]]]) -> Batch:
        """Training tensors: source (B, T), lengths (B,), <SOS> y (B, S), y <EOS> (B, S)."""
        src, lengths = self._sources([s for s, _ in pairs])
        sos, eos = self.tgt_vocab.sos_id, self.tgt_vocab.eos_id
        pad = self.config.model.tgt_pad_id
        width = max(len(t) for _, t in pairs) + 1
        tgt_in = torch.full((len(pairs), width), pad)  # (B, S)
        tgt_out = torch.full((len(pairs), width), pad)  # (B, S)
        for row, (_, t) in enumerate(pairs):
            tgt_in[row, : len(t) + 1] = torch.tensor([sos, *t])
            tgt_out[row, : len(t) + 1] = torch.tensor([*t, eos])
        return src, lengths, tgt_in.to(self.device), tgt_out.to(self.device)

    @torch.no_grad()
    def _loss_ids(self, pairs: Sequence[tuple[list[int], list[int]]]) -> float:
        """Mean teacher-forced cross-entropy per target token (nats)."""
        was_training = self.model.training
        self.model.eval()
        total, count = 0.0, 0
        for i in range(0, len(pairs), _DECODE_BATCH):
            src, lengths, tgt_in, tgt_out = self._batch(pairs[i : i + _DECODE_BATCH])
            n = int((tgt_out != self.config.model.tgt_pad_id).sum())
            total += float(self.model.loss(src, lengths, tgt_in, tgt_out)) * n
            count += n
        self.model.train(was_training)
        return total / max(count, 1)

    def _join(self, ids: Sequence[int]) -> str:
        return self.tgt_vocab.join(self.tgt_vocab.decode(ids))

    @torch.no_grad()
    def _search(
        self,
        texts: Sequence[str],
        *,
        beam_size: int,
        alpha: float,
        n_best: int,
        sampling: dict[str, Any] | None = None,
    ) -> list[list[Candidate]]:
        from seqlab.decoding import beam_search, greedy_search, sample_search

        if sampling is not None and beam_size != 1:
            raise ValueError("sampling draws one output per sentence: use beam_size=1")
        if beam_size < 1 or not 1 <= n_best <= beam_size:
            raise ValueError(
                f"need beam_size >= 1 and 1 <= n_best <= beam_size, got "
                f"beam_size={beam_size}, n_best={n_best}"
            )
        was_training = self.model.training
        self.model.eval()
        ids = [self._encode_src(t) for t in texts]
        out: list[list[Candidate]] = []
        common = {
            "bos_id": self.tgt_vocab.sos_id,
            "eos_id": self.tgt_vocab.eos_id,
            "max_length": self.config.max_output_length or 100,
            "alpha": alpha,
        }
        for i in range(0, len(ids), _DECODE_BATCH):
            chunk = ids[i : i + _DECODE_BATCH]
            state = self.model.init_state(*self._sources(chunk))
            if sampling is not None:
                drawn = sample_search(
                    self.model, state, batch_size=len(chunk), **sampling, **common
                )
                hyps = [[h] for h in drawn]
            elif beam_size == 1:
                hyps = [
                    [h] for h in greedy_search(self.model, state, batch_size=len(chunk), **common)
                ]
            else:
                hyps = beam_search(
                    self.model,
                    state,
                    batch_size=len(chunk),
                    beam_size=beam_size,
                    n_best=n_best,
                    **common,
                )
            for row in hyps:
                out.append(
                    [
                        Candidate(
                            self._join(h.tokens),
                            self.tgt_vocab.decode(h.tokens),
                            float(h.log_prob),
                            float(h.score),
                            bool(h.finished),
                        )
                        for h in row
                    ]
                )
        self.model.train(was_training)
        return out

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
    ) -> list[Translation]:
        """Translate each text: greedy search for ``beam_size=1``, else beam search ranking by
        ``log P(y|x) / Ty^α``; each :class:`Translation` holds ``n_best`` candidates.

        ``sample=True`` draws each output token from P(· | x, ŷ<1..t-1>) instead (with
        ``temperature``, ``top_k``, ``top_p``; the same ``seed`` gives the same outputs):
        the course's contrast to searching for the most likely translation. A single string
        is translated as a list of one.
        """
        if isinstance(texts, str):
            texts = [texts]
        sampling = None
        if sample:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
            sampling = {
                "temperature": temperature,
                "top_k": top_k,
                "top_p": top_p,
                "generator": generator,
            }
        outs = self._search(
            texts, beam_size=beam_size, alpha=alpha, n_best=n_best, sampling=sampling
        )
        return [Translation(t, c) for t, c in zip(texts, outs, strict=True)]

    @torch.no_grad()
    def attention(self, text: str, output: Candidate | None = None) -> AttentionMap:
        """The attention weights of every output step for ``text``.

        Without ``output``: of the greedy translation. With ``output`` (a candidate of
        :meth:`translate`: beam search's best, a sample): of that output, fed to the decoder
        token by token, ``<EOS>`` last when it finished.
        """
        if self.model.attention is None:
            raise ValueError("this model has no attention (trained with attention='none')")
        self.model.eval()
        ids = self._encode_src(text)
        state = self.model.init_state(*self._sources([ids]))
        token = torch.tensor([self.tgt_vocab.sos_id], device=self.device)  # (1,)
        forced: list[int] | None = None
        if output is not None:
            forced = self.tgt_vocab.encode(output.tokens)
            forced += [self.tgt_vocab.eos_id] if output.finished else []
        limit = len(forced) if forced is not None else self.config.max_output_length or 100
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
        text_out = self.tgt_vocab.join(words)
        return AttentionMap(src_tokens, out, torch.stack(rows), text_out)  # (Ty, Tx)

    def _reference_set(
        self, sources: Sequence[str] | None, references: Sequence[str] | None
    ) -> tuple[list[str], list[str]]:
        if sources is None and references is None:
            if self.config.dataset != "dates":
                raise ValueError(
                    "give sources and references to evaluate on (only the dates model has a "
                    "built-in test set)"
                )
            test = dates_data.test_pairs()
            return [s for s, _ in test], [t for _, t in test]
        if sources is None or references is None:
            raise ValueError("give both sources and references")
        if len(sources) != len(references):
            raise ValueError(f"{len(sources)} sources but {len(references)} references")
        if not sources:
            raise ValueError("nothing to evaluate: no sentences")
        return list(sources), list(references)

    def evaluate(
        self,
        sources: Sequence[str] | None = None,
        references: Sequence[str] | None = None,
        *,
        beam_sizes: Sequence[int] = (1,),
        alpha: float = 0.7,
        bleu: bool | None = None,
    ) -> dict[str, Any]:
        """Exact-match accuracy (and corpus BLEU) per beam size.

        An output matches when its tokens equal the reference's tokens (the tokenisation
        the model was trained on, lowercased if it was); BLEU scores the detokenised text.

        Without ``sources``/``references`` a dates model is scored on the fixed held-out set
        (:func:`seqlab.data.dates.test_pairs`). ``bleu`` defaults to True for word-level
        models. Returns ``{"examples": n, "results": [{"beam_size", "exact_match", "bleu",
        "signature", "errors"}...]}`` where ``errors`` lists up to 20 wrong outputs.
        """
        srcs, refs = self._reference_set(sources, references)
        want_bleu = self.config.level == "word" if bleu is None else bleu
        results = []
        for k in beam_sizes:
            outs = self.translate(srcs, beam_size=k, alpha=alpha)
            hyps = [o.text for o in outs]
            norm = [r.strip().lower() if self.config.lowercase else r.strip() for r in refs]
            # exact match on tokens, as the model sees the reference: "Va !" and "Va!" (one
            # detokenised output) are the same sentence
            level, lower = self.config.level, self.config.lowercase
            exact = [
                o.candidates[0].tokens == self._tokens(r, level, lower)
                for o, r in zip(outs, refs, strict=True)
            ]
            entry: dict[str, Any] = {
                "beam_size": k,
                "exact_match": sum(exact) / len(exact),
                "errors": [
                    {"source": s, "reference": r, "output": h}
                    for s, r, h, ok in zip(srcs, refs, hyps, exact, strict=True)
                    if not ok
                ][:20],
            }
            if want_bleu:
                from seqlab.metrics.bleu import corpus_bleu

                score = corpus_bleu(hyps, [norm])
                entry["bleu"] = float(score.score)
                entry["signature"] = str(score.signature)
            results.append(entry)
        return {"examples": len(srcs), "alpha": alpha, "results": results}

    def analyze(
        self,
        sources: Sequence[str] | None = None,
        references: Sequence[str] | None = None,
        *,
        beam_size: int = 3,
        alpha: float = 0.7,
    ) -> Any:
        """The course's error analysis of beam search on (source, reference) pairs.

        For each output ŷ that differs from the human y*: if P(y*|x) > P(ŷ|x) (both length
        normalised) the search is at fault, else the model; a y* with a word outside the
        target vocabulary is the model's fault (it cannot emit it). Without pairs a dates model is
        analysed on its held-out set. Returns an
        :class:`seqlab.decoding.ErrorAnalysis` (``format_table``, ``write_csv``).
        """
        from seqlab.decoding import ErrorAnalysis, analyze_errors, beam_search

        srcs, refs = self._reference_set(sources, references)
        self.model.eval()
        sos, eos = self.tgt_vocab.sos_id, self.tgt_vocab.eos_id
        parts = []
        with torch.no_grad():
            for i in range(0, len(srcs), _DECODE_BATCH):
                chunk_src = srcs[i : i + _DECODE_BATCH]
                chunk_ref = refs[i : i + _DECODE_BATCH]
                src, lengths = self._sources([self._encode_src(s) for s in chunk_src])
                hyps = beam_search(
                    self.model,
                    self.model.init_state(src, lengths),
                    batch_size=len(chunk_src),
                    beam_size=beam_size,
                    bos_id=sos,
                    eos_id=eos,
                    max_length=self.config.max_output_length or 100,
                    alpha=alpha,
                )
                ref_ids = [
                    self._encode_pair(s, r)[1] for s, r in zip(chunk_src, chunk_ref, strict=True)
                ]
                parts.append(
                    analyze_errors(
                        self.model,
                        self.model.init_state(src, lengths),
                        [h[0] for h in hyps],
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


def _as_corpus(data: str | ParallelCorpus | Sequence[Pair]) -> ParallelCorpus:
    if isinstance(data, ParallelCorpus):
        return data
    if isinstance(data, str):
        if data not in DATASETS:
            raise ValueError(f"unknown dataset {data!r}; built-in: {', '.join(DATASETS)}")
        return ParallelCorpus.dates()
    train, valid = _hold_out([(str(s), str(t)) for s, t in data], 0.02)
    return ParallelCorpus(train, valid, None, "pairs")
