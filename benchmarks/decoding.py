"""Decoding speed: greedy search vs beam search of 3, 5 and 10 on the same sentences.

Decodes the same source sentences with a trained translator the way ``seqlab translate``
does (batches of 128 inputs, ``Translator.translate``) and reports, per search, sentences/s
(the median over ``--repeats`` runs, the searches alternating run by run as the machine is
noisy), the ratio to greedy's sentences/s, and the decoder's row-steps (the rows of every
``step`` call summed: K beams of a sentence count K), which do not depend on the machine.

The model: ``--model DIR`` (a ``seqlab translate train`` output), or one trained here for
``--steps`` steps: on Multi30k (``--data``, the default text model) or on the built-in dates
task (``--dates``, the character-level preset).

Every search stops input i after floor(a·|x_i|) + 10 tokens, a being the model's
``max_output_ratio`` (the largest target/source length ratio of its training pairs; ``--ratio``
sets it for a model saved without one), within the global ``max_output_length``;
``--cap global`` decodes with the global cap alone (as before the per-source cap), and
``--compare-global`` counts the outputs that the per-source cap changes. CPU seconds (all
threads) are reported next to wall-clock ones: on a shared machine they vary less.

    python benchmarks/decoding.py --model runs/de --data ../shared/data/multi30k
    python benchmarks/decoding.py --dates --steps 300 --sentences 500 --repeats 3
    python benchmarks/decoding.py --steps 300 --threads 1 --early-stopping False
    python benchmarks/decoding.py --model runs/de --ratio 2.0 --compare-global
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from _common import machine, save
from seqlab.data import dates as dates_data
from seqlab.decoding import SearchConfig
from seqlab.tasks.translator import (
    DATES_TRAIN_SIZE,
    PRESETS,
    ParallelCorpus,
    Translator,
    read_parallel,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "multi30k"
DECODE_BATCH = 128  # inputs per decoding batch, as Translator.translate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help="a trained translator's folder")
    p.add_argument("--data", type=Path, default=DATA, help="folder with Multi30k's .gz files")
    p.add_argument("--pair", default="en-de", choices=["en-de", "en-fr", "de-en", "fr-en"])
    p.add_argument("--dates", action="store_true", help="train on the dates task instead")
    p.add_argument("--steps", type=int, default=500, help="training steps without --model")
    p.add_argument("--sentences", type=int, default=1000, help="decode the first N test ones")
    p.add_argument("--beams", type=int, nargs="+", default=[3, 5, 10])
    p.add_argument("--alpha", type=float, default=0.7)
    p.add_argument(
        "--early-stopping",
        default="never",
        choices=["never", "True", "False"],
        help='beam search stop rule (default "never": exact)',
    )
    p.add_argument(
        "--cap",
        default="source",
        choices=["source", "global"],
        help="per-source cap floor(a*|x|) + 10 (default), or the global cap alone",
    )
    p.add_argument("--ratio", type=float, default=None, help="a of the per-source cap")
    p.add_argument(
        "--compare-global", action="store_true", help="count outputs the per-source cap changes"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (torch's default)")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tr, sources, trained = _translator_and_sources(args)
    if args.ratio is not None:
        tr.config = replace(tr.config, max_output_ratio=args.ratio)
    if args.cap == "global":
        tr.config = replace(tr.config, max_output_ratio=None)
    early: Any = {"never": "never", "True": True, "False": False}[args.early_stopping]
    searches = [("greedy", 1), *((f"beam {k}", k) for k in args.beams)]
    seconds: dict[str, list[float]] = {name: [] for name, _ in searches}
    cpu: dict[str, list[float]] = {name: [] for name, _ in searches}
    row_steps: dict[str, int] = {}
    outputs: dict[str, list[list[int]]] = {}
    for _ in range(args.repeats):  # greedy, beam 3, ..., greedy, beam 3, ...
        for name, k in searches:
            config = _config(tr, k, args.alpha, early)
            with _count_rows(tr.model) as rows:
                t0, c0 = time.perf_counter(), time.process_time()
                hyps = tr._hypotheses(sources, config)
                seconds[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
            row_steps[name] = rows[0]
            outputs[name] = [h[0].tokens for h in hyps]
    info = machine()
    ratio = tr.config.max_output_ratio
    cap = f"per-source cap floor({ratio}*|x|) + 10" if ratio else "global cap only"
    print(
        f"{info['cpu']}, {torch.get_num_threads()} torch threads, torch {torch.__version__}; "
        f"{len(sources)} sentences, {trained}; early_stopping={args.early_stopping}; "
        f"{cap}, within {tr._cap}"
    )
    greedy_rate = len(sources) / statistics.median(seconds["greedy"])
    greedy_cpu = statistics.median(cpu["greedy"])
    rows = []
    print(
        f"{'search':<9} {'sentences/s':>11} {'x greedy':>9} {'cpu s':>7} {'x greedy':>9} "
        f"{'row-steps':>10} {'x greedy':>9}"
    )
    for name, k in searches:
        rate = len(sources) / statistics.median(seconds[name])
        cpu_ratio = greedy_cpu / statistics.median(cpu[name])
        rows.append(
            {
                "search": name,
                "beam_size": k,
                "seconds": seconds[name],
                "cpu_seconds": cpu[name],
                "sentences_per_s": rate,
                "ratio_to_greedy": rate / greedy_rate,
                "cpu_ratio_to_greedy": cpu_ratio,
                "row_steps": row_steps[name],
                "same_as_greedy": sum(
                    a == b for a, b in zip(outputs[name], outputs["greedy"], strict=True)
                ),
            }
        )
        steps_ratio = row_steps[name] / row_steps["greedy"]
        print(
            f"{name:<9} {rate:11.1f} {rate / greedy_rate:8.2f}x "
            f"{statistics.median(cpu[name]):7.2f} {cpu_ratio:8.2f}x "
            f"{row_steps[name]:10,} {steps_ratio:8.2f}x"
        )
    if args.compare_global and ratio:  # what the per-source cap changes
        wide = replace(tr.config, max_output_ratio=None)
        narrow, tr.config = tr.config, wide
        for row in rows:
            config = _config(tr, row["beam_size"], args.alpha, early)
            glob = [h[0].tokens for h in tr._hypotheses(sources, config)]
            same = sum(a == b for a, b in zip(outputs[row["search"]], glob, strict=True))
            row["same_as_global_cap"] = same
            print(f"{row['search']}: {same}/{len(sources)} outputs as with the global cap")
        tr.config = narrow
    if early != "never":  # what the faster stop costs: outputs that differ from the exact
        for row in rows[1:]:
            config = _config(tr, row["beam_size"], args.alpha, "never")
            exact = [h[0].tokens for h in tr._hypotheses(sources, config)]
            same = sum(a == b for a, b in zip(outputs[row["search"]], exact, strict=True))
            row["same_as_exact"] = same
            print(f"{row['search']}: {same}/{len(sources)} outputs as the exact stop's")
    if not args.no_save:
        payload = {
            "benchmark": "decoding",
            "machine": info,
            "model": trained,
            "sentences": len(sources),
            "alpha": args.alpha,
            "early_stopping": args.early_stopping,
            "max_output_ratio": ratio,
            "max_output_length": tr._cap,
            "results": rows,
        }
        print(f"results: {save('decoding', payload)}")


def _config(tr: Translator, beam: int, alpha: float, early: Any) -> SearchConfig:
    """The translator's search (its caps) with this beam, alpha and stop rule."""
    return tr._search_config(
        beam_size=beam, alpha=alpha, early_stopping=early, batch_size=DECODE_BATCH
    )


def _translator_and_sources(args: argparse.Namespace) -> tuple[Translator, list[str], str]:
    """The translator to time, the sentences to decode, and where the model came from."""
    if args.model is not None:
        tr = Translator.load(args.model)
        described = f"model {args.model}"
    else:
        tr = _train(args)
        described = f"trained here for {args.steps} steps ({'dates' if args.dates else 'text'})"
    if args.dates or (args.model is not None and tr.config.dataset == "dates"):
        sources = [s for s, _ in dates_data.test_pairs()]
    else:
        src_lang, tgt_lang = args.pair.split("-")
        d = args.data
        test = read_parallel(
            d / f"test_2016_flickr.{src_lang}.gz", d / f"test_2016_flickr.{tgt_lang}.gz"
        )
        sources = [s for s, _ in test]
    return tr, sources[: args.sentences], described


def _train(args: argparse.Namespace) -> Translator:
    """A translator trained for ``args.steps`` steps: dates, or Multi30k's default text model."""
    preset = PRESETS["dates" if args.dates else "text"]
    if args.dates:
        corpus = ParallelCorpus.dates(DATES_TRAIN_SIZE, seed=0)
    else:
        src_lang, tgt_lang = args.pair.split("-")
        d = args.data
        corpus = ParallelCorpus.from_files(
            d / f"train.{src_lang}.gz",
            d / f"train.{tgt_lang}.gz",
            valid_src=d / f"val.{src_lang}.gz",
            valid_tgt=d / f"val.{tgt_lang}.gz",
        )
    train = replace(
        preset.train,
        max_steps=args.steps,
        warmup_steps=min(preset.train.warmup_steps, args.steps - 1),
        time_budget=None,
        eval_every=None,
    )
    with tempfile.TemporaryDirectory() as tmp:
        tr, _ = Translator.train(corpus, Path(tmp) / "model", preset.config, train)
    return tr


@contextlib.contextmanager
def _count_rows(model: torch.nn.Module) -> Iterator[list[int]]:
    """Count the rows of every ``model.step`` call (the decoder's row-steps) while inside."""
    count = [0]
    step = model.step

    def counting(tokens: Tensor, state: Sequence[Any]) -> Any:
        count[0] += tokens.shape[0]
        return step(tokens, state)

    model.step = counting  # type: ignore[method-assign]
    try:
        yield count
    finally:
        del model.step


if __name__ == "__main__":
    main()
