"""Trigger-word detection on the course's clips: false accepts per hour, misses, streaming
real-time factor.

    python benchmarks/wake.py --threads 1                    # ~3 min on one core
    python benchmarks/wake.py --data DIR --preset course --time-budget 1200

Data (``--data DIR``, default ``../shared/data/course-trigger-word/raw_data``): the course's
``activates/``, ``negatives/`` and ``backgrounds/``. Every third positive and negative clip
(in name order) and the last background are held out: the test audio is synthesized (the
course's recipe) from clips and a background the model never heard. The held-out words are
``1_act3``, ``2_act3``, ``3_act3`` (the third recording session: two start with a click, all
have 0.3-1.2 s of room noise around the word; median pitch 123, 190 and 182 Hz, where the
training words have 104-124 and 211-242 Hz: other voices, though the folder names no
speakers) and the negatives ``2``, ``3_2``, ``5``; the held-out background is 16 dB louder
than the training one. Each training word is played at a random speed in 1 ±
``--speed-jitter`` (tempo and pitch, :func:`seqlab.data.wake.change_speed`): with 7
recordings of the word the detector otherwise misses one held-out voice three times in four.
The training backgrounds are the course's seen one plus ``--noise-backgrounds`` generated
noises at its loudness ±10 dB (without them the detector fires ~1,000 times an hour on the
unseen background alone). Two test sets: clips with trigger words (the miss rate) and
negative-only clips (other words over the background: false accepts per hour). The threshold
is chosen on validation clips made from the training clips at other speeds
(``--valid-speed-jitter``; the highest threshold with at most 5% misses there), never on the
test audio, then applied to the test sets; the DET curve of the test sets is written beside
the JSON.
The real-time factor is the time to stream 60 s of test audio in 100 ms chunks through
``WakeWord.stream_scores`` (features included) with ``torch.set_num_threads(1)``, over
60 s. Results go to ``benchmarks/results/wake.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from _common import RESULTS, machine, save
from seqlab.data.wake import (
    WakeClips,
    fsdd_words,
    generated_clips,
    read_clip_folder,
    synthesize_many,
)
from seqlab.tasks.wake import PRESETS, WakeData, WakeWord
from seqlab.viz.det import plot_det

DEFAULT_DATA = Path("../shared/data/course-trigger-word/raw_data")
DET_SHOWN = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)  # thresholds in the JSON


def _noises(seen: WakeClips, n: int) -> list[np.ndarray]:
    """``n`` generated noise backgrounds at the seen backgrounds' RMS, -10 ... +10 dB."""
    noise = generated_clips(sample_rate=seen.sample_rate, n_positives=0, n_negatives=0,
                            n_backgrounds=n, background_seconds=30.0)  # fmt: skip
    rms = float(np.sqrt(np.mean(np.concatenate(seen.backgrounds) ** 2)))
    gains = 10 ** (np.linspace(-10, 10, n) / 20)
    return [b * rms / float(np.sqrt(np.mean(b**2))) * g
            for b, g in zip(noise.backgrounds, gains, strict=True)]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--preset", default="streaming", choices=sorted(PRESETS))
    p.add_argument("--examples", type=int, default=800, help="training clips (10 s)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--time-budget", type=float, default=100.0, help="training seconds")
    p.add_argument("--test-positive", type=int, default=200, help="test clips with the word")
    p.add_argument("--test-hours", type=float, default=1.0, help="negative-only test audio")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jitter", type=float, default=6.0, help="training gain jitter, dB")
    p.add_argument("--max-negatives", type=int, default=4, help="per training clip")
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--noise-backgrounds", type=int, default=6,
                   help="add N generated noise backgrounds to the training ones")  # fmt: skip
    p.add_argument("--speed-jitter", type=float, default=0.15,
                   help="training words at a random speed in 1 ± this")  # fmt: skip
    p.add_argument("--fsdd", type=Path, default=None,
                   help="a Free Spoken Digit Dataset folder: --fsdd-words of its digits "
                   "join the training negatives (other speech)")  # fmt: skip
    p.add_argument("--fsdd-words", type=int, default=60)
    p.add_argument("--seed", type=int, default=0, help="training seed (init, batch order)")
    p.add_argument("--name", default="wake", help="results/<name>.json and <name>-det.png")
    p.add_argument("--valid-speed-jitter", type=float, default=0.15,
                   help="the same on the validation clips the threshold is chosen on")  # fmt: skip
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    preset = PRESETS[args.preset]
    config = replace(preset.config, data=str(args.data))
    if args.dropout is not None:
        config = replace(config, model=replace(config.model, dropout=args.dropout))
    aug = {"gain_jitter_db": args.jitter, "max_negatives": args.max_negatives,
           "speed_jitter": args.speed_jitter}  # fmt: skip
    clips = read_clip_folder(args.data, config.sample_rate)
    seen, unseen = clips.split()
    if args.noise_backgrounds:
        seen = replace(seen, backgrounds=seen.backgrounds + _noises(seen, args.noise_backgrounds))
    if args.fsdd is not None:
        digits = fsdd_words(args.fsdd, config.sample_rate)
        pick = np.random.default_rng(7).choice(len(digits), args.fsdd_words, replace=False)
        seen = replace(seen, negatives=seen.negatives + [digits[i] for i in sorted(pick)])
    secs = config.clip_seconds
    data = WakeData(
        synthesize_many(seen, args.examples, seed=1, seconds=secs, **aug),
        synthesize_many(seen, 60, seed=2, seconds=secs),
        "course-trigger-word",
    )
    train = replace(preset.train, time_budget=args.time_budget, progress=False, seed=args.seed)
    if args.steps:
        train = replace(train, max_steps=args.steps)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        task, result = WakeWord.train(data, Path(tmp) / "model", config, train)
    train_seconds = time.perf_counter() - t0

    # the threshold: the highest with at most 5% misses on clips of the training words
    # (played at other speeds: voices the training clips did not have exactly)
    vs = args.valid_speed_jitter
    valid = synthesize_many(seen, 200, seed=3, seconds=secs, max_negatives=2, speed_jitter=vs)
    valid += synthesize_many(seen, 100, seed=4, seconds=secs, max_positives=0, speed_jitter=vs)
    det_valid = task.evaluate(valid).det
    threshold = max((th for th, _, miss in det_valid if miss <= 0.05), default=0.5)

    n_neg = max(1, round(args.test_hours * 3600 / secs))
    test = synthesize_many(unseen, args.test_positive, seed=5, seconds=secs)
    test = [e for e in test if e.positives]
    test += synthesize_many(unseen, n_neg, seed=6, seconds=secs, max_positives=0)
    t1 = time.perf_counter()
    report = task.evaluate(test, threshold=threshold)
    eval_seconds = time.perf_counter() - t1
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot_det(report.det, RESULTS / f"{args.name}-det.png", threshold=threshold,
             title="wake: held-out clips and background")  # fmt: skip

    rtf = None
    if hasattr(task.model, "stream"):
        audio = np.concatenate([e.audio for e in test[-6:]])  # 60 s
        chunk = config.sample_rate // 10
        chunks = [audio[i : i + chunk] for i in range(0, len(audio), chunk)]
        t2 = time.perf_counter()
        for _ in task.stream_scores(chunks):
            pass
        rtf = (time.perf_counter() - t2) / (len(audio) / config.sample_rate)

    payload = {
        "preset": args.preset,
        "arch": config.arch,
        "training_clips": len(data.train),
        "steps": result.steps,
        "train_seconds": round(train_seconds, 1),
        "best_valid_loss": result.best_valid,
        "threshold": threshold,
        "fa_per_hour": report.fa_per_hour,
        "false_accepts": report.false_accepts,
        "negative_hours": round(report.negative_hours, 3),
        # the negative-only test audio is this much distinct held-out background, repeated
        "unseen_background_seconds": sum(len(b) for b in unseen.backgrounds) / clips.sample_rate,
        "miss_rate": report.miss_rate,
        "positives": report.positives,
        "misses": report.misses,
        "eval_seconds": round(eval_seconds, 1),
        "streaming_rtf_1_thread": rtf,
        "det_at_test": [p for p in report.det if p[0] in DET_SHOWN],
        "det_at_valid": [p for p in det_valid if p[0] in DET_SHOWN],
        "machine": machine(),
        "command": "python benchmarks/wake.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "data"
        ),
    }  # fmt: skip
    path = save(args.name, payload)
    print({k: v for k, v in payload.items() if k != "machine"})
    print(f"wrote {path} and {RESULTS / f'{args.name}-det.png'}")


if __name__ == "__main__":
    main()
