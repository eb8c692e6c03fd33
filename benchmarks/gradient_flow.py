"""Vanishing gradients, measured: RNN vs GRU vs LSTM character models on tiny-shakespeare.

For each cell, a fresh model and the same model trained for ``--steps`` steps with the
settings of ``seqlab lm train --dataset tinyshakespeare --cell CELL --layers 1 --hidden H
--steps N`` (embedding 64, BPTT 100, batch 32, AdamW 2e-3, seed 0); then
:func:`seqlab.nn.gradient_flow` on the first ``--length`` characters of the validation
split: ‖∂L/∂a<t>‖ for every step and ‖∂a<T>/∂a<t>‖_F by distance T − t. Writes the trained
model directories and ``gradient-flow.png`` to the output folder (``--figure`` elsewhere), and
``results/gradient_flow-cpu-<steps>steps.json`` with the machine's CPU.

    python benchmarks/gradient_flow.py --steps 300 --hidden 128 --out runs/gradient-flow
    python benchmarks/gradient_flow.py --steps 300 --hidden 128 --out runs/gradient-flow \\
        --figure docs/gradient-flow.png            # the figure of docs/language-models.md
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from pathlib import Path

import torch

from _common import machine, save
from seqlab.data.datasets import load_dataset
from seqlab.nn import GradientFlow, gradient_flow
from seqlab.tasks import LanguageModel
from seqlab.tasks.language_model import PRESET
from seqlab.viz import plot_gradient_flow

DISTANCES = (1, 10, 50, 100, 150, 199)


def measure(lm: LanguageModel, text: str, length: int) -> GradientFlow:
    """The flow of ``lm`` over the first ``length`` characters of ``text`` (and their next)."""
    ids = torch.tensor(lm.vocab.encode(list(text[: length + 1])))  # (T+1,)
    return gradient_flow(lm.model, ids[:-1], ids[1:])  # (T,) inputs, (T,) next characters


def row(cell: str, state: str, flow: GradientFlow, extra: dict[str, object]) -> dict[str, object]:
    return {
        "cell": cell,
        "model": state,
        "loss_on_input": flow.loss,
        "jacobian_norm": {str(d): flow.jacobian_norm(d) for d in DISTANCES if d < flow.steps},
        **extra,
        "flow": flow.to_dict(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="training steps per model")
    p.add_argument("--hidden", type=int, default=128, help="hidden size H")
    p.add_argument("--out", type=Path, required=True, help="folder for the models and figure")
    p.add_argument("--figure", type=Path, default=None, help="PNG path (default: OUT/...)")
    p.add_argument("--cells", default="rnn,gru,lstm", help="comma-separated cells")
    p.add_argument("--length", type=int, default=200, help="characters read (steps T)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = load_dataset("tinyshakespeare")
    text = corpus.valid
    flows: dict[str, GradientFlow] = {}
    styles: dict[str, dict[str, object]] = {}
    rows = []
    for k, cell in enumerate(c.strip() for c in args.cells.split(",")):
        model = replace(PRESET.config.model, cell=cell, hidden_size=args.hidden, num_layers=1)
        config = replace(PRESET.config, model=model, corpus="tinyshakespeare")
        torch.manual_seed(args.seed)
        fresh, _ = LanguageModel.build(corpus, config)
        fresh_flow = measure(fresh, text, args.length)
        train = replace(PRESET.train, max_steps=args.steps, seed=args.seed, progress=False)
        started = time.perf_counter()
        lm, result = LanguageModel.train(corpus, args.out / cell, config, train)
        seconds = time.perf_counter() - started
        valid = lm.evaluate(text)
        trained_flow = measure(lm, text, args.length)
        name = cell.upper()
        flows[f"{name} trained"] = trained_flow
        flows[f"{name} fresh"] = fresh_flow
        styles[f"{name} trained"] = {"color": f"C{k}"}
        styles[f"{name} fresh"] = {"color": f"C{k}", "linestyle": "--", "linewidth": 1.0}
        trained_extra = {
            "train_steps": result.steps,
            "train_seconds": seconds,
            "valid_nats_per_char": valid["loss"],
            "valid_bits_per_char": valid["loss"] / math.log(2),
        }
        rows.append(row(cell, "fresh", fresh_flow, {}))
        rows.append(row(cell, "trained", trained_flow, trained_extra))
        print(
            f"{cell}: trained {result.steps} steps in {seconds:.0f} s, "
            f"valid {valid['loss']:.3f} nats/char",
            flush=True,
        )
    figure = args.figure or args.out / "gradient-flow.png"
    title = (
        f"1-layer char models on tiny-shakespeare, H {args.hidden}: fresh (dashed) and "
        f"after {args.steps} steps (solid); T = {args.length} validation characters"
    )
    plot_gradient_flow(flows, figure, title=title, styles=styles, dpi=90)  # docs: < 150 KB
    print("\n| cell | model | valid nats/char | " + " | ".join(f"d={d}" for d in DISTANCES) + " |")
    print("|---|---|---:|" + "---:|" * len(DISTANCES))
    for r in rows:
        valid_loss = r.get("valid_nats_per_char")
        shown = f"{valid_loss:.3f}" if isinstance(valid_loss, float) else "—"
        norms = r["jacobian_norm"]
        assert isinstance(norms, dict)
        cells = " | ".join(f"{norms[str(d)]:.2e}" if str(d) in norms else "—" for d in DISTANCES)
        print(f"| {r['cell']} | {r['model']} | {shown} | {cells} |")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    payload = {
        "benchmark": "gradient_flow",
        "settings": settings,
        "input": f"the first {args.length} characters of tinyshakespeare's validation split",
        "machine": machine(),
        "rows": rows,
    }
    print(f"\nwrote {figure}\nsaved {save(f'gradient_flow-cpu-{args.steps}steps', payload)}")


if __name__ == "__main__":
    main()
