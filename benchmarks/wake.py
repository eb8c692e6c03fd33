"""Trigger-word detection ("activate"), evaluated on voices, words and backgrounds the
detector never heard: false accepts per hour, misses, streaming real-time factor.

    python benchmarks/wake.py --threads 1                 # ~10 min on one core
    python benchmarks/wake.py --steps 3000 --time-budget 800 --name wake-long

Needs ``espeak-ng`` on ``PATH`` (Debian: ``apt install espeak-ng``; ``--no-espeak`` runs
without it, with human recordings only) and the course's ``raw_data`` (``--data``, default
``../shared/data/course-trigger-word/raw_data``) and the Free Spoken Digit Dataset
(``--fsdd``, default ``../shared/data/fsdd``).

**Three disjoint sets of material** (``MATERIAL``): everything a test clip holds (the voice
of each word, the other words, the background under them) comes from the ``test`` side, which
training never sees; the detection threshold is chosen on the ``valid`` side, never on the
test.

* human "activate": train sessions 1 and 2 (7 clips: ``1``-``3``, ``1_act2``-``4_act2``);
  valid the same 7 (seen voices: the valid side's unseen ones are espeak-ng's); test
  session 3 (``1_act3``-``3_act3``), never heard in training;
* espeak-ng "activate": train accents en, en-us, en-gb-x-rp, en-029 × variants m1 m2 m3 m6
  f1 f2 klatt2; valid en-gb-x-gbcwmd × m5 m8 f5 klatt3; test en-gb-scotland, en-gb-x-gbclan,
  en-us-nyc × m4 m7 f3 f4 klatt4 (no accent and no variant of the test in training);
* other words: the course's negatives (train 7 of them, test ``2``, ``3_2``, ``5``);
  espeak-ng words (``TRAIN_WORDS``, ``VALID_WORDS``, ``TEST_WORDS``: disjoint lists, each in
  its side's voices); FSDD digits (``--fsdd-words`` per side; train george, lucas,
  nicolas, yweweler; valid theo; test jackson);
* backgrounds: train the course's ``1.wav``, test its ``2.wav``; each side its own
  generated coloured noises and babbles (seeds 101, 202, 303).

Each espeak-ng clip is one (word, voice) at a random speed (120-200 words a minute) and
pitch (25-75), drawn from the side's seed. Every word clip is cut to its loud part
(``trim_silence``: the label follows a word's end, and session 3 has up to a second of room
noise around the word) and scaled to one RMS. Generated backgrounds: coloured noise with
power ∝ 1/f^α, α uniform in [0, 2] (``coloured_noise``), and babble, 2-6 talkers saying the
side's other words at once (``babble``), 60 s each at the course's background loudness
±10 dB. Babble of the side's own words is a negative too: speech that is not the word.

**The test audio.** Positive clips (10 s, 1-4 trigger words each, 0-2 other words;
``--test-positive`` clips, half with human and half with espeak-ng voices) and
``--test-hours`` of negative-only clips (0-4 other words each). Every negative-only clip
has its own background piece: 10 % of them the course's held-out ``2.wav`` (10 s, at a
random gain: the only repeated material), the rest distinct 10-s windows of the test side's
coloured noises and babbles (never reused: enough 60-s backgrounds are generated for it,
108 for 2 hours), so one sound that fools the detector costs a
few false accepts, not 360 an hour. FA/h counts every detection in the negative-only audio;
a trigger word ending at e is hit by a detection in [e - 0.25 s, e + receptive field +
labelled steps] (``WakeWord.evaluate``).

**The threshold** is chosen on the valid side's clips (its own positive clips and
``--valid-hours`` of negative-only audio, built the same way), then applied to the test:
the highest with at most 5 % misses there (``pick_threshold``; with ``--target-fa``, the
one with the fewest misses among those at most that FA/h, if any).

**Options tried for issue 15** (the training side only; see docs/wake.md for their
results; all off by default, none helped): ``--confusable`` adds near-rhyme negative
words (``CONFUSABLE``: -ivate, -vate, -ate), ``--more-voices`` espeak-ng variants
(``MORE_TRAIN_VARIANTS``), ``--target-fa`` the threshold rule above, and
``--mine-rounds``: find false activations in training-side negative audio and retrain with
them among the negatives. The DET curve of the test goes beside the JSON. The validation loss
that picks the kept weights is computed on the valid side too.

The real-time factor is the time to stream 60 s of test audio in 100 ms chunks through
``WakeWord.stream_scores`` (features included) with ``torch.set_num_threads(1)``, over
60 s. Results go to ``benchmarks/results/<name>.json`` and ``<name>-det.png``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from _common import RESULTS, machine, save
from seqlab.data.wake import (
    SynthExample,
    WakeClips,
    babble,
    coloured_noise,
    espeak_available,
    espeak_clips,
    fsdd_words,
    read_clip,
    synthesize,
    synthesize_many,
    trim_silence,
)
from seqlab.tasks.wake import PRESETS, WakeData, WakeWord
from seqlab.viz.det import plot_det

DEFAULT_DATA = Path("../shared/data/course-trigger-word/raw_data")
DEFAULT_FSDD = Path("../shared/data/fsdd")
DET_SHOWN = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)  # thresholds in the JSON
WORD = "activate"
TRAIN_WORDS = ("motivate", "activity", "action", "active", "estimate", "evaluate", "hello",
               "computer", "weather", "music", "lights", "stop", "today", "morning", "thanks",
               "vacate", "relate")  # fmt: skip
# near-rhymes of the word (-ivate, -vate, -ate), none a test word or of its stem:
# without them the detector learns "-tivate" and fires on any such word (``--no-confusable``)
CONFUSABLE = ("renovate", "innovate", "excavate", "aggravate", "salivate", "titivate",
              "estivate", "festivate", "restivate", "gravitate", "agitate", "meditate",
              "dictate", "decorate", "dedicate")  # fmt: skip
# more espeak-ng variants for the training side only (none the valid's or the test's)
MORE_TRAIN_VARIANTS = ("klatt", "klatt5", "klatt6", "adam", "Andy", "Annie", "linda", "steph",
                       "grandma", "croak")  # fmt: skip
VALID_WORDS = ("cultivate", "alarm", "timer", "kitchen", "number", "happy", "later", "okay")
TEST_WORDS = ("captivate", "navigate", "elevate", "private", "vacation", "alright",
              "tomorrow", "coffee", "window", "percent", "remote", "picture", "tonight",
              "garden")  # fmt: skip
LEVEL = 0.05  # RMS every word clip is scaled to (gain jitter then varies it)


@dataclass(frozen=True)
class Side:
    """One side's material: who says the words, which words, which backgrounds."""

    accents: tuple[str, ...]  # espeak-ng voices (accents) ...
    variants: tuple[str, ...]  # ... × these variants (+m1, +f2, ...)
    words: tuple[str, ...]  # other words espeak-ng says
    fsdd: tuple[str, ...]  # FSDD speakers whose digits are other words
    seed: int  # draws the espeak-ng settings and the generated backgrounds


MATERIAL = {
    "train": Side(("en", "en-us", "en-gb-x-rp", "en-029"),
                  ("m1", "m2", "m3", "m6", "f1", "f2", "klatt2"), TRAIN_WORDS,
                  ("george", "lucas", "nicolas", "yweweler"), 101),
    "valid": Side(("en-gb-x-gbcwmd",), ("m5", "m8", "f5", "klatt3"), VALID_WORDS, ("theo",), 202),
    "test": Side(("en-gb-scotland", "en-gb-x-gbclan", "en-us-nyc"),
                 ("m4", "m7", "f3", "f4", "klatt4"), TEST_WORDS, ("jackson",), 303),
}  # fmt: skip
HELD_OUT_HUMAN = ("1_act3", "2_act3", "3_act3")  # session 3 of the word: test only
HELD_OUT_NEGATIVES = ("2", "3_2", "5")  # the course's negatives kept for the test


def _level(clip: np.ndarray, rate: int) -> np.ndarray:
    """The loud part of a word clip (:func:`trim_silence`) at RMS ``LEVEL``."""
    x = trim_silence(clip, rate, floor_db=30.0).astype(np.float64)
    return (x * LEVEL / max(float(np.sqrt(np.mean(x**2))), 1e-8)).astype(np.float32)


def _spoken(words: tuple[str, ...], side: Side, rate: int, per_voice: int) -> list[np.ndarray]:
    """Each word in each of the side's voices, ``per_voice`` random (speed, pitch) each."""
    rng = np.random.default_rng(side.seed)
    out = []
    for word in words:
        for accent in side.accents:
            for variant in side.variants:
                for _ in range(per_voice):
                    speed, pitch = int(rng.integers(120, 201)), int(rng.integers(25, 76))
                    out += espeak_clips([word], rate, voices=[f"{accent}+{variant}"],
                                        speeds=[speed], pitches=[pitch])  # fmt: skip
    return [_level(x, rate) for x in out]


def _backgrounds(others: list[np.ndarray], side: Side, rate: int, n: int, rms: float):
    """``n`` coloured noises and ``n`` babbles of ``others``, 60 s each, at ``rms`` ±10 dB."""
    rng = np.random.default_rng(side.seed + 1)
    out = []
    for i in range(2 * n):
        if i % 2 == 0:
            x = coloured_noise(60 * rate, rng, float(rng.uniform(0, 2)))
        else:
            x = babble(others, 60 * rate, rate, rng, talkers=int(rng.integers(2, 7)))
        out.append((x * rms * 10 ** (rng.uniform(-10, 10) / 20)).astype(np.float32))
    return out


def _human(folder: Path, names: tuple[str, ...], rate: int, keep: bool) -> list[np.ndarray]:
    """The clips of ``folder`` whose stem is (``keep``) or is not in ``names``."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
    return [_level(read_clip(p, rate), rate) for p in files if (p.stem in names) == keep]


@dataclass(frozen=True)
class Material:
    """One side's clips: the trigger word by humans and by espeak-ng, the rest together."""

    human: list[np.ndarray]  # "activate", human recordings
    espeak: list[np.ndarray]  # "activate", espeak-ng voices
    clips: WakeClips  # positives: both (humans repeated to weigh as much), negatives, bgs
    by_word: dict[str, list[np.ndarray]]  # the negatives by source: each espeak-ng word, ...

    def only(self, who: str) -> WakeClips:
        """The clips with the human or the espeak-ng positives only."""
        return replace(self.clips, positives=self.human if who == "human" else self.espeak)


def material(args: argparse.Namespace, rate: int) -> dict[str, Material]:
    """The word clips and backgrounds of each side (see the module docstring)."""
    raw = args.data
    real_bg = {p.stem: read_clip(p, rate) for p in sorted((raw / "backgrounds").glob("*.wav"))}
    rms = float(np.sqrt(np.mean(real_bg["1"].astype(np.float64) ** 2)))
    seen = _human(raw / "activates", HELD_OUT_HUMAN, rate, keep=False)
    sides = {}
    for name, side in MATERIAL.items():
        human = (
            _human(raw / "activates", HELD_OUT_HUMAN, rate, keep=True) if name == "test" else seen
        )
        negatives = raw / "negatives"
        neg = {"train": _human(negatives, HELD_OUT_NEGATIVES, rate, keep=False), "valid": [],
               "test": _human(negatives, HELD_OUT_NEGATIVES, rate, keep=True)}[name]  # fmt: skip
        digits = fsdd_words(args.fsdd, rate, only=list(side.fsdd))
        pick = np.random.default_rng(side.seed).permutation(len(digits))[: args.fsdd_words]
        neg = neg + [_level(digits[i], rate) for i in sorted(pick)]
        by_word = {"(human words)": list(neg), "(FSDD digits)": neg[len(neg) - len(pick) :]}
        by_word["(human words)"] = by_word["(human words)"][: len(neg) - len(pick)]
        if name == "train":
            side = replace(side, words=side.words + (CONFUSABLE if args.confusable else ()),
                           variants=side.variants + (MORE_TRAIN_VARIANTS if args.more_voices
                                                     else ()))  # fmt: skip
        spoken = _spoken((WORD,), side, rate, args.per_voice) if args.espeak else []
        if args.espeak:
            words = _spoken(side.words, side, rate, 1)
            per = len(words) // len(side.words)
            by_word |= {w: words[i * per : (i + 1) * per] for i, w in enumerate(side.words)}
            neg = neg + words
        weight = {"train": args.human_repeat}.get(name, max(1, len(spoken) // len(human)))
        hours = {"train": 0.0, "valid": args.valid_hours, "test": args.test_hours}[name]
        # enough generated audio that 9 of 10 negative-only clips get a window of their own
        n_bgs = max(args.generated_backgrounds, math.ceil(0.9 * hours * 3600 / 60 / 2))
        bgs = _backgrounds(neg, side, rate, n_bgs, rms)
        real = {"train": [real_bg["1"]], "valid": [], "test": [real_bg["2"]]}[name]
        if name == "valid":  # its pieces start with a generated one, not a real background
            real = bgs[:1]
        clips = WakeClips(human * weight + spoken, neg, real + bgs, rate)
        sides[name] = Material(human, spoken, clips, by_word)
    return sides


def _pieces(clips: WakeClips, n: int, seconds: float, rng: np.random.Generator):
    """``n`` background pieces for ``n`` negative-only clips: every tenth the first (real)
    background at a random gain, the rest distinct windows of the generated ones."""
    size = round(seconds * clips.sample_rate)
    real, generated = clips.backgrounds[0], clips.backgrounds[1:]
    windows = [b[i : i + size] for b in generated for i in range(0, len(b) - size + 1, size)]
    order = rng.permutation(len(windows))
    out, w = [], 0
    for i in range(n):
        if i % 10 == 0 or w >= len(windows):  # the real background, or windows ran out
            out.append((real * 10 ** (rng.uniform(-6, 6) / 20)).astype(np.float32))
        else:
            out.append(windows[order[w]])
            w += 1
    return out, w


def negative_clips(clips: WakeClips, hours: float, seconds: float, seed: int):
    """``hours`` of negative-only clips (0-4 other words each), each on its own background
    piece (:func:`_pieces`); returns (examples, facts)."""
    rng = np.random.default_rng(seed)
    n = max(1, round(hours * 3600 / seconds))
    pieces, distinct = _pieces(clips, n, seconds, rng)
    examples = [
        synthesize(replace(clips, positives=[], backgrounds=[piece]), rng, seconds=seconds,
                   max_negatives=4, gain_jitter_db=6.0)
        for piece in pieces
    ]  # fmt: skip
    return examples, {"clips": n, "distinct_generated_windows": distinct,
                      "real_background_clips": n - distinct}  # fmt: skip


def positive_clips(clips: WakeClips, n: int, seconds: float, seed: int) -> list[SynthExample]:
    """``n`` clips with 1-4 trigger words (clips drawn without one are dropped)."""
    rng = np.random.default_rng(seed)
    out: list[SynthExample] = []
    while len(out) < n:
        e = synthesize(clips, rng, seconds=seconds, gain_jitter_db=6.0)
        if e.positives:
            out.append(e)
    return out


def word_alarms(task: WakeWord, side: Material, threshold: float) -> dict[str, str]:
    """For each source of other words (each espeak-ng word in all the side's voices, the
    human words, the digits): how many of its clips, alone on a quiet generated background
    piece, make the detector fire at ``threshold`` (what the false accepts are made of)."""
    rate = side.clips.sample_rate
    quiet = side.clips.backgrounds[1][: 4 * rate] * 0.1
    out = {}
    for word, clips in side.by_word.items():
        fired = 0
        for clip in clips:
            x = quiet.copy()
            x[rate : rate + len(clip[: 3 * rate])] += clip[: 3 * rate]
            fired += bool(task.detect(x, threshold=threshold))
        out[word] = f"{fired}/{len(clips)}"
    return out


def pick_threshold(det: list[tuple[float, float, float]], target_fa: float | None) -> float:
    """The valid side's operating point: with ``target_fa``, among thresholds with at most
    ``target_fa`` FA/h and 5 % misses there, the one with the fewest misses (the highest of
    equals); without it or if none reaches it, the highest threshold with at most 5 %
    misses."""
    ok = [(miss, -th) for th, fa, miss in det
          if target_fa is not None and fa <= target_fa and miss <= 0.05]  # fmt: skip
    if ok:
        return -min(ok)[1]
    return max((th for th, _, miss in det if miss <= 0.05), default=0.5)


def _train(args, config, train_config, sides) -> tuple[WakeWord, object, float, list[int]]:
    """Train; with ``--mine-rounds`` n, n more times: find the detector's false activations
    in ``--mine-hours`` of TRAINING-side negative-only audio and train again (from scratch,
    same seed) with them among the negative words. Returns the last detector, its run, the
    seconds spent and the hard negatives found each round."""
    secs = config.clip_seconds
    aug = {"gain_jitter_db": 6.0, "max_negatives": args.max_negatives,
           "speed_jitter": args.speed_jitter}  # fmt: skip
    valid = synthesize_many(sides["valid"].clips, 80, seed=2, seconds=secs, gain_jitter_db=6.0)
    clips, found = sides["train"].clips, []
    t0 = time.perf_counter()
    for r in range(args.mine_rounds + 1):
        last = r == args.mine_rounds
        out = args.keep_model if last and args.keep_model else Path(tempfile.mkdtemp()) / "m"
        train = synthesize_many(clips, args.examples, seed=1, seconds=secs, **aug)
        data = WakeData(train, valid, "course-trigger-word+espeak+fsdd")
        task, result = WakeWord.train(data, out, config, train_config)
        if last:
            break
        neg, _ = negative_clips(sides["train"].clips, args.mine_hours, secs, 10 + r)
        hard = task.false_activations(neg, threshold=args.mine_threshold, seconds=1.5)
        found.append(len(hard))
        clips = replace(clips, negatives=clips.negatives + hard * args.mine_repeat)
    return task, result, time.perf_counter() - t0, found


def _rtf(task: WakeWord, audio: np.ndarray, rate: int) -> float:
    chunk = rate // 10
    chunks = [audio[i : i + chunk] for i in range(0, len(audio), chunk)]
    t0 = time.perf_counter()
    for _ in task.stream_scores(chunks):
        pass
    return (time.perf_counter() - t0) / (len(audio) / rate)


def _options() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--fsdd", type=Path, default=DEFAULT_FSDD)
    p.add_argument("--no-espeak", dest="espeak", action="store_false",
                   help="without espeak-ng voices (human recordings and FSDD only)")  # fmt: skip
    p.add_argument("--confusable", action="store_true",
                   help="add the near-rhyme training words (CONFUSABLE)")  # fmt: skip
    p.add_argument("--more-voices", action="store_true",
                   help="add the extra training variants (MORE_TRAIN_VARIANTS)")  # fmt: skip
    p.add_argument("--preset", default="streaming", choices=sorted(PRESETS))
    p.add_argument("--examples", type=int, default=1500, help="training clips (10 s)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--time-budget", type=float, default=600.0, help="training seconds")
    p.add_argument("--test-positive", type=int, default=300, help="test clips with the word")
    p.add_argument("--test-hours", type=float, default=2.0, help="negative-only test audio")
    p.add_argument("--valid-hours", type=float, default=0.5, help="negative-only valid audio")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--target-fa", type=float, default=None,
                   help="FA/h the valid-side threshold aims at (pick_threshold)")  # fmt: skip
    p.add_argument("--max-negatives", type=int, default=4, help="per training clip")
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--hidden", type=int, default=None, help="GRU units (preset's if omitted)")
    p.add_argument("--speed-jitter", type=float, default=0.25,
                   help="training words at a random speed in 1 ± this")  # fmt: skip
    p.add_argument("--human-repeat", type=int, default=20,
                   help="the 7 human training words count this many times in the pool")  # fmt: skip
    p.add_argument("--per-voice", type=int, default=3, help="espeak 'activate' clips per voice")
    p.add_argument("--fsdd-words", type=int, default=100, help="FSDD digits per side")
    p.add_argument("--generated-backgrounds", type=int, default=30,
                   help="coloured noises and babbles (each) per side, 60 s each")  # fmt: skip
    p.add_argument("--mine-rounds", type=int, default=0,
                   help="rounds of hard-negative mining on training-side audio")  # fmt: skip
    p.add_argument("--mine-hours", type=float, default=1.0, help="audio searched each round")
    p.add_argument("--mine-threshold", type=float, default=0.5, help="a false activation")
    p.add_argument("--mine-repeat", type=int, default=5, help="each hard negative's weight")
    p.add_argument("--seed", type=int, default=0, help="training seed (init, batch order)")
    p.add_argument("--keep-model", type=Path, default=None,
                   help="train into this folder (kept) instead of a temporary one")  # fmt: skip
    p.add_argument("--name", default="wake", help="results/<name>.json and <name>-det.png")
    return p.parse_args()


def main() -> None:
    args = _options()
    torch.set_num_threads(args.threads)
    if args.espeak and not espeak_available():
        raise SystemExit("espeak-ng is not installed (apt install espeak-ng), or --no-espeak")
    preset = PRESETS[args.preset]
    model = replace(preset.config.model, dropout=args.dropout)
    if args.hidden:
        model = replace(model, hidden_size=args.hidden)
    config = replace(preset.config, data=str(args.data), model=model)
    rate, secs = config.sample_rate, config.clip_seconds
    t_data = time.perf_counter()
    sides = material(args, rate)
    data_seconds = time.perf_counter() - t_data
    train_config = replace(preset.train, time_budget=args.time_budget, progress=False,
                           seed=args.seed, max_steps=args.steps)  # fmt: skip
    task, result, train_seconds, mined = _train(args, config, train_config, sides)

    valid_neg, valid_facts = negative_clips(sides["valid"].clips, args.valid_hours, secs, 4)
    valid = positive_clips(sides["valid"].clips, 200, secs, 5) + valid_neg
    report_valid = task.evaluate(valid)
    threshold = pick_threshold(report_valid.det, args.target_fa)

    test_neg, test_facts = negative_clips(sides["test"].clips, args.test_hours, secs, 6)
    half = args.test_positive // 2
    by_voice, test_pos = {}, []
    for i, who in enumerate(("human", "espeak")):
        if not sides["test"].only(who).positives:
            continue
        part = positive_clips(sides["test"].only(who), half, secs, 7 + i)
        r = task.evaluate(part + test_neg[:20], threshold=threshold)
        by_voice[who] = {"miss_rate": r.miss_rate, "positives": r.positives}
        test_pos += part
    t1 = time.perf_counter()
    report = task.evaluate(test_pos + test_neg, threshold=threshold)
    eval_seconds = time.perf_counter() - t1
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / f"{args.name}-det.png"
    plot_det(report.det, png, threshold=threshold,
             title="wake: unseen voices, words and backgrounds")  # fmt: skip
    audio = np.concatenate([e.audio for e in test_pos[:3] + test_neg[1:4]])  # 60 s
    payload = {
        "preset": args.preset,
        "arch": config.arch,
        "hidden_size": config.model.hidden_size,
        "sources": {k: {"human_positives": len(v.human), "espeak_positives": len(v.espeak),
                        "negatives": len(v.clips.negatives),
                        "backgrounds": len(v.clips.backgrounds)} for k, v in sides.items()},
        "data_seconds": round(data_seconds, 1),
        "training_clips": args.examples,
        "steps": result.steps,
        "train_seconds": round(train_seconds, 1),
        "hard_negatives_mined": mined,
        "best_valid_loss": result.best_valid,
        "threshold": threshold,
        "valid": {"fa_per_hour": next(p[1] for p in report_valid.det if p[0] == threshold),
                  "miss_rate": next(p[2] for p in report_valid.det if p[0] == threshold),
                  **valid_facts},
        "fa_per_hour": report.fa_per_hour,
        "false_accepts": report.false_accepts,
        "negative_hours": round(report.negative_hours, 3),
        "test_set": test_facts,
        "miss_rate": report.miss_rate,
        "positives": report.positives,
        "misses": report.misses,
        "miss_rate_by_voice": by_voice,
        "test_words_that_fire": word_alarms(task, sides["test"], threshold),
        "eval_seconds": round(eval_seconds, 1),
        "streaming_rtf_1_thread": _rtf(task, audio, rate),
        "det_at_test": [p for p in report.det if p[0] in DET_SHOWN],
        "det_at_valid": [p for p in report_valid.det if p[0] in DET_SHOWN],
        "machine": machine(),
        "command": "python benchmarks/wake.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k not in ("data", "fsdd", "espeak", "keep_model", "confusable", "more_voices")
        ) + ("" if args.espeak else " --no-espeak")
        + (" --confusable" if args.confusable else "")
        + (" --more-voices" if args.more_voices else ""),
    }  # fmt: skip
    path = save(args.name, payload)
    print({k: v for k, v in payload.items() if k not in ("machine", "det_at_valid")})
    print(f"wrote {path} and {png}")


if __name__ == "__main__":
    main()
