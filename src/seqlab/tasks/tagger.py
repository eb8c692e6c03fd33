"""``Tagger``: train, predict and evaluate a named-entity (or chunk) tagger.

The user-facing API of the course's named-entity recognition (a many-to-many RNN, Tx = Ty),
mirrored by ``seqlab tag``:

* :meth:`Tagger.train` — a BiLSTM or BiLSTM-CRF (:class:`seqlab.models.tagger.TaggerModel`)
  on tagged sentences (read with :func:`seqlab.data.conll.read_conll`, tags in IOB2), with
  optional pretrained word vectors (GloVe / word2vec files, frozen or fine-tuned) through
  :meth:`seqlab.tasks.base.Task.train` (checkpoints, ``resume``, time budget, loss curve);
  validation reports the loss and the dev set's entity F1; :data:`PRESETS` holds the
  defaults of ``seqlab tag train`` (CoNLL-2003);
* :meth:`Tagger.predict` — IOB2 tags of tokenised sentences; :meth:`Tagger.predict_spans`
  — their entities;
* :meth:`Tagger.evaluate` — entity precision / recall / F1 per type
  (:func:`seqlab.metrics.tagging.entity_scores`, strict IOB2 or conlleval mode).

Tags are IOB2 at the API (:func:`seqlab.data.conll.convert_tags` converts IOB1/IOBES);
the network may be trained in IOBES (``tag_scheme="iobes"``), and its outputs are converted
back. Predictions are always well-formed IOB2: the CRF decodes constrained to well-formed
paths, and a softmax tagger's ``I-X`` that starts an entity is read as ``B-X`` (conlleval's
reading).

A trained model is a directory: ``config.json``, ``model.safetensors``, ``vocab.json``
(words), ``chars.json``, ``tags.json``, ``metrics.jsonl``, ``loss_curve.png``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from seqlab._io import DataError
from seqlab.data.batching import bucketed_batches, hold_out, pad
from seqlab.data.conll import Sentence, convert_tags, read_conll, tag_spans
from seqlab.data.vocab import PAD, UNK, Vocab
from seqlab.metrics.tagging import EntityMode, TaggingScores, entity_scores
from seqlab.models.tagger import TaggerBatch, TaggerModel, TaggerModelConfig, case_feature
from seqlab.tasks.base import Preset, Task, TaskConfig
from seqlab.train import TrainConfig

__all__ = ["PRESETS", "Entity", "TaggedCorpus", "Tagger", "TaggerConfig"]

TagScheme = Literal["iob2", "iobes"]
Tagged = tuple[Sequence[str], Sequence[str]]  # (tokens, IOB2 tags) of one sentence
Encoded = tuple[list[int], list[list[int]], list[int], list[int]]  # words, chars, cases, tags
_DECODE_BATCH = 256  # sentences per prediction batch


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TaggerConfig(TaskConfig):
    """How a tagger reads its data; saved as ``config.json`` with the network's config."""

    task: ClassVar[str] = "tagger"
    model_kind: ClassVar[str] = "tagger"

    model: TaggerModelConfig  # the network (vocabulary and tag counts set when built)
    tag_scheme: TagScheme = "iob2"  # the scheme the network predicts in (API tags are IOB2)
    lowercase: bool = True  # words are looked up lower-cased (casing: case + char features)
    batch_size: int = 32  # sentences per training step
    min_count: int = 1  # rarer training words map to <UNK> (unless they have a vector)
    max_vocab: int | None = None  # keep only the most frequent training words (None: all)
    max_word_length: int = 30  # characters per word read by the character features
    word_dropout: float = 0.0  # P(a training singleton is read as <UNK>) per occurrence
    vectors: tuple[str, ...] = ()  # pretrained word-vector files (GloVe / word2vec), merged
    dataset: str = ""  # where the training data came from (file names)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.vectors, list | str):  # as read back from JSON (or one path)
            paths = (self.vectors,) if isinstance(self.vectors, str) else self.vectors
            object.__setattr__(self, "vectors", tuple(str(p) for p in paths))
        if self.tag_scheme not in ("iob2", "iobes"):
            raise ValueError(f"tag_scheme must be 'iob2' or 'iobes', got {self.tag_scheme!r}")
        if min(self.batch_size, self.min_count, self.max_word_length) < 1:
            raise ValueError("batch_size, min_count and max_word_length must be >= 1")
        if self.max_vocab is not None and self.max_vocab < 3:
            raise ValueError(f"max_vocab must be >= 3, got {self.max_vocab}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {self.word_dropout}")
        if self.model.frozen_vectors and not self.vectors:
            raise ValueError("frozen_vectors needs pretrained vectors (give vectors)")


# The defaults of `seqlab tag train`: CoNLL-2003 English NER with 50-d GloVe, aimed at the
# best test F1 in 30 minutes on 2 CPU cores (benchmarks/tag.py measures it): Lample et al.'s
# BiLSTM-CRF with a character CNN (faster than their char BiLSTM on a CPU, as good: Ma & Hovy
# 2016), a case feature, dropout 0.5, Adam with a cosine decay over the time budget.
PRESETS: dict[str, Preset[TaggerConfig]] = {
    "conll2003": Preset(
        config=TaggerConfig(
            model=TaggerModelConfig(
                vocab_size=2,  # set from the vocabularies when they are built
                num_tags=1,
                word_dim=100,  # the vectors' width when they are given (GloVe 50d: 50)
                case_dim=8,
                char_encoder="cnn",
                char_dim=30,
                char_hidden=50,
                hidden_size=200,
                dropout=0.5,
                crf=True,
            ),
            tag_scheme="iob2",
            lowercase=True,
            batch_size=32,
            word_dropout=0.3,
        ),
        train=TrainConfig(
            max_steps=40_000,
            lr=2e-3,
            schedule="cosine",
            warmup_steps=100,
            clip="norm",
            clip_threshold=5.0,
            eval_every=500,
            time_budget=1800.0,
            best_metric="f1",  # keep the weights of the best dev entity F1, as NER papers do
        ),
    ),
}


# -- data and results ----------------------------------------------------------------------


@dataclass(frozen=True)
class TaggedCorpus:
    """Training and validation sentences (tokens with IOB2 tags)."""

    train: list[Tagged]  # training sentences
    valid: list[Tagged]  # validation sentences (may be empty)
    name: str = ""  # where they came from (recorded in config.json)

    @classmethod
    def from_files(
        cls,
        train: str | Path,
        valid: str | Path | None = None,
        *,
        scheme: Literal["iob1", "iob2", "iobes"] | None = "iobes",
        tag_column: int = -1,
    ) -> TaggedCorpus:
        """Read CoNLL files (:func:`seqlab.data.conll.read_conll`; tags converted from
        ``scheme`` to IOB2: the default reads all three schemes leniently). Without
        ``valid``, 2% of the training sentences (every 50th, at most 2,000) are held out."""
        sentences = _tagged(read_conll(train, tag_column=tag_column, scheme=scheme))
        name = str(train)
        if valid is None:
            tr, va = hold_out(sentences, 0.02)
            return cls(tr, va, name)
        dev = _tagged(read_conll(valid, tag_column=tag_column, scheme=scheme))
        return cls(sentences, dev, f"{name} (valid: {valid})")


def _tagged(sentences: Sequence[Sentence | Tagged]) -> list[Tagged]:
    """``(tokens, tags)`` pairs of sentences given as :class:`Sentence` or pairs."""
    out: list[Tagged] = []
    for i, s in enumerate(sentences):
        tokens, tags = (s.tokens, s.tags) if isinstance(s, Sentence) else s
        if len(tokens) != len(tags):
            raise ValueError(f"sentence {i}: {len(tokens)} tokens but {len(tags)} tags")
        out.append((tuple(tokens), tuple(tags)))
    return out


@dataclass(frozen=True)
class Entity:
    """One predicted entity: tokens ``start`` to ``end`` (exclusive) of its sentence."""

    type: str  # PER, LOC, ORG, MISC ...
    start: int  # first token
    end: int  # one past the last token
    text: str  # its tokens joined by spaces

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "start": self.start, "end": self.end, "text": self.text}


# -- the Trainable adapter -----------------------------------------------------------------


class _TaggerTrainable:
    """The :class:`seqlab.train.Trainable` adapter: length-bucketed batches (singletons
    replaced by ``<UNK>`` with probability ``word_dropout``), the loss, dev loss and F1."""

    def __init__(self, tagger: Tagger, train: list[Encoded], valid: list[Tagged]) -> None:
        self.tagger = tagger
        self.model = tagger.model
        self.config = tagger.config
        self.train_ids = train
        self.lengths = [len(w) for w, _, _, _ in train]
        self.valid = [(t, g) for t, g in valid if t]
        self.valid_ids = [tagger._encode(t, g) for t, g in self.valid]
        vocab = tagger.vocab
        counts = torch.tensor([vocab.counts[t] for t in vocab.tokens])  # (V,)
        self.singleton = counts == 1  # (V,)

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[TaggerBatch]:
        del epoch
        p, unk = self.config.word_dropout, self.tagger.vocab.unk_id
        for rows in bucketed_batches(self.lengths, self.config.batch_size, generator):
            batch = self.tagger._batch([self.train_ids[j] for j in rows], "cpu")
            if p > 0:
                draw = torch.rand(batch.words.shape, generator=generator)  # (B, T)
                hit = self.singleton[batch.words] & (draw < p)  # (B, T)
                batch = replace(batch, words=batch.words.masked_fill(hit, unk))
            yield batch

    def batches_per_epoch(self) -> int:
        return -(-len(self.train_ids) // self.config.batch_size)

    def training_loss(self, batch: TaggerBatch) -> tuple[Tensor, int]:
        return self.model.loss(batch), int(batch.lengths.sum())

    def validate(self) -> dict[str, float]:
        if not self.valid:
            return {}
        total, count = 0.0, 0
        for i in range(0, len(self.valid_ids), _DECODE_BATCH):
            batch = self.tagger._batch(self.valid_ids[i : i + _DECODE_BATCH])
            n = int(batch.lengths.sum())
            total += float(self.model.loss(batch)) * n
            count += n
        scores = self.tagger.evaluate(self.valid)
        return {"loss": total / count, "f1": scores.f1}


# -- the task ------------------------------------------------------------------------------


class Tagger(Task):
    """A trained (or freshly built) sequence tagger with its word, character and tag
    vocabularies."""

    config_class = TaggerConfig
    artifacts: ClassVar[dict[str, tuple[str, type]]] = {
        "vocab": ("vocab.json", Vocab),
        "chars": ("chars.json", Vocab),
        "tags": ("tags.json", Vocab),
    }
    what = "tagger"
    command = "seqlab tag train"

    model: TaggerModel
    config: TaggerConfig
    vocab: Vocab
    chars: Vocab
    tags: Vocab

    def __init__(
        self,
        model: TaggerModel,
        config: TaggerConfig,
        path: Path | None = None,
        *,
        vocab: Vocab,
        chars: Vocab,
        tags: Vocab,
    ) -> None:
        mc = model.config
        sizes = (mc.vocab_size, mc.char_vocab_size, mc.num_tags)
        if sizes != (len(vocab), len(chars), len(tags)):
            raise ValueError(
                f"the model has (words, chars, tags) = {sizes} but the vocabularies have "
                f"{(len(vocab), len(chars), len(tags))}"
            )
        super().__init__(model, config, path, vocab=vocab, chars=chars, tags=tags)
        model.constrain_to(list(tags.tokens), config.tag_scheme)

    # -- building and training -------------------------------------------------------------
    @classmethod
    def prepare_data(cls, data: TaggedCorpus | Sequence[Sentence | Tagged]) -> TaggedCorpus:
        """A :class:`TaggedCorpus`, or sentences (:class:`Sentence` or (tokens, IOB2 tags)
        pairs; every 50th held out for validation)."""
        if isinstance(data, TaggedCorpus):
            return data
        train, valid = hold_out(_tagged(data), 0.02)
        return TaggedCorpus(train, valid, "sentences")

    @classmethod
    def build(cls, data: TaggedCorpus, config: TaggerConfig) -> tuple[Tagger, list[Encoded]]:
        """Vocabularies and a fresh model for ``data`` (pretrained rows copied in when the
        config names vector files); returns (tagger, encoded training sentences)."""
        train = [(t, g) for t, g in data.train if t]
        if not train:
            raise DataError(data.name or "corpus", "no training sentence", hint="give a CoNLL file")
        words = [[cls._norm(w, config.lowercase) for w in t] for t, _ in train]
        vectors = None
        if config.vectors:
            from seqlab.models.embedding import load_vectors

            vectors = load_vectors(list(config.vectors))
        vocab = _word_vocab(words, config, vectors)
        chars = Vocab.build(
            (w[: config.max_word_length] for t, _ in train for w in t),
            level="char",
            specials=(PAD, UNK),
        )
        scheme = config.tag_scheme
        # the tag set comes from the training sentences only: a tag seen only in the dev set
        # gets no output row it could never learn (its dev tokens count as "O" in the dev loss)
        tag_seqs = [convert_tags(g, "iob2", scheme) for _, g in train]
        tags = Vocab.build([["O"], *tag_seqs], level="word", specials=())
        model_cfg = replace(
            config.model,
            vocab_size=len(vocab),
            char_vocab_size=len(chars),
            num_tags=len(tags),
            word_dim=vectors.vector_size if vectors is not None else config.model.word_dim,
            pad_id=vocab.pad_id,
        )
        config = replace(config, model=model_cfg, dataset=config.dataset or data.name)
        model = cls.build_model(config)
        assert isinstance(model, TaggerModel)
        if vectors is not None:
            _copy_vectors(model, vocab, vectors, config.model.frozen_vectors)
        tagger = cls(model, config, vocab=vocab, chars=chars, tags=tags)
        return tagger, [tagger._encode(t, g) for t, g in train]

    def trainable(self, encoded: list[Encoded], data: TaggedCorpus) -> _TaggerTrainable:
        return _TaggerTrainable(self, encoded, data.valid)

    # -- encoding ----------------------------------------------------------------------------
    @staticmethod
    def _norm(word: str, lowercase: bool) -> str:
        return word.lower() if lowercase else word

    def _encode(self, tokens: Sequence[str], tags: Sequence[str] | None = None) -> Encoded:
        """Word ids, character ids per word, casing classes and tag ids (IOB2 tags in)."""
        cut = self.config.max_word_length
        words = self.vocab.encode(self._norm(w, self.config.lowercase) for w in tokens)
        chars = [self.chars.encode(w[:cut]) for w in tokens]
        cases = [case_feature(w) for w in tokens]
        tag_ids = []
        if tags is not None:
            known = convert_tags(tags, "iob2", self.config.tag_scheme)
            outside = self.tags["O"]  # a tag the model has no row for counts as "O"
            tag_ids = [self.tags[t] if t in self.tags else outside for t in known]
        return words, chars, cases, tag_ids

    def _batch(self, items: Sequence[Encoded], device: Any = None) -> TaggerBatch:
        """Padded tensors of encoded sentences (on the model's device by default)."""
        device = self.device if device is None else device
        pad_id = self.config.model.pad_id
        words, lengths = pad([w for w, _, _, _ in items], pad_id, device=device)  # (B, T)
        cases, _ = pad([c for _, _, c, _ in items], 0, device=device)  # (B, T)
        width = max([1, *(len(ch) for _, cs, _, _ in items for ch in cs)])
        chars = torch.full((*words.shape, width), pad_id, dtype=torch.long)  # (B, T, W)
        for b, (_, cs, _, _) in enumerate(items):
            for t, ch in enumerate(cs):
                if ch:
                    chars[b, t, : len(ch)] = torch.tensor(ch)
        tags = None
        if all(len(g) == len(w) for w, _, _, g in items):
            tags, _ = pad([g for _, _, _, g in items], 0, device=device)  # (B, T)
        return TaggerBatch(words, chars.to(device), cases, lengths, tags)

    # -- predicting and evaluating -----------------------------------------------------------
    def predict(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """The IOB2 tags of each tokenised sentence (an empty sentence gets no tags).

        A single sentence must still be given as a list of one."""
        if sentences and isinstance(sentences[0], str):
            raise TypeError("give tokenised sentences (lists of words), not strings")
        order = sorted((i for i, s in enumerate(sentences) if s), key=lambda i: len(sentences[i]))
        out: list[list[str]] = [[] for _ in sentences]
        with self.eval_mode():
            for k in range(0, len(order), _DECODE_BATCH):
                rows = order[k : k + _DECODE_BATCH]
                batch = self._batch([self._encode(sentences[i]) for i in rows])
                for i, ids in zip(rows, self.model.decode(batch), strict=True):
                    out[i] = convert_tags(self.tags.decode(ids), self.config.tag_scheme, "iob2")
        return out

    def predict_spans(self, sentences: Sequence[Sequence[str]]) -> list[list[Entity]]:
        """The entities of each tokenised sentence, in order."""
        return [
            [Entity(kind, s, e, " ".join(tokens[s:e])) for kind, s, e in tag_spans(tags)]
            for tokens, tags in zip(sentences, self.predict(sentences), strict=True)
        ]

    def evaluate(
        self, sentences: Sequence[Sentence | Tagged], *, mode: EntityMode = "strict"
    ) -> TaggingScores:
        """Entity precision, recall and F1 (micro and per type) of the predictions on
        ``sentences`` (gold tags in IOB2), read in ``mode`` ("strict" or "conlleval")."""
        pairs = _tagged(sentences)
        if not pairs:
            raise ValueError("nothing to evaluate: no sentences")
        predicted = self.predict([t for t, _ in pairs])
        return entity_scores([g for _, g in pairs], predicted, mode=mode)


def _word_vocab(words: list[list[str]], config: TaggerConfig, vectors: Any) -> Vocab:
    """The training words (``min_count``, ``max_vocab``), then every word of the vectors not
    among them (so a test word seen only in the vectors keeps its pretrained row)."""
    base = Vocab.build(
        words,
        level="word",
        min_count=config.min_count,
        max_size=config.max_vocab,
        specials=(PAD, UNK),
    )
    if vectors is None:
        return base
    seen = set(base.tokens)
    extra = [w for w in vectors.index_to_key if w not in seen and w not in (PAD, UNK)]
    if config.lowercase:
        extra = list(dict.fromkeys(w.lower() for w in extra if w.lower() not in seen))
    return Vocab([*base.tokens, *extra], level="word", counts=dict(base.counts))


def _copy_vectors(model: TaggerModel, vocab: Vocab, vectors: Any, frozen: bool) -> None:
    """Start ``model``'s word embedding from ``vectors`` (unknown rows random)."""
    from seqlab.models.embedding import pretrained_embedding

    emb = pretrained_embedding(vocab, vectors, freeze=frozen, lowercase=True)
    has = [t in vectors or t.lower() in vectors for t in vocab.tokens]
    has[vocab.pad_id] = False  # type: ignore[index]
    model.set_vectors(emb.weight.detach(), torch.tensor(has))
