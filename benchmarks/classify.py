"""Sequence classification: test accuracy and CPU training time of the averaged-embedding and
the RNN classifier on IMDB, SST-2 and the course's Emojify set.

    python benchmarks/classify.py                       # the full run (about 1 h on 2 cores)
    python benchmarks/classify.py --limit 2000 --time-budget 60   # a quick end-to-end check

Data (``--data DIR``, default ``../shared/data``): ``imdb/{train,test}.csv.gz`` (header
``id,rating,label,text``; ``<br />`` tags are removed), ``sst2/{train,dev,test}.tsv.gz``
(label first; the test file is labelled, dev is the validation set),
``course-emojify/{train_emoji,test_emoji,tesss}.csv`` and
``glove-6B-50d/glove.6B.50d.{top40000,extra}.txt.gz`` (both files are read, merged).

Models start from the 50-d GloVe vectors: fine-tuned on IMDB and SST-2 (the ``text``
preset of ``seqlab classify train``), frozen on Emojify (the course's setup). On IMDB and
SST-2 the course's transfer step is taken on the movie domain too (``--domain-vectors``, the
default): 100-d skip-gram word2vec (``seqlab.embeddings``) is trained on the text of the IMDB
*training* reviews (labels unused; the test reviews are never read) and stacked beside GloVe
(150-d inputs); its training time counts in each model's time. Every model trains with
``--time-budget`` seconds at most, vectors included; IMDB and SST-2 hold out 2,000 training
examples for validation (the best validation weights are tested). Results go to
``benchmarks/results/classify.json`` with the machine and versions.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from _common import machine, save
from seqlab.data.labelled import Example, read_emojify, read_labelled
from seqlab.tasks.classifier import PRESETS, Classifier, LabelledData

GLOVE = ("glove-6B-50d/glove.6B.50d.top40000.txt.gz", "glove-6B-50d/glove.6B.50d.extra.txt.gz")
NEGATED = "not feeling happy"  # the course's example: v1 calls it happy, v2 does not


def _clean(examples: list[Example]) -> list[Example]:
    """IMDB's ``<br />`` tags as spaces."""
    return [Example(e.text.replace("<br />", " "), e.label, e.line) for e in examples]


def _subset(examples: list[Example], limit: int | None, seed: int = 0) -> list[Example]:
    """``limit`` examples drawn at random (IMDB's files are sorted by label)."""
    if limit is None or limit >= len(examples):
        return examples
    return random.Random(seed).sample(examples, limit)


def load_imdb(root: Path, limit: int | None) -> tuple[LabelledData, list[Example]]:
    train = _clean(read_labelled(root / "imdb/train.csv.gz"))
    test = _clean(read_labelled(root / "imdb/test.csv.gz"))
    data = LabelledData.split(_subset(train, limit), "imdb", fraction=0.08)
    return data, _subset(test, limit, seed=1)


def load_sst2(root: Path, limit: int | None) -> tuple[LabelledData, list[Example]]:
    train = read_labelled(root / "sst2/train.tsv.gz")
    dev = read_labelled(root / "sst2/dev.tsv.gz")
    test = read_labelled(root / "sst2/test.tsv.gz")
    return LabelledData(_subset(train, limit), dev, "sst2"), _subset(test, limit, seed=1)


def domain_vectors(root: Path, limit: int | None, out: Path) -> tuple[str, float]:
    """100-d word2vec on the IMDB training reviews' text (as ``seqlab embed train --tokenize
    words --lowercase --min-count 2``); the file written and the seconds it took."""
    from seqlab.embeddings import SentenceCorpus, Word2VecConfig, train_word2vec

    t0 = time.perf_counter()
    texts = [[e.text] for e in _subset(_clean(read_labelled(root / "imdb/train.csv.gz")), limit)]
    corpus = SentenceCorpus(texts, tokenize="words", lowercase=True)
    result = train_word2vec(corpus, Word2VecConfig(vector_size=100, min_count=2, workers=2))
    path = result.vectors.save(out / "imdb-train-w2v-100d.txt")
    return str(path), time.perf_counter() - t0


def run_one(
    name: str,
    data: LabelledData,
    test: list[Example],
    *,
    preset: str,
    arch: str,
    vectors: tuple[str, ...],
    budget: float,
    seed: int,
    device: str,
    extra_tests: dict[str, list[Example]] | None = None,
    vectors_seconds: float = 0.0,
) -> dict[str, Any]:
    """Train one model into a temporary folder; its accuracy, time and prediction.
    ``vectors_seconds`` (the domain vectors' training) counts in the time budget."""
    p = PRESETS.get(f"{preset}-{arch}", PRESETS[preset])  # as `seqlab classify train`
    config = replace(p.config, arch=arch, vectors=vectors)
    if arch == "average":
        config = replace(config, model=replace(config.model, dropout=0.0))
    budget -= vectors_seconds
    train = replace(p.train, time_budget=budget, seed=seed, device=device, progress=False)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        task, result = Classifier.train(data, out, config, train)
        seconds = time.perf_counter() - t0
    report = task.evaluate(test)
    row: dict[str, Any] = {
        "dataset": name,
        "model": arch,
        "seed": seed,
        "accuracy": report.accuracy,
        "macro_f1": report.macro_f1,
        "test_examples": report.n,
        "train_examples": len(data.train),
        "train_seconds": round(seconds, 1),
        "vectors_seconds": round(vectors_seconds, 1),
        "total_seconds": round(seconds + vectors_seconds, 1),
        "steps": result.steps,
        "epochs": result.epochs,
        "stopped_because": result.stopped_because,
        "best_valid_loss": result.best_valid,
        "vocab_size": len(task.vocab),
        "config": config.to_dict(),
    }
    for extra, examples in (extra_tests or {}).items():
        row[f"accuracy_{extra}"] = task.evaluate(examples).accuracy
    if preset == "emojify":
        (label, prob), *_ = task.predict([NEGATED])[0]
        row["not_feeling_happy"] = {"label": label, "probability": prob}
    print(
        f"{name:8} {arch:8} seed {seed}  accuracy {report.accuracy:.4f}  "
        f"{seconds + vectors_seconds:7.1f} s  {result.steps} steps ({result.stopped_because})",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="data folder")
    ap.add_argument("--time-budget", type=float, default=1200.0, help="seconds per model")
    ap.add_argument("--limit", type=int, default=None, help="train/test examples per set")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sets", default="emojify,sst2,imdb", help="comma-separated")
    ap.add_argument("--models", default="average,rnn", help="comma-separated")
    ap.add_argument("--seeds", type=int, default=3, help="Emojify: seeds per model")
    ap.add_argument("--name", default="classify", help="results file name")
    ap.add_argument(
        "--domain-vectors",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="IMDB, SST-2: stack word2vec trained on the IMDB training reviews beside GloVe",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = args.data
    vectors = tuple(str(root / g) for g in GLOVE)
    models = args.models.split(",")
    rows = []
    scratch = tempfile.TemporaryDirectory()
    domain: tuple[str, float] | None = None
    for name in args.sets.split(","):
        common = {"vectors": vectors, "budget": args.time_budget, "device": args.device}
        if name == "emojify":
            data, test = read_emojify(root / "course-emojify")
            _, course_test = read_emojify(root / "course-emojify", test_file="tesss.csv")
            for arch in models:
                for seed in range(args.seeds):
                    rows.append(
                        run_one(
                            name, LabelledData(data, [], "emojify"), test, preset="emojify",
                            arch=arch, seed=seed, extra_tests={"tesss": course_test}, **common,
                        )
                    )  # fmt: skip
            continue
        data, test = (load_imdb if name == "imdb" else load_sst2)(root, args.limit)
        if args.domain_vectors:
            domain = domain or domain_vectors(root, args.limit, Path(scratch.name))
            print(f"domain vectors: IMDB training reviews, {domain[1]:.1f} s", flush=True)
            common |= {"vectors": (*vectors, domain[0]), "vectors_seconds": domain[1]}
        for arch in models:
            rows.append(run_one(name, data, test, preset="text", arch=arch, seed=0, **common))
    payload = {
        "benchmark": "classify",
        "machine": machine(),
        "threads": args.threads,
        "time_budget_s": args.time_budget,
        "limit": args.limit,
        "domain_vectors": args.domain_vectors,
        "command": " ".join(["python", "benchmarks/classify.py", *(argv or sys.argv[1:])]),
        "results": rows,
    }
    print(f"results: {save(args.name, payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
