"""Date normalisation (the course's attention example): held-out exact match vs CPU time.

Trains the ``seqlab translate train --dataset dates`` model with its default configuration
(:data:`seqlab.tasks.translator.PRESETS`) and reports exact-match accuracy on the fixed
held-out set (2,000 source strings the training generator never emits) for greedy search and
beam search, with the training wall time. Target: >= 99.9% after <= 5 minutes of CPU.

    python benchmarks/dates.py                      # the defaults (5-minute budget)
    python benchmarks/dates.py --budget 2m --threads 1
    python benchmarks/dates.py --steps 300 --budget 1m --no-save   # smoke run
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from _common import machine, save
from seqlab.tasks.translator import DATES_TRAIN_SIZE, PRESETS, ParallelCorpus, Translator
from seqlab.train import parse_duration


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", default="5m", help="e.g. 5m")
    p.add_argument("--steps", type=int, default=PRESETS["dates"].train.max_steps)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--beam", type=int, nargs="+", default=[1, 3])
    p.add_argument("--device", default="cpu")
    p.add_argument("--progress", action="store_true")
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
    with tempfile.TemporaryDirectory() as tmp:
        tr, result = Translator.train(corpus, Path(tmp) / "dates", config, train)
        t1 = time.perf_counter()
        evaluation = tr.evaluate(beam_sizes=args.beam)
        eval_s = time.perf_counter() - t1
    rows = []
    for entry in evaluation["results"]:
        wrong = round((1 - entry["exact_match"]) * evaluation["examples"])
        rows.append(
            {
                "beam_size": entry["beam_size"],
                "exact_match": entry["exact_match"],
                "wrong": wrong,
                "errors": entry["errors"][:5],
            }
        )
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
    }
    print(
        f"trained {result.steps} steps in {result.seconds:.1f} s ({result.stopped_because}), "
        f"{torch.get_num_threads()} torch threads; data generation {generate_s:.1f} s"
    )
    for r in rows:
        name = "greedy" if r["beam_size"] == 1 else f"beam {r['beam_size']}"
        print(
            f"{name:<8} exact match {r['exact_match']:.2%} "
            f"({r['wrong']} wrong of {evaluation['examples']})"
        )
        for e in r["errors"]:
            print(f"    {e['source']!r} -> {e['output']!r} (expected {e['reference']!r})")
    target = rows[0]["exact_match"] >= 0.999 and result.seconds <= 300
    print(f"target (>= 99.9% greedy in <= 5 min): {'met' if target else 'NOT met'}")
    if not args.no_save:
        print(f"results: {save(f'dates-{args.device}', payload)}")


if __name__ == "__main__":
    main()
