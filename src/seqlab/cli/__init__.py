"""The ``seqlab`` command line: one entry point, one subcommand group per task.

Human-readable output by default, ``--json`` for machines; exit 0 on success, 2 on bad
usage or bad input with a one-line message (never a traceback for a user mistake).
"""

from __future__ import annotations

import sys

import typer

from seqlab.cli.bleu import bleu
from seqlab.cli.embed import app as embed_app
from seqlab.cli.info import info
from seqlab.cli.lm import app as lm_app
from seqlab.cli.translate import app as translate_app

app = typer.Typer(
    name="seqlab",
    help="seqlab: the classic sequence-models curriculum as faithful, fast, usable software.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("info", help="Versions of seqlab, torch, numpy and Python; devices and threads.")(info)
app.command("bleu", help="BLEU against reference files, sacreBLEU-compatible (stdin or -i).")(bleu)
app.add_typer(lm_app, name="lm")
app.add_typer(embed_app, name="embed")
app.add_typer(translate_app, name="translate")


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
