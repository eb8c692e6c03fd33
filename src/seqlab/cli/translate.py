"""``seqlab translate train|decode|evaluate|analyze``: attentive encoder–decoder models (RNN
or Transformer)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from seqlab.cli._common import fail, output_path, print_json, user_errors
from seqlab.cli._train import (
    ARCH_HELP,
    TOKENIZER_HELP,
    VOCAB_SIZE_HELP,
    TrainOptions,
    check_arch,
    config_default,
    override,
    tokens_choice,
    train_and_report,
    train_options,
)
from seqlab.tasks.translator import DATES_TRAIN_SIZE, PRESETS, TRANSFORMER_PRESETS

if TYPE_CHECKING:
    from seqlab.decoding.beam import EarlyStopping
    from seqlab.tasks.translator import Candidate, Translator

_ALL_PRESETS = {**PRESETS, **{f"transformer {k}": p for k, p in TRANSFORMER_PRESETS.items()}}


def _d(field: str) -> str:
    """``(default: dates X, text Y)`` of an RNN task-config field (dotted: ``model.dropout``)."""
    return config_default(field, PRESETS)


def _t(field: str) -> str:
    """``(default: dates X, text Y)`` of a transformer task-config field."""
    return config_default(field, TRANSFORMER_PRESETS)


app = typer.Typer(
    help="Translation and date normalisation with an attentive encoder-decoder (RNN or "
    "Transformer): train, "
    "decode (greedy/beam, attention heatmaps), evaluate (exact match, BLEU), analyze "
    "(beam-search error analysis).",
    no_args_is_help=True,
)


# the task and network config fields -> `translate train`'s options (error messages name
# the flags); the vocabulary sizes, pad ids, max_output_length and arch are never the user's
_TRAIN_FLAGS = {
    "level": "--tokenizer",
    "vocab_size": "--vocab-size",
    "lowercase": "--lowercase",
    "min_count": "--min-count",
    "max_vocab": "--max-vocab",
    "max_length": "--max-length",
    "label_smoothing": "--label-smoothing",
    "teacher_forcing": "--teacher-forcing",
    "dataset": "--dataset",
    "cell": "--cell",
    "attention": "--attention",
    "bidirectional": "--unidirectional",
    "reset_after=False": "--reset-before",
    "reset_after": "--reset-before",
    "hidden_size": "--hidden",
    "embedding_dim": "--embedding",
    "attention_dim": "--attention-dim",
    "encoder_layers": "--encoder-layers",
    "decoder_layers": "--decoder-layers",
    "dropout": "--dropout",
    "d_model": "--d-model",
    "num_heads": "--heads",
    "num_encoder_layers": "--encoder-layers",
    "num_decoder_layers": "--decoder-layers",
    "dim_feedforward": "--ff",
    "norm_first": "--pre-norm",
}
# the search and sampling config fields -> the options of decode, evaluate and analyze
_DECODE_FLAGS = {
    "beam_size": "--beam",
    "n_best": "--n-best",
    "alpha": "--alpha",
    "early_stopping": "--early-stopping",
    "temperature": "--temperature",
    "top_k": "--top-k",
    "top_p": "--top-p",
    "seed": "--seed",
}


@app.command()
@user_errors
@train_options(_ALL_PRESETS, flags=_TRAIN_FLAGS)
def train(
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
    dataset: str | None = typer.Option(None, help="Built-in task: dates (date normalisation)."),
    src: Path | None = typer.Option(None, help="Training sources, one per line (.gz ok)."),
    tgt: Path | None = typer.Option(None, help="Training targets, line-aligned with --src."),
    valid_src: Path | None = typer.Option(None, help="Validation sources."),
    valid_tgt: Path | None = typer.Option(None, help="Validation targets."),
    pairs: Path | None = typer.Option(
        None, help="Training pairs in one file, source<TAB>target per line (Tatoeba's fra.txt)."
    ),
    valid_pairs: Path | None = typer.Option(None, help="Validation pairs, as --pairs."),
    reverse: bool = typer.Option(
        False, "--reverse", help="--pairs: translate the second column into the first."
    ),
    tokenizer: str | None = typer.Option(None, help=f"{TOKENIZER_HELP} {_d('level')}."),
    level: str | None = typer.Option(None, help="The older name of --tokenizer."),
    vocab_size: int | None = typer.Option(None, help=f"{VOCAB_SIZE_HELP} {_d('vocab_size')}."),
    lowercase: bool = typer.Option(False, help="Lower-case both sides."),
    arch: str = typer.Option("rnn", help=ARCH_HELP),
    cell: str | None = typer.Option(None, help="rnn: gru or lstm (default: gru)."),
    attention: str | None = typer.Option(
        None,
        help="rnn: bahdanau, luong-dot, luong-general or none (no attention) (default: bahdanau).",
    ),
    unidirectional: bool = typer.Option(False, help="One-direction encoder."),
    reset_before: bool = typer.Option(
        False, "--reset-before", help="GRU: the course's original GRU (reset before the product)."
    ),
    hidden: int | None = typer.Option(None, help=f"Hidden size H {_d('model.hidden_size')}."),
    embedding: int | None = typer.Option(
        None, help=f"Embedding size E {_d('model.embedding_dim')}."
    ),
    attention_dim: int | None = typer.Option(
        None, help=f"Bahdanau scoring width {_d('model.attention_dim')}."
    ),
    encoder_layers: int | None = typer.Option(
        None,
        help=f"Stacked encoder layers {_d('model.encoder_layers')}; transformer "
        f"{_t('model.num_encoder_layers')[1:-1]}.",
    ),
    decoder_layers: int | None = typer.Option(
        None,
        help=f"Stacked decoder layers {_d('model.decoder_layers')}; transformer "
        f"{_t('model.num_decoder_layers')[1:-1]}.",
    ),
    d_model: int | None = typer.Option(
        None, help=f"transformer: model width d_model {_t('model.d_model')}."
    ),
    heads: int | None = typer.Option(
        None, help=f"transformer: attention heads per layer {_t('model.num_heads')}."
    ),
    ff: int | None = typer.Option(
        None, help=f"transformer: feed-forward width {_t('model.dim_feedforward')}."
    ),
    pre_norm: bool = typer.Option(
        False, "--pre-norm", help="transformer: LayerNorm before each sublayer (default: after)."
    ),
    dropout: float | None = typer.Option(
        None, help=f"Dropout {_d('model.dropout')}; transformer {_t('model.dropout')[1:-1]}."
    ),
    min_count: int | None = typer.Option(
        None, help=f"Rarer tokens become <UNK> {_d('min_count')}."
    ),
    max_vocab: int | None = typer.Option(None, help="Keep the most frequent tokens per side."),
    max_length: int | None = typer.Option(
        None, help=f"Drop longer training pairs (tokens) {_d('max_length')}."
    ),
    label_smoothing: float | None = typer.Option(
        None, help=f"Label smoothing {_d('label_smoothing')}."
    ),
    teacher_forcing: float = typer.Option(
        1.0, help="rnn: P(feed the reference token); else the model's own argmax."
    ),
    train_size: int | None = typer.Option(
        None, help=f"dates: generated training pairs (default: {DATES_TRAIN_SIZE})."
    ),
    *,
    train_opts: TrainOptions,
) -> None:
    """Train on --dataset dates, on parallel files --src/--tgt, or on a --pairs TSV file.

    Without validation files, 2% of the training pairs (every 50th, at most 2,000) are held
    out for the validation loss. --src/--tgt and --pairs files of any size are streamed once into
    memory-mapped token files, cached under $SEQLAB_CACHE (default ~/.cache/seqlab/tokens)
    by their content and the tokenizer, so a re-run or --resume does not encode again.
    """
    from seqlab.tasks.translator import ParallelCorpus, ParallelFiles, Translator

    sources = [dataset is not None, src is not None or tgt is not None, pairs is not None]
    if sum(sources) != 1:
        raise fail("give exactly one of --dataset dates, --src FILE --tgt FILE, --pairs FILE")
    if dataset is not None and dataset != "dates":
        raise fail(f"unknown dataset {dataset!r}; built-in: dates")
    if sources[1] and (src is None or tgt is None):
        raise fail("give both --src and --tgt")
    if pairs is None and (valid_pairs is not None or reverse):
        raise fail("--valid-pairs and --reverse go with --pairs")
    if pairs is not None and (valid_src is not None or valid_tgt is not None):
        raise fail("--valid-src/--valid-tgt go with --src/--tgt; with --pairs use --valid-pairs")
    if train_size is not None and train_size < 1:
        raise fail(f"--train-size must be >= 1, got {train_size}")
    rnn_only = {"--cell": cell, "--attention": attention, "--unidirectional": unidirectional}
    rnn_only |= {"--reset-before": reset_before, "--hidden": hidden, "--embedding": embedding}
    rnn_only |= {"--attention-dim": attention_dim}
    rnn_only |= {"--teacher-forcing": None if teacher_forcing == 1.0 else teacher_forcing}
    tf_only = {"--d-model": d_model, "--heads": heads, "--ff": ff, "--pre-norm": pre_norm}
    check_arch(arch, {"rnn": rnn_only, "transformer": tf_only})
    train_opts.apply_threads()
    presets = TRANSFORMER_PRESETS if arch == "transformer" else PRESETS
    preset = presets["dates" if dataset else "text"]
    if arch == "transformer":
        layers = {
            "model.num_encoder_layers": encoder_layers,
            "model.num_decoder_layers": decoder_layers,
            "model.d_model": d_model,
            "model.num_heads": heads,
            "model.dim_feedforward": ff,
            "model.norm_first": pre_norm or None,
        }
        if max_length is not None:  # positions for the longest output (2x + a margin)
            layers["model.max_positions"] = max(
                preset.config.model.max_positions, 2 * max_length + 16
            )  # type: ignore[union-attr]
    else:
        layers = {
            "model.cell": cell,
            "model.attention": attention,
            "model.bidirectional": not unidirectional,
            "model.reset_after": not reset_before,
            "model.hidden_size": hidden,
            "model.embedding_dim": embedding,
            "model.attention_dim": attention_dim,
            "model.encoder_layers": encoder_layers,
            "model.decoder_layers": decoder_layers,
        }
    config = override(
        preset.config,
        {
            "level": tokens_choice(tokenizer, level),
            "vocab_size": vocab_size,
            "lowercase": lowercase,
            "batch_size": train_opts.batch_size,
            "min_count": min_count,
            "max_vocab": max_vocab,
            "max_length": max_length,
            "label_smoothing": label_smoothing,
            "teacher_forcing": teacher_forcing,
            "model.dropout": dropout,
            **layers,
        },
    )
    train_config = train_opts.train_config(preset.train)
    if dataset:
        size = train_size if train_size is not None else DATES_TRAIN_SIZE
        corpus = ParallelCorpus.dates(size, seed=train_config.seed)
    elif pairs is not None:
        corpus = ParallelFiles.from_pairs(pairs, valid=valid_pairs, reverse=reverse)
    elif src is not None and tgt is not None:
        if (valid_src is None) != (valid_tgt is None):
            raise fail("give both --valid-src and --valid-tgt, or neither")
        corpus = ParallelFiles(src=src, tgt=tgt, valid_src=valid_src, valid_tgt=valid_tgt)
    else:  # ruled out by the checks above
        raise fail("give both --src and --tgt")

    def describe(tr: Translator) -> tuple[dict[str, int], str]:
        sizes = {"src_vocab_size": len(tr.src_vocab), "tgt_vocab_size": len(tr.tgt_vocab)}
        words = f"vocabularies {len(tr.src_vocab)} -> {len(tr.tgt_vocab)}"
        pairs = len(corpus.train) if isinstance(corpus, ParallelCorpus) else tr.train_pairs
        return {**sizes, "train_pairs": pairs or 0}, words

    train_and_report(Translator, corpus, out, config, train_config, train_opts, describe)


def _inputs(texts: list[str] | None, input_file: Path | None) -> list[str]:
    """Sources from the arguments, from -i FILE, or from stdin (one per line)."""
    if texts and input_file is not None:
        raise fail("give sentences as arguments or with -i FILE, not both")
    if texts:
        lines = list(texts)
    elif input_file is not None:
        from seqlab.data.text import read_text

        lines = read_text(input_file).split("\n")
    else:
        if sys.stdin is None or sys.stdin.isatty():
            raise fail("nothing to translate: give sentences, -i FILE, or lines on stdin")
        lines = sys.stdin.read().split("\n")
    lines = [s.strip() for s in lines if s.strip()]
    if not lines:
        if texts:
            raise fail("nothing to translate: every sentence given is empty")
        where = str(input_file) if input_file is not None else "stdin"
        raise fail(f"{where}: nothing to translate (no non-empty line)")
    return lines


def _layer_heatmaps(tr: Translator, text: str, output: Candidate, path: Path) -> list[str]:
    """A transformer's attention per layer and head (encoder and decoder self-attention,
    cross-attention), one PNG per layer and kind, a grid of its heads, in ``<path
    stem>-layers/``."""
    from seqlab.viz.attention import save_attention_heads

    maps = tr.layer_attention(text, output)
    folder = path.with_name(f"{path.stem}-layers")
    kinds = (
        ("encoder", maps.encoder, maps.source_tokens, maps.source_tokens),
        ("decoder", maps.decoder, maps.input_tokens, maps.input_tokens),
        ("cross", maps.cross, maps.output_tokens, maps.source_tokens),
    )
    return [
        str(written)
        for kind, weights, queries, keys in kinds
        for written in save_attention_heads(weights, queries, keys, folder, kind)
    ]


def _heatmap_paths(path: Path, n: int) -> list[Path]:
    if n == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix or '.png'}") for i in range(1, n + 1)]


def _early_stopping(value: str) -> EarlyStopping:
    """``--early-stopping``'s word as the search's value (never, true or false)."""
    words: dict[str, EarlyStopping] = {"never": "never", "true": True, "false": False}
    if value.lower() not in words:
        raise fail(f"--early-stopping must be never, true or false, got {value!r}")
    return words[value.lower()]


@app.command()
@user_errors(flags=_DECODE_FLAGS)
def decode(
    model_dir: Path = typer.Argument(..., help="A model directory from `seqlab translate train`."),
    texts: list[str] | None = typer.Argument(None, help="Sentence(s); default: stdin lines."),
    input_file: Path | None = typer.Option(None, "--input", "-i", help="Read lines from FILE."),
    beam: int = typer.Option(1, "--beam", "-k", help="Beam size K (1 = greedy search)."),
    alpha: float = typer.Option(0.7, help="Length normalisation: score = log P / Ty^alpha."),
    n_best: int = typer.Option(1, help="Candidates per sentence (<= --beam)."),
    early_stopping: str = typer.Option(
        "never",
        help="When beam search stops a sentence: never (exact: once no live beam can beat "
        "its n-best), true (as soon as --n-best outputs ended), false (transformers' "
        "heuristic). HF generate's early_stopping.",
    ),
    sample: bool = typer.Option(
        False, "--sample", help="Draw each output token from the model instead of searching."
    ),
    temperature: float = typer.Option(1.0, help="--sample: softmax temperature."),
    top_k: int | None = typer.Option(None, help="--sample: only the K most likely tokens."),
    top_p: float | None = typer.Option(None, help="--sample: nucleus of probability P."),
    seed: int | None = typer.Option(None, help="--sample: random seed (same seed, same output)."),
    heatmap: Path | None = typer.Option(
        None,
        help="Write the attention heatmap of the output (the best one) to this PNG (-1, -2 ... "
        "for several); a transformer's: its last layer's cross-attention averaged over the "
        "heads, and every layer's heads (encoder, decoder, cross) in <name>-layers/.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Translate sentences (arguments, -i FILE or stdin), one output line each."""
    from seqlab.tasks.translator import Translator

    output_path(heatmap)
    if sample and (beam != 1 or n_best != 1):
        raise fail("--sample draws one output per sentence: drop --beam/--n-best")
    tr = Translator.load(model_dir)
    sources = _inputs(texts, input_file)
    results = tr.translate(
        sources,
        beam_size=beam,
        alpha=alpha,
        n_best=n_best,
        early_stopping=_early_stopping(early_stopping),
        sample=sample,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
    )
    written: list[str] = []
    layers: list[list[str]] = []
    if heatmap is not None:
        from seqlab.viz.attention import plot_attention

        paths = _heatmap_paths(heatmap, len(sources))
        for text, result, path in zip(sources, results, paths, strict=True):
            amap = tr.attention(text, result.candidates[0])  # of the output printed
            title = f"{text}  →  {amap.text}"
            written.append(
                str(plot_attention(amap.weights, amap.source_tokens, amap.output_tokens, path,
                                   title=title))
            )  # fmt: skip
            if tr.config.arch == "transformer":
                layers.append(_layer_heatmaps(tr, text, result.candidates[0], path))
    if json_out:
        payload = [r.to_dict() for r in results]
        if written:
            for item, path in zip(payload, written, strict=True):
                item["heatmap"] = path
        for item, paths in zip(payload, layers, strict=False):
            item["layer_heatmaps"] = paths
        print_json(payload)
    elif n_best == 1:
        for r in results:
            typer.echo(r.text)
    else:
        for r in results:
            typer.echo(r.source)
            for i, c in enumerate(r.candidates, 1):
                typer.echo(f"  {i}. {c.text}\tscore {c.score:.4f}\tlog P {c.log_prob:.4f}")
    for path in written if not json_out else []:
        typer.echo(f"attention heatmap: {path}", err=True)
    for paths in layers if not json_out else []:
        typer.echo(f"per layer and head: {Path(paths[0]).parent}/", err=True)


def _test_files(
    src: Path | None, tgt: Path | None, pairs: Path | None = None, reverse: bool = False
) -> tuple[list[str] | None, list[list[str]] | None]:
    """(sources, references of each) from --src/--tgt (one reference a line) or --pairs
    (the pairs grouped by source: every translation listed for a sentence is a reference);
    (None, None) for the model's own test set."""
    from seqlab.data.parallel import group_by_source, read_pairs, read_parallel

    if pairs is not None:
        if src is not None or tgt is not None:
            raise fail("give --src/--tgt or --pairs, not both")
        return group_by_source(read_pairs(pairs, reverse=reverse))
    if src is None and tgt is None:
        if reverse:
            raise fail("--reverse goes with --pairs")
        return None, None
    if src is None or tgt is None:
        raise fail("give both --src and --tgt")
    both = read_parallel(src, tgt)
    return [s for s, _ in both], [[t] for _, t in both]


_PAIRS_HELP = (
    "Test pairs in one file, source<TAB>target per line (instead of --src/--tgt); the "
    "translations listed for one source are all its references."
)
_REVERSE_HELP = "--pairs: the second column is the source."


@app.command()
@user_errors(flags=_DECODE_FLAGS)
def evaluate(
    model_dir: Path = typer.Argument(..., help="A model directory."),
    src: Path | None = typer.Option(None, help="Test sources (dates: the held-out set)."),
    tgt: Path | None = typer.Option(None, help="Test references, line-aligned with --src."),
    pairs: Path | None = typer.Option(None, help=_PAIRS_HELP),
    reverse: bool = typer.Option(False, "--reverse", help=_REVERSE_HELP),
    beam: list[int] = typer.Option([1, 5], "--beam", "-k", help="Beam sizes (repeatable)."),
    alpha: float = typer.Option(0.7, help="Length normalisation exponent."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Exact-match accuracy (dates) or BLEU (text) for greedy and beam search."""
    from seqlab.tasks.translator import Translator

    tr = Translator.load(model_dir)
    sources, references = _test_files(src, tgt, pairs, reverse)
    result = tr.evaluate(sources, references, beam_sizes=beam, alpha=alpha)
    if json_out:
        print_json(result)
        return
    refs = (
        "" if result["references"] == result["examples"] else f", {result['references']} references"
    )
    typer.echo(f"examples {result['examples']}{refs}  (alpha {alpha:g})")
    for entry in result["results"]:
        name = "greedy" if entry["beam_size"] == 1 else f"beam {entry['beam_size']}"
        line = f"{name:<8} exact match {entry['exact_match']:.2%}"
        if "bleu" in entry:
            line += f"   BLEU {entry['bleu']:.2f}"
        typer.echo(line)
    sig = next((e["signature"] for e in result["results"] if "signature" in e), None)
    if sig:
        typer.echo(f"BLEU signature: {sig}")
    errors = result["results"][0]["errors"]
    if errors and result["results"][0]["exact_match"] < 1.0:
        typer.echo("first errors (greedy):")
        for e in errors[:5]:
            others = len(e.get("references", [])) - 1
            more = f" (or {others} other{'s' if others > 1 else ''})" if others > 0 else ""
            typer.echo(f"  {e['source']!r}: {e['output']!r}, expected {e['reference']!r}{more}")


@app.command()
@user_errors(flags=_DECODE_FLAGS)
def analyze(
    model_dir: Path = typer.Argument(..., help="A model directory."),
    src: Path | None = typer.Option(None, help="Sources (dates: the held-out set)."),
    tgt: Path | None = typer.Option(None, help="Human references, line-aligned with --src."),
    pairs: Path | None = typer.Option(None, help=_PAIRS_HELP),
    reverse: bool = typer.Option(False, "--reverse", help=_REVERSE_HELP),
    beam: int = typer.Option(3, "--beam", "-k", help="Beam size K."),
    alpha: float = typer.Option(0.7, help="Length normalisation exponent."),
    csv: Path | None = typer.Option(None, help="Write every example's row to this CSV."),
    max_rows: int = typer.Option(20, help="Rows shown in the table."),
    errors_only: bool = typer.Option(True, "--errors-only/--all", help="Table: wrong rows."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Beam-search error analysis (course week 3): is the search or the model at fault?"""
    from seqlab.decoding import format_table, write_csv
    from seqlab.tasks.translator import Translator

    output_path(csv)
    tr = Translator.load(model_dir)
    sources, references = _test_files(src, tgt, pairs, reverse)
    analysis = tr.analyze(sources, references, beam_size=beam, alpha=alpha)
    if csv is not None:
        write_csv(analysis, csv)
    summary = {
        "examples": len(analysis.rows),
        "correct": analysis.count("correct"),
        "errors": analysis.errors,
        "search_errors": analysis.count("search"),
        "model_errors": analysis.count("model"),
        "reference_oov": sum(r.reference_oov for r in analysis.rows),
        "search_share": analysis.error_share("search"),
        "model_share": analysis.error_share("model"),
        "beam_size": beam,
        "alpha": alpha,
    }
    if json_out:
        print_json({**summary, "csv": str(csv) if csv else None})
        return
    if errors_only:
        typer.echo(f"wrong outputs ({analysis.errors} of {len(analysis.rows)}):")
    typer.echo(format_table(analysis, max_rows=max_rows, errors_only=errors_only), nl=False)
    if csv is not None:
        typer.echo(f"csv: {csv}", err=True)
