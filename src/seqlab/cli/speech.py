"""``seqlab speech show|train|transcribe|evaluate``: look at recordings, and train, run and
evaluate a speech recognizer, CTC or Listen, Attend and Spell
(:class:`seqlab.tasks.SpeechRecognizer`)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from seqlab.cli._common import fail, output_path, print_json, user_errors
from seqlab.cli._train import (
    TrainOptions,
    check_arch,
    override,
    train_and_report,
    train_options,
)
from seqlab.tasks.speech import LAS_PRESET, PRESET

if TYPE_CHECKING:
    from torch import Tensor

    from seqlab.tasks.speech import SpeechRecognizer

_HELP = (
    "Speech: show a recording's spectrogram; train a speech recognizer, CTC or attention (LAS), "
    "on FSDD digits or a transcript file; transcribe WAV/FLAC (and plot how); evaluate WER and "
    "CER."
)
_KINDS = ("log-mel", "spectrogram")
_SPLITS = ("recording", "speaker")
# the task and network config fields -> `speech train`'s options (error messages name them)
_TRAIN_FLAGS = {
    "hidden_size": "--hidden",
    "num_layers": "--layers",
    "conv_channels": "--conv-channels",
    "conv_layers": "--conv-layers",
    "strided_layers": "--strided-layers",
    "stride": "--stride",
    "dropout": "--dropout",
    "cell": "--cell",
    "n_mels": "--n-mels",
    "valid_fraction": "--valid-fraction",
    "decoder_size": "--decoder-size",
    "attention_dim": "--attention-dim",
    "attention": "--attention",
    "ctc_weight": "--ctc-weight",
    "freq_mask": "--freq-mask",
    "time_mask": "--time-mask",
}
_PRESETS = {"ctc": PRESET, "las": LAS_PRESET}
_ARCH_HELP = (
    "Network: ctc (conv front-end, bidirectional GRU/LSTM, CTC) or las (Listen, Attend and "
    "Spell: pyramidal bidirectional LSTM listener, attention speller)."
)
_DATA_HELP = (
    "An FSDD folder ({digit}_{speaker}_{index}.wav, or the folder holding recordings/), or a "
    "transcript file: one audio<TAB>transcript per line, paths relative to the file."
)

app = typer.Typer(help=_HELP, no_args_is_help=True)


def _read(audio: str) -> tuple[object, int]:
    """Mono samples and rate of a file, or of standard input for ``-``; warnings as one line."""
    from seqlab._io import DataError
    from seqlab.audio import read_audio, read_audio_bytes

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if audio == "-":
            if sys.stdin.isatty():
                raise DataError("<stdin>", "no audio piped in", hint="give FILE or pipe a WAV in")
            samples, rate = read_audio_bytes(sys.stdin.buffer.read(), name="<stdin>")
        else:
            samples, rate = read_audio(audio)
    for warning in caught:
        typer.echo(f"warning: {warning.message}", err=True)
    return samples, rate


@app.command()
@user_errors
def show(
    audio: str = typer.Argument(..., help="A WAV or FLAC file (- : standard input)."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="The figure to write: PNG (or .pdf, .svg by the suffix)."
    ),
    kind: str = typer.Option("log-mel", help="The lower panel: log-mel or spectrogram."),
    n_mels: int = typer.Option(40, help="Mel bands of the log-mel panel."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Draw a recording's waveform (top) and its log-mel spectrogram or spectrogram (below),
    time in seconds, frequency in Hz; several channels are mixed to mono."""
    if kind not in _KINDS:
        raise fail(f"--kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    if n_mels < 1:
        raise fail(f"--n-mels must be >= 1, got {n_mels}")
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise fail(f"--out {out}: give a .png, .pdf or .svg file name")
    output_path(out, "--out")
    try:
        samples, rate = _read(audio)
    except ImportError as exc:
        raise fail(str(exc)) from None
    from torch import Tensor

    from seqlab.viz.spectrogram import plot_speech

    assert isinstance(samples, Tensor)
    name = "<stdin>" if audio == "-" else Path(audio).name
    plot_speech(samples, rate, out, kind=kind, n_mels=n_mels, title=name)  # type: ignore[arg-type]
    facts = {
        "audio": audio,
        "out": str(out),
        "sample_rate": rate,
        "samples": int(samples.numel()),
        "seconds": round(samples.numel() / rate, 4),
        "kind": kind,
    }
    if json_out:
        print_json(facts)
    else:
        typer.echo(f"wrote {out} ({facts['seconds']:.2f} s at {rate} Hz, {kind})")


def _split(split: str, sequences: int) -> None:
    if split not in _SPLITS:
        raise fail(f"--split must be one of {', '.join(_SPLITS)}, got {split!r}")
    if sequences < 0:
        raise fail(f"--sequences must be >= 0, got {sequences}")


@app.command()
@user_errors
@train_options(_PRESETS, flags=_TRAIN_FLAGS)
def train(
    data: Path = typer.Option(..., help=_DATA_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
    split: str = typer.Option(
        "recording",
        help="FSDD: train on the training part of the split by recording (indices 0-4 are "
        "the test set) or by speaker (the last speaker is held out).",
    ),
    sequences: int = typer.Option(
        0, help="FSDD: also train on N digit sequences built from the training clips."
    ),
    arch: str = typer.Option("ctc", help=_ARCH_HELP),
    cell: str | None = typer.Option(
        None, help="gru or lstm (bidirectional) (default: ctc gru, las lstm)."
    ),
    layers: int | None = typer.Option(
        None,
        help="Stacked bidirectional layers; las: the first plain, each next one halving time "
        "(default: ctc 2, las 3).",
    ),
    hidden: int | None = typer.Option(None, help="Hidden size per direction (default: 128)."),
    conv_channels: int | None = typer.Option(
        None, help="ctc: channels of each front-end convolution (default: 128)."
    ),
    conv_layers: int | None = typer.Option(None, help="ctc: front-end convolutions (default: 2)."),
    stride: int | None = typer.Option(
        None, help="ctc: time stride of the strided convolutions (default: 3)."
    ),
    strided_layers: int | None = typer.Option(
        None, help="ctc: how many convolutions stride, the first ones (default: 1)."
    ),
    decoder_size: int | None = typer.Option(
        None, help="las: the speller LSTM's state width (default: 256)."
    ),
    attention_dim: int | None = typer.Option(
        None, help="las: hidden width of the attention's scoring network (default: 128)."
    ),
    attention: str | None = typer.Option(
        None,
        help="las: content (the LAS paper's) or location (the energy also reads the previous "
        "weights, convolved: Chorowski et al. 2015) (default: content).",
    ),
    ctc_weight: float | None = typer.Option(
        None,
        help="las: λ of the joint CTC-attention loss, (1 - λ) CE + λ CTC over the listener's "
        "frames (Kim et al. 2017; e.g. 0.3) (default: 0, none).",
    ),
    dropout: float | None = typer.Option(None, help="Dropout (default: 0.1)."),
    freq_mask: int | None = typer.Option(
        None,
        help="SpecAugment: two masks of up to N log-mel bands per training item (0: none, the "
        "default; try 8 with --time-mask 10 when a long run overfits).",
    ),
    time_mask: int | None = typer.Option(
        None,
        help="SpecAugment: two masks of up to N frames per training item (0: none, the default).",
    ),
    n_mels: int = typer.Option(40, help="Log-mel bands per frame."),
    valid_fraction: float = typer.Option(0.1, help="Training utterances held out to validate."),
    *,
    train_opts: TrainOptions,
) -> None:
    """Train a speech recognizer over characters: CTC (conv front-end, bidirectional
    GRU/LSTM; checks first that every transcript fits its recording) or --arch las (Listen,
    Attend and Spell)."""
    from seqlab.data.speech import load_split
    from seqlab.tasks.speech import SpeechRecognizer

    ctc_only = {"--conv-channels": conv_channels, "--conv-layers": conv_layers}
    ctc_only |= {"--stride": stride, "--strided-layers": strided_layers}
    las_only = {"--decoder-size": decoder_size, "--attention-dim": attention_dim}
    las_only |= {"--attention": attention, "--ctc-weight": ctc_weight}
    check_arch(arch, {"ctc": ctc_only, "las": las_only})
    _split(split, sequences)
    train_opts.apply_threads()
    preset = _PRESETS[arch]
    config = override(
        preset.config,
        {
            "batch_size": train_opts.batch_size,
            "n_mels": n_mels,
            "valid_fraction": valid_fraction,
            "freq_mask": freq_mask,
            "time_mask": time_mask,
            "corpus": str(data),
            "model.cell": cell,
            "model.num_layers": layers,
            "model.hidden_size": hidden,
            "model.dropout": dropout,
            # the other architecture's options are None here (check_arch), so skipped
            "model.conv_channels": conv_channels,
            "model.conv_layers": conv_layers,
            "model.stride": stride,
            "model.strided_layers": strided_layers,
            "model.decoder_size": decoder_size,
            "model.attention_dim": attention_dim,
            "model.attention": attention,
            "model.ctc_weight": ctc_weight,
        },
    )
    seed = train_opts.seed or 0
    utterances = load_split(data, "train", split=split, sequences=sequences, seed=seed)
    train_and_report(
        SpeechRecognizer,
        utterances,
        out,
        config,
        train_opts.train_config(preset.train),
        train_opts,
        lambda m: (
            {"utterances": len(utterances), "characters": len(m.vocab) - len(m.vocab.specials)},
            f"{len(utterances)} utterances, {len(m.vocab) - len(m.vocab.specials)} characters",
        ),
        loss_unit="target character",
    )


def _decoder(
    model: SpeechRecognizer,
    beam: int,
    lm: Path | None,
    lm_weight: float,
    lexicon: Path | None,
    joint_ctc: float = 0.0,
) -> dict[str, object]:
    """``transcribe``'s decoding options from the flags (the LM loaded with seqlab.load,
    the lexicon's words read and checked against the model's characters; with either, the
    beam is at least 8)."""
    if beam < 1:
        raise fail(f"--beam must be >= 1, got {beam}")
    decode: dict[str, object] = {"beam_size": beam}
    if joint_ctc:
        if not 0 < joint_ctc <= 1:
            raise fail(f"--joint-ctc must be in (0, 1], got {joint_ctc}")
        if getattr(model.config.model, "ctc_weight", 0) <= 0:
            raise fail("--joint-ctc needs an LAS model trained with --ctc-weight")
        return {"beam_size": beam, "joint_ctc": joint_ctc}
    if lexicon is not None:
        from seqlab.data.speech import read_lexicon
        from seqlab.data.vocab import SPECIALS

        if model.config.arch != "ctc":
            raise fail("a lexicon (--lexicon) works with CTC models, not LAS")
        alphabet = [t for t in model.vocab.tokens if t not in SPECIALS and t != " "]
        decode["lexicon"] = read_lexicon(lexicon, alphabet=alphabet)
    if lm is not None:
        from seqlab import load

        decode |= {"lm": load(lm), "lm_weight": lm_weight}
    if len(decode) > 1:
        decode["beam_size"] = max(beam, 8)
    return decode


_BEAM = typer.Option(1, "--beam", help="Beam size (1: greedy; with --lm or --lexicon at least 8).")
_JOINT_CTC = typer.Option(
    0.0,
    "--joint-ctc",
    help="las trained with --ctc-weight: score each step (1 - μ) ln P_att + μ ln (CTC prefix "
    "gain), so the transcript ends when the speech does (e.g. 0.5; 0: attention alone).",
)
_LEXICON = typer.Option(
    None,
    "--lexicon",
    help="CTC: spell only these words (a file of words, # comments), e.g. the ten digit "
    "words: fixes misspellings such as 'thre' (prefix beam search, beam >= 8).",
)
_LM = typer.Option(None, "--lm", help="A character LM directory (seqlab lm train) to fuse.")
_LM_WEIGHT = typer.Option(0.5, "--lm-weight", help="α: the weight of the LM's log-probability.")


@app.command()
@user_errors
def transcribe(
    model_dir: Path = typer.Argument(..., help="A model directory from `seqlab speech train`."),
    audio: list[str] = typer.Argument(..., help="WAV or FLAC files (- : standard input)."),
    beam: int = _BEAM,
    lm: Path | None = _LM,
    lm_weight: float = _LM_WEIGHT,
    lexicon: Path | None = _LEXICON,
    joint_ctc: float = _JOINT_CTC,
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Draw the log-mel spectrogram and, below it, how the model read it (CTC: each "
        "character's posterior per frame, blanks greyed; LAS: the attention of each output "
        "character over the frames) to this PNG (.pdf, .svg by the suffix); one FILE only.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON, with word times."),
) -> None:
    """Print what is said in each recording (one line per file; with --json the text and
    each word's start and end in seconds, from the CTC alignment or LAS's attention)."""
    from seqlab.tasks.speech import SpeechRecognizer

    if plot is not None:
        if len(audio) != 1:
            raise fail(f"--plot draws one recording, got {len(audio)} files")
        if plot.suffix.lower() not in (".png", ".pdf", ".svg"):
            raise fail(f"--plot {plot}: give a .png, .pdf or .svg file name")
        output_path(plot, "--plot")
    model = SpeechRecognizer.load(model_dir)
    decode = _decoder(model, beam, lm, lm_weight, lexicon, joint_ctc)
    results = []
    for name in audio:
        samples, rate = _read(name)
        result = model.transcribe([samples], sample_rate=rate, **decode)[0]  # type: ignore[list-item,arg-type]
        results.append({"audio": name, **result.to_dict()})
        if not json_out:
            typer.echo(result.text if len(audio) == 1 else f"{name}\t{result.text}")
        if plot is not None:
            _plot(model, samples, rate, plot, name, result.text, beam)  # type: ignore[arg-type]
    if json_out:
        print_json(results)


def _plot(
    model: SpeechRecognizer, samples: Tensor, rate: int, out: Path, name: str, text: str, beam: int
) -> None:
    """``transcribe --plot``: the spectrogram with the posteriors or the attention."""
    from seqlab.viz.spectrogram import plot_transcription

    a = model.alignment(samples, sample_rate=rate, beam_size=beam)
    plot_transcription(
        samples, rate, out, text=text, frame_seconds=a.frame_seconds, labels=a.labels,
        posteriors=a.posteriors, attention=a.attention, blank=a.blank,
        title="<stdin>" if name == "-" else Path(name).name,
    )  # fmt: skip
    typer.echo(f"wrote {out}", err=True)


@app.command()
@user_errors
def evaluate(
    model_dir: Path = typer.Argument(..., help="A model directory."),
    data: Path = typer.Option(..., help=_DATA_HELP),
    split: str = typer.Option(
        "recording", help="FSDD: the test part of the split by recording or by speaker."
    ),
    sequences: int = typer.Option(
        0, help="FSDD: evaluate on N digit sequences built from the test clips instead."
    ),
    seed: int = typer.Option(1, help="Random seed of the digit sequences."),
    beam: int = _BEAM,
    lm: Path | None = _LM,
    lm_weight: float = _LM_WEIGHT,
    lexicon: Path | None = _LEXICON,
    joint_ctc: float = _JOINT_CTC,
    explain: int = typer.Option(
        0, "--explain", help="Show the word alignment of the N worst utterances."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Word and character error rates (and exact-transcript accuracy) on held-out audio."""
    from seqlab.data.speech import load_split
    from seqlab.metrics.asr import format_alignment, word_errors
    from seqlab.tasks.speech import SpeechRecognizer

    _split(split, sequences)
    model = SpeechRecognizer.load(model_dir)
    utterances = load_split(data, "test", split=split, sequences=sequences, seed=seed)
    decode = _decoder(model, beam, lm, lm_weight, lexicon, joint_ctc)
    result = model.evaluate(utterances, **decode)
    items = result.pop("items")
    reports = [word_errors(i["reference"], i["hypothesis"]) for i in items]
    worst = sorted(range(len(items)), key=lambda i: -reports[i].errors)[: max(explain, 0)]
    worst = [i for i in worst if reports[i].errors]
    if json_out:
        print_json({**result, "worst": [items[i] for i in worst]})
        return
    typer.echo(
        f"{result['utterances']} utterances  WER {100 * result['wer']:.2f}%  "
        f"CER {100 * result['cer']:.2f}%  exact {100 * result['accuracy']:.2f}%"
    )
    for i in worst:
        r = reports[i]
        typer.echo(f"\n{items[i]['name']}: {r.errors} word error(s)")
        typer.echo(format_alignment(r.references[0], r.hypotheses[0], r.alignments[0]))


@app.command()
@user_errors
def analyze(
    model_dir: Path = typer.Argument(
        ..., help="A model directory (seqlab speech train --arch las)."
    ),
    data: Path = typer.Option(..., help=_DATA_HELP),
    split: str = typer.Option(
        "recording", help="FSDD: the test part of the split by recording or by speaker."
    ),
    sequences: int = typer.Option(
        0, help="FSDD: analyse N digit sequences built from the test clips instead."
    ),
    seed: int = typer.Option(1, help="Random seed of the digit sequences."),
    beam: int = typer.Option(3, "--beam", help="Beam size K of the search under analysis."),
    alpha: float = typer.Option(0.7, help="Length normalisation: score = log P / Ty^alpha."),
    rows: int = typer.Option(20, "--rows", help="Wrong transcripts shown in the table."),
    json_out: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Beam-search error analysis of an attention (LAS) recognizer (course week 3): for each
    wrong transcript, is the search at fault (the model prefers the reference) or the model?"""
    from seqlab.data.speech import load_split
    from seqlab.decoding import format_table
    from seqlab.tasks.speech import SpeechRecognizer

    _split(split, sequences)
    if beam < 1:
        raise fail(f"--beam must be >= 1, got {beam}")
    model = SpeechRecognizer.load(model_dir)
    utterances = load_split(data, "test", split=split, sequences=sequences, seed=seed)
    analysis = model.analyze(utterances, beam_size=beam, alpha=alpha)
    if not json_out:
        typer.echo(format_table(analysis, max_rows=rows, errors_only=True).rstrip("\n"))
        return
    verdicts = {v: analysis.count(v) for v in ("correct", "search", "model")}
    print_json({
        "utterances": len(analysis.rows), "beam_size": beam, "alpha": alpha, **verdicts,
        "search_share": analysis.error_share("search"),
        "model_share": analysis.error_share("model"),
    })  # fmt: skip
