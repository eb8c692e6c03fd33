"""Speech recognition on the Free Spoken Digit Dataset, CTC and LAS side by side: isolated
digits and sequences.

For each architecture of ``--arch`` (``ctc``: the default ``seqlab speech train`` network,
two convolutions, the first of stride 3, a 2-layer bidirectional GRU of 128 units; ``las``:
``seqlab speech train --arch las``, Listen, Attend and Spell with a 3-layer pyramidal
BiLSTM listener of 128 units and a 256-unit attention speller; SpecAugment off unless
``--spec-augment``), two recognizers are trained on the same data, for the same steps and
``--minutes`` budget:

* split by recording (FSDD's official split: indices 0-4 of every digit and speaker are the
  test set), on the training clips plus ``--sequences`` digit sequences built from them;
* split by speaker (the last speaker alphabetically is held out), the same way.

Each is evaluated on its held-out isolated clips (exact-transcript accuracy, WER, CER) and on
``--test-sequences`` digit sequences built from them (2-5 digits, silences of 50-300 ms,
a little noise), greedy or with ``--beam K``, and a CTC recognizer once more with the ten
digit words as a lexicon (``--lexicon``, beam ``--lexicon-beam``; reported apart, as
``isolated_lexicon`` and ``sequences_lexicon``), and an LAS recognizer trained with a CTC
layer (``--model-option ctc_weight=0.3``) once more with joint CTC/attention decoding
(``--joint-ctc``, ``*_joint``); a table compares the runs at the end. Beside
WER, each run reports the ratio of hypothesis to reference words on the sequences (1.0: the
transcripts have the references' length; above 1: they run long, as content-only LAS
attention's did). The load average before and after each run says how shared the machine was.

``--minutes`` is a training budget (the learning rate's cosine ends with it) counted by
``--clock``: ``cpu`` (the default) counts this process's CPU time, so that on a machine
shared with other jobs a run still gets the steps one quiet core gives in that time (with
``--threads 1``: one core's minutes, half of a 2-core machine's); ``wall`` counts elapsed
time. Each run records both, and the steps.
Targets of issue 15: isolated digits >= 98% and sequences WER <= 5% on held-out
recordings, each within 20 minutes of CPU training.

    python benchmarks/speech.py                      # FSDD at ../shared/data/fsdd, both archs
    python benchmarks/speech.py --data DIR --steps 4000 --minutes 20 --threads 2
    python benchmarks/speech.py --arch las --quick   # 300 steps, recording split only
    python benchmarks/speech.py --arch las --las-attention location  # Chorowski et al.
    python benchmarks/speech.py --arch las --model-option ctc_weight=0.3  # joint CTC
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

import seqlab.train.loop
from _common import machine, save
from seqlab.data.speech import DIGIT_WORDS, digit_sequences, read_fsdd, split_fsdd
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


def _model_options(pairs: list[str], model: object) -> dict[str, object]:
    """``--model-option KEY=VALUE`` pairs as the network config's typed fields."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if not hasattr(model, key):
            raise SystemExit(f"--model-option {pair}: {type(model).__name__} has no field {key!r}")
        kind = type(getattr(model, key))
        out[key] = value if kind is str else kind(float(value) if kind is int else value)
    return out


def _config(arch: str, args: argparse.Namespace) -> SpeechConfig:
    """The preset's task config with the command line's choices."""
    config = PRESETS[arch].config
    if arch == "las" and args.las_attention:
        config = replace(config, model=replace(config.model, attention=args.las_attention))
    if args.dropout is not None:
        config = replace(config, model=replace(config.model, dropout=args.dropout))
    if args.model_option:
        options = _model_options(args.model_option, config.model)
        config = replace(config, model=replace(config.model, **options))
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
    t0, cpu0 = time.perf_counter(), time.process_time()
    task, result = SpeechRecognizer.train(
        data, folder / f"{split}-{arch}", _config(arch, args), train_config
    )
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    t0 = time.perf_counter()
    decodes = [("", {"beam_size": args.beam})]
    if args.lexicon and arch == "ctc":
        decodes.append(("_lexicon", {"beam_size": args.lexicon_beam, "lexicon": DIGIT_WORDS}))
    if args.joint_ctc and getattr(task.config.model, "ctc_weight", 0) > 0:
        decodes.append(("_joint", {"beam_size": args.beam, "joint_ctc": args.joint_ctc}))
    figures: dict[str, object] = {
        "split": split,
        "arch": arch,
        "model": task.config.model.to_dict(),
        "attention": getattr(task.config.model, "attention", ""),
        "spec_augment": bool(task.config.freq_mask or task.config.time_mask),
        "parameters": sum(p.numel() for p in task.model.parameters()),
        "train_utterances": len(data),
        "steps": result.steps,
        "clock": args.clock,
        "train_seconds": round(seconds, 1),  # wall time, features included
        "train_cpu_seconds": round(cpu_seconds, 1),  # this process's CPU time
        "beam": args.beam,
        "lexicon_beam": args.lexicon_beam if arch == "ctc" and args.lexicon else None,
        "joint_ctc": args.joint_ctc if decodes[-1][0] == "_joint" else None,
        "load_average": [round(load_before, 2), 0.0],
    }
    for suffix, decode in decodes:
        isolated = task.evaluate(test, **decode)
        sequences = task.evaluate(held_seqs, **decode)
        figures["isolated" + suffix] = {
            k: isolated[k] for k in ("utterances", "accuracy", "wer", "cer")
        }
        seq = {k: sequences[k] for k in ("utterances", "accuracy", "wer", "cer")}
        figures["sequences" + suffix] = {**seq, "length_ratio": round(_length_ratio(sequences), 3)}
        figures["isolated_errors" + suffix] = _errors(isolated)
        figures["sequence_errors" + suffix] = _errors(sequences)
        _print(split, arch, result.steps, seconds, cpu_seconds, suffix, figures)
    figures["decode_seconds"] = round(time.perf_counter() - t0, 1)
    figures["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return figures


def _errors(result: dict) -> list[list[str]]:
    """The first 20 wrong transcripts: [reference, hypothesis]."""
    items = result["items"]
    return [[i["reference"], i["hypothesis"]] for i in items if i["reference"] != i["hypothesis"]][
        :20
    ]


def _print(
    split: str, arch: str, steps: int, wall: float, cpu: float, suffix: str, figures: dict
) -> None:
    iso, seq = figures["isolated" + suffix], figures["sequences" + suffix]
    how = {"": "", "_lexicon": " with the digit lexicon", "_joint": " joint CTC decoding"}[suffix]
    print(
        f"{split:>9} {arch}: {steps} steps in {wall:.0f} s ({cpu:.0f} CPU s){how}; isolated "
        f"accuracy {100 * iso['accuracy']:.2f}% WER {100 * iso['wer']:.2f}% CER "
        f"{100 * iso['cer']:.2f}%; sequences WER {100 * seq['wer']:.2f}% CER "
        f"{100 * seq['cer']:.2f}% hyp/ref words {seq['length_ratio']:.2f}",
        flush=True,
    )


def _table(runs: list[dict]) -> str:
    """The runs side by side, as a Markdown table (a CTC run twice: free, then decoded
    with the digit-word lexicon)."""
    lines = [
        "| split | arch | decoding | params | steps | training (CPU) | isolated accuracy "
        "| isolated WER / CER | sequences WER / CER | hyp/ref words |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        arch = f"{r['arch']} ({r['attention']})" if r.get("attention") else r["arch"]
        for suffix in ("", "_lexicon", "_joint"):
            if "isolated" + suffix not in r:
                continue
            iso, seq = r["isolated" + suffix], r["sequences" + suffix]
            how = "greedy" if r["beam"] == 1 else f"beam {r['beam']}"
            names = {"_lexicon": f"lexicon, beam {r.get('lexicon_beam')}",
                     "_joint": f"{how}, joint CTC μ = {r.get('joint_ctc')}"}  # fmt: skip
            how = names.get(suffix, how)
            lines.append(
                f"| {r['split']} | {arch} | {how} | {r['parameters'] / 1e6:.2f} M "
                f"| {r['steps']:,} | {r['train_seconds']:.0f} s "
                f"({r.get('train_cpu_seconds', 0):.0f} s) | {100 * iso['accuracy']:.1f}% "
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
    parser.add_argument(
        "--lexicon", action=argparse.BooleanOptionalAction, default=True,
        help="CTC: also evaluate with the ten digit words as a lexicon (reported apart)",
    )  # fmt: skip
    parser.add_argument("--lexicon-beam", type=int, default=16, help="beam with the lexicon")
    parser.add_argument(
        "--joint-ctc", type=float, default=0.5,
        help="LAS trained with a CTC layer: also decode with CTC prefix scores, this weight "
        "(reported apart; 0: not)",
    )  # fmt: skip
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), default="cpu",
        help="what --minutes counts: this process's CPU time (a shared machine then gives "
        "the steps of a quiet one) or wall time",
    )  # fmt: skip
    parser.add_argument(
        "--model-option", action="append", default=[], metavar="KEY=VALUE",
        help="a network config field, e.g. stride=3 (repeatable)",
    )  # fmt: skip
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
    if args.clock == "cpu":  # the training loop's budget clock (tests replace it the same way)
        seqlab.train.loop._clock = time.process_time  # type: ignore[attr-defined]
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
