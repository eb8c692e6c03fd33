"""``seqlab lm train|sample|score|evaluate|diagnose``: recurrent and Transformer language
models."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from seqlab.cli import _train
from seqlab.cli._common import fail, name_flags, print_json, user_errors
from seqlab.cli._train import (
    TrainOptions,
    config_default,
    override,
    train_and_report,
    train_options,
)
from seqlab.tasks.language_model import MAX_SAMPLE_LENGTH, PRESET, TRANSFORMER_PRESET

app = typer.Typer(
    help="Language models: train, sample novel sequences, score sentences, evaluate, "
    "diagnose gradient flow.",
    no_args_is_help=True,
)


_PRESETS = {"rnn": PRESET, "transformer": TRANSFORMER_PRESET}


def _d(field: str) -> str:
    """``(default: rnn X, transformer Y)`` of a task-config field (dotted: ``model.dropout``)."""
    return config_default(field, _PRESETS)


def _r(field: str) -> str:
    """The RNN preset's default of a task-config field."""
    return config_default(field, {"rnn": PRESET})


def _t(field: str) -> str:
    """The transformer preset's default of a task-config field."""
    return config_default(field, {"transformer": TRANSFORMER_PRESET})


# the task and network config fields -> `lm train`'s options (error messages name the flags);
# vocab_size, corpus, arch and bidirectional have none: they are never the user's value
_TRAIN_FLAGS = {
    "level": "--tokenizer",
    "vocab_size": "--vocab-size",
    "unit": "--unit",
    "bptt": "--bptt",
    "min_count": "--min-count",
    "max_vocab": "--max-vocab",
    "cell": "--cell",
    "embedding_dim": "--embedding",
    "input_size": "--embedding",
    "hidden_size": "--hidden",
    "num_layers": "--layers",
    "dropout": "--dropout",
    "reset_after=False": "--reset-before",
    "reset_after": "--reset-before",
    "peephole=True": "--peephole",
    "peephole": "--peephole",
    "impl": "--impl",
    "valid_fraction": "--valid-fraction",
    "d_model": "--d-model",
    "num_heads": "--heads",
    "dim_feedforward": "--ff",
    "max_positions": "--bptt",
}


@app.command()
@user_errors
@train_options(_PRESETS, flags=_TRAIN_FLAGS)
def train(
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
    dataset: str | None = typer.Option(
        None, help="Built-in corpus: dinos, sonnets or tinyshakespeare."
    ),
    text: Path | None = typer.Option(
        None,
        help="Train on this UTF-8 text file (.gz too) instead, of any size: with --unit text it "
        "is encoded once into a memory-mapped token file, cached in $SEQLAB_CACHE "
        "(default ~/.cache/seqlab).",
    ),
    valid: Path | None = typer.Option(
        None, help="Validate on this text file (default: the tail of --text)."
    ),
    valid_fraction: float = typer.Option(
        0.1,
        help="Without --valid: the share of --text that validates: the last lines (--unit "
        "line) or the contiguous tail (--unit text); 0: no validation.",
    ),
    tokenizer: str | None = typer.Option(None, help=f"{_train.TOKENIZER_HELP} {_d('level')}."),
    level: str | None = typer.Option(None, help="The older name of --tokenizer."),
    vocab_size: int = typer.Option(8000, help=f"{_train.VOCAB_SIZE_HELP}."),
    unit: str | None = typer.Option(
        None, help="line (each line a sequence) or text (one stream); default: the corpus's."
    ),
    arch: str = typer.Option("rnn", help=_train.ARCH_HELP),
    cell: str | None = typer.Option(None, help=f"rnn: rnn, gru or lstm {_r('model.cell')}."),
    reset_before: bool = typer.Option(
        False, "--reset-before", help="GRU: the course's original GRU (reset before the product)."
    ),
    peephole: bool = typer.Option(False, help="LSTM: peephole connections."),
    impl: str | None = typer.Option(
        None,
        help="rnn: recurrence kernel (same function): auto, fused (torch's), bptt, loop "
        "(default: auto).",
    ),
    layers: int | None = typer.Option(None, help=f"Stacked layers {_d('model.num_layers')}."),
    hidden: int | None = typer.Option(None, help=f"rnn: hidden size H {_r('model.hidden_size')}."),
    embedding: int | None = typer.Option(
        None, help=f"rnn: embedding size E {_r('model.embedding_dim')}."
    ),
    d_model: int | None = typer.Option(
        None, help=f"transformer: width d_model {_t('model.d_model')}."
    ),
    heads: int | None = typer.Option(
        None, help=f"transformer: attention heads {_t('model.num_heads')}."
    ),
    ff: int | None = typer.Option(
        None, help=f"transformer: feed-forward width {_t('model.dim_feedforward')}."
    ),
    dropout: float | None = typer.Option(None, help=f"Dropout {_d('model.dropout')}."),
    bptt: int | None = typer.Option(
        None,
        help=f"Tokens per training window {_d('bptt')}: the RNN's truncated-BPTT window, "
        "the transformer's context (it sees no further back).",
    ),
    min_count: int = typer.Option(1, help="Rarer tokens become <UNK>."),
    max_vocab: int | None = typer.Option(
        None, help="Vocabulary of at most N tokens, specials included (the rarer become <UNK>)."
    ),
    *,
    train_opts: TrainOptions,
) -> None:
    """Train a character-, word- or subword-level (BPE) language model: an RNN, or a
    decoder-only Transformer (--arch transformer)."""
    from seqlab.data.datasets import TextFile, load_dataset
    from seqlab.tasks.language_model import LanguageModel

    if dataset is not None and text is None:
        if valid is not None:
            raise fail("--valid goes with --text (a built-in corpus has its own split)")
        corpus: Any = load_dataset(dataset)
    elif text is not None and dataset is None:
        corpus = TextFile(
            path=text, valid=valid, valid_fraction=valid_fraction, unit=unit or "text"
        )  # type: ignore[arg-type]
        if corpus.unit == "line":
            with _flags_in_hints():
                corpus = corpus.read()
    else:
        raise fail("give exactly one of --dataset NAME or --text FILE")
    rnn_only = {"--cell": cell, "--hidden": hidden, "--embedding": embedding, "--impl": impl}
    rnn_only |= {"--reset-before": reset_before, "--peephole": peephole}
    tf_only = {"--d-model": d_model, "--heads": heads, "--ff": ff}
    _train.check_arch(arch, {"rnn": rnn_only, "transformer": tf_only})
    train_opts.apply_threads()
    level = _train.tokens_choice(tokenizer, level) or "char"
    preset = _PRESETS[arch]
    if arch == "transformer":
        # the positions a transformer learns are those of its training window
        context = bptt or TRANSFORMER_PRESET.config.model.max_positions  # type: ignore[union-attr]
        network = {
            "model.d_model": d_model,
            "model.num_heads": heads,
            "model.max_positions": context,
        }
        network["model.dim_feedforward"] = ff
    else:
        network = {"model.cell": cell, "model.embedding_dim": embedding, "model.impl": impl}
        network |= {"model.hidden_size": hidden, "model.reset_after": not reset_before}
        network["model.peephole"] = peephole
    config = override(
        preset.config,
        {
            "level": level,
            "vocab_size": vocab_size,
            "unit": unit or corpus.unit,
            "model.num_layers": layers,
            "model.dropout": dropout,
            **network,
            "bptt": bptt,
            "batch_size": train_opts.batch_size,
            "min_count": min_count,
            "max_vocab": max_vocab,
            "corpus": dataset or str(text),
        },
    )
    with _flags_in_hints():
        train_and_report(
            LanguageModel,
            corpus,
            out,
            config,
            train_opts.train_config(preset.train),
            train_opts,
            lambda lm: ({"vocab_size": len(lm.vocab)}, f"vocabulary {len(lm.vocab)}"),
            bits_per_char=level == "char",
        )


@contextmanager
def _flags_in_hints() -> Iterator[None]:
    """A data error's advice in the command's words: ``valid_fraction=0`` reads
    ``--valid-fraction=0`` (the message itself names files, and stays as it is)."""
    from seqlab._io import DataError

    try:
        yield
    except DataError as err:
        hint = name_flags(err.hint, _TRAIN_FLAGS)
        raise DataError(err.path, err.problem, hint=hint, line=err.line) from None


class _SamplePrinter:
    """Print sampled text as it is drawn (``LanguageModel.sample``'s ``on_text``): one
    sequence token by token, as llama.cpp and HF's TextStreamer do; several (drawn together)
    each as soon as it and the ones before it are complete, in order."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pieces: list[list[str]] = [[] for _ in range(n)]
        self.done = [False] * n
        self.next = 0  # the first sequence not printed yet

    def __call__(self, i: int, piece: str | None) -> None:
        if self.n == 1:
            typer.echo(piece if piece is not None else "", nl=piece is None)
            return
        if piece is not None:
            self.pieces[i].append(piece)
            return
        self.done[i] = True
        while self.next < self.n and self.done[self.next]:
            typer.echo("".join(self.pieces[self.next]))
            self.pieces[self.next] = []
            self.next += 1


@app.command()
@user_errors
def sample(
    model_dir: Path = typer.Argument(..., help="A model directory from `seqlab lm train`."),
    n: int = typer.Option(10, "-n", help="How many sequences."),
    temperature: float = typer.Option(1.0, help="Softmax temperature."),
    top_k: int | None = typer.Option(None, help="Keep the K most probable tokens."),
    top_p: float | None = typer.Option(None, help="Nucleus sampling mass."),
    prefix: str = typer.Option("", help="Start every sequence with this text."),
    max_length: int = typer.Option(
        200,
        help=f"Maximum tokens drawn per sequence, at most {MAX_SAMPLE_LENGTH:,} (after "
        "--prefix; text models stop here).",
    ),
    seed: int | None = typer.Option(None, help="Random seed (reproducible samples)."),
    no_unk: bool = typer.Option(True, "--no-unk/--allow-unk", help="Never emit <UNK>."),
    greedy: bool = typer.Option(False, help="Take the most probable token (no sampling)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Sample novel sequences from a trained model.

    The text is printed while it is drawn: with -n 1, token by token; with several
    sequences (drawn together), each as soon as it and the ones before it are complete.
    --json prints the list at the end.
    """
    from seqlab.tasks.language_model import LanguageModel

    if n < 1:
        raise fail(f"-n must be >= 1, got {n}")
    if not 1 <= max_length <= MAX_SAMPLE_LENGTH:
        raise fail(f"--max-length must be between 1 and {MAX_SAMPLE_LENGTH:,}, got {max_length:,}")
    lm = LanguageModel.load(model_dir)
    texts = lm.sample(
        n,
        max_length=max_length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        prefix=prefix,
        seed=seed,
        no_unk=no_unk,
        greedy=greedy,
        on_text=None if json_out else _SamplePrinter(n),
    )
    if json_out:
        print_json(texts)


@app.command()
@user_errors
def score(
    model_dir: Path = typer.Argument(..., help="A model directory."),
    sentences: list[str] = typer.Argument(..., help="Sentence(s) to score."),
    compare: bool = typer.Option(False, help="Rank the sentences by probability."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """log P(sentence) with per-token surprisal, or a ranking with --compare."""
    from seqlab.tasks.language_model import LanguageModel

    for i, sentence in enumerate(sentences, 1):
        if not sentence.strip():
            which = f"sentence {i} is" if len(sentences) > 1 else "the sentence is"
            raise fail(f"nothing to score: {which} empty")
    lm = LanguageModel.load(model_dir)
    scores = [lm.score(s) for s in sentences]
    if json_out:
        print_json([s.to_dict() for s in scores])
        return
    if compare or len(scores) > 1:
        ranked = sorted(scores, key=lambda s: -s.log_prob)
        typer.echo(f"{'rank':>4}  {'log P':>10}  {'perplexity':>10}  sentence")
        for i, s in enumerate(ranked, 1):
            typer.echo(f"{i:>4}  {s.log_prob:>10.3f}  {s.perplexity:>10.2f}  {s.text}")
        return
    s = scores[0]
    typer.echo(f"{'token':<16} {'log P':>9} {'surprisal (bits)':>17}")
    for tok, lp in zip(s.tokens, s.log_probs, strict=True):
        shown = repr(tok) if tok.isspace() or not tok else tok
        typer.echo(f"{shown:<16} {lp:>9.3f} {-lp / math.log(2):>17.2f}")
    typer.echo(
        f"log P(sentence) = {s.log_prob:.3f} nats ({s.log_prob / math.log(10):.3f} log10), "
        f"perplexity {s.perplexity:.2f} over {len(s.tokens)} tokens"
    )


@app.command()
@user_errors
def evaluate(
    model_dir: Path = typer.Argument(..., help="A model directory."),
    text: Path = typer.Option(..., help="Held-out UTF-8 text file."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Perplexity (and bits per character) on held-out text."""
    from seqlab.data.text import read_text
    from seqlab.tasks.language_model import LanguageModel

    lm = LanguageModel.load(model_dir)
    result = lm.evaluate(read_text(text))
    unknown = result["unknown_tokens"]
    if unknown:
        counted = f"{unknown:,} tokens are" if unknown > 1 else "1 token is"
        typer.echo(
            f"warning: {text}: {counted} not in the model's vocabulary (read and scored as <UNK>)",
            err=True,
        )
    if json_out:
        print_json(result)
        return
    typer.echo(f"tokens      {result['tokens']}")
    typer.echo(f"loss        {result['loss']:.4f} nats/token")
    typer.echo(f"perplexity  {result['perplexity']:.3f}")
    if "bits_per_char" in result:
        typer.echo(f"bits/char   {result['bits_per_char']:.4f}")


@app.command()
@user_errors
def diagnose(
    model_dir: Path = typer.Argument(..., help="A model directory."),
    text: Path = typer.Option(..., help="UTF-8 text file the model reads (its first tokens)."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write (the two panels)."),
    length: int = typer.Option(200, help="Steps T: read the first T tokens, predict each next."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (every step's norms)."),
) -> None:
    """Vanishing gradients: ‖∂L/∂a<t>‖ per step and ‖∂a<T>/∂a<t>‖ by distance T − t.

    The model reads the first T tokens of the text as one stream (a line model: each line
    followed by <EOS>); L is the mean cross-entropy of each next token; a<t> is the top
    layer's activation.
    """
    import torch

    from seqlab._io import DataError
    from seqlab.cli._common import output_path
    from seqlab.data.text import read_text, sequences
    from seqlab.nn.diagnostics import gradient_flow
    from seqlab.tasks.language_model import LanguageModel
    from seqlab.viz.gradient_flow import plot_gradient_flow

    if length < 1:
        raise fail(f"--length must be >= 1, got {length}")
    output_path(out, "--out")
    lm = LanguageModel.load(model_dir)
    level, unit = lm.config.level, lm.config.unit
    stream = [tok for seq in sequences(read_text(text), level, unit=unit) for tok in seq]
    if len(stream) < 2:
        raise DataError(text, f"{len(stream)} token(s); need at least 2", hint="give more text")
    ids = torch.tensor(lm.vocab.encode(stream[: length + 1]))  # (T+1,)
    flow = gradient_flow(lm.model, ids[:-1], ids[1:])  # inputs, next tokens: (T,) each
    plot_gradient_flow({f"{model_dir.name} ({flow.cell})": flow}, out)
    if json_out:
        print_json({"figure": str(out), **flow.to_dict()})
        return
    layers = f"{flow.num_layers} layer{'s' if flow.num_layers > 1 else ''}"
    typer.echo(
        f"{flow.cell}, {layers}, H {flow.hidden_size}: {flow.steps} step"
        f"{'s' if flow.steps > 1 else ''} of {text.name}, "
        f"loss {flow.loss:.4f} nats/token"
    )
    typer.echo(f"{'T − t':>6}  {'‖∂a<T>/∂a<t>‖':>14}  {'‖∂L/∂a<t>‖':>12}")
    for d in (1, 10, 50, 100, 200, 500, 1000, 2000, 5000):
        if d < flow.steps:
            grad = flow.loss_grad_norms[flow.steps - 1 - d]
            typer.echo(f"{d:>6}  {flow.jacobian_norm(d):>14.3e}  {grad:>12.3e}")
    typer.echo(f"wrote {out}")
