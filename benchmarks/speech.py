"""Speech recognition on the Free Spoken Digit Dataset, CTC and LAS side by side: isolated
digits and sequences.

For each architecture of ``--arch`` (``ctc``: the default ``seqlab speech train`` network,
two convolutions, the first of stride 2, a 2-layer bidirectional GRU of 128 units; ``las``:
``seqlab speech train --arch las``, Listen, Attend and Spell with a 3-layer pyramidal
BiLSTM listener of 128 units and a 256-unit attention speller; SpecAugment off unless
``--spec-augment``), two recognizers are trained on the same data, for the same steps and
``--minutes`` budget:

* split by recording (FSDD's official split: indices 0-4 of every digit and speaker are the
  test set), on the training clips plus ``--sequences`` digit sequences built from them;
* split by speaker (the last speaker alphabetically is held out), the same way.

Each is evaluated on its held-out isolated clips (exact-transcript accuracy, WER, CER) and on
``--test-sequences`` digit sequences built from them (2-5 digits, silences of 50-300 ms,
a little noise), greedy or with ``--beam K``; a table compares the runs at the end. Beside
WER, each run reports the ratio of hypothesis to reference words on the sequences (1.0: the
transcripts have the references' length; above 1: they run long, as content-only LAS
attention's did). The load average before and after each run says how shared the machine was.
Targets of issue 15: isolated digits >= 98% and sequences WER <= 5% on held-out
recordings, each within 20 minutes of CPU training.

    python benchmarks/speech.py                      # FSDD at ../shared/data/fsdd, both archs
    python benchmarks/speech.py --data DIR --steps 4000 --minutes 20 --threads 2
    python benchmarks/speech.py --arch las --quick   # 300 steps, recording split only
    python benchmarks/speech.py --arch las --las-attention location  # Chorowski et al.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from _common import machine, save
from seqlab.data.speech import digit_sequences, read_fsdd, split_fsdd
from seqlab.tasks.speech import LAS_PRESET, PRESET, SpeechConfig, SpeechRecognizer

PRESETS = {"ctc": PRESET, "las": LAS_PRESET}


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln), "")


def _length_ratio(result: dict) -> float:
    """Words in the hypotheses over words in the references (1.0: as long as they are)."""
    items = result["items"]
    refs = sum(len(i["reference"].split()) for i in items)
    return sum(len(i["hypothesis"].split()) for i in items) / max(refs, 1)


def _config(arch: str, args: argparse.Namespace) -> SpeechConfig:
    """The preset's task config with the command line's choices."""
    config = PRESETS[arch].config
    if arch == "las" and args.las_attention:
        config = replace(config, model=replace(config.model, attention=args.las_attention))
    if args.dropout is not None:
        config = replace(config, model=replace(config.model, dropout=args.dropout))
    if args.spec_augment is not None:  # on: the widths of the earlier default
        on = args.spec_augment
        config = replace(config, freq_mask=8 if on else 0, time_mask=10 if on else 0)
    return config


def _run(
    clips: list, split: str, archs: list[str], args: argparse.Namespace, folder: Path
) -> list[dict[str, object]]:
    """Every architecture trained and evaluated on the same data of one split."""
    train, test = split_fsdd(clips, split)  # type: ignore[arg-type]
    data = train + digit_sequences(train, args.sequences, noise=0.003, seed=args.seed)
    held_seqs = digit_sequences(test, args.test_sequences, noise=0.003, seed=args.seed + 1)
    return [_train_one(arch, split, data, test, held_seqs, args, folder) for arch in archs]


def _train_one(
    arch: str,
    split: str,
    data: list,
    test: list,
    held_seqs: list,
    args: argparse.Namespace,
    folder: Path,
) -> dict[str, object]:
    preset = PRESETS[arch]
    budget = None if args.minutes is None else 60 * args.minutes
    train_config = replace(
        preset.train, max_steps=args.steps, progress=False, seed=args.seed, eval_every=500,
        time_budget=budget, lr=args.lr or preset.train.lr,
        warmup_steps=min(preset.train.warmup_steps if args.warmup is None else args.warmup,
                         args.steps - 1),
    )  # fmt: skip
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    task, result = SpeechRecognizer.train(
        data, folder / f"{split}-{arch}", _config(arch, args), train_config
    )
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    isolated = task.evaluate(test, beam_size=args.beam)
    sequences = task.evaluate(held_seqs, beam_size=args.beam)
    decode_seconds = time.perf_counter() - t0
    figures = {
        "split": split,
        "arch": arch,
        "attention": getattr(task.config.model, "attention", ""),
        "spec_augment": bool(task.config.freq_mask or task.config.time_mask),
        "parameters": sum(p.numel() for p in task.model.parameters()),
        "train_utterances": len(data),
        "steps": result.steps,
        "train_seconds": round(seconds, 1),
        "beam": args.beam,
        "decode_seconds": round(decode_seconds, 1),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "isolated": {k: isolated[k] for k in ("utterances", "accuracy", "wer", "cer")},
        "sequences": {k: sequences[k] for k in ("utterances", "accuracy", "wer", "cer")},
    }
    figures["sequences"]["length_ratio"] = round(_length_ratio(sequences), 3)  # type: ignore[index]
    figures["sequence_errors"] = [
        [i["reference"], i["hypothesis"]]
        for i in sequences["items"]
        if i["reference"] != i["hypothesis"]
    ][:20]
    iso, seq = figures["isolated"], figures["sequences"]
    print(
        f"{split:>9} {arch}: {result.steps} steps in {seconds:.0f} s; isolated accuracy "
        f"{100 * iso['accuracy']:.2f}% WER {100 * iso['wer']:.2f}% CER {100 * iso['cer']:.2f}%; "  # type: ignore[index]
        f"sequences WER {100 * seq['wer']:.2f}% CER {100 * seq['cer']:.2f}% "  # type: ignore[index]
        f"hyp/ref words {seq['length_ratio']:.2f}",  # type: ignore[index]
        flush=True,
    )
    return figures


def _table(runs: list[dict]) -> str:
    """The runs side by side, as a Markdown table."""
    lines = [
        "| split | arch | params | steps | training | isolated accuracy | isolated WER / CER "
        "| sequences WER / CER | hyp/ref words |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        iso, seq = r["isolated"], r["sequences"]
        arch = f"{r['arch']} ({r['attention']})" if r.get("attention") else r["arch"]
        lines.append(
            f"| {r['split']} | {arch} | {r['parameters'] / 1e6:.2f} M | {r['steps']:,} "
            f"| {r['train_seconds']:.0f} s | {100 * iso['accuracy']:.1f}% "
            f"| {100 * iso['wer']:.1f}% / {100 * iso['cer']:.1f}% "
            f"| {100 * seq['wer']:.1f}% / {100 * seq['cer']:.1f}% | {seq['length_ratio']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/fsdd"))
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--sequences", type=int, default=1500, help="training sequences")
    parser.add_argument("--test-sequences", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", default="recording,speaker")
    parser.add_argument("--arch", choices=("ctc", "las", "both"), default="both")
    parser.add_argument(
        "--minutes", type=float, default=None, help="training time budget per run (same for all)"
    )
    parser.add_argument("--beam", type=int, default=1, help="beam size when evaluating")
    parser.add_argument("--lr", type=float, default=None, help="peak rate (default: preset's)")
    parser.add_argument("--warmup", type=int, default=None, help="warmup steps (preset's)")
    parser.add_argument("--dropout", type=float, default=None, help="dropout (preset's: 0.1)")
    parser.add_argument(
        "--las-attention", choices=("location", "content"), default=None,
        help="LAS attention (default: the preset's, content-only)",
    )  # fmt: skip
    parser.add_argument(
        "--spec-augment", action=argparse.BooleanOptionalAction, default=None,
        help="SpecAugment masks of 8 bands and 10 frames (default: the preset's, off)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="300 steps, recording split")
    parser.add_argument("--name", default="speech-fsdd")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.sequences, args.test_sequences, args.splits = 300, 200, 50, "recording"
    torch.set_num_threads(args.threads)
    clips = read_fsdd(args.data)
    folder = Path(tempfile.mkdtemp(prefix="seqlab-speech-"))
    try:
        archs = ["ctc", "las"] if args.arch == "both" else [args.arch]
        runs = [r for s in args.splits.split(",") for r in _run(clips, s, archs, args, folder)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    info = {**machine(), "lscpu_model": _cpu_model()}
    path = save(args.name, {"machine": info, "args": {**vars(args), "data": str(args.data)},
                            "runs": runs})  # fmt: skip
    print(_table(runs))
    print(f"CPU: {info['lscpu_model']}; results: {path}")


if __name__ == "__main__":
    main()
