"""``seqlab lm train|sample|score|evaluate``: recurrent language models."""

from __future__ import annotations

import math
import os
from pathlib import Path

import typer

from seqlab.cli._common import exit_if_interrupted, fail, print_json, user_errors

app = typer.Typer(
    help="Language models: train, sample novel sequences, score sentences, evaluate.",
    no_args_is_help=True,
)


@app.command()
@user_errors
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
    batch_size: int = typer.Option(32, help="Sequences per step."),
    min_count: int = typer.Option(1, help="Rarer tokens become <UNK>."),
    max_vocab: int | None = typer.Option(
        None, help="Vocabulary of at most N tokens, specials included (the rarer become <UNK>)."
    ),
    steps: int = typer.Option(2000, help="Training steps."),
    lr: float = typer.Option(2e-3, help="Learning rate."),
    optimizer: str = typer.Option("adamw", help="adamw or sgd."),
    weight_decay: float = typer.Option(0.0, help="AdamW decoupled decay; SGD: L2 penalty."),
    momentum: float = typer.Option(0.9, help="SGD momentum (0: plain SGD)."),
    warmup: int = typer.Option(0, help="Linear learning-rate warm-up steps."),
    clip: str = typer.Option("norm", help="Gradient clipping: none, norm or value."),
    clip_threshold: float = typer.Option(1.0, help="Clip norm, or value bound (course: 5)."),
    schedule: str = typer.Option("constant", help="constant, cosine or linear."),
    eval_every: int = typer.Option(200, help="Validate every N steps."),
    time_budget: str | None = typer.Option(None, help="Stop after this long, e.g. 10m."),
    patience: int | None = typer.Option(None, help="Early stopping after N evaluations."),
    checkpoint_every: int = typer.Option(500, help="Write a checkpoint every N steps."),
    checkpoint_minutes: float = typer.Option(5.0, help="... and at least every M minutes."),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    resume: bool = typer.Option(False, help="Continue an interrupted run in --out."),
    progress: bool = typer.Option(True, help="Progress bar on stderr."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Train a character- or word-level language model."""
    from seqlab.data.datasets import Corpus, load_dataset
    from seqlab.models.rnn_lm import LMConfig
    from seqlab.tasks.language_model import LanguageModel, LMTaskConfig
    from seqlab.train import TrainConfig, parse_duration

    if (dataset is None) == (text is None):
        raise fail("give exactly one of --dataset NAME or --text FILE")
    if dataset is not None:
        corpus = load_dataset(dataset)
    else:
        assert text is not None
        corpus = Corpus.from_file(text, unit=unit or "text")
    config = LMTaskConfig(
        level=level,  # type: ignore[arg-type]
        unit=(unit or corpus.unit),  # type: ignore[arg-type]
        model=LMConfig(
            vocab_size=2,  # set from the vocabulary when it is built
            cell=cell,
            embedding_dim=embedding,
            hidden_size=hidden,
            num_layers=layers,
            dropout=dropout,
            reset_after=not reset_before,
            peephole=peephole,
            impl=impl,
        ),
        bptt=bptt,
        batch_size=batch_size,
        min_count=min_count,
        max_vocab=max_vocab,
        corpus=dataset or str(text),
    )
    train_config = TrainConfig(
        optimizer=optimizer,  # type: ignore[arg-type]
        lr=lr,
        weight_decay=weight_decay,
        momentum=momentum,
        warmup_steps=warmup,
        clip=clip,  # type: ignore[arg-type]
        clip_threshold=clip_threshold,
        schedule=schedule,  # type: ignore[arg-type]
        max_steps=steps,
        eval_every=eval_every,
        time_budget=parse_duration(time_budget) if time_budget else None,
        early_stopping_patience=patience,
        checkpoint_every_steps=checkpoint_every,
        checkpoint_every_seconds=checkpoint_minutes * 60,
        seed=seed,
        device=device,
        progress=progress,
    )
    lm, result = LanguageModel.train(corpus, out, config, train_config, resume=resume)
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 reports
        return
    summary = {
        "out": str(out),
        "steps": result.steps,
        "stopped_because": result.stopped_because,
        "seconds": round(result.seconds, 1),
        "best_valid_loss": result.best_valid,
        "vocab_size": len(lm.vocab),
    }
    if json_out:
        print_json(summary)
        exit_if_interrupted(result.stopped_because, result.steps, out)
        return
    typer.echo(
        f"trained {result.steps} steps in {result.seconds:.0f} s ({result.stopped_because}); "
        f"vocabulary {len(lm.vocab)}"
    )
    if result.best_valid is not None:
        bits = f", {result.best_valid / math.log(2):.3f} bits/char" if level == "char" else ""
        typer.echo(f"best validation loss {result.best_valid:.4f} nats/token{bits}")
    typer.echo(f"model directory: {out}  (loss curve: {out / 'loss_curve.png'})")
    exit_if_interrupted(result.stopped_because, result.steps, out)


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
