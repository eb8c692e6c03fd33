"""Character-level language models on tiny-shakespeare: quality after a fixed CPU budget.

Trains RNN, GRU (torch's, on torch's kernel and on seqlab's, and the course's original), LSTM
and peephole LSTM for the same wall-clock budget on the fixed train split, then reports
validation loss (nats/char and bits/char) on the fixed validation split and training
throughput. Results go to results/char_lm-cpu-<budget>s.json (plus the models' names when
--only picks some).

    python benchmarks/char_lm.py --budget 10m          # the issue's setting (≈ 60 min in all)
    python benchmarks/char_lm.py --budget 1m --only lstm
"""

from __future__ import annotations

import argparse
import math
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from _common import machine, save
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


def run_one(name: str, args: argparse.Namespace, budget: float) -> dict[str, object]:
    if name == "transformer":
        config = replace(TRANSFORMER_PRESET.config, batch_size=args.batch_size)
        train = TRANSFORMER_PRESET.train
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
        train = TrainConfig(lr=args.lr)
    train = replace(
        train,
        max_steps=10**9,
        time_budget=budget,
        eval_every=None,
        checkpoint_every_seconds=10**9,
        checkpoint_every_steps=10**9,
        seed=args.seed,
        progress=args.progress,
    )
    with tempfile.TemporaryDirectory() as tmp:
        lm, result = LanguageModel.train("tinyshakespeare", Path(tmp) / name, config, train)
    from seqlab.data.datasets import load_dataset

    valid = lm.evaluate(load_dataset("tinyshakespeare").valid)
    tokens = result.steps * config.batch_size * config.bptt
    row = {
        "model": name,
        "steps": result.steps,
        "seconds": result.seconds,
        "train_tokens_per_s": tokens / result.seconds,
        "valid_nats_per_char": valid["loss"],
        "valid_bits_per_char": valid["loss"] / math.log(2),
    }
    print(
        f"{name:14s} {result.steps:6d} steps  {row['train_tokens_per_s']:9.0f} tok/s  "
        f"valid {valid['loss']:.4f} nats/char  {row['valid_bits_per_char']:.4f} bits/char",
        flush=True,
    )
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--budget", default="10m", help="training wall-clock per model")
    p.add_argument("--only", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--embedding", type=int, default=64)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--bptt", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true")
    args = p.parse_args()
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
    payload = {
        "benchmark": "char_lm",
        "settings": settings,
        "budget_s": budget,
        "machine": machine(),
        "rows": rows,
    }
    stem = f"char_lm-cpu-{int(budget)}s"
    if set(names) != set(MODELS):
        stem += "-" + "-".join(names)
    print(f"\nsaved {save(stem, payload)}")


if __name__ == "__main__":
    torch.set_num_threads(torch.get_num_threads())
    main()
