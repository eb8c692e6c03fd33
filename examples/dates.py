"""Date normalisation with attention: the course's week-3 example, end to end.

Trains (or reuses) a character-level encoder–decoder with Bahdanau attention that reads dates
as people write them and answers ISO dates, then translates a handful, compares greedy and
beam search on the fixed held-out set, and draws the attention of one translation::

    python examples/dates.py                         # train into out/demo/dates (a few min)
    python examples/dates.py --out runs/dates --steps 1000
    python examples/dates.py --retrain               # train again even if a model exists

The same with the CLI::

    seqlab translate train --dataset dates --out out/demo/dates
    seqlab translate decode out/demo/dates "3 May 1979" --heatmap attention.png
    seqlab translate evaluate out/demo/dates
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

from seqlab.data.dates import TEST_SIZE
from seqlab.tasks.translator import DATES_TRAIN_SIZE, PRESETS, ParallelCorpus, Translator
from seqlab.train import parse_duration
from seqlab.viz.attention import plot_attention

EXAMPLES = [
    "3 May 1979",
    "July 20th 1969",
    "20.07.69",
    "Tuesday, 1 January 2030",
    "the 4th of July, 1776",
    "Oct. 28th 1886",
    "23 April, 1564",
    "12/31/99",
    "sat 29 feb 2020",
    "19991231",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("out/demo/dates"), help="model directory")
    p.add_argument("--steps", type=int, default=PRESETS["dates"].train.max_steps)
    p.add_argument("--budget", default="5m", help="training time budget, e.g. 3m")
    p.add_argument("--retrain", action="store_true", help="train even if --out holds a model")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()

    if args.retrain and args.out.exists():
        shutil.rmtree(args.out)
    if (args.out / "model.safetensors").is_file():
        print(f"reusing the trained model in {args.out} (--retrain to train again)")
        tr = Translator.load(args.out)
    else:
        preset = PRESETS["dates"]
        config = preset.config
        train = replace(
            preset.train,
            max_steps=args.steps,
            warmup_steps=min(preset.train.warmup_steps, args.steps - 1),
            time_budget=parse_duration(args.budget),
            progress=not args.no_progress,
        )
        corpus = ParallelCorpus.dates(DATES_TRAIN_SIZE)
        print(
            f"training on {len(corpus.train):,} generated pairs, e.g. "
            f"{corpus.train[0][0]!r} -> {corpus.train[0][1]!r} "
            f"(at most {train.max_steps} steps or {args.budget})"
        )
        resume = (args.out / "checkpoint").exists()  # an interrupted run continues
        tr, result = Translator.train(corpus, args.out, config, train, resume=resume)
        print(f"trained {result.steps} steps in {result.seconds:.0f} s ({result.stopped_because})")

    print()
    width = max(len(s) for s in EXAMPLES)
    for t in tr.translate(EXAMPLES, beam_size=3):
        print(f"  {t.source:<{width}}  ->  {t.text}")

    result = tr.evaluate(beam_sizes=(1, 3))
    print(f"\nexact match on the {TEST_SIZE:,} held-out dates:")
    for r in result["results"]:
        name = "greedy" if r["beam_size"] == 1 else f"beam {r['beam_size']}"
        print(f"  {name:<7} {r['exact_match']:.2%}")

    text = "Sunday, 20 July 1969"
    amap = tr.attention(text)
    png = plot_attention(
        amap.weights,
        amap.source_tokens,
        amap.output_tokens,
        args.out / "attention.png",
        title=f"{text}  →  {amap.text}",
    )
    print(f"\nattention heatmap of {text!r}: {png}")


if __name__ == "__main__":
    main()
