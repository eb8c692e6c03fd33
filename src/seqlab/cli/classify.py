"""``seqlab classify train|evaluate|predict``: sequence classifiers (Emojify, sentiment, DNA
motifs, activity streams)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from seqlab.cli._common import fail, output_path, print_json, user_errors
from seqlab.cli._train import (
    TrainOptions,
    config_default,
    override,
    train_and_report,
    train_options,
)
from seqlab.tasks.classifier import DATASETS, GENERATED_SIZE, PRESETS

app = typer.Typer(
    help="Sequence classifiers: train (averaged embeddings or an RNN; words, characters, "
    "subwords or feature sequences; GloVe/word2vec vectors), evaluate (accuracy, macro-F1, "
    "confusion matrix), predict (top-k labels, --explain).",
    no_args_is_help=True,
)

# the task and network config fields -> `classify train`'s options (error messages name them)
_TRAIN_FLAGS = {
    "tokens": "--tokens",
    "lowercase": "--lowercase",
    "min_count": "--min-count",
    "max_vocab": "--max-vocab",
    "max_length": "--max-length",
    "subword_vocab": "--subword-vocab",
    "oov": "--oov",
    "arch": "--model",
    "cell": "--cell",
    "pooling": "--pooling",
    "hidden_size": "--hidden",
    "embedding_dim": "--embedding",
    "num_layers": "--layers",
    "dropout": "--dropout",
}


def _d(field: str) -> str:
    """``(default: emojify X, dna Y, ...)`` of a task-config field (dotted: ``model.cell``)."""
    return config_default(field, PRESETS)


def _column(value: str | None) -> str | int | None:
    """A column given by name, or by 0-based index when it is a number."""
    return int(value) if value is not None and value.isdigit() else value


def _read_examples(
    path: Path, fmt: str, text_column: str | None, label_column: str | None, numeric: bool
) -> list[Any]:
    """Labelled texts, or feature sequences (``.npz`` or a long CSV) when ``numeric``."""
    if numeric:
        from seqlab.data.labelled import read_sequences

        return read_sequences(path)
    from seqlab.data.labelled import read_labelled

    return read_labelled(
        path,
        format=fmt,  # type: ignore[arg-type]
        text_column=_column(text_column),
        label_column=_column(label_column),
    )


def _is_numeric(path: Path | None, tokens: str | None) -> bool:
    return tokens == "features" or (path is not None and path.name.endswith(".npz"))


def _emojify(data_dir: Path | None, test_file: str = "test_emoji.csv") -> Any:
    """(LabelledData, test examples) of the course's Emojify folder; one-line errors."""
    from seqlab.tasks.classifier import LabelledData

    if data_dir is None:
        raise fail("--dataset emojify needs --data-dir DIR: the folder with the course's CSVs")
    if not data_dir.is_dir():
        raise fail(
            f"--data-dir {data_dir}: no such folder (give the folder that holds the course's "
            "train_emoji.csv and test_emoji.csv)"
        )
    return LabelledData.emojify(data_dir, test_file=test_file)


@app.command()
@user_errors
@train_options(PRESETS, flags=_TRAIN_FLAGS)
def train(
    dataset: str | None = typer.Option(
        None,
        help="Built-in data: emojify (the course's CSVs, with --data-dir), dna (motif or "
        "not, generated) or activity (accelerometer streams, generated).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
    data_dir: Path | None = typer.Option(None, help="emojify: the folder with the CSVs."),
    train_file: Path | None = typer.Option(
        None, "--train", help="Labelled training file: CSV, TSV or label/text lines (.gz ok)."
    ),
    dev: Path | None = typer.Option(None, help="Validation file (default: every 10th held out)."),
    format: str = typer.Option(
        "auto", help="--train/--dev layout: auto, csv, tsv, label-tab, text-tab."
    ),
    text_column: str | None = typer.Option(None, help="CSV/TSV text column (name or index)."),
    label_column: str | None = typer.Option(None, help="CSV/TSV label column (name or index)."),
    model: str = typer.Option("rnn", help="average (Emojify v1) or rnn (Emojify v2)."),
    tokens: str | None = typer.Option(
        None, help=f"word, char, subword (BPE) or features {_d('tokens')}."
    ),
    lowercase: bool | None = typer.Option(
        None,
        "--lowercase/--keep-case",
        help=f"Lower-case texts {_d('lowercase')}.",
        show_default=False,
    ),
    vectors: list[Path] | None = typer.Option(
        None,
        help="Pretrained vectors (GloVe or word2vec, .gz ok) for the embedding; repeat to "
        "merge files of one dimension (the first file's vector wins) or stack files of "
        "different dimensions side by side (zeros where one lacks a word). Sets --embedding "
        "to their total dimension.",
    ),
    freeze: bool | None = typer.Option(
        None,
        "--freeze/--fine-tune",
        help=f"Keep --vectors fixed {_d('model.freeze_embedding')}.",
        show_default=False,
    ),
    oov: str = typer.Option("random", help="--vectors: rows of unknown words: random, zero, mean."),
    cell: str | None = typer.Option(None, help=f"lstm or gru {_d('model.cell')}."),
    bidirectional: bool | None = typer.Option(
        None,
        "--bidirectional/--unidirectional",
        help=f"RNN: also read right to left {_d('model.bidirectional')}.",
        show_default=False,
    ),
    pooling: str | None = typer.Option(
        None, help=f"last, max, mean or max-mean {_d('model.pooling')}."
    ),
    layers: int | None = typer.Option(None, help=f"RNN layers {_d('model.num_layers')}."),
    hidden: int | None = typer.Option(None, help=f"Hidden size H {_d('model.hidden_size')}."),
    embedding: int | None = typer.Option(
        None, help=f"Embedding size E {_d('model.embedding_dim')}."
    ),
    dropout: float | None = typer.Option(
        None, help=f"Dropout {_d('model.dropout')}; average: 0 unless given."
    ),
    bigrams: int | None = typer.Option(
        None,
        help="RNN: hash neighbouring token pairs into this many learned vectors whose mean the "
        f"softmax layer reads beside the RNN (0: none) {_d('model.bigram_buckets')}.",
    ),
    min_count: int | None = typer.Option(None, help="Rarer tokens become <UNK> (default: 1)."),
    max_vocab: int | None = typer.Option(None, help="Keep the most frequent tokens."),
    max_length: int | None = typer.Option(
        None, help=f"Steps kept per example, its first and last halves {_d('max_length')}."
    ),
    subword_vocab: int | None = typer.Option(None, help="--tokens subword: BPE pieces (8000)."),
    train_size: int | None = typer.Option(
        None, help=f"dna/activity: generated training examples {GENERATED_SIZE}."
    ),
    *,
    train_opts: TrainOptions,
) -> None:
    """Train on --dataset emojify|dna|activity or on a labelled --train file.

    Texts are read as words, characters or subword pieces; --tokens features (or an .npz
    file) reads sequences of feature vectors. Validation reports the loss and accuracy.
    """
    from seqlab.tasks.classifier import Classifier, LabelledData

    if (dataset is None) == (train_file is None):
        raise fail("give exactly one of --dataset NAME or --train FILE")
    if dataset is not None and dataset not in DATASETS:
        raise fail(f"unknown dataset {dataset!r}; built-in: {', '.join(DATASETS)}")
    if dev is not None and train_file is None:
        raise fail("--dev goes with --train (a built-in dataset has its own split)")
    if data_dir is not None and dataset != "emojify":
        raise fail("--data-dir goes with --dataset emojify")
    if train_size is not None and dataset not in GENERATED_SIZE:
        raise fail("--train-size goes with --dataset dna or activity")
    if bigrams and model != "rnn":
        raise fail("--bigrams goes with --model rnn")
    numeric = _is_numeric(train_file, tokens)
    kind = dataset or ("activity" if numeric else "dna" if tokens == "char" else "text")
    preset = PRESETS.get(f"{kind}-{model}", PRESETS[kind])
    train_opts.apply_threads()
    config = override(
        preset.config,
        {
            "arch": model,
            "tokens": "features" if numeric else tokens,
            "lowercase": lowercase,
            "batch_size": train_opts.batch_size,
            "min_count": min_count,
            "max_vocab": max_vocab,
            "max_length": max_length,
            "subword_vocab": subword_vocab,
            "vectors": tuple(str(v) for v in vectors or ()) or None,
            "oov": oov,
            "model.freeze_embedding": freeze,
            "model.cell": cell,
            "model.bidirectional": bidirectional,
            "model.pooling": pooling,
            "model.num_layers": layers,
            "model.hidden_size": hidden,
            "model.embedding_dim": embedding,
            "model.dropout": 0.0 if model == "average" and dropout is None else dropout,
            "model.bigram_buckets": bigrams,
        },
    )
    train_config = train_opts.train_config(preset.train)
    if dataset == "emojify":
        data, _ = _emojify(data_dir)
    elif dataset is not None:
        data = LabelledData.generated(dataset, train_size, seed=train_config.seed)
    else:
        if train_file is None:
            raise fail("give the training data: --dataset emojify|dna|activity, or --train FILE")
        examples = _read_examples(train_file, format, text_column, label_column, numeric)
        if dev is None:
            data = LabelledData.split(examples, str(train_file))
        else:
            valid = _read_examples(dev, format, text_column, label_column, numeric)
            data = LabelledData(examples, valid, str(train_file))

    def describe(task: Classifier) -> tuple[dict[str, Any], str]:
        facts: dict[str, Any] = {
            "vocab_size": len(task.vocab),
            "labels": list(task.labels.names),
            "train_examples": len(data.train),
            "valid_examples": len(data.valid),
        }
        words = f"{len(task.labels)} labels, vocabulary {len(task.vocab)}"
        if task.coverage is not None:
            facts["vector_coverage"] = task.coverage.ratio
            words += f"; {task.coverage}"
        return facts, words

    train_and_report(
        Classifier, data, out, config, train_config, train_opts, describe, loss_unit="example"
    )


def _display(label: str, emoji: bool) -> str:
    from seqlab.data.labelled import EMOJI

    return f"{label} {EMOJI[label]}" if emoji and label in EMOJI else label


@app.command()
@user_errors
def evaluate(
    model_dir: Path = typer.Argument(..., help="A model directory from `seqlab classify train`."),
    dataset: str | None = typer.Option(
        None, help="emojify (with --data-dir), dna or activity (a fresh generated test set)."
    ),
    data_dir: Path | None = typer.Option(None, help="emojify: the folder with the CSVs."),
    test_file: str = typer.Option(
        "test_emoji.csv",
        help="emojify: the test file in --data-dir (the course also has tesss.csv).",
    ),
    data: Path | None = typer.Option(None, help="A labelled test file (as `train --train`)."),
    format: str = typer.Option("auto", help="--data layout: auto, csv, tsv, label-tab, text-tab."),
    text_column: str | None = typer.Option(None, help="CSV/TSV text column (name or index)."),
    label_column: str | None = typer.Option(None, help="CSV/TSV label column (name or index)."),
    confusion: Path | None = typer.Option(
        None, help="Confusion-matrix PNG (default: confusion.png in MODEL_DIR)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Accuracy, macro-F1, the per-class table and a confusion-matrix PNG on a test set.

    Without --dataset or --data, a model trained on dna or activity is tested on a fresh
    generated set.
    """
    from seqlab.tasks.classifier import Classifier, generated_test

    if dataset is not None and data is not None:
        raise fail("give --dataset or --data, not both")
    task = Classifier.load(model_dir)
    name = dataset or (task.config.dataset if data is None else None)
    if data is not None:
        numeric = task.config.tokens == "features"
        examples = _read_examples(data, format, text_column, label_column, numeric)
    elif name == "emojify":
        _, examples = _emojify(data_dir, test_file)
    elif name in GENERATED_SIZE:
        examples = generated_test(name)
    else:
        raise fail("give the test data: --data FILE, or --dataset emojify|dna|activity")
    png = confusion or model_dir / "confusion.png"
    output_path(png, "--confusion")
    report = task.evaluate(examples)
    from seqlab.data.labelled import EMOJI
    from seqlab.viz.confusion import plot_confusion

    shown = EMOJI if name == "emojify" else None  # drawn as "0 heart" without an emoji font
    title = f"accuracy {report.accuracy:.1%}, {report.n} examples"
    plot_confusion(report, list(report.labels), png, title=title, display_labels=shown)
    if json_out:
        print_json({**report.to_dict(), "confusion_png": str(png)})
        return
    typer.echo(
        f"accuracy {report.accuracy:.2%}  macro-F1 {report.macro_f1:.4f}  ({report.n} examples)"
    )
    typer.echo(report.format_table(), nl=False)
    typer.echo(f"confusion matrix: {png}", err=True)


def _lines(source: Path | None) -> list[tuple[int, str]]:
    """Non-blank lines (with their numbers) of a file, or of stdin for ``-`` / no file."""
    if source is not None and str(source) != "-":
        from seqlab.data.text import read_text

        text = read_text(source)
        where = str(source)
    else:
        if sys.stdin is None or sys.stdin.isatty():
            raise fail("nothing to classify: give a FILE, or lines on stdin")
        text, where = sys.stdin.read(), "stdin"
    lines = [(n, s.strip()) for n, s in enumerate(text.splitlines(), 1) if s.strip()]
    if not lines:
        raise fail(f"{where}: nothing to classify (no non-empty line)")
    return lines


def _explained(pairs: list[tuple[str, float]]) -> str:
    return " ".join(f"{token}({value:+.2f})" for token, value in pairs)


@app.command()
@user_errors
def predict(
    model_dir: Path = typer.Argument(..., help="A model directory from `seqlab classify train`."),
    source: Path | None = typer.Argument(
        None, help="Texts, one a line ('-' or none: stdin); a feature model reads an .npz/CSV."
    ),
    top_k: int = typer.Option(1, "--top-k", "-k", help="Labels shown per input, best first."),
    explain: bool = typer.Option(
        False, "--explain", help="Show each token's contribution to the predicted label."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The label of each input line with its probability (emoji shown for Emojify)."""
    from seqlab.tasks.classifier import Classifier

    task = Classifier.load(model_dir)
    if task.config.tokens == "features":
        if source is None or str(source) == "-":
            raise fail("a feature-sequence model reads a FILE (.npz or long CSV), not stdin")
        if explain:
            raise fail("--explain reads texts; this model reads feature sequences")
        items = _read_examples(source, "auto", None, None, numeric=True)
        inputs: list[Any] = [ex.features for ex in items]
        names = [ex.item or str(i) for i, ex in enumerate(items)]
    else:
        lines = _lines(source)
        inputs = [text for _, text in lines]
        names = list(inputs)
    results = task.predict(inputs, top_k=top_k)
    reasons = [task.explain(text) for text in inputs] if explain else None
    emoji = task.config.dataset == "emojify"
    if json_out:
        payload = []
        for i, (name, top) in enumerate(zip(names, results, strict=True)):
            row: dict[str, Any] = {
                "input": name,
                "label": top[0][0],
                "probability": top[0][1],
                "top": [{"label": lab, "probability": p} for lab, p in top],
            }
            if emoji:
                row["emoji"] = _display(top[0][0], True).split(" ", 1)[-1]
            if reasons is not None:
                row["explain"] = [[tok, value] for tok, value in reasons[i]]
            payload.append(row)
        print_json(payload)
        return
    for i, (name, top) in enumerate(zip(names, results, strict=True)):
        shown = ", ".join(f"{_display(lab, emoji)} ({p:.2f})" for lab, p in top)
        typer.echo(f"{shown}\t{name}")
        if reasons is not None:
            typer.echo(f"  {_explained(reasons[i])}")
