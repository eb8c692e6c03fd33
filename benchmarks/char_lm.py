"""Character-level language models on tiny-shakespeare: quality after a fixed CPU budget.

Trains RNN, GRU (torch's, on torch's kernel and on seqlab's, and the course's original), LSTM,
peephole LSTM and the ``seqlab lm train --arch transformer`` preset for the same budget on the
fixed train split, then reports validation loss (nats/char and bits/char) on the fixed
validation split, training throughput and each run's training-loss curve. Results go to
results/char_lm-cpu-<budget>s.json (plus the models' names when --only picks some, and the
threads and clock when --threads / --clock cpu are given).

``--budget`` is counted by ``--clock``: ``wall`` (the default) counts elapsed time; ``cpu``
counts this process's CPU time, so that on a machine shared with other jobs a run still gets
the steps one quiet core gives in that time (use it with ``--threads 1``: with more threads it
also counts the OpenMP workers' spin-waiting). The learning rate's schedule ends with the
budget either way. ``--transformer-option`` changes a field of the Transformer preset
(``model.d_model=96``, ``batch_size=16``, ``train.lr=3e-3``; repeatable).

    python benchmarks/char_lm.py --budget 10m          # the issue's setting (≈ 70 min in all)
    python benchmarks/char_lm.py --budget 1m --only lstm
    python benchmarks/char_lm.py --budget 10m --threads 1 --clock cpu --only lstm,transformer
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

import seqlab.train.loop
from _common import machine, save
from seqlab.cli._train import override
from seqlab.models.rnn_lm import LMConfig
from seqlab.tasks import LanguageModel, LMTaskConfig
from seqlab.tasks.language_model import TRANSFORMER_PRESET
from seqlab.train import TrainConfig, parse_duration

MODELS = {
    "rnn": {"cell": "rnn"},
    "gru": {"cell": "gru"},
    "gru-bptt": {"cell": "gru", "impl": "bptt"},  # torch's GRU equations on seqlab's kernel
    "gru-original": {"cell": "gru", "reset_after": False},
    "lstm": {"cell": "lstm"},
    "lstm-peephole": {"cell": "lstm", "peephole": True},
    "transformer": {},  # the `seqlab lm train --arch transformer` preset (its own sizes)
}


def _option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with the value read as a Python literal (a bare word stays a string)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return key.strip(), value.strip()


def transformer_preset(options: list[tuple[str, Any]]) -> tuple[LMTaskConfig, TrainConfig]:
    """The preset's task and training configs with ``--transformer-option`` changes
    (``train.`` keys go to the training config, the others to the task config)."""
    config, train = TRANSFORMER_PRESET.config, TRANSFORMER_PRESET.train
    for key, value in options:
        try:
            if key.startswith("train."):
                train = override(train, {key.removeprefix("train."): value})
            else:
                config = override(config, {key: value})
        except (AttributeError, TypeError) as e:
            raise SystemExit(f"--transformer-option {key}: {e}") from None
    return config, train


def _curve(folder: Path) -> list[list[float]]:
    """[step, seconds, mean training loss] of each line of the run's metrics.jsonl."""
    rows = []
    for line in (folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "train_loss" in record:
            loss = round(record["train_loss"], 4)
            rows.append([record["step"], round(record["elapsed"], 1), loss])
    return rows


def run_one(name: str, args: argparse.Namespace, budget: float) -> dict[str, object]:
    if name == "transformer":
        config, train = transformer_preset(args.transformer_option)
    else:
        model = LMConfig(
            vocab_size=2,
            embedding_dim=args.embedding,
            hidden_size=args.hidden,
            num_layers=args.layers,
            dropout=args.dropout,
            **MODELS[name],
        )
        config = LMTaskConfig(
            level="char", unit="text", model=model, bptt=args.bptt, batch_size=args.batch_size
        )
        train = TrainConfig(max_steps=10**9, lr=args.lr)
    train = replace(
        train,
        max_steps=10**9,
        time_budget=budget,
        eval_every=None,
        log_every=50,
        checkpoint_every_seconds=10**9,
        checkpoint_every_steps=10**9,
        seed=args.seed,
        progress=args.progress,
    )
    wall0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        lm, result = LanguageModel.train("tinyshakespeare", Path(tmp) / name, config, train)
        curve = _curve(Path(tmp) / name)
    wall = time.perf_counter() - wall0
    from seqlab.data.datasets import load_dataset

    valid = lm.evaluate(load_dataset("tinyshakespeare").valid)
    tokens = result.steps * config.batch_size * config.bptt
    row = {
        "model": name,
        "steps": result.steps,
        "seconds": result.seconds,  # by --clock
        "wall_seconds": wall,  # data building included
        "train_tokens_per_s": tokens / result.seconds,
        "valid_nats_per_char": valid["loss"],
        "valid_bits_per_char": valid["loss"] / math.log(2),
        "parameters": sum(p.numel() for p in lm.model.parameters()),
        "task_config": config.to_dict(),
        "train_config": train.to_dict(),
        "train_curve": curve,  # [step, seconds, mean training loss of the last 50 steps]
    }
    print(
        f"{name:14s} {result.steps:6d} steps  {row['train_tokens_per_s']:9.0f} tok/s  "
        f"valid {valid['loss']:.4f} nats/char  {row['valid_bits_per_char']:.4f} bits/char",
        flush=True,
    )
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--budget", default="10m", help="training time per model (see --clock)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="what --budget counts: elapsed time, or this process's CPU time (a shared "
        "machine; best with --threads 1)",
    )
    p.add_argument(
        "--transformer-option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a field of the Transformer preset: model.d_model=96, batch_size=16, "
        "train.lr=3e-3 (repeatable)",
    )
    p.add_argument("--only", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--embedding", type=int, default=64)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--bptt", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32, help="RNNs' (the Transformer: preset's)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--name", default=None, help="results file stem (default: from the settings)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.clock == "cpu":  # the training loop's budget clock (tests replace it the same way)
        seqlab.train.loop._clock = time.process_time  # type: ignore[attr-defined]
    budget = parse_duration(args.budget)
    names = [name.strip() for name in args.only.split(",")]
    rows = [run_one(name, args, budget) for name in names]
    print("\n| model | steps | train tok/s | valid nats/char | valid bits/char |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['steps']} | {r['train_tokens_per_s']:,.0f} | "
            f"{r['valid_nats_per_char']:.3f} | {r['valid_bits_per_char']:.3f} |"
        )
    settings = {k: v for k, v in vars(args).items() if k != "progress"}
    settings["transformer_option"] = [f"{k}={v!r}" for k, v in args.transformer_option]
    payload = {
        "benchmark": "char_lm",
        "settings": settings,
        "budget_s": budget,
        "machine": machine(),
        "rows": rows,
    }
    stem = f"char_lm-cpu-{int(budget)}s"
    if args.threads:
        stem += f"-{args.threads}thread" + ("s" if args.threads > 1 else "")
    if args.clock == "cpu":
        stem += "-cpuclock"
    if set(names) != set(MODELS):
        stem += "-" + "-".join(names)
    print(f"\nsaved {save(args.name or stem, payload)}")


if __name__ == "__main__":
    main()
