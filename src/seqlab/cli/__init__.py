"""The ``seqlab`` command line: one entry point, one subcommand group per task.

Human-readable output by default, ``--json`` for machines; exit 0 on success, 2 on bad
usage or bad input with a one-line message (never a traceback for a user mistake).

Each subcommand's module is imported only when that subcommand runs (or its help is shown):
``seqlab bleu`` and ``seqlab --help`` never import torch. ``seqlab --help`` lists the
commands from the table below, without importing them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperCommand

from seqlab.cli._help import ListingGroup, plain_text, polish, polish_params

_HELP = "seqlab: the classic sequence-models curriculum as faithful, fast, usable software."

# name -> (module, attribute: a typer.Typer group or a command function, short help); the
# short help is what `seqlab --help` lists (tests/test_cli_startup.py checks it matches)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "info": (
        "seqlab.cli.info",
        "info",
        "Versions of seqlab, torch, numpy and Python; devices and threads.",
    ),
    "bleu": (
        "seqlab.cli.bleu",
        "bleu",
        "BLEU against reference files, sacreBLEU-compatible (stdin or -i).",
    ),
    "lm": (
        "seqlab.cli.lm",
        "app",
        "Language models: train, sample novel sequences, score sentences, evaluate, "
        "diagnose gradient flow.",
    ),
    "embed": (
        "seqlab.cli.embed",
        "app",
        "Word embeddings: train (word2vec, GloVe, NNLM), similar words, analogies, "
        "evaluation, t-SNE/PCA maps, debiasing, format conversion.",
    ),
    "translate": (
        "seqlab.cli.translate",
        "app",
        "Translation and date normalisation with an attentive encoder-decoder (RNN or "
        "Transformer): train, "
        "decode (greedy/beam, attention heatmaps), evaluate (exact match, BLEU), analyze "
        "(beam-search error analysis).",
    ),
    "classify": (
        "seqlab.cli.classify",
        "app",
        "Sequence classifiers: train (averaged embeddings or an RNN; words, characters, "
        "subwords or feature sequences; GloVe/word2vec vectors), evaluate (accuracy, macro-F1, "
        "confusion matrix), predict (top-k labels, --explain).",
    ),
    "tag": (
        "seqlab.cli.tag",
        "app",
        "Named-entity tagging with a BiLSTM(-CRF): train on CoNLL files, predict tags or "
        "entities, evaluate (entity F1 per type), score a gold/predicted CoNLL file.",
    ),
    "speech": (
        "seqlab.cli.speech",
        "app",
        "Speech: show a recording's spectrogram; train a speech recognizer, CTC or attention "
        "(LAS), on FSDD digits or a transcript file; transcribe WAV/FLAC (and plot how); "
        "evaluate WER and CER.",
    ),
    "wake": (
        "seqlab.cli.wake",
        "app",
        "Trigger words: synthesize clips (the course's recipe), train a detector, detect in a "
        "recording (with chimes), evaluate (false accepts per hour, misses, DET curve).",
    ),
    "music": (
        "seqlab.cli.music",
        "app",
        "Music: train an LSTM on MIDI files (the course's jazz piece, music21's Bach chorales), "
        "generate MIDI and "
        "WAV, evaluate (NLL per event beside an n-gram, musical statistics), draw piano rolls.",
    ),
    "caption": (
        "seqlab.cli.caption",
        "app",
        "Image captioning with attention over image regions (Show, Attend and Tell): train "
        "(generated scenes or a folder of images), predict (greedy/beam/sampling, attention "
        "overlays), evaluate (BLEU-4, exact match, meaning accuracy), analyze (beam-search error "
        "analysis).",
    ),
    "export": (
        "seqlab.cli.export",
        "export",
        "Export a speech recognizer (CTC) or a trigger-word detector (streaming) to ONNX for "
        "onnxruntime (--onnx FILE).",
    ),
}


def load_command(name: str) -> Any:
    """The click command ``seqlab NAME`` (importing its module), help polished."""
    module, attribute, short_help = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:  # a command function: the root's short help is its help, as `seqlab --help` says
        single = typer.Typer(add_completion=False)
        single.command(name, help=short_help)(target)
        command = typer.main.get_command(single)
    command.name = name
    return polish(command)


class _Commands(MutableMapping[str, Any]):
    """The root's subcommands: the names from :data:`COMMANDS`, each loaded on first use."""

    def __init__(self, given: MutableMapping[str, Any]) -> None:
        self._loaded: dict[str, Any] = dict(given)

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = load_command(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self._loaded if name not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(name not in COMMANDS for name in self._loaded)

    def listed(self, name: str) -> Any:
        """The command if loaded, else a stand-in holding its short help (imports nothing)."""
        if name in self._loaded or name not in COMMANDS:
            return self._loaded.get(name)
        short_help = COMMANDS[name][2]
        return TyperCommand(name=name, help=short_help, short_help=short_help)


class LazyGroup(ListingGroup):
    """The root group (Click's "lazy loading of subcommands"): a subcommand's module is
    imported when the subcommand is resolved, and ``--help`` lists the table's short help."""

    def __init__(self, *, commands: Any = None, **attrs: Any) -> None:
        super().__init__(commands=_Commands(dict(commands or {})), **attrs)
        polish_params(self.params)
        self.help = plain_text(self.help)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names only: nothing is imported

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        commands = self.commands
        assert isinstance(commands, _Commands)
        if self._listing:
            return commands.listed(cmd_name)
        return commands.get(cmd_name)


app = typer.Typer(
    name="seqlab",
    cls=LazyGroup,
    help=_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from seqlab import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version."
    ),
) -> None:
    """seqlab: the classic sequence-models curriculum as faithful, fast, usable software."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (usage errors exit 2, as click does)."""
    try:
        app(args=argv, prog_name="seqlab", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _entry() -> None:  # console script
    sys.exit(main())
