"""``seqlab lm train|sample|score|evaluate``: recurrent language models."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from seqlab.cli._common import fail, print_json, user_errors
from seqlab.cli._train import TrainOptions, override, train_and_report, train_options
from seqlab.tasks.language_model import PRESET

app = typer.Typer(
    help="Language models: train, sample novel sequences, score sentences, evaluate.",
    no_args_is_help=True,
)


_PRESETS = {"lm": PRESET}


@app.command()
@user_errors
@train_options(_PRESETS)
def train(
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
    dataset: str | None = typer.Option(
        None, help="Built-in corpus: dinos, sonnets or tinyshakespeare."
    ),
    text: Path | None = typer.Option(None, help="Train on this UTF-8 text file instead."),
    level: str = typer.Option("char", help="Tokens: char or word."),
    unit: str | None = typer.Option(
        None, help="line (each line a sequence) or text (one stream); default: the corpus's."
    ),
    cell: str = typer.Option("lstm", help="rnn, gru or lstm."),
    reset_before: bool = typer.Option(
        False, "--reset-before", help="GRU: the course's original GRU (reset before the product)."
    ),
    peephole: bool = typer.Option(False, help="LSTM: peephole connections."),
    impl: str = typer.Option(
        "auto", help="Recurrence kernel (same function): auto, fused (torch's), bptt, loop."
    ),
    layers: int = typer.Option(2, help="Stacked recurrent layers."),
    hidden: int = typer.Option(256, help="Hidden size H."),
    embedding: int = typer.Option(64, help="Embedding size E."),
    dropout: float = typer.Option(0.0, help="Dropout."),
    bptt: int = typer.Option(100, help="Truncated-BPTT window (tokens per training sequence)."),
    min_count: int = typer.Option(1, help="Rarer tokens become <UNK>."),
    max_vocab: int | None = typer.Option(
        None, help="Vocabulary of at most N tokens, specials included (the rarer become <UNK>)."
    ),
    *,
    train_opts: TrainOptions,
) -> None:
    """Train a character- or word-level language model."""
    from seqlab.data.datasets import TextCorpus, load_dataset
    from seqlab.tasks.language_model import LanguageModel

    if (dataset is None) == (text is None):
        raise fail("give exactly one of --dataset NAME or --text FILE")
    train_opts.apply_threads()
    if dataset is not None:
        corpus = load_dataset(dataset)
    else:
        assert text is not None
        corpus = TextCorpus.from_file(text, unit=unit or "text")  # type: ignore[arg-type]
    config = override(
        PRESET.config,
        {
            "level": level,
            "unit": unit or corpus.unit,
            "model.cell": cell,
            "model.embedding_dim": embedding,
            "model.hidden_size": hidden,
            "model.num_layers": layers,
            "model.dropout": dropout,
            "model.reset_after": not reset_before,
            "model.peephole": peephole,
            "model.impl": impl,
            "bptt": bptt,
            "batch_size": train_opts.batch_size,
            "min_count": min_count,
            "max_vocab": max_vocab,
            "corpus": dataset or str(text),
        },
    )
    train_and_report(
        LanguageModel,
        corpus,
        out,
        config,
        train_opts.train_config(PRESET.train),
        train_opts,
        lambda lm: ({"vocab_size": len(lm.vocab)}, f"vocabulary {len(lm.vocab)}"),
        bits_per_char=level == "char",
    )


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
        200, help="Maximum tokens drawn per sequence (after --prefix; text models stop here)."
    ),
    seed: int | None = typer.Option(None, help="Random seed (reproducible samples)."),
    no_unk: bool = typer.Option(True, "--no-unk/--allow-unk", help="Never emit <UNK>."),
    greedy: bool = typer.Option(False, help="Take the most probable token (no sampling)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Sample novel sequences from a trained model."""
    from seqlab.tasks.language_model import LanguageModel

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
    )
    if json_out:
        print_json(texts)
    else:
        for t in texts:
            typer.echo(t)


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
    if json_out:
        print_json(result)
        return
    typer.echo(f"tokens      {int(result['tokens'])}")
    typer.echo(f"loss        {result['loss']:.4f} nats/token")
    typer.echo(f"perplexity  {result['perplexity']:.3f}")
    if "bits_per_char" in result:
        typer.echo(f"bits/char   {result['bits_per_char']:.4f}")
