"""MIDI in and out, quantised to a grid, and the event vocabulary the music model reads.

Reading and writing go through `mido <https://mido.readthedocs.io>`_ (the ``music`` extra:
``pip install 'seqlab[music]'``). A piece is a :class:`Song`: its :class:`Note` s on a time
grid of ``steps_per_beat`` steps per quarter note (default 4: sixteenth notes), and a tempo.

**Time quantisation.** A note's onset and release, in beats (MIDI ticks / ticks per beat),
are rounded to the nearest grid step; a note shorter than half a step lasts one step. The
grid is in beats, not seconds, so tempo changes do not move notes off the grid (the first
tempo of the file is kept for playback). Velocity is not modelled: every note is written at
velocity 80. Drums (MIDI channel 10) are unpitched and left out unless asked for.

**The event vocabulary** (the course's "values", in the form of Performance RNN, Oore et al.
2018, without velocity): a piece is the sequence of

* ``ON_p`` — pitch ``p`` (0-127) starts sounding;
* ``OFF_p`` — pitch ``p`` stops;
* ``SHIFT_n`` — time moves ``n`` grid steps forward (1 <= n <= ``max_shift``; a longer rest
  is several shifts).

At each grid step the releases come first, then the onsets, each in rising pitch, then the
shift to the next step where something happens. A chord is several ``ON`` events with no
shift between them; a rest is a shift with nothing sounding; a note's duration is the shifts
between its ``ON`` and ``OFF``. So every polyphonic piece on the grid has exactly one event
sequence and the round trip notes -> events -> notes is exact. Why this rather than the
course's (note-or-chord, duration, offset) triples: those make every chord a vocabulary entry
of its own (thousands, most seen once), while this vocabulary is fixed and small
(``2 x 128 + max_shift`` events) and shares what a chord's notes have in common.

When decoding sampled events, nonsense is read leniently: an ``OFF`` of a silent pitch is
ignored, an ``ON`` of a sounding pitch restarts it, and notes still sounding at the end are
released there.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab._io import DataError, atomic_write_bytes

__all__ = [
    "DEFAULT_MAX_SHIFT",
    "DEFAULT_STEPS_PER_BEAT",
    "MidiCorpus",
    "Note",
    "Song",
    "event_vocabulary",
    "events_to_notes",
    "notes_to_events",
    "read_corpus",
    "read_midi",
    "write_midi",
]

DEFAULT_STEPS_PER_BEAT = 4  # grid steps per quarter note: sixteenth notes
DEFAULT_MAX_SHIFT = 16  # the longest single SHIFT event, in steps (a 4/4 bar at 4 steps/beat)
VELOCITY = 80  # the velocity every note is written with
DRUM_CHANNEL = 9  # MIDI channel 10 (0-based 9): unpitched percussion
MIDI_SUFFIXES = (".mid", ".midi", ".smf")
_HINT = "give a Standard MIDI File (.mid) with notes"


def _mido() -> Any:
    """The ``mido`` module, or an ``ImportError`` saying how to install it."""
    try:
        import mido
    except ImportError:
        raise ImportError(
            "reading and writing MIDI needs mido: pip install 'seqlab[music]'"
        ) from None
    return mido


@dataclass(frozen=True, order=True)
class Note:
    """One note on the grid: sounds from step ``start`` up to (not including) ``end``."""

    start: int  # onset, in grid steps from the start of the piece
    end: int  # release, in grid steps (> start)
    pitch: int  # MIDI pitch, 0-127 (60 = middle C)

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"pitch must be in 0..127, got {self.pitch}")
        if not 0 <= self.start < self.end:
            raise ValueError(f"need 0 <= start < end, got start={self.start}, end={self.end}")


@dataclass(frozen=True)
class Song:
    """A piece: its notes (sorted by onset, then pitch) on a grid, and its tempo."""

    notes: tuple[Note, ...]  # sorted by (start, end, pitch); same-pitch notes never overlap
    steps_per_beat: int = DEFAULT_STEPS_PER_BEAT  # grid steps per quarter note
    tempo: float = 120.0  # quarter notes per minute, for playback
    name: str = field(default="", compare=False)  # where it came from (a file name)

    def __post_init__(self) -> None:
        if self.steps_per_beat < 1:
            raise ValueError(f"steps_per_beat must be >= 1, got {self.steps_per_beat}")
        if not self.tempo > 0:
            raise ValueError(f"tempo must be > 0, got {self.tempo}")
        object.__setattr__(self, "notes", canonical_notes(self.notes))

    @property
    def steps(self) -> int:
        """The piece's length in grid steps (the last release)."""
        return max((n.end for n in self.notes), default=0)

    @property
    def beats(self) -> float:
        return self.steps / self.steps_per_beat

    @property
    def seconds_per_step(self) -> float:
        return 60.0 / self.tempo / self.steps_per_beat


def canonical_notes(notes: Iterable[Note]) -> tuple[Note, ...]:
    """Sorted notes where a pitch sounds at most once at a time: a note is cut where the
    next note of the same pitch starts, and of notes with the same onset and pitch the
    longest is kept (the MIDI reading of overlapping same-pitch notes)."""
    by_pitch: dict[int, list[Note]] = {}
    for n in sorted(notes, key=lambda n: (n.pitch, n.start, -n.end)):
        same = by_pitch.setdefault(n.pitch, [])
        if same and same[-1].start == n.start:
            continue  # a duplicate onset: the longest one is already kept
        if same and same[-1].end > n.start:
            same[-1] = Note(start=same[-1].start, end=n.start, pitch=n.pitch)
        same.append(n)
    return tuple(sorted(n for group in by_pitch.values() for n in group))


# -- the event vocabulary ------------------------------------------------------------------
def event_vocabulary(max_shift: int = DEFAULT_MAX_SHIFT) -> list[str]:
    """Every event, in a fixed order: ``ON_0..ON_127``, ``OFF_0..OFF_127``,
    ``SHIFT_1..SHIFT_<max_shift>``."""
    if max_shift < 1:
        raise ValueError(f"max_shift must be >= 1, got {max_shift}")
    return (
        [f"ON_{p}" for p in range(128)]
        + [f"OFF_{p}" for p in range(128)]
        + [f"SHIFT_{n}" for n in range(1, max_shift + 1)]
    )


def _shifts(steps: int, max_shift: int) -> list[str]:
    """``steps`` of time as SHIFT events of at most ``max_shift`` each."""
    full, rest = divmod(steps, max_shift)
    return [f"SHIFT_{max_shift}"] * full + ([f"SHIFT_{rest}"] if rest else [])


def notes_to_events(notes: Iterable[Note], max_shift: int = DEFAULT_MAX_SHIFT) -> list[str]:
    """The event sequence of ``notes`` (see the module docstring): at each step the
    releases, then the onsets, in rising pitch, then the shift to the next step; a leading
    silence is a shift from step 0, and the sequence ends with the last release."""
    if max_shift < 1:
        raise ValueError(f"max_shift must be >= 1, got {max_shift}")
    at: dict[int, tuple[list[int], list[int]]] = {}  # step -> (releases, onsets)
    for n in canonical_notes(notes):
        at.setdefault(n.start, ([], []))[1].append(n.pitch)
        at.setdefault(n.end, ([], []))[0].append(n.pitch)
    events: list[str] = []
    now = 0
    for step in sorted(at):
        events += _shifts(step - now, max_shift)
        now = step
        offs, ons = at[step]
        events += [f"OFF_{p}" for p in sorted(offs)] + [f"ON_{p}" for p in sorted(ons)]
    return events


def events_to_notes(events: Iterable[str], *, max_steps: int | None = None) -> list[Note]:
    """The notes an event sequence plays, read leniently (sampled sequences may be
    nonsense): an ``OFF`` of a silent pitch is ignored, an ``ON`` of a sounding pitch
    restarts it, a note released in the step it started lasts one step, notes sounding
    at the end are released there, and other tokens (``<EOS>``) are skipped.

    ``max_steps`` caps a note's length (a sampled ``ON`` whose ``OFF`` never comes would
    otherwise sound to the end): the music model passes its corpus's 99th-percentile length.
    """
    now = 0
    sounding: dict[int, int] = {}  # pitch -> onset step
    notes: list[Note] = []

    def release(pitch: int) -> None:
        start = sounding.pop(pitch)
        end = max(now, start + 1)
        if max_steps is not None:
            end = min(end, start + max(1, max_steps))
        notes.append(Note(start=start, end=end, pitch=pitch))

    for event in events:
        kind, _, value = event.partition("_")
        if not value.isdigit():
            continue
        number = int(value)
        if kind == "SHIFT":
            now += number
        elif kind in ("ON", "OFF") and number <= 127:
            if number in sounding:
                release(number)
            if kind == "ON":
                sounding[number] = now
    for pitch in sorted(sounding):
        release(pitch)
    return sorted(notes)


# -- reading -------------------------------------------------------------------------------
def _track_matches(index: int, name: str, tracks: Sequence[str | int] | None) -> bool:
    if not tracks:
        return True
    wanted = {str(t).strip().lower() for t in tracks}
    return str(index) in wanted or name.strip().lower() in wanted


def _raw_notes(midi: Any, tracks: Sequence[str | int] | None, drums: bool) -> list[tuple]:
    """(start tick, end tick, pitch) of every note in the chosen tracks."""
    out: list[tuple[int, int, int]] = []
    for index, track in enumerate(midi.tracks):
        if not _track_matches(index, track.name or "", tracks):
            continue
        tick = 0
        sounding: dict[tuple[int, int], int] = {}  # (channel, pitch) -> onset tick
        for msg in track:
            tick += msg.time
            if msg.type not in ("note_on", "note_off") or (
                msg.channel == DRUM_CHANNEL and not drums
            ):
                continue
            key = (msg.channel, msg.note)
            if key in sounding:  # an off, or a new onset of a sounding key, ends the note
                out.append((sounding.pop(key), tick, msg.note))
            if msg.type == "note_on" and msg.velocity > 0:
                sounding[key] = tick
        out += [(start, tick, key[1]) for key, start in sounding.items()]
    return out


def _first_tempo(midi: Any) -> float:
    mido = _mido()
    for track in midi.tracks:
        for msg in track:
            if msg.type == "set_tempo":
                return float(mido.tempo2bpm(msg.tempo))
    return 120.0


def read_midi(
    path: str | Path,
    *,
    steps_per_beat: int = DEFAULT_STEPS_PER_BEAT,
    tracks: Sequence[str | int] | None = None,
    drums: bool = False,
) -> Song:
    """The notes of a MIDI file on a grid of ``steps_per_beat`` steps per quarter note.

    ``tracks`` keeps only the tracks with these names or indices (default: all); ``drums``
    keeps channel 10. Raises :class:`seqlab.data.DataError` (one line naming the file) for
    a missing, unreadable or corrupt file and for one without notes.
    """
    mido = _mido()
    file = Path(path)
    if not file.is_file():
        problem = "is a folder" if file.is_dir() else "no such file"
        raise DataError(file, problem, hint=_HINT)
    try:
        midi = mido.MidiFile(file, clip=True)
        raw = _raw_notes(midi, tracks, drums)
        tpb = midi.ticks_per_beat
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(file, f"not a readable MIDI file ({reason})", hint=_HINT) from None
    if tpb <= 0:
        raise DataError(file, f"not a readable MIDI file (ticks per beat {tpb})", hint=_HINT)
    notes = []
    for start_tick, end_tick, pitch in raw:
        start = round(start_tick * steps_per_beat / tpb)
        end = max(start + 1, round(end_tick * steps_per_beat / tpb))
        notes.append(Note(start=start, end=end, pitch=pitch))
    if not notes:
        which = f" in tracks {list(tracks)}" if tracks else ""
        raise DataError(file, f"no notes{which}", hint=_HINT)
    return Song(tuple(notes), steps_per_beat, _first_tempo(midi), name=file.name)


@dataclass(frozen=True)
class MidiCorpus:
    """The pieces read from MIDI files, and the files skipped (corrupt or without notes)."""

    songs: list[Song]  # the pieces read, in file-name order
    skipped: list[str]  # one line per file skipped: "FILE: problem"
    source: str = ""  # the folder or file read


def _midi_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DataError(root, "no such file or folder", hint="give a MIDI file or a folder of them")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())


def read_corpus(
    path: str | Path,
    *,
    steps_per_beat: int = DEFAULT_STEPS_PER_BEAT,
    tracks: Sequence[str | int] | None = None,
    drums: bool = False,
) -> MidiCorpus:
    """Every MIDI file in a folder (recursively; ``.mid``, ``.midi``, ``.smf``) or one file.

    A single file that cannot be read is a :class:`DataError`; in a folder such files are
    skipped and listed in :attr:`MidiCorpus.skipped`. A folder with no readable file is a
    :class:`DataError` too.
    """
    root = Path(path)
    files = _midi_files(root)
    if root.is_file():
        song = read_midi(root, steps_per_beat=steps_per_beat, tracks=tracks, drums=drums)
        return MidiCorpus([song], [], str(root))
    songs, skipped = [], []
    for file in files:
        try:
            songs.append(read_midi(file, steps_per_beat=steps_per_beat, tracks=tracks, drums=drums))
        except DataError as err:
            skipped.append(str(err))
    if not songs:
        problem = f"none of its {len(files)} MIDI files could be read" if files else "no MIDI files"
        raise DataError(root, problem, hint="give a folder of .mid files with notes")
    return MidiCorpus(songs, skipped, str(root))


# -- writing -------------------------------------------------------------------------------
def write_midi(song: Song, path: str | Path, *, program: int = 0) -> Path:
    """Write ``song`` as a type-0 Standard MIDI File (atomically), General MIDI
    ``program`` (0: acoustic grand piano), every note at velocity 80."""
    mido = _mido()
    tpb = 96 * song.steps_per_beat if 96 * song.steps_per_beat <= 32767 else song.steps_per_beat
    per_step = tpb // song.steps_per_beat
    timed: list[tuple[int, int, Any]] = []  # (tick, order: releases first, message)
    for n in song.notes:
        timed.append(
            (n.start * per_step, 1, mido.Message("note_on", note=n.pitch, velocity=VELOCITY))
        )
        timed.append((n.end * per_step, 0, mido.Message("note_off", note=n.pitch, velocity=0)))
    timed.sort(key=lambda item: (item[0], item[1], item[2].note))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(song.tempo), time=0))
    track.append(mido.Message("program_change", program=program, time=0))
    now = 0
    for tick, _, msg in timed:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=tpb)
    midi.tracks.append(track)
    buf = io.BytesIO()
    midi.save(file=buf)
    return atomic_write_bytes(path, buf.getvalue())
