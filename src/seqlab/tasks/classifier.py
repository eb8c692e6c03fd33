"""``Classifier``: train, predict, evaluate and explain a sequence classifier.

The user-facing API of the course's Emojify (week 2) and of any many-to-one problem,
mirrored by ``seqlab classify``:

* :meth:`Classifier.train` (from :class:`seqlab.tasks.Task`) on :class:`LabelledData`: texts
  read as words, characters (DNA, protein strings) or subword pieces
  (:class:`seqlab.data.subword.TextTokenizer`), or numeric feature sequences (sensor
  streams); the built-in sets :meth:`LabelledData.emojify`, ``"dna"`` and ``"activity"``;
  an embedding table started from pretrained vectors (GloVe, word2vec), frozen or
  fine-tuned (:func:`seqlab.models.embedding.pretrained_embedding`); :data:`PRESETS` holds
  the defaults of ``seqlab classify train`` per kind of data;
* :meth:`Classifier.predict` (the ``top_k`` labels with their probabilities) and
  :meth:`Classifier.predict_proba`;
* :meth:`Classifier.evaluate`: accuracy, macro-F1, per-class scores and the confusion
  matrix (:func:`seqlab.metrics.classification.classification_report`);
* :meth:`Classifier.explain`: which tokens drove a prediction. For ``"average"`` each
  token's exact share of the class's logit (they sum to the logit minus its bias); for
  ``"rnn"`` gradient × input on the embeddings, summed over the embedding dimension.

A trained model is a directory: ``config.json``, ``model.safetensors``, ``vocab.json``,
``labels.json``, ``tokenizer.json``, ``metrics.jsonl``, ``loss_curve.png``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab._io import DataError, PathLike, atomic_write_json
from seqlab.data.batching import bucketed_batches, hold_out, pad
from seqlab.data.subword import TextTokenizer
from seqlab.data.vocab import PAD, UNK, Vocab
from seqlab.models.classifier import AverageClassifier, ClassifierConfig, RNNClassifier
from seqlab.models.embedding import (
    Coverage,
    OOVInit,
    embedding_coverage,
    load_vectors,
    pretrained_embedding,
)
from seqlab.tasks.base import Preset, Task, TaskConfig
from seqlab.train import TrainConfig

__all__ = [
    "PRESETS",
    "Classifier",
    "ClassifierTaskConfig",
    "LabelledData",
    "Labels",
]

Tokens = Literal["word", "char", "subword", "features"]
DATASETS = ("emojify", "dna", "activity")  # built-in data (emojify reads the course's CSVs)
GENERATED_SIZE = {"dna": 4000, "activity": 3000}  # generated training examples
_BATCH = 256  # examples per prediction batch
TEST_SEED = 99_999  # seed of the generated test sets


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClassifierTaskConfig(TaskConfig):
    """How a classifier reads its data; saved as ``config.json`` with the network's config."""

    task: ClassVar[str] = "classifier"
    model_kind: ClassVar[str] = "classifier"

    model: ClassifierConfig  # the network (vocabulary and class counts set when built)
    tokens: Tokens = "word"  # word, char, subword (BPE) or features (numeric sequences)
    lowercase: bool = False  # lower-case texts before tokenising
    batch_size: int = 32  # examples per training step
    min_count: int = 1  # rarer tokens map to <UNK>
    max_vocab: int | None = None  # keep only the most frequent tokens (None: all)
    max_length: int | None = None  # steps kept per example: its first and last halves
    subword_vocab: int = 8000  # tokens="subword": BPE pieces learned from the training texts
    vectors: tuple[str, ...] = ()  # pretrained vector files the embedding starts from
    oov: OOVInit = "random"  # embedding rows of tokens without a pretrained vector
    dataset: str = ""  # where the training data came from

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "vectors", tuple(str(v) for v in self.vectors))
        if self.tokens not in get_args(Tokens):
            raise ValueError(f"tokens must be one of {get_args(Tokens)}, got {self.tokens!r}")
        if self.batch_size < 1 or self.min_count < 1 or self.subword_vocab < 2:
            raise ValueError("batch_size and min_count must be >= 1, subword_vocab >= 2")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")
        if self.tokens == "features" and (self.arch != "rnn" or self.vectors):
            raise ValueError("tokens='features' (numeric input) needs arch 'rnn' and no vectors")


def _preset(
    tokens: Tokens,
    model: dict[str, Any],
    train: TrainConfig,
    *,
    lowercase: bool = False,
    batch_size: int = 32,
    max_length: int | None = None,
    dataset: str = "",
) -> Preset[ClassifierTaskConfig]:
    inputs = {"input_features": 1} if tokens == "features" else {"vocab_size": 2}
    config = ClassifierTaskConfig(
        model=ClassifierConfig(num_classes=2, **inputs, **model),  # sizes set when built
        tokens=tokens,
        lowercase=lowercase,
        batch_size=batch_size,
        max_length=max_length,
        dataset=dataset,
    )
    return Preset(config=config, train=train)


# The defaults of `seqlab classify train` per kind of data (`--model average` takes the
# "<kind>-average" preset where there is one).
# "emojify": the course's v2 (2 LSTM layers of 128, dropout 0.5, frozen 50-d GloVe when
#   --vectors is given, Adam, batch 32, ~60 epochs of the 132 sentences); "emojify-average":
#   the course's v1 (softmax of the mean vector), a convex model trained longer with a larger
#   step (benchmarks/classify.py: 87.5% on the course's tesss.csv, 69.6% on test_emoji.csv);
# "dna": characters, a bidirectional GRU with max pooling finds a motif wherever it is;
# "activity": numeric (T, F) sequences, a GRU with mean pooling;
# "text": sentiment of sentences or reviews (SST-2, IMDB): a BiGRU with max+mean pooling over
#   50-d embeddings (start from GloVe with --vectors, fine-tuned; stack domain word2vec
#   beside it), beside a bag of 2^18 hashed bigrams; reviews cut to their first and last 200
#   tokens; 4 epochs (benchmarks/classify.py has the figures: without the bigram bag and the
#   domain vectors IMDB stopped at 87.6-88.9%, whatever the epochs, layers or H).
_TEXT_TRAIN: dict[str, Any] = (
    {"max_steps": 20_000, "max_epochs": 4, "lr": 2e-3}
    | {"schedule": "cosine", "warmup_steps": 100, "eval_every": 500, "weight_decay": 0.01}
    | {"time_budget": 1200.0}
)
_EMOJIFY = {"embedding_dim": 50, "hidden_size": 128, "dropout": 0.5, "freeze_embedding": True}
PRESETS: dict[str, Preset[ClassifierTaskConfig]] = {
    "emojify": _preset(
        "word",
        _EMOJIFY,
        TrainConfig(max_steps=250, max_epochs=60, lr=1e-3, eval_every=None),
        lowercase=True,
        dataset="emojify",
    ),
    "emojify-average": _preset(
        "word",
        _EMOJIFY | {"dropout": 0.0},
        TrainConfig(max_steps=1000, lr=1e-2, eval_every=None),
        lowercase=True,
        dataset="emojify",
    ),
    "dna": _preset(
        "char",
        {"embedding_dim": 16, "hidden_size": 32, "num_layers": 1, "cell": "gru"}
        | {"bidirectional": True, "pooling": "max"},
        TrainConfig(max_steps=1500, lr=3e-3, eval_every=250, time_budget=300.0),
        batch_size=64,
        dataset="dna",
    ),
    "activity": _preset(
        "features",
        {"embedding_dim": 32, "hidden_size": 64, "num_layers": 1, "cell": "gru"}
        | {"pooling": "mean"},
        TrainConfig(max_steps=1500, lr=3e-3, eval_every=250, time_budget=300.0),
        batch_size=64,
        dataset="activity",
    ),
    "text": _preset(
        "word",
        {"embedding_dim": 50, "hidden_size": 128, "num_layers": 1, "cell": "gru"}
        | {"bidirectional": True, "pooling": "max-mean", "dropout": 0.5}
        | {"bigram_buckets": 2**18},
        TrainConfig(**_TEXT_TRAIN),
        lowercase=True,
        batch_size=64,
        max_length=400,
    ),
}
# "text-average": the averaged model reads no bigram bag (it is the RNN's); dropout 0 as ever
PRESETS["text-average"] = replace(
    PRESETS["text"],
    config=replace(
        PRESETS["text"].config,
        model=replace(PRESETS["text"].config.model, dropout=0.0, bigram_buckets=0),
    ),
)


# -- artifacts and data --------------------------------------------------------------------


class Labels:
    """The class names in id order; saved as ``labels.json``."""

    def __init__(self, names: Sequence[str]) -> None:
        names = tuple(str(n) for n in names)
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"need at least 2 distinct labels, got {list(names)[:10]}")
        self.names = names
        self.index = {n: i for i, n in enumerate(names)}

    def __len__(self) -> int:
        return len(self.names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Labels) and self.names == other.names

    def __hash__(self) -> int:
        return hash(self.names)

    def __repr__(self) -> str:
        return f"Labels({list(self.names)})"

    def save(self, path: PathLike) -> Path:
        return atomic_write_json(path, {"format": "seqlab.labels", "labels": list(self.names)})

    @classmethod
    def load(cls, path: PathLike) -> Labels:
        file = Path(path)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            return cls(data["labels"])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(file, f"not a labels file ({exc})", hint="train again") from None


@dataclass(frozen=True)
class LabelledData:
    """Training and validation examples (``seqlab.data.labelled``'s ``Example`` with
    ``.text``, or ``SequenceExample`` with ``.features``; both with ``.label``)."""

    train: list[Any]  # training examples
    valid: list[Any]  # validation examples (may be empty: no validation)
    name: str = ""  # where they came from (a dataset name or a file)

    @classmethod
    def split(cls, examples: Sequence[Any], name: str = "", fraction: float = 0.1) -> LabelledData:
        """Every k-th example (k = 1/fraction, at most 2,000) held out for validation."""
        train, valid = hold_out(list(examples), fraction)
        return cls(train, valid, name)

    @classmethod
    def emojify(
        cls, folder: PathLike, *, test_file: str = "test_emoji.csv"
    ) -> tuple[LabelledData, list[Any]]:
        """The course's Emojify set from ``folder`` (``train_emoji.csv`` and ``test_file``):
        (all 132 training sentences, no validation; the 56 test sentences)."""
        from seqlab.data.labelled import read_emojify

        train, test = read_emojify(folder, test_file=test_file)
        return cls(list(train), [], "emojify"), list(test)

    @classmethod
    def generated(cls, name: str, n: int | None = None, *, seed: int = 0) -> LabelledData:
        """``"dna"`` (does a DNA string hold the motif?) or ``"activity"`` (running, walking
        or standing from accelerometer-like streams): ``n`` generated training examples and
        a tenth as many for validation, from another seed (``seed`` must be below 10,000)."""
        from seqlab.data import synthetic

        if name not in GENERATED_SIZE:
            raise ValueError(f"unknown dataset {name!r}; generated: {', '.join(GENERATED_SIZE)}")
        make = synthetic.dna_motif if name == "dna" else synthetic.activity
        size = n or GENERATED_SIZE[name]
        return cls(make(size, seed=seed), make(max(size // 10, 50), seed=seed + 10_000), name)


def generated_test(name: str, n: int | None = None) -> list[Any]:
    """A generated test set for ``"dna"`` or ``"activity"``, from a seed no training or
    validation set of :meth:`LabelledData.generated` uses (below 10,000)."""
    from seqlab.data import synthetic

    if name not in GENERATED_SIZE:
        raise ValueError(f"unknown dataset {name!r}; generated: {', '.join(GENERATED_SIZE)}")
    make = synthetic.dna_motif if name == "dna" else synthetic.activity
    return make(n or GENERATED_SIZE[name] // 4, seed=TEST_SEED)


def _with_vector_words(vocab: Vocab, vectors: Any, lowercase: bool) -> Vocab:
    """``vocab`` followed by the words of ``vectors`` it lacks (as the course's Emojify
    reads every GloVe word, "feeling" included though no training sentence holds it)."""
    seen = set(vocab.tokens)
    extra = []
    for word in vectors.index_to_key:
        if (not lowercase or word == word.lower()) and word not in seen:
            seen.add(word)
            extra.append(word)
    return Vocab([*vocab.tokens, *extra], level=vocab.level, counts=vocab.counts)


def _truncate(seq: Sequence[Any], max_length: int | None) -> Sequence[Any]:
    """The first ⌈m/2⌉ and last ⌊m/2⌋ steps of a sequence longer than m = max_length."""
    if max_length is None or len(seq) <= max_length:
        return seq
    head = (max_length + 1) // 2
    tail = max_length - head
    return [*seq[:head], *seq[len(seq) - tail :]] if tail else seq[:head]


# -- the Trainable adapter -----------------------------------------------------------------

Encoded = tuple[Any, int]  # (token ids list, or a (T, F) float array), label id
Batch = tuple[Tensor, Tensor, Tensor]  # input (B, T) or (B, T, F), lengths (B,), labels (B,)


class _ClassifierTrainable:
    """Length-bucketed batches, the cross-entropy loss, validation loss and accuracy."""

    def __init__(self, task: Classifier, train: list[Encoded], valid: list[Encoded]) -> None:
        self.task = task
        self.model = task.model
        self.train_rows = train
        self.lengths = [len(x) for x, _ in train]
        self.valid_rows = valid

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        del epoch
        size = self.task.config.batch_size
        for rows in bucketed_batches(self.lengths, size, generator):
            yield self.task._batch([self.train_rows[j] for j in rows])

    def batches_per_epoch(self) -> int:
        return -(-len(self.train_rows) // self.task.config.batch_size)

    def training_loss(self, batch: Batch) -> tuple[Tensor, int]:
        x, lengths, y = batch
        return F.cross_entropy(self.model(x, lengths), y), len(y)

    def validate(self) -> dict[str, float]:
        if not self.valid_rows:
            return {}
        logits = self.task._logits([x for x, _ in self.valid_rows])  # (N, C)
        y = torch.tensor([label for _, label in self.valid_rows])  # (N,)
        loss = F.cross_entropy(logits, y).item()
        return {"loss": loss, "accuracy": (logits.argmax(-1) == y).float().mean().item()}


# -- the task ------------------------------------------------------------------------------

Prediction = list[tuple[str, float]]  # the top labels with their probabilities, best first


class Classifier(Task):
    """A trained (or freshly built) classifier: network, tokenizer, vocabulary, labels."""

    what = "classifier"
    command = "seqlab classify train"
    config_class = ClassifierTaskConfig
    artifacts: ClassVar[dict[str, tuple[str, type]]] = {
        "tokenizer": ("tokenizer.json", TextTokenizer),
        "vocab": ("vocab.json", Vocab),
        "labels": ("labels.json", Labels),
    }

    model: AverageClassifier | RNNClassifier
    config: ClassifierTaskConfig
    vocab: Vocab
    labels: Labels
    tokenizer: TextTokenizer
    coverage: Coverage | None = None  # how much of the vocabulary --vectors covered (build)

    # -- building and training -------------------------------------------------------------
    @classmethod
    def prepare_data(cls, data: str | LabelledData | Sequence[Any]) -> LabelledData:
        """``"dna"`` or ``"activity"`` (generated), a :class:`LabelledData`, or a list of
        examples (every 10th held out for validation)."""
        if isinstance(data, LabelledData):
            return data
        if isinstance(data, str):
            if data == "emojify":
                raise ValueError("emojify reads the course's CSVs: LabelledData.emojify(folder)")
            return LabelledData.generated(data)
        return LabelledData.split(data)

    @classmethod
    def build(
        cls, data: LabelledData, config: ClassifierTaskConfig
    ) -> tuple[Classifier, list[Encoded]]:
        """Tokenizer, vocabulary, labels and a fresh model for ``data``; (task, encoded)."""
        if not data.train:
            raise ValueError("no training examples")
        numeric = config.tokens == "features"
        if numeric != hasattr(data.train[0], "features"):
            raise ValueError(
                "numeric feature sequences need tokens='features', and only they"
                if numeric or hasattr(data.train[0], "features")
                else "tokens='features' needs feature sequences"
            )
        labels = Labels(sorted({ex.label for ex in data.train}))
        texts = [] if numeric else [ex.text for ex in data.train]
        kind = "word" if numeric else config.tokens
        tokenizer = TextTokenizer.train(
            texts, kind, lowercase=config.lowercase, vocab_size=config.subword_vocab
        )  # type: ignore[arg-type]
        vocab = Vocab.build(
            (tokenizer(t) for t in texts),
            level="char" if kind == "char" else "word",
            specials=(PAD, UNK),
            min_count=config.min_count,
            max_size=config.max_vocab,
        )
        vectors = load_vectors(config.vectors) if config.vectors else None
        coverage = None
        if vectors is not None:  # words met only at test time keep their vectors too
            coverage = embedding_coverage(vocab, vectors, lowercase=True)
            vocab = _with_vector_words(vocab, vectors, config.lowercase)
        sizes: dict[str, Any] = {"num_classes": len(labels)}
        if numeric:
            sizes |= {"vocab_size": 0, "input_features": int(data.train[0].features.shape[1])}
        else:
            sizes |= {"vocab_size": len(vocab), "input_features": 0, "pad_id": vocab.pad_id}
        if vectors is not None:
            sizes["embedding_dim"] = vectors.vector_size
        config = replace(
            config,
            model=replace(config.model, **sizes),
            dataset=config.dataset or data.name,
        )
        task = cls(cls.build_model(config), config, vocab=vocab, labels=labels, tokenizer=tokenizer)
        if vectors is not None:
            table = pretrained_embedding(
                vocab,
                vectors,
                freeze=config.model.freeze_embedding,
                oov=config.oov,
                lowercase=True,
            )
            assert task.model.embedding is not None
            with torch.no_grad():
                task.model.embedding.weight.copy_(table.weight)
            task.coverage = coverage
        return task, task._encode_examples(data.train)

    def trainable(self, encoded: list[Encoded], data: LabelledData) -> _ClassifierTrainable:
        return _ClassifierTrainable(self, encoded, self._encode_examples(data.valid))

    # -- encoding --------------------------------------------------------------------------
    def _encode_examples(self, examples: Sequence[Any]) -> list[Encoded]:
        unknown = sorted({ex.label for ex in examples} - set(self.labels.names))
        if unknown:
            raise ValueError(
                f"labels {unknown[:5]} are not among the training labels {list(self.labels.names)}"
            )
        inputs = [ex.features if hasattr(ex, "features") else ex.text for ex in examples]
        return [
            (x, self.labels.index[ex.label])
            for x, ex in zip(self._encode(inputs), examples, strict=True)
        ]

    def _encode(self, inputs: Sequence[Any]) -> list[Any]:
        """Texts -> token ids (an empty text reads as one <UNK>), or feature arrays checked
        and cut to ``max_length``."""
        out: list[Any] = []
        width = self.config.model.input_features
        for i, item in enumerate(inputs):
            if width:
                arr = np.asarray(item, dtype=np.float32)
                if arr.ndim != 2 or arr.shape[1] != width or len(arr) == 0:
                    raise ValueError(
                        f"input {i}: expected features of shape (T, F={width}), got {arr.shape}"
                    )
                out.append(np.asarray(_truncate(arr, self.config.max_length)))
            elif not isinstance(item, str):
                raise ValueError(f"input {i}: expected a text, got {type(item).__name__}")
            else:
                ids = self.vocab.encode(self.tokenizer(item)) or [self.vocab.unk_id]
                out.append(list(_truncate(ids, self.config.max_length)))
        return out

    def _inputs(self, rows: Sequence[Any]) -> tuple[Tensor, Tensor]:
        """A padded batch on the model's device: ids (B, T) or features (B, T, F); (B,)."""
        if not self.config.model.input_features:
            return pad(rows, self.vocab.pad_id or 0, device=self.device)  # (B, T), (B,)
        lengths = torch.tensor([len(r) for r in rows])  # (B,)
        x = torch.zeros(len(rows), int(lengths.max()), rows[0].shape[1])  # (B, T, F)
        for b, r in enumerate(rows):
            x[b, : len(r)] = torch.from_numpy(r)
        return x.to(self.device), lengths.to(self.device)

    def _batch(self, rows: Sequence[Encoded]) -> Batch:
        x, lengths = self._inputs([x for x, _ in rows])
        return x, lengths, torch.tensor([y for _, y in rows], device=self.device)

    def _logits(self, encoded: Sequence[Any]) -> Tensor:
        """Logits of encoded inputs, batched by length, in the input order (eval mode).

        Shape:
            N inputs -> (N, C), on the CPU
        """
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out = torch.empty(len(encoded), len(self.labels))  # (N, C)
        with self.eval_mode():
            for s in range(0, len(order), _BATCH):
                rows = order[s : s + _BATCH]
                x, lengths = self._inputs([encoded[i] for i in rows])
                out[rows] = self.model(x, lengths).float().cpu()  # (b, C)
        return out

    # -- predictions -----------------------------------------------------------------------
    def predict_proba(self, inputs: Sequence[Any]) -> np.ndarray:
        """P(class | input) for texts (or (T, F) feature arrays), columns in
        ``self.labels.names`` order.

        Shape:
            N inputs -> (N, C)
        """
        if isinstance(inputs, str):
            raise ValueError("give a list of texts, not one string")
        if len(inputs) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self._logits(self._encode(inputs)).softmax(-1).numpy()  # (N, C)

    def predict(self, inputs: Sequence[Any], *, top_k: int = 1) -> list[Prediction]:
        """The ``top_k`` labels of each input with their probabilities, most likely first."""
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        probs = self.predict_proba(inputs)  # (N, C)
        k = min(top_k, len(self.labels))
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]  # (N, k)
        names = self.labels.names
        return [[(names[j], float(p[j])) for j in row] for p, row in zip(probs, order, strict=True)]

    def evaluate(self, examples: Sequence[Any]) -> Any:
        """Accuracy, macro-F1, per-class scores and confusion matrix on labelled examples
        (a :class:`seqlab.metrics.classification.ClassificationReport`)."""
        from seqlab.metrics.classification import classification_report

        if not examples:
            raise ValueError("no examples to evaluate")
        inputs = [ex.features if hasattr(ex, "features") else ex.text for ex in examples]
        predicted = [p[0][0] for p in self.predict(inputs)]
        true = [ex.label for ex in examples]
        labels = list(self.labels.names) + sorted(set(true) - set(self.labels.names))
        return classification_report(true, predicted, labels=labels)

    def explain(self, text: str, *, label: str | None = None) -> list[tuple[str, float]]:
        """Each token of ``text`` with its contribution to the logit of ``label`` (default:
        the predicted label).

        ``"average"``: exactly W[c] · e<i> / n (the contributions sum to the logit minus
        the bias b[c]). ``"rnn"``: gradient × input, (∂z_c / ∂e<i>) · e<i>, a first-order
        estimate of how much each token's embedding moves the logit.
        """
        if self.config.tokens == "features":
            raise ValueError("explain reads texts; this classifier reads feature sequences")
        ids = self._encode([text])[0]
        x, lengths = self._inputs([ids])  # (1, T), (1,)
        if label is None:
            with self.eval_mode():
                cls = int(self.model(x, lengths).argmax(-1))
        elif label in self.labels.index:
            cls = self.labels.index[label]
        else:
            raise ValueError(f"unknown label {label!r}; labels: {list(self.labels.names)}")
        target = torch.tensor([cls], device=self.device)
        with self.eval_mode():
            emb = self.model.embed(x)  # (1, T, E)
        if isinstance(self.model, AverageClassifier):
            with self.eval_mode():
                share = self.model.contributions(emb, lengths, target)[0]  # (T,)
        else:
            share = self._gradient_times_input(emb, lengths, cls)  # (T,)
        tokens = [self.vocab.token(i) for i in ids]
        return [(t, float(s)) for t, s in zip(tokens, share.tolist(), strict=True)]

    def _gradient_times_input(self, emb: Tensor, lengths: Tensor, cls: int) -> Tensor:
        """Σ_e (∂z_c / ∂e<i>)_e · e<i>_e for each step i.

        Shape:
            emb: (1, T, E) -> (T,)
        """
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.enable_grad():
                leaf = emb.detach().requires_grad_(True)  # (1, T, E)
                logit = self.model.from_embeddings(leaf, lengths)[0, cls]  # ()
                (grad,) = torch.autograd.grad(logit, leaf)  # (1, T, E)
        finally:
            self.model.train(was_training)
        return (grad * leaf.detach()).sum(-1)[0]  # (T,)
