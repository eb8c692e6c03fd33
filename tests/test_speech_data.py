"""seqlab.data.speech: the FSDD reader and splits, digit sequences, the manifest reader, on
audio the tests write (never the real dataset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab._io import DataError
from seqlab.audio import write_audio
from seqlab.data.speech import (
    DIGIT_WORDS,
    digit_sequences,
    load_split,
    read_fsdd,
    read_lexicon,
    read_manifest,
    spec_augment,
    split_fsdd,
)

SR = 8000


def _tone(freq: float, seconds: float = 0.1) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return 0.4 * np.sin(2 * np.pi * freq * t)


def _fsdd(root: Path, speakers: tuple[str, ...] = ("ann", "bob"), indices: int = 7) -> Path:
    """A tiny FSDD layout: digits 0-2, every speaker, ``indices`` recordings each."""
    folder = root / "recordings"
    folder.mkdir(parents=True)
    for d in range(3):
        for s, speaker in enumerate(speakers):
            for i in range(indices):
                write_audio(folder / f"{d}_{speaker}_{i}.wav", _tone(300 + 100 * d + 10 * s), SR)
    return root


def test_fsdd_names_give_words_speakers_and_indices(tmp_path: Path) -> None:
    clips = read_fsdd(_fsdd(tmp_path))
    assert len(clips) == 3 * 2 * 7
    first = clips[0]
    assert (first.text, first.speaker, first.index, first.sample_rate) == ("zero", "ann", 0, SR)
    assert first.samples.shape == (800,) and first.samples.dtype == torch.float32
    assert {c.text for c in clips} == set(DIGIT_WORDS[:3])


def test_official_split_holds_out_indices_0_to_4(tmp_path: Path) -> None:
    clips = read_fsdd(_fsdd(tmp_path))
    train, test = split_fsdd(clips)
    assert {c.index for c in test} == {0, 1, 2, 3, 4} and {c.index for c in train} == {5, 6}
    assert len(train) + len(test) == len(clips)


def test_speaker_split_holds_out_the_last_speaker(tmp_path: Path) -> None:
    clips = read_fsdd(_fsdd(tmp_path))
    train, test = split_fsdd(clips, "speaker")
    assert {c.speaker for c in test} == {"bob"} and {c.speaker for c in train} == {"ann"}
    train, test = split_fsdd(clips, "speaker", test_speakers=["ann"])
    assert {c.speaker for c in test} == {"ann"}
    with pytest.raises(ValueError, match="split must be"):
        split_fsdd(clips, "nope")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing", "no such folder"),
        (lambda p: p, "no .wav files"),
    ],
)
def test_fsdd_folder_errors(tmp_path: Path, make, match: str) -> None:
    with pytest.raises(DataError, match=match):
        read_fsdd(make(tmp_path))


def test_fsdd_bad_file_name_is_named(tmp_path: Path) -> None:
    root = _fsdd(tmp_path, speakers=("ann",), indices=1)
    write_audio(root / "recordings" / "hello.wav", _tone(400), SR)
    with pytest.raises(DataError, match=r"hello\.wav: not an FSDD file name"):
        read_fsdd(root)


def test_digit_sequences_join_clips_with_gaps(tmp_path: Path) -> None:
    clips = read_fsdd(_fsdd(tmp_path))
    seqs = digit_sequences(clips, 20, min_words=2, max_words=4, gap=(0.05, 0.1), seed=3)
    assert len(seqs) == 20
    for u in seqs:
        words = u.text.split()
        assert 2 <= len(words) <= 4 and set(words) <= set(DIGIT_WORDS[:3])
        n = len(words)  # n clips of 800 samples and n + 1 gaps of 400-800 samples
        assert n * 800 + (n + 1) * 400 <= u.samples.numel() <= n * 800 + (n + 1) * 800
        assert u.samples[:400].abs().max() == 0  # starts with silence (no noise asked)
        assert len({c.split("_")[1] for c in u.name.split(":")[1].split("+")}) == 1  # one voice
    again = digit_sequences(clips, 20, min_words=2, max_words=4, gap=(0.05, 0.1), seed=3)
    assert [u.text for u in again] == [u.text for u in seqs]
    assert all(torch.equal(a.samples, b.samples) for a, b in zip(again, seqs, strict=True))
    other = digit_sequences(clips, 20, min_words=2, max_words=4, gap=(0.05, 0.1), seed=4)
    assert [u.text for u in other] != [u.text for u in seqs]
    noisy = digit_sequences(clips, 1, noise=0.01, seed=0)[0]
    assert 0.005 < float(noisy.samples[:400].std()) < 0.02


def test_load_split_adds_sequences_to_train_and_replaces_test(tmp_path: Path) -> None:
    root = _fsdd(tmp_path)
    train = load_split(root, "train", sequences=5)
    assert len(train) == 3 * 2 * 2 + 5 and " " in train[-1].text
    test = load_split(root, "test", sequences=4, seed=1)
    assert len(test) == 4 and all(" " in u.text for u in test)
    assert len(load_split(root, "test", split="speaker")) == 3 * 7


def _manifest(tmp_path: Path, body: str) -> Path:
    write_audio(tmp_path / "a.wav", _tone(500), SR)
    (tmp_path / "sub").mkdir(exist_ok=True)
    write_audio(tmp_path / "sub" / "b.flac", _tone(700, 0.2), 16000)
    path = tmp_path / "transcripts.tsv"
    path.write_text(body, encoding="utf-8")
    return path


def test_manifest_reads_paths_relative_to_it(tmp_path: Path) -> None:
    path = _manifest(tmp_path, "# audio, text\na.wav\thello  world\n\nsub/b.flac\tbye\n")
    items = read_manifest(path)
    assert [u.text for u in items] == ["hello world", "bye"]
    assert [u.name for u in items] == ["a.wav", "sub/b.flac"]
    assert items[1].sample_rate == 16000
    assert read_manifest(path, sample_rate=SR)[1].sample_rate == SR


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("a.wav hello\n", r"transcripts\.tsv:1: expected audio<TAB>transcript"),
        ("a.wav\thi\na.wav\t  \n", r"transcripts\.tsv:2: expected audio<TAB>transcript"),
        ("a.wav\thi\nmissing.wav\thi\n", r"transcripts\.tsv:2: .*missing\.wav: no such file"),
        ("# nothing\n", r"transcripts\.tsv: no recordings listed"),
    ],
)
def test_manifest_errors_name_file_and_line(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        read_manifest(_manifest(tmp_path, body))
    assert "\n" not in str(info.value)


def test_manifest_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_manifest(tmp_path / "nope.tsv")
    with pytest.raises(ValueError, match="FSDD folder"):
        load_split(_manifest(tmp_path, "a.wav\thi\n"), "test", sequences=3)


def test_spec_augment_masks_bands_and_spans_reproducibly() -> None:
    x = torch.randn(4, 50, 20) + 5.0  # (B, T, F), no zeros
    lengths = torch.tensor([50, 40, 30, 10])
    a = spec_augment(x, lengths, torch.Generator().manual_seed(0), freq_width=6, time_width=8)
    b = spec_augment(x, lengths, torch.Generator().manual_seed(0), freq_width=6, time_width=8)
    assert torch.equal(a, b) and not torch.equal(x, a) and (x != 0).all()  # x is not changed
    zero = a == 0
    for i, n in enumerate(lengths.tolist()):
        bands = zero[i].all(0).sum()  # channels masked over all frames
        frames = zero[i].all(1).sum()  # frames masked over all channels
        assert bands <= 2 * 6 and frames <= 2 * min(8, n // 5)
        kept = ~zero[i]
        assert torch.equal(a[i][kept], x[i][kept])
        assert zero[i].sum() == bands * 50 + frames * 20 - bands * frames  # whole bands/spans
    assert torch.equal(spec_augment(x, lengths, torch.Generator(), freq_width=0, time_width=0), x)


def test_lexicon_file_words_in_order_once(tmp_path: Path) -> None:
    f = tmp_path / "words.txt"
    f.write_text("# digits\nzero one  two\n\none # again\nthree\n", encoding="utf-8")
    assert read_lexicon(f) == ["zero", "one", "two", "three"]
    assert read_lexicon(f, alphabet="zeronwthf") == ["zero", "one", "two", "three"]


@pytest.mark.parametrize(
    ("body", "alphabet", "match"),
    [
        (b"one\ntwo x3\n", "onetwx", r"words.txt:2: word 'x3' has characters \['3'\]"),
        (b"# none\n\n", None, r"words.txt: no words"),
        (b"one\n\xff\n", None, r"words.txt:2: not UTF-8"),
    ],
)
def test_lexicon_file_errors_name_file_and_line(
    tmp_path: Path, body: bytes, alphabet: str | None, match: str
) -> None:
    f = tmp_path / "words.txt"
    f.write_bytes(body)
    with pytest.raises(DataError, match=match):
        read_lexicon(f, alphabet=alphabet)
    with pytest.raises(DataError, match="no such file"):
        read_lexicon(tmp_path / "nope.txt")
