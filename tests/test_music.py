"""seqlab.music and the music task: MIDI round trip at the grid, the event tokenisation of a
hand-made file (chords, rests, off-grid times, drums), corrupt files, the synthesizer's
frequencies, the statistics and the n-gram against hand/brute-force values, and the LSTM
beating the n-gram on held-out melodies. Every MIDI file is generated here."""

from __future__ import annotations

import math
import random
import sys
import wave
from pathlib import Path

import mido
import numpy as np
import pytest
import torch

from seqlab._io import DataError
from seqlab.models.rnn_lm import LMConfig
from seqlab.music import (
    NGramModel,
    Note,
    Song,
    event_vocabulary,
    events_to_notes,
    note_density,
    notes_to_events,
    pitch_class_distance,
    pitch_class_histogram,
    read_corpus,
    read_midi,
    repetition,
    write_midi,
    write_wav,
)
from seqlab.music.synth import render
from seqlab.tasks.music import MusicConfig, MusicModel
from seqlab.train import TrainConfig

MAJOR = (0, 2, 4, 5, 7, 9, 11)


def melody(rng: random.Random, notes: int = 24) -> Song:
    """A seeded melody with structure an n-gram cannot see: one key (a major scale on a
    random tonic) and one note length per melody, a random walk by scale steps, rests."""
    key, dur, deg = rng.randrange(12), rng.choice((1, 2, 3, 4)), rng.randrange(7, 14)
    out, t = [], 0
    for _ in range(notes):
        deg = min(20, max(0, deg + rng.choice((-2, -1, 1, 2))))
        pitch = 48 + key + 12 * (deg // 7) + MAJOR[deg % 7]
        out.append(Note(start=t, end=t + dur, pitch=pitch))
        t += dur + (dur if rng.random() < 0.15 else 0)
    return Song(tuple(out))


def random_polyphony(seed: int, n: int = 60) -> list[Note]:
    """Overlapping notes, chords, long rests: every case of the event grammar."""
    rng = random.Random(seed)
    notes = []
    for _ in range(n):
        start = rng.choice([rng.randrange(200), rng.randrange(40)])  # clusters -> chords
        notes.append(
            Note(start=start, end=start + rng.randint(1, 40), pitch=rng.randrange(20, 100))
        )
    return notes


def _midi_bytes(path: Path, tracks: list[list[mido.Message]], tpb: int = 480) -> Path:
    midi = mido.MidiFile(type=1, ticks_per_beat=tpb)
    for msgs in tracks:
        midi.tracks.append(mido.MidiTrack(msgs))
    midi.save(path)
    return path


def _on(note: int, time: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=90, time=time, channel=channel)


def _off(note: int, time: int, channel: int = 0, zero_velocity: bool = False) -> mido.Message:
    if zero_velocity:  # running-status style release: note_on with velocity 0
        return mido.Message("note_on", note=note, velocity=0, time=time, channel=channel)
    return mido.Message("note_off", note=note, velocity=0, time=time, channel=channel)


# -- MIDI and the event vocabulary ------------------------------------------------------------
@pytest.mark.parametrize("steps_per_beat", [1, 3, 4, 12])
def test_events_midi_events_round_trip(tmp_path: Path, steps_per_beat: int) -> None:
    for seed in range(3):
        events = notes_to_events(random_polyphony(seed), max_shift=16)
        song = Song(tuple(events_to_notes(events)), steps_per_beat, tempo=97.0)
        back = read_midi(write_midi(song, tmp_path / f"s{seed}.mid"), steps_per_beat=steps_per_beat)
        assert notes_to_events(back.notes, max_shift=16) == events
        assert back.notes == song.notes
        assert back.tempo == pytest.approx(97.0, rel=1e-4)


def test_tokenises_a_hand_made_file_with_chords_rests_and_drums(tmp_path: Path) -> None:
    # 480 ticks per beat, grid of 4 steps per beat (120 ticks a step)
    piano = [
        _on(60, 0), _on(64, 0), _on(67, 0),  # a C major chord at beat 0 ...
        _off(60, 480), _off(64, 0), _off(67, 0, zero_velocity=True),  # ... one beat long
        _on(72, 490),  # a rest of one beat; an onset 10 ticks late: rounds to step 8
        _off(72, 235),  # released at tick 1205 -> step 10.04 -> 10: a half beat
        _on(71, 1900 - 1205),  # step 15.8 -> 16, then left sounding: ends at the track's end
        mido.MetaMessage("end_of_track", time=480),  # tick 2380 -> step 19.8 -> 20
    ]  # fmt: skip
    drums = [_on(36, 0, channel=9), _off(36, 240, channel=9)]
    path = _midi_bytes(tmp_path / "hand.mid", [piano, drums])
    song = read_midi(path)
    assert notes_to_events(song.notes) == [
        "ON_60", "ON_64", "ON_67", "SHIFT_4", "OFF_60", "OFF_64", "OFF_67", "SHIFT_4",
        "ON_72", "SHIFT_2", "OFF_72", "SHIFT_6", "ON_71", "SHIFT_4", "OFF_71",
    ]  # fmt: skip
    assert read_midi(path, drums=True).notes[0] == Note(start=0, end=2, pitch=36)
    assert [n.pitch for n in read_midi(path, tracks=[1], drums=True).notes] == [36]
    with pytest.raises(DataError, match=r"hand\.mid: no notes in tracks"):
        read_midi(path, tracks=["Violin"])
    assert [n.pitch for n in read_midi(path, steps_per_beat=1).notes] == [60, 64, 67, 72, 71]


def test_leading_silence_long_rests_and_same_pitch_overlaps() -> None:
    assert notes_to_events([Note(start=20, end=21, pitch=60)], max_shift=16) == [
        "SHIFT_16", "SHIFT_4", "ON_60", "SHIFT_1", "OFF_60",
    ]  # fmt: skip
    # a second onset of a sounding pitch cuts the first note there (as a MIDI player does)
    overlap = [Note(start=0, end=8, pitch=60), Note(start=4, end=6, pitch=60)]
    assert notes_to_events(overlap) == ["ON_60", "SHIFT_4", "OFF_60", "ON_60", "SHIFT_2", "OFF_60"]


def test_events_to_notes_reads_nonsense_leniently() -> None:
    events = ["OFF_50", "ON_60", "ON_60", "SHIFT_2", "ON_60", "<EOS>", "ON_64", "SHIFT_3", "JUNK"]
    assert events_to_notes(events) == [
        Note(start=0, end=1, pitch=60),  # restarted at once: one step
        Note(start=0, end=2, pitch=60),
        Note(start=2, end=5, pitch=60),  # still sounding at the end
        Note(start=2, end=5, pitch=64),
    ]
    capped = events_to_notes(["ON_60", "SHIFT_9", "ON_62", "SHIFT_2", "OFF_62"], max_steps=4)
    assert capped == [Note(start=0, end=4, pitch=60), Note(start=9, end=11, pitch=62)]
    vocab = event_vocabulary(8)
    assert len(vocab) == 2 * 128 + 8 and vocab[-1] == "SHIFT_8"


def test_corrupt_empty_and_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "garbage.mid").write_bytes(b"this is not a MIDI file at all")
    (tmp_path / "empty.mid").write_bytes(b"")
    _midi_bytes(tmp_path / "silent.mid", [[mido.MetaMessage("track_name", name="x")]])
    good = write_midi(Song((Note(start=0, end=4, pitch=60),)), tmp_path / "good.mid")
    (tmp_path / "notes.txt").write_text("not MIDI, not read")
    for name, problem in [
        ("garbage.mid", "not a readable MIDI file"),
        ("empty.mid", "not a readable MIDI file"),
        ("silent.mid", "no notes"),
        ("missing.mid", "no such file"),
    ]:
        with pytest.raises(DataError) as err:
            read_midi(tmp_path / name)
        assert name in str(err.value) and problem in str(err.value)
        assert "\n" not in str(err.value)
        if name != "missing.mid":  # given alone, a corpus of one file is the same error
            with pytest.raises(DataError, match=problem):
                read_corpus(tmp_path / name)
    corpus = read_corpus(tmp_path)
    assert [s.name for s in corpus.songs] == [good.name]
    assert len(corpus.skipped) == 3 and all(": " in line for line in corpus.skipped)
    good.unlink()
    with pytest.raises(DataError, match="none of its 3 MIDI files could be read"):
        read_corpus(tmp_path)


def test_without_mido_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mido", None)
    with pytest.raises(ImportError, match=r"pip install 'seqlab\[music\]'"):
        read_midi("any.mid")


# -- the synthesizer ------------------------------------------------------------------------
@pytest.mark.parametrize(("pitch", "hz"), [(69, 440.0), (60, 261.6256), (81, 880.0)])
def test_a_single_note_peaks_at_its_frequency(tmp_path: Path, pitch: int, hz: float) -> None:
    song = Song((Note(start=0, end=8, pitch=pitch),), steps_per_beat=4, tempo=120.0)  # 1 s
    path = write_wav(song, tmp_path / "note.wav", sample_rate=16_000)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16_000)
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    assert len(samples) == pytest.approx(16_000 * 1.08, abs=2)  # 1 s + the release
    assert np.abs(samples).max() == pytest.approx(0.9 * 32767, rel=1e-3)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), d=1 / 16_000)
    assert freqs[spectrum.argmax()] == pytest.approx(hz, abs=1.0)  # bins are 0.93 Hz apart
    second = spectrum[np.abs(freqs - 2 * hz).argmin()]  # the 2nd harmonic is there, weaker
    assert 0.2 < second / spectrum.max() < 0.8


def test_the_render_places_notes_in_time() -> None:
    song = Song((Note(start=8, end=9, pitch=69),), steps_per_beat=4, tempo=60.0)  # at 2 s
    samples = render(song, sample_rate=8000)
    first = np.flatnonzero(np.abs(samples) > 1e-6)[0]
    assert first / 8000 == pytest.approx(2.0, abs=1e-3)


# -- statistics -----------------------------------------------------------------------------
def test_statistics_match_hand_computed_values() -> None:
    pitches = [60, 62, 64, 60, 62, 64, 72, 67]  # C D E C D E C G, one beat each
    song = Song(tuple(Note(start=4 * i, end=4 * i + 4, pitch=p) for i, p in enumerate(pitches)))
    hist = pitch_class_histogram(song)
    assert hist[0] == 3 / 8 and hist[2] == 2 / 8 and hist[4] == 2 / 8 and hist[7] == 1 / 8
    assert note_density(song) == 8 / 8  # 8 notes over 8 beats
    # pitch 3-grams: 60-62-64, 62-64-60, 64-60-62, 60-62-64 (seen), 62-64-72, 64-72-67: 1/6
    assert repetition(song, n=3) == pytest.approx(1 / 6)
    assert repetition(song, n=2) == pytest.approx(2 / 7)  # 60-62 and 62-64 come back
    # chord onsets are read in pitch order; density counts every note
    chord = Song(tuple(Note(start=0, end=8, pitch=p) for p in (60, 64, 67)))
    assert note_density(chord) == 3 / 2
    only_g = np.eye(12)[7]
    # ½ (|3/8 - 0| + |2/8| + |2/8| + |1/8 - 1|) = ½ (3/8 + 2/8 + 2/8 + 7/8) = 7/8
    assert pitch_class_distance(hist, only_g) == pytest.approx(7 / 8)
    assert pitch_class_distance(hist, hist) == 0.0


# -- the n-gram baseline ----------------------------------------------------------------------
def test_ngram_log_probs_match_a_brute_force_count() -> None:
    rng = np.random.default_rng(0)
    train = [[0, *rng.integers(1, 6, size=n).tolist()] for n in (50, 80)]
    test = [0, *rng.integers(1, 6, size=40).tolist()]
    V, k = 7, 0.3  # id 6 never occurs
    for order in (1, 2, 3):
        model = NGramModel.fit(train, order=order, k=k, vocab_size=V, bos_id=0)
        padded_test = [0] * (order - 1) + test
        expected = []
        for i in range(order, len(padded_test)):
            h, w = padded_test[i - order + 1 : i], padded_test[i]
            c_hw = c_h = 0
            for s in train:  # scan every position of every training stream
                p = [0] * (order - 1) + s
                for j in range(order, len(p)):
                    if p[j - order + 1 : j] == h:
                        c_h += 1
                        c_hw += p[j] == w
            expected.append(math.log((c_hw + k) / (c_h + k * V)))
        np.testing.assert_allclose(model.log_probs(test), expected, rtol=1e-12)
        total, count = model.nll([test])
        assert count == len(test) - 1 and total == pytest.approx(-sum(expected))
        # a distribution: the probabilities of every next id after some history sum to 1
        probs = [math.exp(model.log_probs([*test[:5], w])[-1]) for w in range(V)]
        assert sum(probs) == pytest.approx(1.0)
    saved = NGramModel.from_dict(model.to_dict())
    assert saved == model and np.allclose(saved.log_probs(test), model.log_probs(test))


# -- the task ---------------------------------------------------------------------------------
def test_config_round_trip_and_the_fixed_vocabulary() -> None:
    config = MusicConfig(model=LMConfig(vocab_size=10), steps_per_beat=3, tracks="Guitar")
    assert MusicConfig.from_dict(config.to_dict()) == config
    assert config.track_list() == ["Guitar"]
    vocab = MusicModel.vocabulary(16)
    assert len(vocab) == 1 + 256 + 16 and vocab.eos_id == 0
    with pytest.raises(ValueError, match="valid_fraction"):
        MusicConfig(model=LMConfig(vocab_size=10), valid_fraction=1.0)


def test_the_lstm_beats_the_best_ngram_on_held_out_melodies(
    tmp_path: Path, one_thread: None
) -> None:
    rng = random.Random(0)
    train = [melody(rng) for _ in range(300)]
    test = [melody(random.Random(10_000 + i)) for i in range(40)]
    network = LMConfig(vocab_size=2, embedding_dim=32, hidden_size=64, num_layers=1)
    config = MusicConfig(model=network, bptt=64, batch_size=32, valid_fraction=0.1)
    schedule = TrainConfig(max_steps=400, lr=1e-2, eval_every=200, progress=False, warmup_steps=0)
    task, _ = MusicModel.train(train, tmp_path / "m", config, schedule)
    held = task.stream(test)
    # the baseline: the best add-k n-gram of orders 1-6, its k and order chosen on the test
    # events themselves (an upper bound on what the n-gram can do): about 1.42 nats/event;
    # the LSTM learns each melody's key and note length from its past: about 0.92.
    fitted = {o: NGramModel.fit([task.stream(train)], order=o, k=1.0, vocab_size=len(task.vocab),
                                bos_id=task.vocab.eos_id) for o in range(1, 7)}  # fmt: skip
    ngram = min(
        m.with_k(k).nll([held])[0] / (len(held) - 1)
        for m in fitted.values()
        for k in (0.001, 0.01, 0.05, 0.2, 1.0)
    )
    lstm = task.nll_per_event(held)
    assert lstm < ngram - 0.25, (lstm, ngram)
    assert task.ngram_nll(held) >= ngram  # the task's own baseline is one of those n-grams
    # generation: seeded, playable, on the model's grid
    a = task.generate(200, seed=3, temperature=0.8)[0]
    assert a == task.generate(200, seed=3, temperature=0.8)[0] and a.notes
    assert a != task.generate(200, seed=4, temperature=0.8)[0]
    assert task.config.max_note_steps == 4  # the corpus's 99th-percentile note length
    assert max(n.end - n.start for n in a.notes) <= 4
    primed = task.generate(20, seed=1, primer=test[0])[0]
    assert primed.notes[: len(test[0].notes)] == test[0].notes
    result = task.evaluate(test[:5], samples=2, length=150)
    assert result["beats_ngram"] and result["events"] == len(task.stream(test[:5])) - 1
    assert 0.0 <= result["pitch_class_distance"] <= 1.0
    torch.testing.assert_close(task.log_probs(held[:50]), task.log_probs(held)[:49])


def test_the_piano_roll_draws_one_bar_per_note() -> None:
    from matplotlib.collections import PolyCollection

    from seqlab.viz.pianoroll import note_name, pianoroll_figure

    assert [note_name(p) for p in (60, 69, 61, 21)] == ["C4", "A4", "C#4", "A0"]
    song = Song(tuple(Note(start=2 * i, end=2 * i + 3, pitch=60 + i) for i in range(10)))
    ax = pianoroll_figure(song, max_beats=3).axes[0]  # onsets before beat 3: steps 0..10
    (bars,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    boxes = bars.get_paths()
    assert len(boxes) == 6
    x0, y0 = boxes[5].vertices.min(axis=0)
    assert (x0, y0) == (pytest.approx(10 / 4), pytest.approx(65 - 0.4))  # beat 2.5, pitch 65
