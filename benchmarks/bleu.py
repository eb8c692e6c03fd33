"""seqlab's BLEU side by side with sacreBLEU: same process, same data, same settings.

References are real sentences (Multi30K captions, English or German); hypotheses are
noisy copies of them (words dropped, replaced, inserted; a fixed seed), so BLEU is in a
realistic range. Each repeat times both in rotating order; the table reports seconds
(median) and the speed-up (sacreBLEU seconds ÷ seqlab seconds, median with min–max over
repeats; > 1 means seqlab is faster). Before timing, the scores are checked to agree
(counts, totals and lengths equal, score within 1e-8); a disagreement stops the run.

    python benchmarks/bleu.py                       # 3,000 sentences, 15 repeats
    python benchmarks/bleu.py --data PATH/multi30k  # where the Multi30K .gz files are
    python benchmarks/bleu.py --quick               # a smoke run (300 sentences, 2 repeats)
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import sacrebleu
from sacrebleu.metrics import BLEU as SacreBLEU

from _common import machine, save, summary
from seqlab.metrics import bleu_statistics, corpus_bleu, sentence_bleu

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multi30k"


def load_corpus(
    folder: Path, lang: str, n: int, nrefs: int, seed: int
) -> tuple[list[str], list[list[str]]]:
    """``n`` reference sentences and noisy hypotheses; extra reference streams are other
    noisy copies (so that several references differ from each other)."""
    refs: list[str] = []
    for split in ("val", "test_2016_flickr", "train"):
        with gzip.open(folder / f"{split}.{lang}.gz", "rt", encoding="utf-8") as handle:
            refs += [line for line in handle.read().split("\n") if line.strip()]
        if len(refs) >= n:
            break
    refs = refs[:n]
    if len(refs) < n:
        raise SystemExit(f"error: {folder} has only {len(refs)} {lang} sentences, not {n}")
    rng = random.Random(seed)
    vocab = [w for r in refs[:500] for w in r.split()]

    def noisy(sentence: str) -> str:
        out = []
        for word in sentence.split():
            u = rng.random()
            if u < 0.08:  # drop
                continue
            out.append(rng.choice(vocab) if u < 0.16 else word)  # replace
            if u > 0.95:  # insert
                out.append(rng.choice(vocab))
        return " ".join(out)

    hyps = [noisy(r) for r in refs]
    streams = [refs] + [[noisy(r) for r in refs] for _ in range(nrefs - 1)]
    return hyps, streams


def check_agreement(hyps: list[str], refs: list[list[str]], tokenize: str) -> dict[str, object]:
    ours = corpus_bleu(hyps, refs, tokenize=tokenize)  # type: ignore[arg-type]
    theirs = sacrebleu.corpus_bleu(hyps, refs, tokenize=tokenize)
    same = (
        ours.counts == theirs.counts
        and ours.totals == theirs.totals
        and (ours.sys_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
        and abs(ours.score - theirs.score) <= 1e-8
    )
    if not same:
        raise SystemExit(f"error: scores disagree: seqlab {ours} vs sacreBLEU {theirs}")
    return {"seqlab": ours.score, "sacrebleu": theirs.score}


def tasks(
    hyps: list[str], refs: list[list[str]], tokenize: str, mode: str
) -> dict[str, Callable[[], object]]:
    """The two contenders for one row: corpus BLEU, sentence-level BLEU of every line
    (one call for seqlab, as ``seqlab bleu --sentence-level``; one metric object for
    sacreBLEU, as its CLI), or a loop of single ``sentence_bleu`` calls (API overhead)."""
    if mode == "corpus":
        return {
            "seqlab": lambda: corpus_bleu(hyps, refs, tokenize=tokenize),  # type: ignore[arg-type]
            "sacrebleu": lambda: sacrebleu.corpus_bleu(hyps, refs, tokenize=tokenize),
        }
    if mode == "sentence-level":

        def ours() -> object:
            stats = bleu_statistics(hyps, refs, tokenize=tokenize)  # type: ignore[arg-type]
            return stats.sentence_scores()

        def theirs() -> object:
            metric = SacreBLEU(tokenize=tokenize, effective_order=True)
            return [metric.sentence_score(h, [r[i] for r in refs]) for i, h in enumerate(hyps)]

        return {"seqlab": ours, "sacrebleu": theirs}
    rows = [(h, [r[i] for r in refs]) for i, h in enumerate(hyps)]
    return {
        "seqlab": lambda: [sentence_bleu(h, rs, tokenize=tokenize) for h, rs in rows],  # type: ignore[arg-type]
        "sacrebleu": lambda: [sacrebleu.sentence_bleu(h, rs, tokenize=tokenize) for h, rs in rows],
    }


def time_row(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():  # warm-up: imports, regex compilation, Unicode tables
        fn()
    names = list(contenders)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def measure(args: argparse.Namespace) -> dict[str, object]:
    hyps, refs = load_corpus(args.data, args.lang, args.sentences, args.nrefs, args.seed)
    rows = []
    for tokenize, mode in args.rows:
        scores = check_agreement(hyps, refs, tokenize)
        times = time_row(tasks(hyps, refs, tokenize, mode), args.repeats)
        speedups = [p / s for p, s in zip(times["sacrebleu"], times["seqlab"], strict=True)]
        row = {
            "task": mode,
            "tokenize": tokenize,
            "seqlab_seconds": summary(times["seqlab"]),
            "sacrebleu_seconds": summary(times["sacrebleu"]),
            "speedup": summary(speedups),
            "scores": scores,
        }
        rows.append(row)
        print(
            f"{row['task']:18s} tok:{tokenize:5s} seqlab {statistics.median(times['seqlab']):.4f} s"
            f"  sacreBLEU {statistics.median(times['sacrebleu']):.4f} s  speed-up "
            f"x{row['speedup']['median']:.2f} ({row['speedup']['min']:.2f}–"
            f"{row['speedup']['max']:.2f})  "
            f"BLEU {scores['seqlab']:.4f} = {scores['sacrebleu']:.4f}",
            flush=True,
        )
    return {
        "benchmark": "bleu",
        "data": {
            "corpus": f"multi30k {args.lang}",
            "sentences": args.sentences,
            "references": args.nrefs,
            "hypotheses": "noisy copies of the references (seeded)",
            "seed": args.seed,
        },
        "repeats": args.repeats,
        "machine": {**machine(), "sacrebleu": sacrebleu.__version__},
        "rows": rows,
    }


def markdown(result: dict) -> str:
    """The README table."""
    lines = [
        "| task | tokenizer | seqlab s | sacreBLEU s | speed-up (min–max) |",
        "|---|---|---:|---:|---:|",
    ]
    for row in result["rows"]:
        s = row["speedup"]
        lines.append(
            f"| {row['task']} | {row['tokenize']} | {row['seqlab_seconds']['median']:.4f} | "
            f"{row['sacrebleu_seconds']['median']:.4f} | "
            f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f}) |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of Multi30K .gz files")
    p.add_argument("--lang", default="en", help="en, de or fr")
    p.add_argument("--sentences", type=int, default=3000)
    p.add_argument("--nrefs", type=int, default=1, help="reference streams")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="300 sentences, 2 repeats (smoke test)")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/")
    args = p.parse_args(argv)
    args.rows = [
        ("13a", "corpus"),
        ("intl", "corpus"),
        ("char", "corpus"),
        ("13a", "sentence-level"),
        ("13a", "sentence_bleu loop"),
    ]
    if args.quick:
        args.sentences, args.repeats = 300, 2
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = measure(args)
    print()
    print(markdown(result))
    if not args.no_save and not args.quick:
        name = f"bleu-{args.lang}" + (f"-{args.nrefs}refs" if args.nrefs > 1 else "")
        print(f"\nsaved {save(name, result)}")


if __name__ == "__main__":
    main()
