"""Trigger-word data: the course's synthesis recipe, clip sources, detection and scoring.

**Synthesis** (course week 3, "Trigger word detection"): a background (random crop, quieter)
gets 0–4 positive clips ("activate") and 0–2 negative clips (other words) overlaid at random
positions that never overlap; the ``label_steps`` output steps after each positive's end are
labelled 1, the rest 0. The course labels 50 of its Ty = 1375 steps (0.36 s of 10 s); a
model with another Ty scales the count (:func:`label_steps_for`). Every random choice comes
from a seeded :class:`numpy.random.Generator`.

**Sources** (:class:`WakeClips`): a folder with ``positives/`` (or the course's
``activates/``), ``negatives/`` and ``backgrounds/`` of WAV/FLAC files
(:func:`read_clip_folder`); a fully generated set of tone "words" over noise
(:func:`generated_clips`, for tests and demos); and ``espeak-ng`` voices when the program is
installed (:func:`espeak_clips`; ``shutil.which("espeak-ng")`` finds it); the spoken digits of
the Free Spoken Digit Dataset as other words (:func:`fsdd_words`). Generated backgrounds:
:func:`coloured_noise` (power ∝ 1/f^α) and :func:`babble` (several talkers saying other
words at once); :func:`trim_silence` cuts a recording's quiet start and end (the label
follows a word's end).

**Detection and scoring**: :func:`detect` (threshold, then a refractory gap),
:func:`StreamDetector` (the same over scores that arrive in chunks),
:func:`match_detections`, :func:`false_accepts_per_hour`, :func:`det_points`.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqlab._io import DataError, PathLike, atomic_write_text
from seqlab.data.speech import _read, utf8_text

__all__ = [
    "LABELS_FILE",
    "StreamDetector",
    "SynthExample",
    "WakeClips",
    "babble",
    "check_speed_jitter",
    "coloured_noise",
    "det_points",
    "detect",
    "espeak_available",
    "espeak_clips",
    "false_accepts_per_hour",
    "fsdd_words",
    "generated_clips",
    "hard_negative_examples",
    "label_steps_for",
    "match_detections",
    "read_clip",
    "read_clip_folder",
    "read_dataset",
    "step_labels",
    "synthesize",
    "synthesize_many",
    "trim_silence",
    "with_chimes",
    "write_dataset",
]

LABELS_FILE = "labels.jsonl"  # one JSON line per synthesized WAV: file, positives, negatives
COURSE_LABEL_FRACTION = 50 / 1375  # the course: 50 of Ty = 1375 steps are labelled after a word
AUDIO_SUFFIXES = (".wav", ".flac")
_POSITIVE_DIRS = ("positives", "activates")  # the course's raw_data calls them activates/
Span = tuple[int, int]  # [start, end) in samples


@dataclass(frozen=True)
class WakeClips:
    """Mono clips at one sample rate: the trigger word, other words, and backgrounds."""

    positives: list[np.ndarray]  # recordings of the trigger word, each (n,) float32
    negatives: list[np.ndarray]  # other words (never labelled)
    backgrounds: list[np.ndarray]  # background noise, at least as long as a synthesized clip
    sample_rate: int  # Hz

    def split(self, every: int = 3) -> tuple[WakeClips, WakeClips]:
        """(kept, held out): every ``every``-th clip of each kind held out (at least one
        background each side when there are two or more)."""

        def cut(xs: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
            held = [x for i, x in enumerate(xs) if i % every == every - 1]
            kept = [x for i, x in enumerate(xs) if i % every != every - 1]
            if not held and len(xs) >= 2:
                return xs[:-1], xs[-1:]
            return kept, held

        p, n, b = cut(self.positives), cut(self.negatives), cut(self.backgrounds)
        return (
            WakeClips(p[0], n[0], b[0], self.sample_rate),
            WakeClips(p[1], n[1], b[1], self.sample_rate),
        )


@dataclass(frozen=True)
class SynthExample:
    """One synthesized clip and where its words are."""

    audio: np.ndarray  # (N,) float32 in [-1, 1]
    positives: list[Span] = field(default_factory=list)  # trigger words, [start, end) samples
    negatives: list[Span] = field(default_factory=list)  # other words

    def ends(self, sample_rate: int) -> list[float]:
        """The positives' end times in seconds."""
        return [end / sample_rate for _, end in self.positives]


# -- sources --------------------------------------------------------------------------------


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)


def read_clip_folder(folder: PathLike, sample_rate: int) -> WakeClips:
    """Clips from ``folder/positives`` (or ``activates``), ``negatives``, ``backgrounds``,
    mixed to mono and resampled to ``sample_rate``. A missing or empty subfolder is a
    one-line :class:`DataError`, as is a file that cannot be read (naming it)."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(root, "no such folder", hint="give a folder with positives/, "
                        "negatives/ and backgrounds/ (or the course's raw_data)")  # fmt: skip
    found: dict[str, list[np.ndarray]] = {}
    for kind, names in (
        ("positives", _POSITIVE_DIRS),
        ("negatives", ("negatives",)),
        ("backgrounds", ("backgrounds",)),
    ):
        sub = next((root / n for n in names if (root / n).is_dir()), None)
        files = _audio_files(sub) if sub is not None else []
        if not files:
            raise DataError(root / names[0], "no WAV or FLAC files",
                            hint=f"put {kind} clips in {'/ or '.join(names)}/")  # fmt: skip
        found[kind] = [read_clip(f, sample_rate) for f in files]
    return WakeClips(**found, sample_rate=sample_rate)


def _tone(freqs: tuple[float, float], seconds: float, rate: int, rng: np.random.Generator):
    """A chirp from freqs[0] to freqs[1] Hz with a raised-cosine envelope and a harmonic."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f = np.linspace(freqs[0], freqs[1], n)  # instantaneous frequency
    phase = 2 * np.pi * np.cumsum(f) / rate
    env = np.sin(np.pi * np.arange(n) / n) ** 2  # fades in and out
    wave = np.sin(phase) + 0.3 * np.sin(2 * phase + rng.uniform(0, np.pi))
    del t
    return (rng.uniform(0.3, 0.6) * env * wave / 1.3).astype(np.float32)


def generated_clips(
    *, sample_rate: int = 8000, n_positives: int = 12, n_negatives: int = 12,
    n_backgrounds: int = 3, background_seconds: float = 4.0, seed: int = 0,
) -> WakeClips:  # fmt: skip
    """A generated stand-in for recordings: the trigger "word" is a rising two-part chirp
    (≈ 500→1,000 Hz, then ≈ 1,000→700 Hz), negatives are single falling or flat tones at
    other pitches, backgrounds are low-passed noise at random levels. Durations, pitches and
    loudness vary per clip; everything is drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    positives = []
    for _ in range(n_positives):
        a = _tone((rng.uniform(450, 550), rng.uniform(950, 1050)), rng.uniform(0.25, 0.35),
                  sample_rate, rng)  # fmt: skip
        b = _tone((1000, rng.uniform(650, 750)), rng.uniform(0.15, 0.25), sample_rate, rng)
        positives.append(np.concatenate([a, b]))
    negatives = []
    for _ in range(n_negatives):
        lo = rng.uniform(250, 1800)
        hi = lo * rng.choice([1.0, 0.6])  # flat or falling, never the positive's rise
        negatives.append(_tone((lo, hi), rng.uniform(0.2, 0.5), sample_rate, rng))
    backgrounds = []
    for _ in range(n_backgrounds):
        noise = rng.standard_normal(int(background_seconds * sample_rate))
        kernel = np.ones(rng.integers(2, 8)) / 1.0
        smooth = np.convolve(noise, kernel / kernel.size, mode="same")
        backgrounds.append((rng.uniform(0.02, 0.08) * smooth).astype(np.float32))
    return WakeClips(positives, negatives, backgrounds, sample_rate)


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is on ``PATH`` (a Debian package, not a Python
    one: ``apt install espeak-ng``)."""
    return shutil.which("espeak-ng") is not None


def espeak_clips(
    words: Sequence[str], sample_rate: int, *, voices: Sequence[str] = ("en", "en-us"),
    speeds: Sequence[int] = (140, 175), pitches: Sequence[int] = (35, 50, 65),
) -> list[np.ndarray]:  # fmt: skip
    """Each word spoken by ``espeak-ng`` in every voice × speed (words/min) × pitch (0–99),
    resampled to ``sample_rate``: more voices for positives (the trigger word) or negatives.
    Raises ``RuntimeError`` when espeak-ng is not installed."""
    from seqlab.audio import read_audio_bytes

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt install espeak-ng)")
    out = []
    for word, voice, speed, pitch in itertools.product(words, voices, speeds, pitches):
        args = [exe, "--stdout", "-v", voice, "-s", str(speed), "-p", str(pitch), word]
        what = f"espeak-ng -v {voice} -s {speed} -p {pitch} {word!r}"
        try:
            run = subprocess.run(args, capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"{what} failed: {exc}") from None
        if run.returncode != 0:
            said = run.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"]
            raise RuntimeError(f"{what} failed (exit {run.returncode}): {said[0]}")
        audio, _ = read_audio_bytes(run.stdout, name=what, sample_rate=sample_rate)
        out.append(audio.numpy())
    return out


def fsdd_words(
    folder: PathLike, sample_rate: int, *, exclude: Sequence[str] = (),
    only: Sequence[str] = (),
) -> list[np.ndarray]:  # fmt: skip
    """The spoken digits of a Free Spoken Digit Dataset folder (:func:`seqlab.data.speech.
    read_fsdd`), resampled to ``sample_rate``: other words, to use as negatives. ``exclude``
    leaves out these speakers, ``only`` keeps just these (a speaker-held-out split: train
    with ``exclude=["jackson"]``, evaluate with ``only=["jackson"]``). A speaker the folder
    does not have is a one-line :class:`DataError` naming the speakers it has."""
    from seqlab.audio import resample
    from seqlab.data.speech import read_fsdd

    clips = read_fsdd(folder, sample_rate=None)
    speakers = sorted({c.speaker for c in clips})
    unknown = sorted((set(exclude) | set(only)) - set(speakers))
    if unknown:
        raise DataError(folder, f"no speaker {', '.join(unknown)}",
                        hint=f"its speakers: {', '.join(speakers)}")  # fmt: skip
    kept = [c for c in clips if c.speaker not in exclude and (not only or c.speaker in only)]
    if not kept:
        raise DataError(folder, "no recordings left", hint="exclude fewer speakers")
    return [resample(c.samples, c.sample_rate, sample_rate).numpy() for c in kept]


def trim_silence(
    clip: np.ndarray, sample_rate: int, *, floor_db: float = 35.0, frame_seconds: float = 0.02
) -> np.ndarray:
    """``clip`` without its quiet start and end: the frames (``frame_seconds`` long, not
    overlapping) from the first to the last whose RMS is within ``floor_db`` dB of the
    loudest frame's. A word's label follows its clip's end, so a recording with a second of
    room noise after the word would teach (and score) the detector a second late.

    Shape:
        clip: (N,) -> (M,), M ≤ N
    """
    if floor_db <= 0 or frame_seconds <= 0:
        raise ValueError(f"floor_db and frame_seconds must be > 0, got {floor_db}, {frame_seconds}")
    x = np.asarray(clip, dtype=np.float32)
    hop = max(1, round(frame_seconds * sample_rate))
    n = len(x) // hop
    if n == 0:
        return x.copy()
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))  # (n,)
    if rms.max() == 0:
        return x.copy()
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-floor_db / 20))
    end = len(x) if loud[-1] == n - 1 else (loud[-1] + 1) * hop  # the remainder stays
    return x[loud[0] * hop : end].copy()


def coloured_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """``n`` samples of noise whose power falls as 1 / f^``exponent`` (0: white, 1: pink,
    2: brown), scaled to RMS 1: white Gaussian noise shaped in the frequency domain,
    Y(f) = X(f) · f^(−exponent/2) (the DC bin set to 0).

    Shape:
        -> (n,) float32
    """
    if n < 2:
        raise ValueError(f"need at least 2 samples, got {n}")
    spectrum = np.fft.rfft(rng.standard_normal(n))  # (n//2 + 1,)
    f = np.fft.rfftfreq(n)  # cycles per sample
    scale = np.zeros_like(f)
    scale[1:] = f[1:] ** (-exponent / 2)
    y = np.fft.irfft(spectrum * scale, n)  # (n,)
    return (y / np.sqrt(np.mean(y**2))).astype(np.float32)


def babble(
    words: Sequence[np.ndarray], n: int, sample_rate: int, rng: np.random.Generator, *,
    talkers: int = 4, max_gap_seconds: float = 0.3,
) -> np.ndarray:  # fmt: skip
    """``n`` samples of ``talkers`` voices at once, scaled to RMS 1: each talker says random
    ``words`` one after another with a random pause (0 .. ``max_gap_seconds``) before each,
    from a random start; their sum is the babble (background speech that is never the
    trigger word, when ``words`` are other words).

    Shape:
        words: each (m,) -> (n,) float32
    """
    if not words or talkers < 1 or n < 1:
        raise ValueError(f"need words, talkers >= 1 and n >= 1, got {len(words)}, {talkers}, {n}")
    out = np.zeros(n, dtype=np.float64)
    gap = max(0, round(max_gap_seconds * sample_rate))  # the longest pause, samples
    for _ in range(talkers):
        at = -int(rng.integers(0, n))  # a random phase: the talker started earlier
        while at < n:
            at += int(rng.integers(0, gap + 1))
            word = np.asarray(words[int(rng.integers(len(words)))], dtype=np.float64)
            rms = np.sqrt(np.mean(word**2)) or 1.0
            lo, hi = max(at, 0), min(at + len(word), n)
            if hi > lo:
                out[lo:hi] += word[lo - at : hi - at] / rms
            at += max(len(word), 1)
    rms = np.sqrt(np.mean(out**2))
    return (out / rms if rms > 0 else out).astype(np.float32)


# -- the course's synthesis recipe ----------------------------------------------------------


def _place(
    length: int, n: int, rng: np.random.Generator, taken: list[Span], tries: int = 50
) -> Span | None:
    """A random [start, start + length) inside [0, n) overlapping no span of ``taken``
    (the course's get_random_time_segment + is_overlapping; ``None`` after ``tries``)."""
    if length > n:
        return None
    for _ in range(tries):
        start = int(rng.integers(0, n - length + 1))
        span = (start, start + length)
        if all(span[1] <= s or span[0] >= e for s, e in taken):
            taken.append(span)
            return span
    return None


def synthesize(
    clips: WakeClips, rng: np.random.Generator, *, seconds: float = 10.0,
    max_positives: int = 4, max_negatives: int = 2, background_gain_db: float = -20.0,
    gain_jitter_db: float = 0.0, speed_jitter: float = 0.0,
) -> SynthExample:  # fmt: skip
    """One training clip by the course's recipe: a random ``seconds``-long crop of a
    background, ``background_gain_db`` quieter, with 0..``max_positives`` positives and
    0..``max_negatives`` negatives overlaid at random non-overlapping positions (a clip that
    finds no free place after 50 tries is left out); the sum is scaled into [-1, 1] if it
    leaves it. Augmentations (not in the course): ``gain_jitter_db`` > 0 scales the
    background and each clip by a random gain in ±``gain_jitter_db`` dB;
    ``speed_jitter`` > 0 plays each clip at a random speed in 1 ± ``speed_jitter``
    (:func:`seqlab.audio.change_speed`: tempo and pitch together, as a tape played faster),
    other voices
    from the same recordings. With both 0 the random draws are the course recipe's."""

    def gain() -> float:
        return 10 ** (rng.uniform(-gain_jitter_db, gain_jitter_db) / 20) if gain_jitter_db else 1.0

    import torch

    from seqlab.audio import change_speed

    check_speed_jitter(speed_jitter)

    def speed(clip: np.ndarray) -> np.ndarray:
        if not speed_jitter:
            return clip
        factor = float(rng.uniform(1 - speed_jitter, 1 + speed_jitter))
        return change_speed(torch.from_numpy(np.asarray(clip, np.float32)), factor).numpy()

    rate = clips.sample_rate
    n = round(seconds * rate)
    bg = clips.backgrounds[int(rng.integers(len(clips.backgrounds)))]
    if len(bg) < n:
        bg = np.tile(bg, -(-n // len(bg)))
    start = int(rng.integers(0, len(bg) - n + 1))
    audio = bg[start : start + n].astype(np.float32) * 10 ** (background_gain_db / 20) * gain()
    taken: list[Span] = []
    spans: dict[str, list[Span]] = {"positives": [], "negatives": []}
    for kind, pool, most in (
        ("positives", clips.positives, max_positives),
        ("negatives", clips.negatives, max_negatives),
    ):
        for _ in range(int(rng.integers(0, most + 1)) if pool else 0):
            clip = speed(pool[int(rng.integers(len(pool)))])
            span = _place(len(clip), n, rng, taken)
            if span is not None:
                audio[span[0] : span[1]] += clip * gain()
                spans[kind].append(span)
    peak = float(np.abs(audio).max(initial=0.0))
    if peak > 1.0:
        audio /= peak
    return SynthExample(audio, sorted(spans["positives"]), sorted(spans["negatives"]))


MAX_SPEED_JITTER = 0.5  # speed_jitter must be below this (speeds stay within 0.5 ... 1.5)


def check_speed_jitter(speed_jitter: float) -> None:
    """A ``ValueError`` unless 0 ≤ ``speed_jitter`` < 0.5 (the one check of it: the CLI
    calls it before any work, :func:`synthesize` on every call)."""
    if not 0.0 <= speed_jitter < MAX_SPEED_JITTER:
        raise ValueError(f"speed_jitter must be in [0, {MAX_SPEED_JITTER:g}), got {speed_jitter:g}")


def synthesize_many(
    clips: WakeClips, n: int, *, seed: int = 0, **options: float
) -> list[SynthExample]:
    """``n`` clips from :func:`synthesize`, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    return [synthesize(clips, rng, **options) for _ in range(n)]  # type: ignore[arg-type]


def label_steps_for(ty: int, seconds: float = 10.0) -> int:
    """The course's 50 labelled steps of Ty = 1375 over 10 s, scaled to ``ty`` steps over
    ``seconds`` (at least 1)."""
    return max(1, round(COURSE_LABEL_FRACTION * ty * 10.0 / seconds))


def step_labels(ends: Sequence[float], duration: float, ty: int, label_steps: int) -> np.ndarray:
    """The course's insert_ones: for each end time e (seconds) of a clip ``duration`` long,
    steps k+1 .. k+label_steps are 1, with k = ⌊e · Ty / duration⌋ (cut at Ty).

    Shape:
        -> (Ty,) float32
    """
    y = np.zeros(ty, dtype=np.float32)
    for e in ends:
        k = math.floor(e * ty / duration)
        y[k + 1 : min(k + 1 + label_steps, ty)] = 1.0
    return y


# -- synthesized datasets on disk -----------------------------------------------------------


def write_dataset(folder: PathLike, examples: Sequence[SynthExample], sample_rate: int) -> Path:
    """``folder/0000.wav`` ... and ``labels.jsonl``: per file the positives' and negatives'
    [start, end] in seconds."""
    from seqlab.audio import write_audio

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    width = max(4, len(str(len(examples) - 1)))
    for i, ex in enumerate(examples):
        name = f"{i:0{width}d}.wav"
        write_audio(root / name, ex.audio, sample_rate)
        secs = {k: [[s / sample_rate, e / sample_rate] for s, e in getattr(ex, k)]
                for k in ("positives", "negatives")}  # fmt: skip
        lines.append(json.dumps({"file": name, **secs}))
    atomic_write_text(root / LABELS_FILE, "\n".join(lines) + "\n")
    return root


_LABEL_HINT = (
    'each line: {"file": "0000.wav", "positives": [[start, end], ...], "negatives": [...]}'
)


def read_dataset(folder: PathLike, sample_rate: int) -> list[SynthExample]:
    """The clips :func:`write_dataset` wrote (resampled to ``sample_rate``). A bad line of
    ``labels.jsonl`` (not JSON, no ``"file"``, spans that are not ``[start, end]`` seconds
    with 0 ≤ start ≤ end ≤ the clip's length, a missing ``"positives"`` or ``"negatives"``,
    a clip that cannot be read) is a one-line :class:`DataError` naming the file and line."""
    root = Path(folder)
    labels = root / LABELS_FILE
    if not labels.is_file():
        raise DataError(root, f"no {LABELS_FILE}", hint="write one with `seqlab wake synth`")
    try:
        data = labels.read_bytes()
    except OSError as exc:
        raise DataError(labels, f"cannot be read ({exc})", hint="check the folder") from None
    text = utf8_text(data, labels, hint="write it with `seqlab wake synth`")
    out = []
    for lineno, line in enumerate(text.split("\n"), 1):  # (the lines an editor numbers)
        if line.strip():
            out.append(_label_line(line, root, labels, lineno, sample_rate))
    if not out:
        raise DataError(labels, "no examples", hint="write some with `seqlab wake synth`")
    return out


def _label_line(line: str, root: Path, labels: Path, lineno: int, rate: int) -> SynthExample:
    """One line of ``labels.jsonl`` and the clip it names (see :func:`read_dataset`)."""

    def bad(problem: str) -> DataError:
        return DataError(labels, problem, line=lineno, hint=_LABEL_HINT)

    try:
        row = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise bad(f"not JSON ({str(exc).splitlines()[0] if str(exc) else 'too deep'})") from None
    if not isinstance(row, dict) or not isinstance(row.get("file"), str) or not row["file"]:
        raise bad('not an object with a "file" name')
    audio = _read_clip(root / row["file"], rate, bad)
    seconds = len(audio) / rate
    spans: dict[str, list[Span]] = {}
    for kind in ("positives", "negatives"):
        pairs = row.get(kind)
        if not isinstance(pairs, list) or not all(_is_span(p, seconds + 1 / rate) for p in pairs):
            raise bad(f'"{kind}": not a list of [start, end] in seconds, '
                      f"0 <= start <= end <= {seconds:g}")  # fmt: skip
        spans[kind] = [(round(s * rate), round(e * rate)) for s, e in pairs]
    return SynthExample(audio, spans["positives"], spans["negatives"])


def _is_span(pair: object, most: float) -> bool:
    """Whether ``pair`` is ``[start, end]``, numbers with 0 ≤ start ≤ end ≤ ``most``."""
    if not isinstance(pair, list) or len(pair) != 2:
        return False
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair):
        return False
    return 0 <= pair[0] <= pair[1] <= most


def read_clip(path: PathLike, sample_rate: int) -> np.ndarray:
    """The mono samples of an audio file at ``sample_rate``; a file that cannot be read (or
    says a rate above 768 kHz: a corrupted header) is a one-line :class:`DataError`."""
    return _read(Path(path), sample_rate)[0].numpy()


def _read_clip(path: Path, rate: int, bad: Callable[[str], DataError]) -> np.ndarray:
    """The samples of ``path`` at ``rate``; a file that cannot be read is ``bad(problem)``."""
    try:
        return _read(path, rate)[0].numpy()
    except DataError as err:
        raise bad(f"{path}: {err.problem}") from None
    except (OSError, ValueError) as exc:  # a name the system refuses (too long, ...)
        raise bad(f"{path}: {exc}") from None


def hard_negative_examples(
    recordings: Sequence[np.ndarray], sample_rate: int, seconds: float
) -> list[SynthExample]:
    """Recordings without the trigger word (false activations found by ``wake evaluate
    --save-false``, or any audio) cut into ``seconds``-long pieces (the last one padded with
    silence), each an example with no positive: ``wake train --hard-negatives``."""
    n = round(seconds * sample_rate)
    out = []
    for audio in recordings:
        for start in range(0, max(len(audio), 1), n):
            piece = np.zeros(n, dtype=np.float32)
            part = audio[start : start + n]
            piece[: len(part)] = part
            out.append(SynthExample(piece))
    return out


def with_chimes(audio: np.ndarray, sample_rate: int, times: Sequence[float]) -> np.ndarray:
    """``audio`` with a chime (two decaying sines, 880 and 1,320 Hz, 0.3 s) added at each
    time in seconds, as the course's chime_on_activate; scaled back into [-1, 1].

    Shape:
        audio: (N,) -> (N,)
    """
    t = np.arange(round(0.3 * sample_rate)) / sample_rate
    chime = 0.4 * np.exp(-12 * t) * (np.sin(2 * np.pi * 880 * t) + np.sin(2 * np.pi * 1320 * t))
    out = np.asarray(audio, dtype=np.float32).copy()
    for time in times:
        start = round(time * sample_rate)
        part = out[start : start + len(chime)]
        part += chime[: len(part)].astype(np.float32)
    peak = float(np.abs(out).max(initial=0.0))
    return out / peak if peak > 1.0 else out


# -- detection and scoring ------------------------------------------------------------------


def detect(probs: np.ndarray, threshold: float, refractory: int) -> list[int]:
    """The steps where a detection fires: p[t] ≥ ``threshold`` and at least ``refractory``
    steps after the previous detection (one word fires once; the course's chime waits 75
    steps the same way).

    Shape:
        probs: (T,) -> steps, increasing
    """
    if refractory < 1:
        raise ValueError(f"refractory must be >= 1 step, got {refractory}")
    fired: list[int] = []
    last = -refractory
    for t in np.flatnonzero(np.asarray(probs) >= threshold).tolist():
        if t - last >= refractory:
            fired.append(t)
            last = t
    return fired


def match_detections(
    times: Sequence[float], ends: Sequence[float], before: float, after: float
) -> tuple[int, int]:
    """(hits, false accepts): a positive ending at e is hit by the first unused detection
    in [e - before, e + after]; each detection hits at most one positive; the rest are
    false accepts."""
    used = [False] * len(times)
    hits = 0
    for e in sorted(ends):
        for i, t in enumerate(times):
            if not used[i] and e - before <= t <= e + after:
                used[i] = True
                hits += 1
                break
    return hits, used.count(False)


def false_accepts_per_hour(false_accepts: int, seconds: float) -> float:
    """False accepts per hour of audio."""
    if seconds <= 0:
        raise ValueError(f"need audio of positive length, got {seconds} s")
    return false_accepts * 3600.0 / seconds


def det_points(
    negative_probs: Sequence[np.ndarray], negative_seconds: float,
    positive_probs: Sequence[np.ndarray], positive_ends: Sequence[Sequence[float]],
    step_seconds: float, step_offset: float, refractory: int,
    window: tuple[float, float], thresholds: Sequence[float],
) -> list[tuple[float, float, float]]:  # fmt: skip
    """(threshold, false accepts per hour on the negative-only audio, miss rate on the
    positives) at each threshold: the DET curve. A detection at step t is at time
    ``step_offset + t * step_seconds``; ``window`` is (before, after) of
    :func:`match_detections`."""
    total = sum(len(e) for e in positive_ends)
    out = []
    for th in thresholds:
        fa = sum(len(detect(p, th, refractory)) for p in negative_probs)
        hits = 0
        for p, ends in zip(positive_probs, positive_ends, strict=True):
            times = [step_offset + t * step_seconds for t in detect(p, th, refractory)]
            hits += match_detections(times, ends, *window)[0]
        miss = (total - hits) / total if total else 0.0
        out.append((float(th), false_accepts_per_hour(fa, negative_seconds), miss))
    return out


class StreamDetector:
    """:func:`detect` over scores that arrive in chunks: :meth:`push` returns the steps (of
    the whole stream) that fire in a chunk, the same steps :func:`detect` finds on the
    concatenation of the chunks. Its state is two integers."""

    def __init__(self, threshold: float, refractory: int) -> None:
        if refractory < 1:
            raise ValueError(f"refractory must be >= 1 step, got {refractory}")
        self.threshold = threshold  # fire where p ≥ threshold ...
        self.refractory = refractory  # ... and at least this many steps after the last one
        self.steps = 0  # steps seen so far
        self._last = -refractory  # the step of the last detection

    def push(self, probs: np.ndarray) -> list[int]:
        """The stream's steps that fire among ``probs``, the chunk's scores.

        Shape:
            probs: (t,) -> steps, increasing
        """
        fired = []
        for t in np.flatnonzero(np.asarray(probs) >= self.threshold).tolist():
            if self.steps + t - self._last >= self.refractory:
                self._last = self.steps + t
                fired.append(self._last)
        self.steps += len(probs)
        return fired
