"""``seqlab music train|generate|evaluate|show``: the jazz LSTM over MIDI events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from seqlab.cli._common import fail, output_path, print_json, user_errors
from seqlab.cli._train import TrainOptions, override, train_and_report, train_options
from seqlab.music.corpus21 import INSTALL_HINT
from seqlab.tasks.music import BACH_PRESET, JAZZ_PRESET, MAX_EVENTS, PRESET

if TYPE_CHECKING:
    from seqlab.music.midi import MidiCorpus
    from seqlab.tasks.music import MusicConfig

app = typer.Typer(
    help="Music: train an LSTM on MIDI files (the course's jazz piece, music21's Bach "
    "chorales), generate MIDI and WAV, evaluate (NLL per event beside an n-gram, musical "
    "statistics), draw piano rolls.",
    no_args_is_help=True,
)

_PRESETS = {"midi": PRESET, "jazz": JAZZ_PRESET, "bach": BACH_PRESET}
_DATASETS = "jazz, bach or music21:NAME"
JAZZ_FILE = "original_metheny.mid"  # the course's piece, in the folder --midi names
# the task and network config fields -> `music train`'s options (error messages name them)
_TRAIN_FLAGS = {
    "steps_per_beat": "--steps-per-beat",
    "max_shift": "--max-shift",
    "tracks": "--tracks",
    "bptt": "--bptt",
    "valid_fraction": "--valid-fraction",
    "hidden_size": "--hidden",
    "embedding_dim": "--embedding",
    "input_size": "--embedding",
    "num_layers": "--layers",
    "dropout": "--dropout",
    "cell": "--cell",
}


def _corpus_path(midi: Path | None, dataset: str | None) -> Path:
    """The file or folder to read: ``--midi``, and for ``--dataset jazz`` the course's
    piece (``--midi`` is that file or the folder holding it)."""
    if dataset not in (None, "jazz"):
        raise fail(f"--dataset must be {_DATASETS}, got {dataset!r}")
    if midi is None:
        which = (
            "the course's original_metheny.mid, or its folder" if dataset else "a file or folder"
        )
        raise fail(f"give --midi PATH ({which})")
    if dataset is None:
        return midi
    path = midi / JAZZ_FILE if midi.is_dir() else midi
    if not path.is_file():
        raise fail(f"--dataset jazz: {path}: no such file (give the course's {JAZZ_FILE})")
    return path


def _is_music21(dataset: str | None) -> bool:
    return dataset == "bach" or (dataset or "").startswith("music21:")


def _music21_corpus(
    dataset: str, midi: Path | None, config: MusicConfig, split: str, limit: int | None
) -> MidiCorpus:
    """The ``split`` of a music21 data set (``--dataset bach``, ``music21:NAME``)."""
    from seqlab.tasks.music import MusicModel

    if midi is not None:
        raise fail(f"--dataset {dataset} reads music21's corpus: leave out --midi")
    if limit is not None and limit < 1:
        raise fail(f"--limit must be >= 1, got {limit}")
    try:
        return MusicModel.read_dataset(dataset, config, split, limit)  # type: ignore[arg-type]
    except ImportError as exc:
        if INSTALL_HINT in str(exc):
            raise fail(f"--dataset {dataset} needs music21: {INSTALL_HINT}") from None
        raise


def _report_skipped(skipped: list[str], total: int, what: str = "MIDI files") -> None:
    if skipped:
        typer.echo(
            f"skipped {len(skipped)} of {total} {what} (unreadable or without notes); "
            f"first: {skipped[0]}",
            err=True,
        )


@app.command()
@user_errors
@train_options(_PRESETS, flags=_TRAIN_FLAGS)
def train(
    midi: Path | None = typer.Option(
        None, help="A MIDI file or a folder of them (read recursively: .mid, .midi)."
    ),
    dataset: str | None = typer.Option(
        None,
        help="jazz: the course's piece (original_metheny.mid), read from --midi; bach: the "
        "Bach chorales of music21's corpus (its 315 training chorales; needs music21); "
        "music21:NAME: a composer, collection or work of that corpus (music21:bach/bwv66.6).",
    ),
    limit: int | None = typer.Option(
        None, help="--dataset bach or music21:NAME: read only the first N pieces."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
    steps_per_beat: int = typer.Option(4, help="Time grid: steps per quarter note."),
    max_shift: int = typer.Option(16, help="Longest SHIFT event, in steps."),
    tracks: str = typer.Option(
        "", help="Comma-separated track (music21: part) names or indices (default all)."
    ),
    drums: bool = typer.Option(False, help="Also read channel 10 (unpitched percussion)."),
    valid_fraction: float = typer.Option(
        0.1, help="The tail of the event stream held out for validation."
    ),
    bptt: int = typer.Option(128, help="Events per training window (truncated BPTT)."),
    cell: str = typer.Option("lstm", help="rnn, gru or lstm."),
    layers: int | None = typer.Option(
        None, help="Stacked layers (default: midi 2, jazz 1, bach 1)."
    ),
    hidden: int | None = typer.Option(
        None, help="Hidden size H (default: midi 256, jazz 128, bach 256)."
    ),
    embedding: int | None = typer.Option(
        None, help="Event embedding E (default: midi 64, jazz 32, bach 32)."
    ),
    dropout: float | None = typer.Option(
        None, help="Dropout (default: midi 0, jazz 0.1, bach 0.1)."
    ),
    *,
    train_opts: TrainOptions,
) -> None:
    """Train the music LSTM on MIDI events (files that cannot be read are skipped)."""
    from seqlab.tasks.music import MusicModel

    music21 = _is_music21(dataset)
    if limit is not None and not music21:
        raise fail("--limit needs --dataset bach or music21:NAME")
    path = None if music21 else _corpus_path(midi, dataset)
    preset = {"jazz": JAZZ_PRESET, "bach": BACH_PRESET}.get(dataset or "", PRESET)
    train_opts.apply_threads()
    config = override(
        preset.config,
        {
            "steps_per_beat": steps_per_beat,
            "max_shift": max_shift,
            "tracks": tracks,
            "drums": drums,
            "valid_fraction": valid_fraction,
            "bptt": bptt,
            "batch_size": train_opts.batch_size,
            "model.cell": cell,
            "model.num_layers": layers,
            "model.hidden_size": hidden,
            "model.embedding_dim": embedding,
            "model.dropout": dropout,
            "corpus": dataset or str(path),
        },
    )
    if path is None:
        corpus = _music21_corpus(dataset or "", midi, config, "train", limit)
        _report_skipped(corpus.skipped, len(corpus.songs) + len(corpus.skipped), "pieces")
    else:
        corpus = MusicModel.read(path, config)
        _report_skipped(corpus.skipped, len(corpus.songs) + len(corpus.skipped))
    notes = sum(len(s.notes) for s in corpus.songs)
    train_and_report(
        MusicModel,
        corpus,
        out,
        config,
        train_opts.train_config(preset.train),
        train_opts,
        lambda m: (
            {
                "songs": len(corpus.songs),
                "notes": notes,
                "skipped": len(corpus.skipped),
                "ngram": {"order": m.ngram.order, "k": m.ngram.k},
            },
            f"{len(corpus.songs)} piece(s), {notes} notes, {len(m.vocab)} events",
        ),
        loss_unit="event",
    )


@app.command()
@user_errors
def generate(
    model_dir: Path = typer.Argument(..., help="A model directory from `seqlab music train`."),
    out: Path = typer.Option(..., "--out", "-o", help="MIDI file to write."),
    wav: Path | None = typer.Option(None, help="Also write a WAV (built-in synthesizer)."),
    length: int = typer.Option(512, help=f"Events to draw (at most {MAX_EVENTS:,})."),
    seed: int | None = typer.Option(None, help="Random seed (reproducible music)."),
    temperature: float = typer.Option(1.0, help="Softmax temperature."),
    top_k: int | None = typer.Option(None, help="Keep the K most probable events."),
    top_p: float | None = typer.Option(None, help="Nucleus sampling mass."),
    primer: Path | None = typer.Option(None, help="A MIDI file the piece continues."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Generate a piece, one event at a time, as a playable MIDI file (and a WAV)."""
    from seqlab.music import write_midi, write_wav
    from seqlab.music.stats import music_statistics
    from seqlab.tasks.music import MusicModel

    if not 1 <= length <= MAX_EVENTS:
        raise fail(f"--length must be between 1 and {MAX_EVENTS:,}, got {length:,}")
    output_path(out, "--out")
    output_path(wav, "--wav")
    model = MusicModel.load(model_dir)
    start = None
    if primer is not None:
        start = model.read(primer, model.config).songs[0]
    song = model.generate(
        length, seed=seed, temperature=temperature, top_k=top_k, top_p=top_p, primer=start
    )[0]
    write_midi(song, out)
    if wav is not None:
        write_wav(song, wav)
    facts: dict[str, Any] = {
        "midi": str(out),
        "wav": None if wav is None else str(wav),
        "notes": len(song.notes),
        "beats": song.beats,
        "seconds": round(song.steps * song.seconds_per_step, 2),
        **music_statistics([song]),
    }
    if json_out:
        print_json(facts)
        return
    typer.echo(
        f"wrote {out}: {facts['notes']} notes, {song.beats:g} beats, {facts['seconds']:g} s "
        f"at {song.tempo:.0f} bpm" + (f"; {wav}" if wav else "")
    )


@app.command()
@user_errors
def evaluate(
    model_dir: Path = typer.Argument(..., help="A model directory."),
    midi: Path | None = typer.Option(None, help="Held-out MIDI file or folder."),
    dataset: str | None = typer.Option(
        None,
        help="Instead of --midi: bach or music21:NAME, the held-out split of that music21 "
        "data set (every 10th piece, which `music train --dataset` leaves out).",
    ),
    limit: int | None = typer.Option(None, help="With --dataset: the first N held-out pieces."),
    samples: int = typer.Option(4, help="Pieces generated for the statistics."),
    length: int | None = typer.Option(
        None, help="Events per generated piece (default: the held-out pieces' mean, <= 2000)."
    ),
    seed: int = typer.Option(0, help="Random seed of the generated pieces."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Held-out NLL per event beside the n-gram baseline, and generated-vs-real statistics."""
    from seqlab.tasks.music import MusicModel

    if samples < 1:
        raise fail(f"--samples must be >= 1, got {samples}")
    if (midi is None) == (dataset is None):
        raise fail("give --midi PATH or --dataset bach|music21:NAME (one of them)")
    if dataset is not None and not _is_music21(dataset):
        raise fail(f"--dataset must be bach or music21:NAME (held-out pieces), got {dataset!r}")
    if limit is not None and dataset is None:
        raise fail("--limit needs --dataset bach or music21:NAME")
    model = MusicModel.load(model_dir)
    if dataset is not None:
        corpus = _music21_corpus(dataset, None, model.config, "test", limit)
    else:
        corpus = model.read(midi, model.config)  # type: ignore[arg-type]
    _report_skipped(corpus.skipped, len(corpus.songs) + len(corpus.skipped))
    result = model.evaluate(corpus.songs, samples=samples, length=length, seed=seed)
    result["skipped"] = len(corpus.skipped)
    if json_out:
        print_json(result)
        return
    ng = result["ngram"]
    typer.echo(f"{result['songs']} piece(s), {result['events']} events")
    typer.echo(
        f"NLL per event  LSTM {result['nll_per_event']:.4f}  "
        f"{ng['order']}-gram (k={ng['k']:g}) {result['ngram_nll_per_event']:.4f}  nats"
    )
    real, gen = result["real"], result["generated"]
    typer.echo(f"{'':<22}{'real':>8}{'generated':>11}")
    typer.echo(f"{'notes per beat':<22}{real['note_density']:>8.3f}{gen['note_density']:>11.3f}")
    typer.echo(f"{'repetition (4-grams)':<22}{real['repetition']:>8.3f}{gen['repetition']:>11.3f}")
    typer.echo(f"pitch-class distance (total variation) {result['pitch_class_distance']:.3f}")


@app.command()
@user_errors
def show(
    file: Path = typer.Argument(..., help="A MIDI file."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    steps_per_beat: int = typer.Option(4, help="Time grid: steps per quarter note."),
    tracks: str = typer.Option("", help="Comma-separated track names or indices (default all)."),
    drums: bool = typer.Option(False, help="Also draw channel 10 (percussion)."),
    beats: float | None = typer.Option(None, help="Draw only the first N beats."),
) -> None:
    """Draw a MIDI file's piano roll."""
    from seqlab.music import read_midi
    from seqlab.viz.pianoroll import plot_pianoroll

    if beats is not None and not beats > 0:
        raise fail(f"--beats must be > 0, got {beats:g}")
    output_path(out, "--out")
    names = [t.strip() for t in tracks.split(",") if t.strip()] or None
    song = read_midi(file, steps_per_beat=steps_per_beat, tracks=names, drums=drums)
    plot_pianoroll(song, out, title=file.name, max_beats=beats)
    typer.echo(f"wrote {out}: {len(song.notes)} notes, {song.beats:g} beats")
