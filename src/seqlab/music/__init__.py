"""Music as event sequences: MIDI in and out, a synthesizer, statistics, an n-gram baseline.

* :mod:`seqlab.music.midi` — :func:`read_midi`, :func:`write_midi`, :func:`read_corpus`, and
  the event vocabulary (``ON_p``, ``OFF_p``, ``SHIFT_n`` on a grid of steps per beat):
  :func:`notes_to_events`, :func:`events_to_notes`. Needs ``mido`` (``pip install
  'seqlab[music]'``).
* :mod:`seqlab.music.corpus21` — music21's bundled corpus as songs: :func:`bach_chorales`
  (the Bach chorales, with a held-out split), :func:`read_music21` (any composer, collection
  or work), :func:`score_to_song`. Needs ``music21`` (``pip install 'seqlab[music21]'``).
* :mod:`seqlab.music.synth` — :func:`write_wav`: an additive synthesizer, WAV through the
  standard library.
* :mod:`seqlab.music.stats` — pitch-class histogram distance, note density, repetition.
* :mod:`seqlab.music.ngram` — :class:`NGramModel`: the add-k event n-gram baseline.

The model itself is :class:`seqlab.tasks.MusicModel` (``seqlab music``).
"""

from seqlab.music.corpus21 import bach_chorales, read_music21, score_to_song
from seqlab.music.midi import (
    MidiCorpus,
    Note,
    Song,
    event_vocabulary,
    events_to_notes,
    notes_to_events,
    read_corpus,
    read_midi,
    write_midi,
)
from seqlab.music.ngram import NGramModel
from seqlab.music.stats import (
    music_statistics,
    note_density,
    pitch_class_distance,
    pitch_class_histogram,
    repetition,
)
from seqlab.music.synth import render, write_wav

__all__ = [
    "MidiCorpus",
    "NGramModel",
    "Note",
    "Song",
    "bach_chorales",
    "event_vocabulary",
    "events_to_notes",
    "music_statistics",
    "note_density",
    "notes_to_events",
    "pitch_class_distance",
    "pitch_class_histogram",
    "read_corpus",
    "read_midi",
    "read_music21",
    "render",
    "repetition",
    "score_to_song",
    "write_midi",
    "write_wav",
]
