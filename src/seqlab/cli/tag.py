"""``seqlab tag train|predict|evaluate|score``: named-entity taggers (BiLSTM, BiLSTM-CRF).

``seqlab tag score`` needs no model and never imports torch (it reads a CoNLL file and
counts entities): the ``train`` verb, whose option defaults come from the task's presets
(which import torch), is built only when it runs or its help is shown.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand

from seqlab.cli._common import fail, print_json, user_errors
from seqlab.cli._help import ListingGroup, polish
from seqlab.cli._train import TrainOptions, override, train_and_report, train_options

if TYPE_CHECKING:
    from seqlab.data.conll import Sentence
    from seqlab.metrics.tagging import TaggingScores

_HELP = (
    "Named-entity tagging with a BiLSTM(-CRF): train on CoNLL files, predict tags or "
    "entities, evaluate (entity F1 per type), score a gold/predicted CoNLL file."
)
_SCHEMES = ("auto", "iob1", "iob2", "iobes")
_SCHEME_HELP = (
    "Tagging scheme of the file's tags: iob1 (CoNLL-2003's files), iob2, iobes, or auto "
    "(any of them: entities are read as conlleval reads them, then written in IOB2)."
)
_TRAIN_HELP = "Train a tagger on a CoNLL file (one token per line, the tag in the last column)."


# -- the group: `train` built on first use -------------------------------------------------


def _train_command() -> Any:
    """The ``tag train`` command (imports the task, and so torch)."""
    from seqlab.tasks.tagger import PRESETS

    preset = PRESETS["conll2003"]
    flags = {
        "tag_scheme": "--train-scheme",
        "lowercase": "--lowercase",
        "min_count": "--min-count",
        "max_vocab": "--max-vocab",
        "word_dropout": "--word-dropout",
        "max_word_length": "--max-word-length",
        "frozen_vectors": "--freeze-vectors",
        "char_encoder": "--char-encoder",
        "hidden_size": "--hidden",
        "word_dim": "--embedding",
        "dropout": "--dropout",
    }
    m = preset.config.model

    @user_errors
    @train_options(PRESETS, flags=flags)
    def train(
        out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
        train: Path = typer.Option(..., "--train", help="Training sentences, CoNLL (.gz ok)."),
        dev: Path | None = typer.Option(
            None, "--dev", help="Validation sentences (default: every 50th training sentence)."
        ),
        vectors: list[Path] | None = typer.Option(
            None,
            "--vectors",
            help="Pretrained word vectors, GloVe or word2vec (.gz ok); repeat to merge files.",
        ),
        freeze_vectors: bool = typer.Option(
            False,
            "--freeze-vectors/--fine-tune-vectors",
            help="Keep the pretrained rows fixed (words without a vector still train).",
        ),
        crf: bool = typer.Option(m.crf, "--crf/--no-crf", help="CRF output layer (or softmax)."),
        char_features: bool = typer.Option(
            True, "--char-features/--no-char-features", help="Character-level word features."
        ),
        char_encoder: str = typer.Option(
            m.char_encoder, help="Character features: cnn (Ma & Hovy) or lstm (Lample et al.)."
        ),
        scheme: str = typer.Option("auto", "--scheme", help=_SCHEME_HELP),
        train_scheme: str = typer.Option(
            preset.config.tag_scheme, help="Scheme the network predicts in: iob2 or iobes."
        ),
        tag_column: int = typer.Option(-1, help="Column of the tags (0-based, -1: the last)."),
        hidden: int = typer.Option(m.hidden_size, help="BiLSTM hidden size per direction."),
        embedding: int = typer.Option(
            m.word_dim, help="Word embedding size (ignored with --vectors: their width)."
        ),
        dropout: float = typer.Option(m.dropout, help="Dropout on the inputs and outputs."),
        word_dropout: float = typer.Option(
            preset.config.word_dropout, help="P(a training singleton is read as <UNK>)."
        ),
        min_count: int = typer.Option(1, help="Rarer training words become <UNK>."),
        lowercase: bool = typer.Option(
            True, "--lowercase/--cased", help="Look words up lower-cased (GloVe is uncased)."
        ),
        *,
        train_opts: TrainOptions,
    ) -> None:
        from seqlab.tasks.tagger import TaggedCorpus, Tagger

        train_opts.apply_threads()
        read_scheme = _reader_scheme(scheme)
        corpus = TaggedCorpus.from_files(train, dev, scheme=read_scheme, tag_column=tag_column)
        config = override(
            preset.config,
            {
                "batch_size": train_opts.batch_size,
                "tag_scheme": train_scheme,
                "lowercase": lowercase,
                "min_count": min_count,
                "word_dropout": word_dropout,
                "vectors": tuple(str(v) for v in vectors or ()),
                "model.crf": crf,
                "model.char_encoder": char_encoder if char_features else "none",
                "model.hidden_size": hidden,
                "model.word_dim": embedding,
                "model.dropout": dropout,
                "model.frozen_vectors": freeze_vectors,
            },
        )

        def describe(tagger: Tagger) -> tuple[dict[str, Any], str]:
            facts: dict[str, Any] = {
                "vocab_size": len(tagger.vocab),
                "tags": list(tagger.tags.tokens),
                "train_sentences": len(corpus.train),
            }
            words = f"{len(tagger.vocab)} words, {len(tagger.tags)} tags"
            if corpus.valid:
                f1 = tagger.evaluate(corpus.valid).f1
                facts["valid_f1"] = 100 * f1
                words += f"; validation entity F1 {100 * f1:.2f}"
            return facts, words

        train_and_report(
            Tagger, corpus, out, config, train_opts.train_config(preset.train), train_opts, describe
        )

    train.__doc__ = _TRAIN_HELP + (
        "\n\nThe tags are read in --scheme and trained in IOB2 (or --train-scheme iobes). "
        "Without --dev, 2% of the training sentences are held out for validation, which "
        "reports the loss and the entity F1; the weights kept are those of the best "
        "validation loss."
    )
    single = typer.Typer(add_completion=False)
    single.command("train")(train)
    command = typer.main.get_command(single)
    command.name = "train"
    return polish(command)


class _Commands(dict[str, Any]):
    """The group's commands: ``train`` is built on its first ``commands["train"]``; ``get``,
    ``values`` and iteration see only the commands built so far (so that polishing the
    group's help builds nothing)."""

    def __missing__(self, name: str) -> Any:
        if name != "train":
            raise KeyError(name)
        self[name] = command = _train_command()
        return command


class _TagGroup(ListingGroup):
    """``seqlab tag``: lists ``train`` without building it."""

    def __init__(self, *, commands: Any = None, **attrs: Any) -> None:
        super().__init__(commands=_Commands(commands or {}), **attrs)

    def list_commands(self, ctx: Any) -> list[str]:
        return ["train", *(name for name in self.commands if name != "train")]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name != "train":
            return self.commands.get(cmd_name)
        if self._listing and cmd_name not in self.commands:
            return TyperCommand(name="train", help=_TRAIN_HELP, short_help=_TRAIN_HELP)
        return self.commands["train"]


app = typer.Typer(cls=_TagGroup, help=_HELP, no_args_is_help=True)


# -- reading -------------------------------------------------------------------------------


def _reader_scheme(scheme: str) -> Any:
    """``--scheme`` as :func:`seqlab.data.conll.read_conll` takes it ("auto": iobes, which
    reads every prefix leniently; IOB1 and IOB2 read the same)."""
    if scheme not in _SCHEMES:
        raise fail(f"--scheme must be one of {', '.join(_SCHEMES)}, got {scheme!r}")
    return "iobes" if scheme == "auto" else scheme


def _read_text(file: str | None) -> tuple[str, str]:
    """(text, name) of FILE, or of stdin for ``-`` or no FILE."""
    if file is not None and file != "-":
        from seqlab.data.text import read_text

        return read_text(Path(file)), file
    if sys.stdin is None or sys.stdin.isatty():
        raise fail("nothing to read: give FILE, or pipe the input on stdin")
    return sys.stdin.read(), "<stdin>"


def _conll(file: str | None, **kwargs: Any) -> list[Sentence]:
    """Sentences of a CoNLL FILE (or stdin)."""
    from seqlab.data.conll import read_conll, read_conll_text

    if file is not None and file != "-":
        return read_conll(Path(file), **kwargs)
    text, name = _read_text(file)
    return read_conll_text(text, name=name, **kwargs)


def _text_sentences(file: str | None, raw: bool) -> list[list[str]]:
    """One sentence per line: whitespace-separated tokens, or tokenised text (``--raw``);
    blank lines are kept as empty sentences (and printed as empty lines)."""
    from seqlab.data.text import tokenize_words

    text, name = _read_text(file)
    lines = text.splitlines()
    sentences = [tokenize_words(ln) if raw else ln.split() for ln in lines]
    if not any(sentences):
        raise fail(f"{name}: nothing to tag (no token)")
    return sentences


# -- output --------------------------------------------------------------------------------


def _brackets(tokens: list[str], tags: list[str]) -> str:
    """``[PER Harry Potter] went to [LOC London]``."""
    from seqlab.data.conll import tag_spans

    words = list(tokens)
    for kind, start, end in reversed(tag_spans(tags)):
        words[start:end] = [f"[{kind} {' '.join(tokens[start:end])}]"]
    return " ".join(words)


def _json_line(tokens: list[str], tags: list[str]) -> str:
    from seqlab.data.conll import tag_spans

    entities = [
        {"type": k, "start": s, "end": e, "text": " ".join(tokens[s:e])}
        for k, s, e in tag_spans(tags)
    ]
    return json.dumps({"tokens": tokens, "tags": tags, "entities": entities}, ensure_ascii=False)


_FORMATS = ("text", "brackets", "conll", "json")


@app.command()
@user_errors
def predict(
    model_dir: Path = typer.Argument(..., help="A model directory from `seqlab tag train`."),
    file: str | None = typer.Argument(None, help="Input file; - or nothing: stdin."),
    raw: bool = typer.Option(
        False, "--raw", help="Lines are plain text: split words and punctuation first."
    ),
    conll: bool = typer.Option(
        False, "--conll", help="The input is CoNLL (tokens in the first column)."
    ),
    output: str = typer.Option(
        "text",
        "--format",
        "-f",
        help="text (Harry/B-PER), brackets (each entity in square brackets after its "
        "type), conll (the predicted tag appended as a last column) or json (one object "
        "per sentence, with its entities).",
    ),
) -> None:
    """Tag sentences: one per line (whitespace-separated tokens, or --raw text) or CoNLL."""
    if output not in _FORMATS:
        raise fail(f"--format must be one of {', '.join(_FORMATS)}, got {output!r}")
    if raw and conll:
        raise fail("give --raw or --conll, not both")
    from seqlab.data.conll import Sentence, write_conll
    from seqlab.tasks.tagger import Tagger

    tagger = Tagger.load(model_dir)
    if conll:
        sentences = _conll(file, tag_column=None)
        tokens = [list(s.tokens) for s in sentences]
    else:
        tokens = _text_sentences(file, raw)
        sentences = [Sentence(tuple(t), (), tuple((w,) for w in t)) for t in tokens]
    tags = tagger.predict(tokens)
    if output == "conll":
        kept = [(s, t) for s, t in zip(sentences, tags, strict=True) if s.tokens]
        write_conll(sys.stdout, [s for s, _ in kept], [t for _, t in kept])
        return
    for words, row in zip(tokens, tags, strict=True):
        if output == "json":
            typer.echo(_json_line(words, row))
        elif output == "brackets":
            typer.echo(_brackets(words, row))
        else:
            typer.echo(" ".join(f"{w}/{t}" for w, t in zip(words, row, strict=True)))


def _print_scores(scores: TaggingScores, json_out: bool, extra: dict[str, Any] | None) -> None:
    if json_out:
        print_json({**scores.to_dict(), **(extra or {})})
    else:
        typer.echo(scores.format_table())


def _mode(mode: str) -> Any:
    if mode not in ("strict", "conlleval"):
        raise fail(f"--mode must be strict or conlleval, got {mode!r}")
    return mode


_MODE_HELP = (
    "strict (an entity is exactly B-X I-X*, as seqeval's strict mode) or conlleval "
    "(lenient: an I-X after O starts an entity, as the CoNLL script)."
)


@app.command()
@user_errors
def evaluate(
    model_dir: Path = typer.Argument(..., help="A model directory from `seqlab tag train`."),
    data: str = typer.Option(..., "--data", help="Tagged CoNLL file (- : stdin)."),
    scheme: str = typer.Option("auto", "--scheme", help=_SCHEME_HELP),
    tag_column: int = typer.Option(-1, help="Column of the gold tags (0-based, -1: the last)."),
    mode: str = typer.Option("strict", "--mode", help=_MODE_HELP),
    errors: bool = typer.Option(
        False, "--errors", help="List the wrong entities (missed and spurious) with their sentence."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Entity precision, recall and F1 per type of a model on a tagged CoNLL file."""
    from seqlab.metrics.tagging import entity_scores, wrong_spans
    from seqlab.tasks.tagger import Tagger

    chosen = _mode(mode)
    tagger = Tagger.load(model_dir)
    sentences = _conll(data, tag_column=tag_column, scheme=_reader_scheme(scheme))
    gold = [list(s.tags) for s in sentences]
    predicted = tagger.predict([list(s.tokens) for s in sentences])
    scores = entity_scores(gold, predicted, mode=chosen)
    wrong = wrong_spans(gold, predicted, mode=chosen) if errors else []
    listed = [
        {
            "kind": e.kind,
            "type": e.type,
            "sentence": e.sentence,
            "start": e.start,
            "end": e.end,
            "text": " ".join(sentences[e.sentence].tokens[e.start : e.end]),
            "context": " ".join(sentences[e.sentence].tokens),
        }
        for e in wrong
    ]
    _print_scores(scores, json_out, {"errors": listed} if errors else None)
    if not json_out and errors:
        typer.echo(f"\n{len(listed)} wrong entities:")
        for e in listed:
            typer.echo(
                f"{e['kind']:<8} {e['type']:<5} {e['text']!r} (sentence {e['sentence']}, "
                f"tokens {e['start']}-{e['end']}): {e['context']}"
            )


@app.command()
@user_errors
def score(
    file: str = typer.Argument(
        ..., help="CoNLL file whose last two columns are the gold and predicted tags (- : stdin)."
    ),
    mode: str = typer.Option("strict", "--mode", help=_MODE_HELP),
    scheme: str = typer.Option(
        "iob2",
        "--scheme",
        help="Scheme of both tag columns: iob2, iobes, or iob1 (converted to IOB2 first).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Score predicted tags against gold ones as conlleval does (no model needed)."""
    from seqlab.metrics.tagging import entity_scores

    chosen = _mode(mode)
    if scheme not in ("iob1", "iob2", "iobes"):
        raise fail(f"--scheme must be iob1, iob2 or iobes, got {scheme!r}")
    read = "iob1" if scheme == "iob1" else None  # IOB1 is converted; IOB2/IOBES read as is
    if file == "-":
        text, name = _read_text(file)
        from seqlab.data.conll import read_conll_text

        def columns(column: int) -> list[Sentence]:
            return read_conll_text(text, name=name, tag_column=column, scheme=read)
    else:
        from seqlab.data.conll import read_conll

        def columns(column: int) -> list[Sentence]:
            return read_conll(Path(file), tag_column=column, scheme=read)

    gold = [list(s.tags) for s in columns(-2)]
    predicted = [list(s.tags) for s in columns(-1)]
    strict_scheme = "iobes" if scheme == "iobes" else "iob2"
    _print_scores(entity_scores(gold, predicted, mode=chosen, scheme=strict_scheme), json_out, None)
