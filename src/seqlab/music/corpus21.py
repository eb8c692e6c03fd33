"""music21's bundled corpus as seqlab songs: the Bach chorales, and any work or composer.

`music21 <https://web.mit.edu/music21/>`_ ships a corpus of scores (MusicXML, ABC, Humdrum
...) with the package; the best known part of it is the 371 four-part chorales of J. S. Bach
in Riemenschneider's numbering. This module reads them into the same :class:`Song` s a
MIDI file gives (needs music21: ``pip install "seqlab[music21]"``; mido is not needed).

**Conversion.** Each part's ties are joined (a note tied over the bar line is one note),
then every note and every pitch of a chord becomes a :class:`Note` whose onset and release,
in quarter notes from the start of the score, are rounded to the grid exactly as
:func:`seqlab.music.read_midi` rounds MIDI beats: ``start = round(offset × steps_per_beat)``,
``end = max(start + 1, round((offset + duration) × steps_per_beat))``. Repeats are written
out as music21's MIDI writer plays them (a score whose repeats it cannot expand is read as
written); the first metronome mark is the tempo (120 without one). So a score read here
gives the notes of music21 → MIDI file → :func:`read_midi`: the same notes for 343 of the
349 chorales the MIDI writer accepts. The others differ only where this module is
deliberate: grace notes (no written duration; 3 in the chorales, which the MIDI writer
sounds up to 5 beats) are left out, two voices of one part sounding the same pitch at once
are read as one note (:func:`seqlab.music.midi.canonical_notes`: 1 note), and the MIDI
tempo's microsecond rounding (88 bpm reads back as 88.00002) is not applied.

**The chorales and their held-out split.** Riemenschneider's 371 numbers name 350 distinct
scores (a chorale harmonised twice in one cantata is one file listed twice); each is read
once, in the numbering's order. Every ``HELD_OUT_EVERY``-th of them (the 10th, 20th, ... :
35 chorales) is the held-out ``"test"`` split, never trained on; the other 315 are
``"train"``. The same rule splits the pieces of :func:`read_music21`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from seqlab._io import DataError
from seqlab.music.midi import DEFAULT_STEPS_PER_BEAT, MidiCorpus, Note, Song

__all__ = [
    "HELD_OUT_EVERY",
    "INSTALL_HINT",
    "Split",
    "bach_chorales",
    "chorale_names",
    "read_dataset",
    "read_music21",
    "score_to_song",
]

INSTALL_HINT = 'pip install "seqlab[music21]"'
HELD_OUT_EVERY = 10  # every 10th distinct piece (in corpus order) is held out as "test"
DEFAULT_TEMPO = 120.0  # quarter notes per minute when a score has no metronome mark
Split = Literal["train", "test", "all"]
_SPLITS = ("train", "test", "all")
T = TypeVar("T")


def _music21() -> Any:
    """The ``music21`` module, or an ``ImportError`` saying how to install it."""
    try:
        import music21
    except ImportError:
        raise ImportError(f"the music21 corpus needs music21: {INSTALL_HINT}") from None
    return music21


# -- one score -----------------------------------------------------------------------------
def _part_matches(index: int, part: Any, tracks: Sequence[str | int] | None) -> bool:
    """Whether a part is kept: all without ``tracks``, else by 0-based index or by name."""
    if not tracks:
        return True
    wanted = {str(t).strip().lower() for t in tracks}
    names = {str(index), str(part.partName or "").lower(), str(part.id or "").lower()}
    return bool(wanted & names)


def _part_notes(part: Any, steps_per_beat: int) -> Iterator[Note]:
    """The grid notes of one part, ties joined, grace notes left out."""
    for element in part.stripTies(inPlace=False).flatten().notes:
        length = float(element.quarterLength)  # quarter notes
        if element.duration.isGrace or length <= 0:
            continue
        onset = float(element.offset)  # quarter notes from the start of the score
        start = round(onset * steps_per_beat)
        end = max(start + 1, round((onset + length) * steps_per_beat))
        for pitch in getattr(element, "pitches", ()):  # a note has one, a chord several
            yield Note(start=start, end=end, pitch=int(pitch.midi))


def _tempo(score: Any) -> float:
    """The first metronome mark's quarter notes per minute (120 without one)."""
    music21 = _music21()
    for mark in score.recurse().getElementsByClass(music21.tempo.MetronomeMark):
        bpm = mark.getQuarterBPM()
        if bpm and bpm > 0:
            return float(bpm)
    return DEFAULT_TEMPO


def _expanded(score: Any) -> Any:
    """The score with its repeats written out, as music21's MIDI writer plays it (a copy);
    the score as written when its repeats are malformed (the MIDI writer fails there)."""
    music21 = _music21()
    marks = (music21.bar.Repeat, music21.repeat.RepeatExpression)
    if not score.recurse().getElementsByClass(marks).first():
        return score  # nothing to expand (expandRepeats would only copy it)
    try:
        return score.expandRepeats()
    except music21.repeat.ExpanderException:
        return score


def score_to_song(
    score: Any,
    *,
    steps_per_beat: int = DEFAULT_STEPS_PER_BEAT,
    tracks: Sequence[str | int] | None = None,
    name: str = "",
) -> Song:
    """A music21 ``Score`` (or ``Part``) as a :class:`Song` on a grid of ``steps_per_beat``
    steps per quarter note (see the module docstring). ``tracks`` keeps only the parts with
    these 0-based indices or part names (``"Soprano"``); ``ValueError`` when no note is left.
    """
    if steps_per_beat < 1:
        raise ValueError(f"steps_per_beat must be >= 1, got {steps_per_beat}")
    expanded = _expanded(score)
    parts = list(getattr(expanded, "parts", None) or [expanded])
    notes = [
        note
        for index, part in enumerate(parts)
        if _part_matches(index, part, tracks)
        for note in _part_notes(part, steps_per_beat)
    ]
    if not notes:
        which = f" in parts {list(tracks)}" if tracks else ""
        raise ValueError(f"{name or 'the score'}: no notes{which}")
    return Song(tuple(notes), steps_per_beat, _tempo(score), name=name)


# -- collections ---------------------------------------------------------------------------
def chorale_names() -> list[str]:
    """The corpus names of the distinct Bach chorales (``"bach/bwv269"``, ...), in
    Riemenschneider's order, each once (350 of the 371 numbers)."""
    music21 = _music21()
    names = music21.corpus.chorales.Iterator(returnType="filename")
    return list(dict.fromkeys(str(n) for n in names))


def _take(items: Iterable[T], split: str, limit: int | None) -> list[T]:
    """The ``split`` of ``items`` (every ``HELD_OUT_EVERY``-th is "test"), at most ``limit``;
    ``items`` is read only as far as needed."""
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {', '.join(_SPLITS)}, got {split!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    kept = (
        x
        for i, x in enumerate(items)
        if split == "all" or (i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1) == (split == "test")
    )
    return list(itertools.islice(kept, limit))


def _songs(
    scores: Iterable[tuple[str, Any]], steps_per_beat: int, tracks: Sequence[str | int] | None
) -> tuple[list[Song], list[str]]:
    """The songs of ``(name, score)`` pairs, and one line per score without notes."""
    songs, skipped = [], []
    for name, score in scores:
        try:
            songs.append(
                score_to_song(score, steps_per_beat=steps_per_beat, tracks=tracks, name=name)
            )
        except ValueError as err:
            skipped.append(str(err))
    return songs, skipped


def bach_chorales(
    split: Split = "train",
    *,
    limit: int | None = None,
    steps_per_beat: int = DEFAULT_STEPS_PER_BEAT,
    tracks: Sequence[str | int] | None = None,
) -> MidiCorpus:
    """The Bach chorales of music21's corpus: the ``"train"`` split (315 chorales), the
    held-out ``"test"`` split (35, every 10th) or ``"all"`` 350, the first ``limit`` of them.

    Each is parsed by music21 (about 0.1 s a chorale; music21 keeps a parsed copy in its
    temporary folder). ``tracks``: parts by index or name (``"Soprano"``: the melodies).
    """
    music21 = _music21()
    names = _take(chorale_names(), split, limit)
    songs, skipped = _songs(((n, music21.corpus.parse(n)) for n in names), steps_per_beat, tracks)
    if not songs:
        raise DataError(f"music21:bach ({split})", "no chorale with notes", hint="check --tracks")
    return MidiCorpus(songs, skipped, f"music21:bach ({split})")


def _scores(parsed: Any, name: str) -> Iterator[tuple[str, Any]]:
    """The scores of a parsed corpus file: itself, or each score of an ``Opus`` (one ABC
    file holds many tunes)."""
    inner = list(getattr(parsed, "scores", None) or [])
    if not inner:
        yield name, parsed
        return
    for i, score in enumerate(inner, start=1):
        yield f"{name}#{i}", score


def _name(path: Path) -> str:
    """A corpus file's short name: ``bach/bwv66.6``."""
    return f"{path.parent.name}/{path.stem}"


def read_music21(
    query: str,
    split: Split = "all",
    *,
    limit: int | None = None,
    steps_per_beat: int = DEFAULT_STEPS_PER_BEAT,
    tracks: Sequence[str | int] | None = None,
) -> MidiCorpus:
    """The pieces of music21's corpus that ``query`` names: a composer or collection
    (``"bach"``, ``"essenFolksong"``: every file of it, by path) or one work
    (``"bach/bwv66.6"``); the ``split`` of them (every 10th piece is ``"test"``), the first
    ``limit``. A file holding several tunes (an ABC ``Opus``) gives each tune.

    Raises :class:`seqlab.data.DataError` when the query names nothing.
    """
    music21 = _music21()
    where = f"music21:{query}"
    paths = [Path(p) for p in music21.corpus.getComposer(query)]
    if not paths:
        try:
            found = music21.corpus.getWork(query)
        except music21.exceptions21.CorpusException:
            found = []
        paths = [Path(p) for p in (found if isinstance(found, list) else [found])]
    if not paths:
        hint = "give a composer or collection (bach, essenFolksong) or a work (bach/bwv66.6)"
        raise DataError(where, "nothing in music21's corpus by that name", hint=hint)
    files = sorted(paths)
    every = (pair for p in files for pair in _scores(music21.converter.parse(p), _name(p)))
    scores = _take(every, split, limit)
    if not scores:
        hint = f"every {HELD_OUT_EVERY}th piece is held out: name more pieces"
        raise DataError(where, f"no piece in the {split!r} split", hint=hint)
    songs, skipped = _songs(scores, steps_per_beat, tracks)
    if not songs:
        raise DataError(where, f"no piece with notes ({split})", hint="check --tracks")
    return MidiCorpus(songs, skipped, where)


def read_dataset(
    name: str,
    split: Split = "train",
    *,
    limit: int | None = None,
    steps_per_beat: int = DEFAULT_STEPS_PER_BEAT,
    tracks: Sequence[str | int] | None = None,
) -> MidiCorpus:
    """A named music21 data set: ``"bach"`` (:func:`bach_chorales`) or ``"music21:QUERY"``
    (:func:`read_music21`); ``ValueError`` for another name."""
    options: dict[str, Any] = {"limit": limit, "steps_per_beat": steps_per_beat, "tracks": tracks}
    if name == "bach":
        return bach_chorales(split, **options)
    query = name.removeprefix("music21:").strip()
    if name.startswith("music21:") and query:
        return read_music21(query, split, **options)
    raise ValueError(f"not a music21 data set: {name!r} (give bach or music21:NAME)")
