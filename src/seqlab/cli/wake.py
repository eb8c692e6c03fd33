"""``seqlab wake synth|train|detect|evaluate``: trigger-word detection (course week 3)."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from seqlab.cli._common import fail, output_folder, output_path, print_json, user_errors
from seqlab.cli._train import TrainOptions, override, train_and_report, train_options
from seqlab.tasks.wake import PRESETS

app = typer.Typer(
    help="Trigger words: synthesize clips (the course's recipe), train a detector, detect in a "
    "recording (with chimes), evaluate (false accepts per hour, misses, DET curve).",
    no_args_is_help=True,
)

_DATA_HELP = (
    "A folder of clips (positives/ or activates/, negatives/, backgrounds/: the course's "
    "raw_data) to synthesize from, or a folder `wake synth` wrote (labels.jsonl)."
)
_TRAIN_FLAGS = {
    "hidden_size": "--hidden",
    "conv_channels": "--channels",
    "dropout": "--dropout",
    "clip_seconds": "--seconds",
    "sample_rate": "--sample-rate",
    "threshold": "--threshold",
    "positive_weight": "--positive-weight",
}


def _clips(data: Path | None, synthetic: bool, sample_rate: int, seed: int) -> Any:
    """The clip source: ``--data`` (a clip folder) or the generated tones (``--synthetic``)."""
    from seqlab.data.wake import generated_clips, read_clip_folder

    if (data is None) == (not synthetic):
        raise fail("give either --data DIR or --synthetic")
    if data is None:
        return generated_clips(sample_rate=sample_rate, seed=seed)
    return read_clip_folder(data, sample_rate)


_SPEED_HELP = (
    "Play each word at a random speed in 1 ± this (tempo and pitch: other voices from the "
    "same recordings; 0 = the course's recipe)."
)
_SPEED_FLAG = {"speed_jitter": "--speed-jitter"}  # data.wake's check names the flag
F = TypeVar("F", bound=Callable[..., Any])


def _clipping_in_one_line(fn: F) -> F:
    """Run the command with ``seqlab.audio``'s clipping warnings (a ``ClippingWarning`` per
    clipped file read) turned into one ``warning: ...`` line on stderr (the first file's
    message and how many more) instead of a Python warning with its source line per file.
    Other warnings pass through as they were."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from seqlab.audio import ClippingWarning

        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ClippingWarning)
                return fn(*args, **kwargs)
        finally:
            clipped = list(dict.fromkeys(str(w.message) for w in caught
                                         if issubclass(w.category, ClippingWarning)))  # fmt: skip
            for w in caught:
                if not issubclass(w.category, ClippingWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            if clipped:
                more = len(clipped) - 1
                also = f" (and {more} more file{'s' * (more > 1)})" if more else ""
                typer.echo(f"warning: {clipped[0]}{also}", err=True)

    return wrapper  # type: ignore[return-value]


def _examples(
    data: Path | None, config: Any, n: int, seed: int, synthetic: bool = False,
    speed_jitter: float = 0.0,
) -> list[Any]:  # fmt: skip
    """Synthesized clips: read from a `wake synth` folder, or made from a clip source
    (each word at a random speed in 1 ± ``speed_jitter``)."""
    from seqlab.data.wake import LABELS_FILE, read_dataset, synthesize_many

    if data is not None and not synthetic and (data / LABELS_FILE).is_file():
        return read_dataset(data, config.sample_rate)
    clips = _clips(data, synthetic, config.sample_rate, seed)
    return synthesize_many(clips, n, seed=seed, seconds=config.clip_seconds,
                           speed_jitter=speed_jitter)  # fmt: skip


@app.command()
@user_errors(flags=_SPEED_FLAG)
@_clipping_in_one_line
def synth(
    data: Path | None = typer.Option(
        None, help="Clip folder (positives/ or activates/, negatives/, backgrounds/)."
    ),
    synthetic: bool = typer.Option(False, help="Generated tone words over noise instead."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the WAVs and labels.jsonl."),
    n: int = typer.Option(100, "-n", help="Clips to synthesize."),
    seconds: float = typer.Option(10.0, help="Clip length (the course: 10 s)."),
    sample_rate: int = typer.Option(16000, help="Hz."),
    max_positives: int = typer.Option(4, help="At most this many trigger words per clip."),
    max_negatives: int = typer.Option(2, help="At most this many other words per clip."),
    speed_jitter: float = typer.Option(0.0, help=_SPEED_HELP),
    fsdd_negatives: Path | None = typer.Option(
        None, help="A Free Spoken Digit Dataset folder: its spoken digits as other words."
    ),
    fsdd_exclude: list[str] = typer.Option(
        [], help="Leave out this FSDD speaker (repeat; a speaker-held-out split)."
    ),
    fsdd_only: list[str] = typer.Option([], help="Use only this FSDD speaker (repeat)."),
    espeak_positive: list[str] = typer.Option(
        [], help="Also the trigger word spoken by espeak-ng in 12 voices (repeat; needs it)."
    ),
    espeak_negative: list[str] = typer.Option(
        [], help="Also this other word spoken by espeak-ng in 12 voices (repeat)."
    ),
    seed: int = typer.Option(0, help="Random seed."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Synthesize training clips: words overlaid on backgrounds, never overlapping."""
    from seqlab.data.wake import (
        LABELS_FILE,
        check_speed_jitter,
        espeak_available,
        synthesize_many,
        write_dataset,
    )

    if n < 1 or seconds <= 0:
        raise fail(f"-n must be >= 1 and --seconds > 0, got {n} and {seconds:g}")
    check_speed_jitter(speed_jitter)
    if (espeak_positive or espeak_negative) and not espeak_available():
        raise fail("--espeak-positive/--espeak-negative need espeak-ng (apt install espeak-ng)")
    if (fsdd_exclude or fsdd_only) and fsdd_negatives is None:
        raise fail("--fsdd-exclude and --fsdd-only choose speakers of --fsdd-negatives DIR")
    output_folder(out, "--out")
    clips = _more_words(
        _clips(data, synthetic, sample_rate, seed),
        (fsdd_negatives, fsdd_exclude, fsdd_only),
        espeak_positive,
        espeak_negative,
    )
    examples = synthesize_many(
        clips,
        n,
        seed=seed,
        seconds=seconds,
        max_positives=max_positives,
        max_negatives=max_negatives,
        speed_jitter=speed_jitter,
    )
    write_dataset(out, examples, sample_rate)
    facts = {
        "out": str(out),
        "clips": n,
        "positives": sum(len(e.positives) for e in examples),
        "negatives": sum(len(e.negatives) for e in examples),
        "without_trigger_word": sum(not e.positives for e in examples),
        "sources": {
            "positives": len(clips.positives),
            "negatives": len(clips.negatives),
            "backgrounds": len(clips.backgrounds),
        },
        "labels": str(out / LABELS_FILE),
    }
    if json_out:
        print_json(facts)
        return
    typer.echo(
        f"wrote {n} clips of {seconds:g} s to {out}: {facts['positives']} trigger words, "
        f"{facts['negatives']} other words ({facts['labels']})"
    )


def _more_words(
    clips: Any, fsdd: tuple[Path | None, list[str], list[str]], positive: list[str],
    negative: list[str],
) -> Any:  # fmt: skip
    """``clips`` with FSDD digits and espeak-ng words added (``wake synth``'s options)."""
    from dataclasses import replace

    from seqlab.data.wake import espeak_clips, fsdd_words

    folder, exclude, only = fsdd
    rate = clips.sample_rate
    more = fsdd_words(folder, rate, exclude=exclude, only=only) if folder is not None else []
    try:
        spoken = espeak_clips(positive, rate) if positive else []
        more += espeak_clips(negative, rate) if negative else []
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    return replace(clips, positives=clips.positives + spoken, negatives=clips.negatives + more)


@app.command()
@user_errors(flags=_SPEED_FLAG)
@train_options(PRESETS, flags=_TRAIN_FLAGS)
@_clipping_in_one_line
def train(
    data: Path | None = typer.Option(None, help=_DATA_HELP),
    synthetic: bool = typer.Option(False, help="Train on generated tone words (a demo)."),
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
    preset: str | None = typer.Option(
        None,
        help="course (the course's network, 10 s at 16 kHz), streaming (small, causal, "
        "runs chunk by chunk) or tiny (8 kHz, 2 s; the default with --synthetic).",
    ),
    examples: int = typer.Option(1000, help="Clips to synthesize from a clip folder."),
    speed_jitter: float = typer.Option(0.15, help=_SPEED_HELP),
    hard_negatives: Path | None = typer.Option(
        None,
        help="A folder of WAVs without the trigger word (e.g. from `wake evaluate "
        "--save-false`): added as clips labelled 0 everywhere.",
    ),
    hidden: int | None = typer.Option(None, help="GRU units H."),
    channels: int | None = typer.Option(None, help="Conv1D filters."),
    dropout: float | None = typer.Option(None, help="Dropout rate."),
    positive_weight: float | None = typer.Option(None, help="Loss weight of 1-labelled steps."),
    *,
    train_opts: TrainOptions,
) -> None:
    """Train a trigger-word detector on synthesized clips (a tenth held out)."""
    from seqlab.data.batching import hold_out
    from seqlab.data.wake import check_speed_jitter
    from seqlab.tasks.wake import WakeData, WakeWord

    name = preset or ("tiny" if synthetic else "course")
    if name not in PRESETS:
        raise fail(f"--preset must be one of {', '.join(PRESETS)}, got {name!r}")
    train_opts.apply_threads()
    chosen = PRESETS[name]
    config = override(
        chosen.config,
        {
            "batch_size": train_opts.batch_size,
            "positive_weight": positive_weight,
            "model.hidden_size": hidden,
            "model.conv_channels": channels,
            "model.dropout": dropout,
            "data": "synthetic" if synthetic else str(data),
        },
    )
    seed = train_opts.seed or 0
    check_speed_jitter(speed_jitter)
    clips = _examples(data, config, examples, seed, synthetic, speed_jitter)
    fit, valid = hold_out(clips, 0.1, min_total=20)
    fit += _hard_negatives(hard_negatives, config)
    train_and_report(
        WakeWord,
        WakeData(fit, valid, config.data),
        out,
        config,
        train_opts.train_config(chosen.train),
        train_opts,
        lambda m: (
            {"clips": len(fit), "valid_clips": len(valid), "preset": name},
            f"{len(fit)} clips ({sum(len(e.positives) for e in fit)} trigger words)",
        ),
        loss_unit="output step",
    )


def _hard_negatives(folder: Path | None, config: Any) -> list[Any]:
    from seqlab.data.wake import AUDIO_SUFFIXES, hard_negative_examples, read_clip

    if folder is None:
        return []
    if not folder.is_dir():
        raise fail(f"--hard-negatives {folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise fail(f"--hard-negatives {folder}: no WAV or FLAC files")
    audio = [read_clip(f, config.sample_rate) for f in files]
    return hard_negative_examples(audio, config.sample_rate, config.clip_seconds)


@app.command()
@user_errors
@_clipping_in_one_line
def detect(
    model_dir: Path = typer.Argument(..., help="A model directory from `seqlab wake train`."),
    audio: str = typer.Argument(
        ...,
        help="A WAV or FLAC file, or - for a stream on standard input (raw S16_LE samples, "
        "a WAV stream or a FLAC file), read chunk by chunk; detections print as they happen.",
    ),
    threshold: float | None = typer.Option(
        None, help="Detection threshold (default: the model's, 0.5)."
    ),
    rate: int | None = typer.Option(
        None, help="Hz of raw samples on standard input (default: the model's rate)."
    ),
    channels: int = typer.Option(1, help="Interleaved channels of raw samples on stdin."),
    chime: Path | None = typer.Option(
        None,
        help="Write the audio with a chime at each detection (WAV; from a stream, the "
        "audio is kept in memory until it ends).",
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print JSON (from a stream: one JSON line per detection)."
    ),
) -> None:
    """Print the times (seconds) at which the trigger word was detected."""
    from seqlab.audio import read_audio, resample, write_audio
    from seqlab.data.wake import with_chimes
    from seqlab.tasks.wake import WakeWord

    if threshold is not None and not 0 < threshold < 1:
        raise fail(f"--threshold must be in (0, 1), got {threshold:g}")
    if audio != "-" and (rate is not None or channels != 1):
        raise fail("--rate and --channels describe raw samples on standard input (-)")
    if (rate is not None and rate < 1) or channels < 1:
        raise fail(f"--rate and --channels must be >= 1, got {rate} and {channels}")
    output_path(chime, "--chime")
    if audio == "-":
        _detect_stream(model_dir, threshold, rate, channels, chime, json_out)
        return
    model = WakeWord.load(model_dir)
    samples, rate = read_audio(audio)  # a rate above audio.io.MAX_RATE is a DataError
    rate_m = model.config.sample_rate
    times = model.detect(
        samples if rate == rate_m else resample(samples, rate, rate_m), threshold=threshold
    )
    if chime is not None:
        write_audio(chime, with_chimes(samples.numpy(), rate, times), rate)
    if json_out:
        print_json(
            {
                "file": audio,
                "seconds": round(len(samples) / rate, 3),
                "threshold": threshold or model.config.threshold,
                "detections": [round(t, 3) for t in times],
                "chime": None if chime is None else str(chime),
            }
        )
        return
    for t in times:
        typer.echo(f"{t:.2f}")
    if not times:
        typer.echo("no detection", err=True)


def _detect_stream(
    model_dir: Path, threshold: float | None, rate: int | None, channels: int,
    chime: Path | None, json_out: bool,
) -> None:  # fmt: skip
    """``wake detect MODEL -``: standard input chunk by chunk (resampled to the model's
    rate as it comes), each detection printed and flushed when its step completes.

    Ctrl-C (how a live stream ends: ``arecord ... | seqlab wake detect MODEL -``) stops
    cleanly: what was printed stays, ``--chime`` is written with the audio heard so far, one
    line on stderr says how much was heard, and the exit status is 130 (128 + SIGINT, as
    Unix tools and ``seqlab ... train`` do)."""
    import json

    import numpy as np

    from seqlab.audio import audio_stream, resample_chunks, write_audio
    from seqlab.data.wake import with_chimes
    from seqlab.tasks.wake import WakeWord

    kept: list[np.ndarray] = []  # the audio heard (all of it only for --chime)
    heard, rate_in, times = 0, rate or 1, []  # samples read, their rate (once known), times

    def counted(chunks: Any) -> Any:
        nonlocal heard
        for c in chunks:
            heard += len(c)
            if chime is not None:  # the audio to chime: kept whole
                kept.append(c)
            yield c

    try:
        model = WakeWord.load(model_dir)
        rate_m = model.config.sample_rate
        rate_in, chunks = audio_stream(sys.stdin.buffer, rate=rate or rate_m, channels=channels)
        for t, score in model.stream_detect(resample_chunks(counted(chunks), rate_in, rate_m),
                                            threshold=threshold):  # fmt: skip
            times.append(t)
            line = {"time": round(t, 3), "score": round(score, 4)}
            typer.echo(json.dumps(line) if json_out else f"{t:.2f}")  # (click.echo flushes)
        interrupted = False
    except KeyboardInterrupt:
        interrupted = True
    sys.stdout.flush()
    if chime is not None and kept:
        write_audio(chime, with_chimes(np.concatenate(kept), rate_in, times), rate_in)
    if interrupted:
        typer.echo(f"stopped (Ctrl-C) after {heard / rate_in:.1f} s of audio: "
                   f"{len(times)} detection{'' if len(times) == 1 else 's'}", err=True)  # fmt: skip
        raise typer.Exit(130)
    if not times:
        typer.echo("no detection", err=True)


@app.command()
@user_errors
@_clipping_in_one_line
def evaluate(
    model_dir: Path = typer.Argument(..., help="A model directory."),
    data: Path = typer.Option(
        ..., help="Held-out clips: a `wake synth` folder or a clip folder to synthesize from."
    ),
    n: int = typer.Option(200, "-n", help="Clips to synthesize from a clip folder."),
    seed: int = typer.Option(12345, help="Seed of the synthesized clips."),
    threshold: float | None = typer.Option(None, help="Threshold (default: the model's)."),
    det: Path | None = typer.Option(None, help="Write the DET curve as a PNG."),
    save_false: Path | None = typer.Option(
        None, help="Write the audio before each false accept as WAVs (--hard-negatives)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """False accepts per hour (clips without the trigger word), miss rate, DET curve."""
    from seqlab.audio import write_audio
    from seqlab.tasks.wake import WakeWord

    output_path(det, "--det")
    model = WakeWord.load(model_dir)
    examples = _examples(data, model.config, n, seed)
    report = model.evaluate(examples, threshold=threshold)
    if det is not None:
        from seqlab.viz.det import plot_det

        plot_det(report.det, det, threshold=report.threshold)
    facts = report.to_dict() | {"det_png": None if det is None else str(det)}
    if save_false is not None:
        output_folder(save_false, "--save-false")
        found = model.false_activations(examples, threshold=threshold)
        for i, clip in enumerate(found):
            write_audio(save_false / f"false_{i:04d}.wav", clip, model.config.sample_rate)
        facts["false_activation_files"] = len(found)
    if json_out:
        print_json(facts)
        return
    typer.echo(
        f"threshold {report.threshold:g}: {report.fa_per_hour:.2f} false accepts/hour "
        f"({report.false_accepts} in {report.negative_hours * 60:.1f} min without the word), "
        f"miss rate {100 * report.miss_rate:.1f}% ({report.misses} of {report.positives})"
    )
