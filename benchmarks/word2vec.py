"""word2vec: seqlab vs gensim (and seqlab's GloVe) — words/s and Google-analogy accuracy.

Same settings for both word2vec tools: skip-gram, negative sampling (5 noise words), window 5,
vector size 100, min_count 5, sample 1e-3, alpha 0.025 -> 1e-4, ``--threads`` workers, the same
in-memory sentences (the corpus cut into 10,000-word sentences, as gensim's ``Text8Corpus``).
Runs alternate seqlab / gensim / glove repeat by repeat (the machine is noisy); the table shows
the median seconds with min/max (seqlab's numba kernels are compiled before timing, as a
user's cached install would be), words/s = corpus words × epochs / wall seconds of the whole
call (vocabulary building included, for every tool), and the analogy accuracy over the
questions whose four words are among the 30,000 most frequent (``restrict_vocab=30000``,
case-insensitive, 3CosAdd, as gensim's ``evaluate_word_analogies``). seqlab keeps the corpus
as int32 ids after its first epoch (``max_cached_words``); gensim re-reads the sentences
every epoch. The GloVe row (``--glove-epochs``, default 25) uses ``GloVeConfig``'s defaults.
The ``seqlab-hogbatch`` row is seqlab with ``update="hogbatch"`` (one matrix step per center
word over its context words with shared noise words, Ji et al. 2016); ``seqlab`` is the
word2vec.c per-pair update (``update="pair"``). HogBatch draws its noise words once per center
word (``--hogbatch-negative``, default 8, shared by the center's ~6 pairs), against 5 per pair
for the other rows: with 5 per center it trains a worse model on this corpus (about -0.4
points of analogy accuracy), with 8 as good a one as the per-pair update.

    python benchmarks/word2vec.py --epochs 1                 # smoke run
    python benchmarks/word2vec.py --epochs 5 --repeats 3     # the issue's comparison
    python benchmarks/word2vec.py --repeats 3 --only seqlab --only hogbatch --only gensim
    python benchmarks/word2vec.py --device cuda --only seqlab
    python benchmarks/word2vec.py --engine torch --only seqlab   # the minibatch engine on CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import machine, save, summary
from seqlab.embeddings.evaluate import evaluate_analogies
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
    update: Update = "pair",
    negative: int = 5,
) -> dict[str, Any]:
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
    return {"seconds": seconds, "kv": result.vectors, "loss": result.epoch_losses[-1]}


def run_hogbatch(sentences: list[list[str]], args: argparse.Namespace) -> dict[str, Any]:
    return run_seqlab(sentences, args, update="hogbatch", negative=args.hogbatch_negative)


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
    return {"seconds": seconds, "kv": kv, "loss": None}


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
        "--hogbatch-negative",
        type=int,
        default=8,
        help="noise words per center word of the seqlab-hogbatch row (shared by its pairs)",
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--engine", default="auto", choices=["auto", "numba", "torch"], help="seqlab's engine"
    )
    parser.add_argument(
        "--only", choices=["seqlab", "hogbatch", "gensim", "glove"], action="append"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    sentences = load_sentences(args.corpus)
    n_words = sum(len(s) for s in sentences)
    tools: dict[str, Callable[[list[list[str]], argparse.Namespace], dict[str, Any]]] = {
        "seqlab": run_seqlab,
        "gensim": run_gensim,
    }
    if args.engine != "torch":  # HogBatch is a numba-engine update
        tools["seqlab-hogbatch"] = run_hogbatch
    if _has_glove():
        tools["seqlab-glove"] = run_glove
    if args.only:
        wanted = {"glove": "seqlab-glove", "hogbatch": "seqlab-hogbatch"}
        keep = {wanted.get(o, o) for o in args.only}
        tools = {k: v for k, v in tools.items() if k in keep}
    if args.device != "cpu":
        tools.pop("gensim", None)  # gensim has no GPU path
    print(
        f"corpus {args.corpus.name}: {n_words:,} words, epochs {args.epochs}, "
        f"threads {args.threads}, device {args.device}, engine {args.engine}"
    )

    if (
        "seqlab" in tools or "seqlab-hogbatch" in tools
    ):  # compile (or load from numba's cache) the kernels before timing
        warm = Word2VecConfig(min_count=1, vector_size=8, epochs=1, sample=0.0)
        train_word2vec([["a", "b", "c"] * 4], warm)
        train_word2vec([["a", "b", "c"] * 4], dataclasses.replace(warm, update="hogbatch"))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in tools}
    for repeat in range(args.repeats):
        for name, fn in tools.items():  # interleaved: A B C A B C ...
            out = fn(sentences, args)
            epochs = args.glove_epochs if name == "seqlab-glove" else args.epochs
            analogy = evaluate_analogies(out["kv"], restrict_vocab=RESTRICT_VOCAB)
            row = {
                "seconds": out["seconds"],
                "words_per_second": n_words * epochs / out["seconds"],
                "accuracy": analogy.accuracy,
                "questions": analogy.total,
                "loss": out["loss"],
                "vocab": len(out["kv"]),
            }
            runs[name].append(row)
            print(
                f"  repeat {repeat + 1} {name:>13}: {row['seconds']:7.1f} s "
                f"{row['words_per_second']:>10,.0f} words/s  acc {row['accuracy']:.4f}"
            )

    print(f"\nanalogy accuracy: Google analogies, restrict_vocab={RESTRICT_VOCAB}, 3CosAdd")
    header = f"{'tool':>13} {'seconds (min/med/max)':>24} {'words/s':>10} {'accuracy':>9} "
    print(header + f"{'questions':>9} {'loss':>8}")
    table: dict[str, Any] = {}
    for name, rows in runs.items():
        secs = summary([r["seconds"] for r in rows])
        wps = statistics.median(r["words_per_second"] for r in rows)
        acc = statistics.median(r["accuracy"] for r in rows)
        loss = rows[-1]["loss"]
        loss_text = f"{loss:8.4f}" if loss is not None else f"{'n/a':>8}"
        print(
            f"{name:>13} {secs['min']:7.1f}/{secs['median']:7.1f}/{secs['max']:7.1f} "
            f"{wps:>10,.0f} {acc:>9.4f} {rows[-1]['questions']:>9} {loss_text}"
        )
        table[name] = {"runs": rows, "seconds": secs, "words_per_second": wps, "accuracy": acc}
    for tool in ("seqlab", "seqlab-hogbatch"):
        if tool not in runs or "gensim" not in runs:
            continue
        ratios = [  # per repeat: the two runs were interleaved, so they saw the same load
            s["words_per_second"] / g["words_per_second"]
            for s, g in zip(runs[tool], runs["gensim"], strict=True)
        ]
        gap = table[tool]["accuracy"] - table["gensim"]["accuracy"]
        r = summary(ratios)
        print(
            f"speed ratio {tool}/gensim (words/s): median {r['median']:.2f} "
            f"(min {r['min']:.2f}, max {r['max']:.2f}); accuracy gap {100 * gap:+.2f} points"
        )
        key = "ratio_seqlab_gensim" if tool == "seqlab" else "ratio_hogbatch_gensim"
        table[key] = r
    engine = "" if args.engine == "auto" else f"-{args.engine}"
    name = f"word2vec-{args.device}{engine}-{args.epochs}ep"
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
            },
            "results": table,
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
