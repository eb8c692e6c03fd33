"""CTC speech recognition on the Free Spoken Digit Dataset: isolated digits and sequences.

Two recognizers (the default ``seqlab speech train`` network: two convolutions, the first
of stride 2, a 2-layer bidirectional GRU of 128 units, SpecAugment) are trained:

* split by recording (FSDD's official split: indices 0-4 of every digit and speaker are the
  test set), on the training clips plus ``--sequences`` digit sequences built from them;
* split by speaker (the last speaker alphabetically is held out), the same way.

Each is evaluated on its held-out isolated clips (exact-transcript accuracy, WER, CER) and on
``--test-sequences`` digit sequences built from them (2-5 digits, silences of 50-300 ms,
a little noise). Targets of issue 15: isolated digits >= 98% and sequences WER <= 5% on
held-out recordings, each within 20 minutes of CPU training.

    python benchmarks/speech.py                      # FSDD at ../shared/data/fsdd
    python benchmarks/speech.py --data DIR --steps 4000 --threads 2
    python benchmarks/speech.py --quick              # 300 steps, recording split only
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from _common import machine, save
from seqlab.data.speech import digit_sequences, read_fsdd, split_fsdd
from seqlab.tasks.speech import PRESET, SpeechRecognizer


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln), "")


def _run(clips: list, split: str, args: argparse.Namespace, folder: Path) -> dict[str, object]:
    train, test = split_fsdd(clips, split)  # type: ignore[arg-type]
    data = train + digit_sequences(train, args.sequences, noise=0.003, seed=args.seed)
    held_seqs = digit_sequences(test, args.test_sequences, noise=0.003, seed=args.seed + 1)
    train_config = replace(
        PRESET.train, max_steps=args.steps, progress=False, seed=args.seed, eval_every=500
    )
    t0 = time.perf_counter()
    task, result = SpeechRecognizer.train(data, folder / split, PRESET.config, train_config)
    seconds = time.perf_counter() - t0
    isolated = task.evaluate(test)
    sequences = task.evaluate(held_seqs)
    figures = {
        "split": split,
        "train_utterances": len(data),
        "steps": result.steps,
        "train_seconds": round(seconds, 1),
        "isolated": {k: isolated[k] for k in ("utterances", "accuracy", "wer", "cer")},
        "sequences": {k: sequences[k] for k in ("utterances", "accuracy", "wer", "cer")},
    }
    iso, seq = figures["isolated"], figures["sequences"]
    print(
        f"{split:>9}: {result.steps} steps in {seconds:.0f} s; isolated accuracy "
        f"{100 * iso['accuracy']:.2f}% WER {100 * iso['wer']:.2f}% CER {100 * iso['cer']:.2f}%; "  # type: ignore[index]
        f"sequences WER {100 * seq['wer']:.2f}% CER {100 * seq['cer']:.2f}%",  # type: ignore[index]
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/fsdd"))
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--sequences", type=int, default=1500, help="training sequences")
    parser.add_argument("--test-sequences", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", default="recording,speaker")
    parser.add_argument("--quick", action="store_true", help="300 steps, recording split")
    parser.add_argument("--name", default="speech-fsdd")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.sequences, args.test_sequences, args.splits = 300, 200, 50, "recording"
    torch.set_num_threads(args.threads)
    clips = read_fsdd(args.data)
    folder = Path(tempfile.mkdtemp(prefix="seqlab-speech-"))
    try:
        runs = [_run(clips, s, args, folder) for s in args.splits.split(",")]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    info = {**machine(), "lscpu_model": _cpu_model()}
    path = save(args.name, {"machine": info, "args": {**vars(args), "data": str(args.data)},
                            "runs": runs})  # fmt: skip
    print(f"CPU: {info['lscpu_model']}; results: {path}")


if __name__ == "__main__":
    main()
