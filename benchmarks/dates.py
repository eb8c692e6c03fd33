"""Date normalisation (the course's attention example): held-out exact match vs CPU time.

Trains the ``seqlab translate train --dataset dates`` model with its default configuration
(:data:`seqlab.tasks.translator.PRESETS`) and reports exact-match accuracy on the fixed
held-out set (2,000 source strings the training generator never emits) and on the dates
written by hand in ``tests/golden/real_dates.tsv``, for greedy search and beam search, with
the training wall time. Targets: >= 99.9% on the held-out set and >= 97% on the hand-written
dates after <= 5 minutes of CPU.

    python benchmarks/dates.py                      # the defaults (5-minute budget)
    python benchmarks/dates.py --budget 2m --threads 1
    python benchmarks/dates.py --out runs/dates     # keep the model (seqlab translate ...)
    python benchmarks/dates.py --steps 300 --budget 1m --no-save   # smoke run
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
from seqlab.data.parallel import read_pairs
from seqlab.tasks.translator import DATES_TRAIN_SIZE, PRESETS, ParallelCorpus, Translator
from seqlab.train import parse_duration

REAL_DATES = Path(__file__).resolve().parent.parent / "tests" / "golden" / "real_dates.tsv"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", default="5m", help="e.g. 5m")
    p.add_argument("--steps", type=int, default=PRESETS["dates"].train.max_steps)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--beam", type=int, nargs="+", default=[1, 3])
    p.add_argument("--device", default="cpu")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--real", type=Path, default=REAL_DATES, help="source<TAB>ISO dates")
    p.add_argument("--out", type=Path, default=None, help="keep the trained model here")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = PRESETS["dates"]
    config = preset.config
    train = replace(
        preset.train,
        time_budget=parse_duration(args.budget),
        max_steps=args.steps,
        warmup_steps=min(preset.train.warmup_steps, args.steps - 1),
        seed=args.seed,
        device=args.device,
        progress=args.progress,
    )
    t0 = time.perf_counter()
    corpus = ParallelCorpus.dates(DATES_TRAIN_SIZE, seed=args.seed)
    generate_s = time.perf_counter() - t0
    real = read_pairs(args.real)
    if args.out is not None and args.out.exists():
        shutil.rmtree(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out if args.out is not None else Path(tmp) / "dates"
        tr, result = Translator.train(corpus, out, config, train)
        t1 = time.perf_counter()
        evaluation = tr.evaluate(beam_sizes=args.beam)
        eval_s = time.perf_counter() - t1
        real_evaluation = tr.evaluate(
            [s for s, _ in real], [t for _, t in real], beam_sizes=args.beam
        )
    rows = _rows(evaluation)
    real_rows = _rows(real_evaluation)
    payload = {
        "benchmark": "dates",
        "machine": machine(),
        "model": tr.config.model.to_dict(),
        "train": train.to_dict(),
        "train_pairs": len(corpus.train),
        "test_pairs": evaluation["examples"],
        "generate_seconds": generate_s,
        "train_seconds": result.seconds,
        "steps": result.steps,
        "stopped_because": result.stopped_because,
        "best_valid_loss": result.best_valid,
        "evaluate_seconds": eval_s,
        "results": rows,
        "real_dates": str(args.real.name),
        "real_pairs": real_evaluation["examples"],
        "real_results": real_rows,
    }
    print(
        f"trained {result.steps} steps in {result.seconds:.1f} s ({result.stopped_because}), "
        f"{torch.get_num_threads()} torch threads; data generation {generate_s:.1f} s"
    )
    for title, table, n in (
        ("held-out set", rows, evaluation["examples"]),
        (args.real.name, real_rows, real_evaluation["examples"]),
    ):
        print(f"{title}:")
        for r in table:
            name = "greedy" if r["beam_size"] == 1 else f"beam {r['beam_size']}"
            print(f"  {name:<8} exact match {r['exact_match']:.2%} ({r['wrong']} wrong of {n})")
            for e in r["errors"]:
                print(f"      {e['source']!r} -> {e['output']!r} (expected {e['reference']!r})")
    target = (
        min(r["exact_match"] for r in rows) >= 0.999
        and min(r["exact_match"] for r in real_rows) >= 0.97
        and result.seconds <= 300
    )
    print(
        f"target (>= 99.9% held out, >= 97% hand-written, in <= 5 min): "
        f"{'met' if target else 'NOT met'}"
    )
    if not args.no_save:
        print(f"results: {save(f'dates-{args.device}', payload)}")


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


if __name__ == "__main__":
    main()
