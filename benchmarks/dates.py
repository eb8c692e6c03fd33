"""Date normalisation (the course's attention example): exact match vs CPU time, per arch.

Trains the ``seqlab translate train --dataset dates`` model with its default configuration,
for each architecture asked (``--arch``, default both, one after the other under the same
step and time budget): the RNN + Bahdanau attention (:data:`seqlab.tasks.translator.PRESETS`)
and the Transformer (:data:`~seqlab.tasks.translator.TRANSFORMER_PRESETS`), on the same
generated training pairs. It reports exact-match accuracy on the fixed held-out set (2,000
source strings the training generator never emits) and on the dates written by hand in
``tests/golden/real_dates.tsv``, for greedy search and beam search, with the training wall
time and steps, parameters and the CPU model. Targets (per arch): >= 99.9% on the held-out
set and >= 97% on the hand-written dates after <= 5 minutes of CPU.

    python benchmarks/dates.py --threads 2          # both archs, 5-minute budget each
    python benchmarks/dates.py --arch rnn           # the RNN only
    python benchmarks/dates.py --steps 1000000 --budget 2m   # the same time, steps free
    python benchmarks/dates.py --budget 2m --threads 1 --json-out runs/dates.json
    python benchmarks/dates.py --out runs/dates     # keep the models (runs/dates/<arch>)
    python benchmarks/dates.py --steps 30 --budget 1m --beam 1 --no-save   # smoke run
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from _common import machine, save
from seqlab._io import atomic_write_json
from seqlab.data.parallel import read_pairs
from seqlab.tasks.translator import (
    DATES_TRAIN_SIZE,
    PRESETS,
    TRANSFORMER_PRESETS,
    ParallelCorpus,
    Translator,
)
from seqlab.train import parse_duration

REAL_DATES = Path(__file__).resolve().parent.parent / "tests" / "golden" / "real_dates.tsv"
ARCH_PRESETS = {"rnn": PRESETS["dates"], "transformer": TRANSFORMER_PRESETS["dates"]}
ARCH_NAMES = {"rnn": "RNN + attention", "transformer": "Transformer"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--arch", nargs="+", choices=list(ARCH_PRESETS), default=list(ARCH_PRESETS))
    p.add_argument("--budget", default="5m", help="training time per arch, e.g. 5m")
    p.add_argument("--steps", type=int, default=3000, help="max training steps per arch")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--beam", type=int, nargs="+", default=[1, 3])
    p.add_argument("--device", default="cpu")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--real", type=Path, default=REAL_DATES, help="source<TAB>ISO dates")
    p.add_argument("--out", type=Path, default=None, help="keep the trained models here")
    p.add_argument("--json-out", type=Path, default=None, help="also write the results here")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error(f"--steps must be >= 1, got {args.steps}")
    if args.json_out is not None and not args.json_out.resolve().parent.is_dir():
        p.error(f"--json-out {args.json_out}: its folder does not exist")  # fail before training
    args.arch = list(dict.fromkeys(args.arch))  # each arch once, in the order given
    return args


def run_arch(
    arch: str,
    corpus: ParallelCorpus,
    real: list[tuple[str, str]],
    folder: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Train one arch's default model on ``corpus``, then score it; the result's dict."""
    preset = ARCH_PRESETS[arch]
    train = replace(
        preset.train,
        time_budget=parse_duration(args.budget),
        max_steps=args.steps,
        warmup_steps=min(preset.train.warmup_steps, args.steps - 1),
        seed=args.seed,
        device=args.device,
        progress=args.progress,
    )
    if folder.exists():
        shutil.rmtree(folder)
    tr, result = Translator.train(corpus, folder, preset.config, train)
    t0 = time.perf_counter()
    evaluation = tr.evaluate(beam_sizes=args.beam)
    eval_s = time.perf_counter() - t0
    real_evaluation = tr.evaluate([s for s, _ in real], [t for _, t in real], beam_sizes=args.beam)
    return {
        "arch": arch,
        "parameters": sum(p.numel() for p in tr.model.parameters()),
        "model": tr.config.model.to_dict(),
        "train": train.to_dict(),
        "train_seconds": result.seconds,
        "steps": result.steps,
        "stopped_because": result.stopped_because,
        "best_valid_loss": result.best_valid,
        "evaluate_seconds": eval_s,
        "test_pairs": evaluation["examples"],
        "results": _rows(evaluation),
        "real_pairs": real_evaluation["examples"],
        "real_results": _rows(real_evaluation),
    }


def _rows(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per beam size: exact match, the number wrong, the first errors."""
    return [
        {
            "beam_size": entry["beam_size"],
            "exact_match": entry["exact_match"],
            "wrong": round((1 - entry["exact_match"]) * evaluation["examples"]),
            "errors": entry["errors"][:5],
        }
        for entry in evaluation["results"]
    ]


def met_target(run: dict[str, Any]) -> bool:
    """>= 99.9% held out and >= 97% hand-written (every beam size), in <= 5 minutes."""
    return (
        min(r["exact_match"] for r in run["results"]) >= 0.999
        and min(r["exact_match"] for r in run["real_results"]) >= 0.97
        and run["train_seconds"] <= 300
    )


def report(payload: dict[str, Any], real_name: str) -> None:
    """The errors per arch, then one table row per arch and beam size."""
    info = payload["machine"]
    print(
        f"\nCPU: {info['cpu']} ({info['cores']} cores), {info['torch_threads']} torch threads, "
        f"torch {info['torch']}; {payload['train_pairs']:,} training pairs (generated in "
        f"{payload['generate_seconds']:.1f} s)"
    )
    for run in payload["runs"]:
        for title, table in (("held-out set", run["results"]), (real_name, run["real_results"])):
            for r in table:
                for e in r["errors"][:3]:
                    print(
                        f"  {run['arch']} beam {r['beam_size']} {title}: {e['source']!r} -> "
                        f"{e['output']!r} (expected {e['reference']!r})"
                    )
    print(
        f"\n{'model':<16} {'params':>8} {'steps':>6} {'train s':>8} {'search':>7} "
        f"{'held-out':>9} {'hand-written':>13}  target"
    )
    for run in payload["runs"]:
        for r, real in zip(run["results"], run["real_results"], strict=True):
            search = "greedy" if r["beam_size"] == 1 else f"beam {r['beam_size']}"
            print(
                f"{ARCH_NAMES[run['arch']]:<16} {run['parameters']:>8,} {run['steps']:>6} "
                f"{run['train_seconds']:>8.1f} {search:>7} {r['exact_match']:>9.2%} "
                f"{real['exact_match']:>13.2%}  {'met' if met_target(run) else 'NOT met'}"
            )
    print(
        f"(held-out: {payload['runs'][0]['test_pairs']:,} dates; hand-written: "
        f"{payload['runs'][0]['real_pairs']} dates of {real_name}; target >= 99.9% / >= 97% "
        "in <= 5 min)"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    corpus = ParallelCorpus.dates(DATES_TRAIN_SIZE, seed=args.seed)
    generate_s = time.perf_counter() - t0
    real = read_pairs(args.real)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out if args.out is not None else Path(tmp)
        for arch in args.arch:
            run = run_arch(arch, corpus, real, root / arch, args)
            print(
                f"{arch}: trained {run['steps']} steps in {run['train_seconds']:.1f} s "
                f"({run['stopped_because']})"
            )
            runs.append(run)
    payload = {
        "benchmark": "dates",
        "machine": machine(),
        "budget": args.budget,
        "max_steps": args.steps,
        "train_pairs": len(corpus.train),
        "generate_seconds": generate_s,
        "real_dates": args.real.name,
        "runs": runs,
    }
    report(payload, args.real.name)
    if args.json_out is not None:
        print(f"results: {atomic_write_json(args.json_out, payload)}")
    if not args.no_save:
        print(f"results: {save('-'.join(['dates', *args.arch, args.device]), payload)}")


if __name__ == "__main__":
    main()
