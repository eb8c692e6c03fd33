"""Speech data: the Free Spoken Digit Dataset, digit sequences built from it, and a generic
``audio<TAB>transcript`` manifest.

* :func:`read_fsdd` — a folder of FSDD recordings, ``{digit}_{speaker}_{index}.wav`` (8 kHz
  mono; the folder itself or one holding ``recordings/``), as :class:`Utterance` objects
  whose transcript is the digit's word (``"three"``);
* :func:`split_fsdd` — the official split by recording (indices 0–4 of every digit and
  speaker are the test set) or a speaker-held-out split;
* :func:`digit_sequences` — utterances made by concatenating isolated digits with short
  silences (and, optionally, a little noise) between them, seeded: ``"three one four"``;
* :func:`spec_augment` — SpecAugment's frequency and time masks on a batch of features;
* :func:`read_lexicon` — a word list for the CTC decoder's lexicon (``--lexicon``);
* :func:`read_manifest` — any folder of recordings with a transcript file: one
  ``path<TAB>transcript`` per line, paths relative to the manifest's folder; ``#`` comments
  and blank lines skipped. A bad line is a one-line :class:`~seqlab._io.DataError` naming
  the file and line.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from seqlab._io import DataError

__all__ = [
    "DIGIT_WORDS",
    "FSDD_RATE",
    "Utterance",
    "digit_sequences",
    "load_split",
    "read_fsdd",
    "read_lexicon",
    "read_manifest",
    "read_speech",
    "resampled",
    "spec_augment",
    "split_fsdd",
]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FSDD_RATE = 8000  # the dataset's sample rate (Hz)
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)$")
Split = Literal["recording", "speaker"]


@dataclass(frozen=True)
class Utterance:
    """One recording and what is said in it."""

    samples: Tensor  # (N,) float32 mono samples in [-1, 1]
    sample_rate: int  # Hz
    text: str  # the transcript ("three one four")
    name: str = ""  # where it came from (file name, or the clips it joins)
    speaker: str = ""  # who speaks ("" unknown)
    index: int = -1  # FSDD: the recording's index for its digit and speaker (-1: none)


def utf8_text(data: bytes, file: Path, *, hint: str) -> str:
    """``data`` decoded as UTF-8; else a :class:`DataError` naming the line of the first
    bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = f"not UTF-8 text (byte 0x{data[exc.start]:02x})"
        raise DataError(file, problem, line=line, hint=hint) from None


def _read(path: Path, sample_rate: int | None) -> tuple[Tensor, int]:
    """The samples of ``path`` resampled to ``sample_rate`` (``None``: as recorded); a file
    whose rate is above :data:`seqlab.audio.io.MAX_RATE` is a :class:`DataError`."""
    from seqlab.audio import read_audio

    return read_audio(path, sample_rate=sample_rate)


def read_fsdd(folder: str | Path, *, sample_rate: int | None = FSDD_RATE) -> list[Utterance]:
    """The FSDD recordings in ``folder`` (or ``folder/recordings``), sorted by file name.

    Files that are not ``{digit}_{speaker}_{index}.wav`` are a :class:`DataError`, as are a
    missing folder and one without recordings.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(root, "no such folder", hint="give the FSDD folder (with recordings/)")
    if (root / "recordings").is_dir():
        root = root / "recordings"
    files = sorted(root.glob("*.wav"))
    if not files:
        raise DataError(root, "no .wav files", hint="give the FSDD folder (with recordings/)")
    out = []
    for f in files:
        m = _FSDD_NAME.match(f.stem)
        if m is None:
            raise DataError(
                f, "not an FSDD file name", hint="expected {digit}_{speaker}_{index}.wav"
            )
        samples, rate = _read(f, sample_rate)
        digit, speaker, index = int(m[1]), m[2], int(m[3])
        out.append(Utterance(samples, rate, DIGIT_WORDS[digit], f.name, speaker, index))
    return out


def split_fsdd(
    clips: Sequence[Utterance],
    by: Split = "recording",
    *,
    test_speakers: Sequence[str] | None = None,
    test_indices: int = 5,
) -> tuple[list[Utterance], list[Utterance]]:
    """``(train, test)``. ``"recording"``: the official split, recordings with index
    ``< test_indices`` (0–4) are the test set. ``"speaker"``: the speakers in
    ``test_speakers`` (default: the last one in alphabetical order) are the test set."""
    if by == "recording":
        test = [c for c in clips if 0 <= c.index < test_indices]
    elif by == "speaker":
        held = set(test_speakers or sorted({c.speaker for c in clips})[-1:])
        test = [c for c in clips if c.speaker in held]
    else:
        raise ValueError(f"split must be 'recording' or 'speaker', got {by!r}")
    chosen = {id(c) for c in test}
    train = [c for c in clips if id(c) not in chosen]
    if not train or not test:
        raise ValueError(f"the {by} split leaves {len(train)} training and {len(test)} test clips")
    return train, test


def digit_sequences(
    clips: Sequence[Utterance],
    n: int,
    *,
    min_words: int = 2,
    max_words: int = 5,
    gap: tuple[float, float] = (0.05, 0.3),
    noise: float = 0.0,
    seed: int = 0,
) -> list[Utterance]:
    """``n`` utterances, each ``min_words..max_words`` clips drawn from ``clips`` (one
    speaker per utterance when it has enough clips) joined by silences of ``gap`` seconds
    (uniform), plus Gaussian noise of standard deviation ``noise``; the transcript is the
    clips' words joined by spaces. The same ``seed`` gives the same utterances."""
    if not clips:
        raise ValueError("no clips to build digit sequences from")
    if not 1 <= min_words <= max_words or not 0 <= gap[0] <= gap[1] or noise < 0:
        raise ValueError("need 1 <= min_words <= max_words, 0 <= gap[0] <= gap[1], noise >= 0")
    rates = {c.sample_rate for c in clips}
    if len(rates) > 1:
        raise ValueError(f"the clips have several sample rates {sorted(rates)}: resample them")
    rate = rates.pop()
    rng = random.Random(seed)
    by_speaker: dict[str, list[Utterance]] = {}
    for c in clips:
        by_speaker.setdefault(c.speaker, []).append(c)
    speakers = sorted(by_speaker)
    noise_gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        pool = by_speaker[rng.choice(speakers)]
        chosen = [rng.choice(pool) for _ in range(rng.randint(min_words, max_words))]
        parts: list[Tensor] = [torch.zeros(int(rng.uniform(*gap) * rate))]
        for c in chosen:
            parts += [c.samples, torch.zeros(int(rng.uniform(*gap) * rate))]
        samples = torch.cat(parts)  # (N,)
        if noise > 0:
            samples = samples + noise * torch.randn(samples.shape, generator=noise_gen)
        text = " ".join(c.text for c in chosen)
        name = f"seq{i}:" + "+".join(c.name for c in chosen)
        out.append(Utterance(samples, rate, text, name, chosen[0].speaker))
    return out


def read_manifest(path: str | Path, *, sample_rate: int | None = None) -> list[Utterance]:
    """The utterances a manifest lists: ``audio<TAB>transcript`` per line (paths relative
    to the manifest's folder). A line without a tab, with an empty transcript or naming an
    unreadable file is a :class:`DataError` naming the manifest's line."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else str(exc)
        raise DataError(file, reason, hint="give an audio<TAB>transcript file") from None
    text = utf8_text(data, file, hint="save the manifest as UTF-8")
    out = []
    for number, line in enumerate(text.split("\n"), 1):  # (the lines an editor numbers)
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        audio, tab, transcript = line.partition("\t")
        if not tab or not audio.strip() or not transcript.strip():
            raise DataError(
                file, "expected audio<TAB>transcript", line=number, hint="one recording per line"
            )
        where = file.parent / audio.strip()
        try:
            samples, rate = _read(where, sample_rate)
        except DataError as err:
            raise DataError(file, f"{where}: {err.problem}", line=number, hint=err.hint) from None
        except (OSError, ValueError) as exc:  # a name the system refuses (too long, ...)
            raise DataError(file, f"{where}: {exc}", line=number, hint="check the path") from None
        out.append(Utterance(samples, rate, " ".join(transcript.split()), audio.strip()))
    if not out:
        raise DataError(file, "no recordings listed", hint="one audio<TAB>transcript per line")
    return out


def read_lexicon(path: str | Path, *, alphabet: Collection[str] | None = None) -> list[str]:
    """The words of a lexicon file: words separated by spaces or lines, ``#`` to the end of
    a line a comment; each word once, in the file's order. A missing or empty file, one
    that is not UTF-8, and (with ``alphabet``) a word with a character outside it are a
    one-line :class:`~seqlab._io.DataError` naming the file (and line)."""
    file = Path(path)
    hint = "one word or more per line, e.g. the ten digit words"
    try:
        data = file.read_bytes()
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else str(exc)
        raise DataError(file, reason, hint=hint) from None
    words: dict[str, None] = {}
    for number, line in enumerate(utf8_text(data, file, hint=hint).split("\n"), 1):
        for word in line.partition("#")[0].split():
            unknown = sorted(set(word) - set(alphabet)) if alphabet is not None else []
            if unknown:
                raise DataError(
                    file, f"word {word!r} has characters {unknown} the model does not know",
                    line=number, hint="use the model's characters (its training transcripts')",
                )  # fmt: skip
            words[word] = None
    if not words:
        raise DataError(file, "no words", hint=hint)
    return list(words)


def read_speech(path: str | Path, *, sample_rate: int | None = None) -> list[Utterance]:
    """A manifest file (:func:`read_manifest`) or an FSDD folder (:func:`read_fsdd`), each
    resampled to ``sample_rate`` (``None``: as recorded)."""
    p = Path(path)
    if p.is_dir():
        return read_fsdd(p, sample_rate=sample_rate)
    return read_manifest(p, sample_rate=sample_rate)


def load_split(
    path: str | Path,
    part: Literal["train", "test"],
    *,
    split: Split = "recording",
    sequences: int = 0,
    noise: float = 0.003,
    seed: int = 0,
) -> list[Utterance]:
    """What ``seqlab speech train`` and ``evaluate`` read from ``--data``.

    An FSDD folder: the ``part`` of ``split`` (:func:`split_fsdd`); with ``sequences`` > 0
    the training part gets that many :func:`digit_sequences` of its clips added, and the
    test part is replaced by that many sequences of its clips. A manifest file: every
    utterance it lists (``split`` and ``sequences`` do not apply).
    """
    p = Path(path)
    if not p.is_dir():
        if sequences:
            raise ValueError("sequences are built from an FSDD folder, not from a manifest")
        return read_manifest(p)
    train, test = split_fsdd(read_fsdd(p), split)
    clips = train if part == "train" else test
    if not sequences:
        return clips
    built = digit_sequences(clips, sequences, noise=noise, seed=seed)
    return clips + built if part == "train" else built


def resampled(utterances: Sequence[Utterance], rate: int) -> list[Utterance]:
    """``utterances`` at ``rate`` Hz (those already there are kept as they are)."""
    from seqlab.audio import resample

    return [
        u
        if u.sample_rate == rate
        else replace(u, samples=resample(u.samples, u.sample_rate, rate), sample_rate=rate)
        for u in utterances
    ]


def spec_augment(
    features: Tensor,
    lengths: Tensor,
    generator: torch.Generator,
    *,
    freq_width: int = 8,
    time_width: int = 10,
    masks: int = 2,
) -> Tensor:
    """A copy of ``features`` with, in each item, ``masks`` bands of 0..``freq_width``
    log-mel channels and ``masks`` spans of 0..``time_width`` frames (at most a fifth of the
    item) set to zero (the mean of normalised features); SpecAugment (Park et al., 2019)
    without time warping. Every choice is drawn from ``generator``.

    Shape:
        features: (B, T, F), lengths: (B,) -> (B, T, F)
    """
    out = features.clone()  # (B, T, F)
    n_feat = features.shape[2]

    def draw(high: int) -> int:
        return int(torch.randint(0, max(high, 0) + 1, (1,), generator=generator))

    for b, length in enumerate(lengths.tolist()):
        for _ in range(masks):
            w = draw(min(freq_width, n_feat))
            f0 = draw(n_feat - w)
            out[b, :, f0 : f0 + w] = 0.0
            w = draw(min(time_width, length // 5))
            t0 = draw(length - w)
            out[b, t0 : t0 + w, :] = 0.0
    return out
