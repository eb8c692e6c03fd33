"""word2vec: seqlab vs gensim (and seqlab's GloVe) — words/s and word-benchmark accuracy.

Same settings for both word2vec tools: skip-gram, negative sampling, window 5, vector size
100, min_count 5, sample 1e-3, alpha 0.025 -> 1e-4, ``--threads`` workers, the same in-memory
sentences (the corpus cut into 10,000-word sentences, as gensim's ``Text8Corpus``). Rows:

- ``seqlab``: ``Word2VecConfig``'s defaults, what a user gets (``update="auto"``: HogBatch,
  one matrix step per center word over its context words with 8 noise words shared by them,
  Ji et al. 2016; the pair update with 5 per pair where HogBatch does not apply, e.g.
  ``--engine torch``); ``--negative`` overrides its noise words;
- ``seqlab-pair``: ``update="pair"``, word2vec.c's and gensim's step per (context, center)
  pair with 5 noise words per pair;
- ``gensim``: gensim's ``Word2Vec`` with 5 noise words per pair (its default);
- ``seqlab-glove``: ``GloVeConfig``'s defaults, ``--glove-epochs`` (default 25) passes.

Runs alternate the rows repeat by repeat (the machine is noisy), and repeat ``r`` uses seed
``--seed + r`` for every tool, so the accuracy spread over repeats is the seed-to-seed (and
Hogwild) spread. The table shows the median seconds with min/max (seqlab's numba kernels are
compiled before timing, as a user's cached install would be), words/s = corpus words × epochs
/ wall seconds of the whole call (vocabulary building included, for every tool), the analogy
accuracy over the questions whose four words are among the 30,000 most frequent
(``restrict_vocab=30000``, case-insensitive, 3CosAdd, as gensim's
``evaluate_word_analogies``) and the Spearman correlations on WordSim-353 and SimLex-999
(same vocabulary), each as mean ± standard deviation over the repeats. seqlab keeps the
corpus as int32 ids after its first epoch (``max_cached_words``); gensim re-reads the
sentences every epoch. The speed ratio to gensim is taken per repeat (the two runs were
interleaved, so they saw the same load), with its median, min and max.

    python benchmarks/word2vec.py --epochs 1                 # smoke run
    python benchmarks/word2vec.py --repeats 3                # the issue's comparison
    python benchmarks/word2vec.py --repeats 5 --only seqlab --only pair --only gensim
    python benchmarks/word2vec.py --device cuda --only seqlab
    python benchmarks/word2vec.py --engine torch --only seqlab   # the minibatch engine on CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import machine, save, summary
from seqlab.embeddings.evaluate import evaluate_analogies, evaluate_similarity
from seqlab.embeddings.keyed_vectors import KeyedVectors
from seqlab.embeddings.word2vec import Update, Word2VecConfig, train_word2vec

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "text8-prefix" / "text8.prefix.gz"
)
RESTRICT_VOCAB = 30000
SENTENCE_WORDS = 10000


def load_sentences(path: Path) -> list[list[str]]:
    """The corpus as sentences of at most 10,000 words (every line cut, like Text8Corpus)."""
    opener = gzip.open if path.suffix == ".gz" else open
    sentences: list[list[str]] = []
    with opener(path, "rt", encoding="utf-8") as fin:
        for line in fin:
            words = line.split()
            sentences += [
                words[i : i + SENTENCE_WORDS] for i in range(0, len(words), SENTENCE_WORDS)
            ]
    return sentences


def run_seqlab(
    sentences: list[list[str]],
    args: argparse.Namespace,
    update: Update = "auto",
    negative: int | None = None,
) -> dict[str, Any]:
    """seqlab's word2vec: the library's defaults (``update="auto"``, ``negative=None``) and the
    benchmark's shared settings."""
    config = Word2VecConfig(
        update=update,
        method="skipgram",
        objective="negative",
        vector_size=100,
        window=5,
        negative=negative,
        min_count=5,
        epochs=args.epochs,
        workers=args.threads,
        seed=args.seed,
        device=args.device,
        engine=args.engine,
    )
    t0 = time.perf_counter()
    result = train_word2vec(sentences, config, progress=args.progress)
    seconds = time.perf_counter() - t0
    ran = {"update": result.config["update"], "negative": result.config["negative"]}
    return {"seconds": seconds, "kv": result.vectors, "loss": result.epoch_losses[-1]} | ran


def run_default(sentences: list[list[str]], args: argparse.Namespace) -> dict[str, Any]:
    return run_seqlab(sentences, args, negative=args.negative)


def run_pair(sentences: list[list[str]], args: argparse.Namespace) -> dict[str, Any]:
    return run_seqlab(sentences, args, update="pair", negative=5)


def run_gensim(sentences: list[list[str]], args: argparse.Namespace) -> dict[str, Any]:
    from gensim.models import Word2Vec

    t0 = time.perf_counter()
    model = Word2Vec(
        sentences,
        sg=1,
        hs=0,
        negative=5,
        vector_size=100,
        window=5,
        min_count=5,
        sample=1e-3,
        alpha=0.025,
        min_alpha=1e-4,
        epochs=args.epochs,
        workers=args.threads,
        seed=args.seed,
    )
    seconds = time.perf_counter() - t0
    wv = model.wv
    kv = KeyedVectors(list(wv.index_to_key), wv.vectors, counts=None)
    return {"seconds": seconds, "kv": kv, "loss": None, "update": "pair", "negative": 5}


def run_glove(sentences: list[list[str]], args: argparse.Namespace) -> dict[str, Any]:
    from seqlab.embeddings.glove import GloVeConfig, train_glove

    config = GloVeConfig(
        vector_size=100,
        min_count=5,
        epochs=args.glove_epochs,
        workers=args.threads,
        seed=args.seed,
        device=args.device,
    )
    t0 = time.perf_counter()
    result = train_glove(sentences, config)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "kv": result.vectors, "loss": result.epoch_losses[-1]}


def scores(kv: KeyedVectors) -> dict[str, float]:
    """Analogy accuracy and WordSim-353 / SimLex-999 Spearman, over the same vocabulary."""
    analogy = evaluate_analogies(kv, restrict_vocab=RESTRICT_VOCAB)
    out = {"accuracy": analogy.accuracy, "questions": float(analogy.total)}
    for name in ("wordsim353", "simlex999"):
        out[name] = evaluate_similarity(kv, name, restrict_vocab=RESTRICT_VOCAB).spearman
    return out


def spread(values: list[float]) -> dict[str, float]:
    """mean, standard deviation (0 for one value), min and max."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "sd": sd, "min": min(values), "max": max(values)}


def report(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Print the side-by-side table and the ratios to gensim; return them for the JSON."""
    print(
        f"\nanalogy: Google analogies, restrict_vocab={RESTRICT_VOCAB}, 3CosAdd; ws353 / "
        "simlex: Spearman on WordSim-353 / SimLex-999; mean ± sd over the repeats' seeds"
    )
    print(
        f"{'tool':>13} {'update':>9} {'K':>2} {'seconds (min/med/max)':>23} {'words/s':>10} "
        f"{'analogy %':>13} {'ws353':>14} {'simlex':>14} {'loss':>7}"
    )
    table: dict[str, Any] = {}
    for name, rows in runs.items():
        secs = summary([r["seconds"] for r in rows])
        wps = statistics.median(r["words_per_second"] for r in rows)
        metrics = {m: spread([r[m] for r in rows]) for m in ("accuracy", "wordsim353", "simlex999")}
        loss = rows[-1]["loss"]
        loss_text = f"{loss:7.4f}" if loss is not None else f"{'n/a':>7}"
        acc, ws, sl = (metrics[m] for m in ("accuracy", "wordsim353", "simlex999"))
        print(
            f"{name:>13} {rows[-1]['update'] or '':>9} {rows[-1]['negative'] or '':>2} "
            f"{secs['min']:6.1f}/{secs['median']:6.1f}/{secs['max']:6.1f}   {wps:>10,.0f} "
            f"{100 * acc['mean']:6.2f} ± {100 * acc['sd']:.2f} "
            f"{ws['mean']:6.3f} ± {ws['sd']:.3f} {sl['mean']:6.3f} ± {sl['sd']:.3f} {loss_text}"
        )
        table[name] = {"runs": rows, "seconds": secs, "words_per_second": wps} | metrics
        table[name]["accuracy_median"] = statistics.median(r["accuracy"] for r in rows)
    for tool in ("seqlab", "seqlab-pair"):
        if tool not in runs or "gensim" not in runs:
            continue
        ratios = [  # per repeat: the two runs were interleaved, so they saw the same load
            s["words_per_second"] / g["words_per_second"]
            for s, g in zip(runs[tool], runs["gensim"], strict=True)
        ]
        gaps = [  # per seed: the same seed for both tools
            100 * (s["accuracy"] - g["accuracy"])
            for s, g in zip(runs[tool], runs["gensim"], strict=True)
        ]
        r, gap = summary(ratios), spread(gaps)
        print(
            f"speed ratio {tool}/gensim (words/s): median {r['median']:.2f} "
            f"(min {r['min']:.2f}, max {r['max']:.2f}); analogy gap {gap['mean']:+.2f} "
            f"± {gap['sd']:.2f} points (sd of the mean "
            f"{gap['sd'] / math.sqrt(len(gaps)):.2f})"
        )
        key = "ratio_seqlab_gensim" if tool == "seqlab" else "ratio_pair_gensim"
        table[key] = r
        table[key.replace("ratio", "analogy_gap")] = gap
    return table


def _has_glove() -> bool:
    try:
        import seqlab.embeddings.glove  # noqa: F401
    except ImportError:  # hook: the GloVe row appears once seqlab.embeddings.glove exists
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--glove-epochs", type=int, default=25, help="GloVe's passes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--negative",
        type=int,
        default=None,
        help="noise words of the seqlab row (default: the library's, 8 per center word for "
        "HogBatch, 5 per pair for the pair update)",
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--engine", default="auto", choices=["auto", "numba", "torch"], help="seqlab's engine"
    )
    parser.add_argument("--only", choices=["seqlab", "pair", "gensim", "glove"], action="append")
    parser.add_argument("--seed", type=int, default=1, help="seed of repeat 1 (repeat r: + r-1)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    sentences = load_sentences(args.corpus)
    n_words = sum(len(s) for s in sentences)
    tools: dict[str, Callable[[list[list[str]], argparse.Namespace], dict[str, Any]]] = {
        "seqlab": run_default,
        "seqlab-pair": run_pair,
        "gensim": run_gensim,
    }
    if _has_glove():
        tools["seqlab-glove"] = run_glove
    if args.only:
        wanted = {"glove": "seqlab-glove", "pair": "seqlab-pair"}
        keep = {wanted.get(o, o) for o in args.only}
        tools = {k: v for k, v in tools.items() if k in keep}
    if args.device != "cpu":
        tools.pop("gensim", None)  # gensim has no GPU path
    print(
        f"corpus {args.corpus.name}: {n_words:,} words, epochs {args.epochs}, "
        f"threads {args.threads}, device {args.device}, engine {args.engine}, "
        f"cpu {machine()['cpu']}"
    )

    if "seqlab" in tools or "seqlab-pair" in tools:
        # compile (or load from numba's cache) the kernels of both updates before timing
        warm = Word2VecConfig(min_count=1, vector_size=8, epochs=1, sample=0.0)
        for update in ("pair", "hogbatch"):
            train_word2vec([["a", "b", "c"] * 4], dataclasses.replace(warm, update=update))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in tools}
    for repeat in range(args.repeats):
        seeded = argparse.Namespace(**{**vars(args), "seed": args.seed + repeat})
        for name, fn in tools.items():  # interleaved: A B C A B C ...
            out = fn(sentences, seeded)
            epochs = args.glove_epochs if name == "seqlab-glove" else args.epochs
            row = {
                "seed": seeded.seed,
                "seconds": out["seconds"],
                "words_per_second": n_words * epochs / out["seconds"],
                "loss": out["loss"],
                "vocab": len(out["kv"]),
                "update": out.get("update"),
                "negative": out.get("negative"),
            } | scores(out["kv"])
            runs[name].append(row)
            print(
                f"  repeat {repeat + 1} {name:>13}: {row['seconds']:7.1f} s "
                f"{row['words_per_second']:>10,.0f} words/s  analogy {row['accuracy']:.4f}  "
                f"ws353 {row['wordsim353']:.3f}  simlex {row['simlex999']:.3f}"
            )
    table = report(runs)
    engine = "" if args.engine == "auto" else f"-{args.engine}"
    name = f"word2vec-{args.device}{engine}-{args.epochs}ep"
    if args.only:  # a partial run does not replace the full one's file
        name += "-" + "-".join(sorted(set(args.only)))
    path = save(
        name,
        {
            "machine": machine(),
            "corpus": str(args.corpus),
            "words": n_words,
            "settings": {
                "epochs": args.epochs,
                "glove_epochs": args.glove_epochs,
                "threads": args.threads,
                "engine": args.engine,
                "device": args.device,
                "restrict_vocab": RESTRICT_VOCAB,
                "repeats": args.repeats,
                "seeds": [args.seed + r for r in range(args.repeats)],
            },
            "results": table,
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
