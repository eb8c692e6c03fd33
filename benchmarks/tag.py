"""CoNLL-2003 English NER: test entity F1 of the BiLSTM-CRF and the BiLSTM-softmax tagger.

Trains ``seqlab tag train``'s defaults (:data:`seqlab.tasks.tagger.PRESETS` ``"conll2003"``:
word embeddings from 50-d GloVe looked up lower-cased, a case feature, a character CNN, a
BiLSTM of 200 per direction, dropout 0.5, Adam with a cosine decay over the time budget) on
eng.train, validating on eng.testa, once with the CRF output layer and once without, each
under the same time budget; reports eng.testb entity F1 (strict IOB2, and conlleval's
lenient reading), training time, the CPU and the versions. The target: eng.testb F1 >= 90
in <= 30 minutes of CPU training on 2 cores (Lample et al. 2016 report 90.94 with 100-d
embeddings trained for days).

    python benchmarks/tag.py                                  # 2 x 30 minutes, the real run
    python benchmarks/tag.py --time-budget 60 --limit-sentences 2000 --no-save   # smoke test
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from _common import machine, save
from seqlab.data.conll import read_conll
from seqlab.tasks.tagger import PRESETS, TaggedCorpus, Tagger
from seqlab.train import parse_duration

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DATA = SHARED / "conll2003"
VECTORS = SHARED / "glove-6B-50d" / "glove.6B.50d.top40000.txt.gz"


def _vector_files(path: Path) -> list[str]:
    """The vectors file, plus its ``.extra.txt.gz`` companion when there is one."""
    extra = path.with_name(path.name.replace(".top40000.txt.gz", ".extra.txt.gz"))
    return [str(path)] + ([str(extra)] if extra != path and extra.is_file() else [])


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln), "")


def _run(args: argparse.Namespace, corpus: TaggedCorpus, test: list, crf: bool) -> dict:
    preset = PRESETS["conll2003"]
    model = replace(preset.config.model, crf=crf, hidden_size=args.hidden)
    config = replace(
        preset.config, model=model, vectors=tuple(args.vector_files), dataset="conll2003"
    )
    train = replace(
        preset.train,
        time_budget=args.budget_seconds,
        eval_every=args.eval_every,
        device=args.device,
        progress=args.progress,
        seed=args.seed,
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = (args.keep / ("crf" if crf else "softmax")) if args.keep else Path(tmp) / "model"
        t0 = time.perf_counter()
        tagger, result = Tagger.train(corpus, out, config, train)
        wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        strict = tagger.evaluate(test, mode="strict")
        conlleval = tagger.evaluate(test, mode="conlleval")
        dev = tagger.evaluate(corpus.valid, mode="strict")
        decode = time.perf_counter() - t0
    name = "BiLSTM-CRF" if crf else "BiLSTM-softmax"
    print(
        f"{name:<15} eng.testb F1 {100 * strict.f1:6.2f} (conlleval {100 * conlleval.f1:6.2f}), "
        f"eng.testa {100 * dev.f1:6.2f}; {result.steps} steps in {result.seconds:.0f} s "
        f"({result.stopped_because})"
    )
    return {
        "model": name,
        "test_f1": 100 * strict.f1,
        "test_f1_conlleval": 100 * conlleval.f1,
        "dev_f1": 100 * dev.f1,
        "test": strict.to_dict(),
        "train_seconds": result.seconds,
        "wall_seconds": wall,
        "evaluate_seconds": decode,
        "steps": result.steps,
        "epochs": result.epochs,
        "stopped_because": result.stopped_because,
        "best_valid_loss": result.best_valid,
        "config": tagger.config.to_dict(),
        "train_config": train.to_dict(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help="folder with eng.{train,testa,testb}.gz")
    p.add_argument("--vectors", type=Path, default=VECTORS, help="GloVe file (its .extra too)")
    p.add_argument("--time-budget", default="30m", help="training time per model, e.g. 30m")
    p.add_argument("--limit-sentences", type=int, default=None, help="first N training sentences")
    p.add_argument("--hidden", type=int, default=PRESETS["conll2003"].config.model.hidden_size)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--models", nargs="+", default=["crf", "softmax"], choices=["crf", "softmax"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--keep", type=Path, default=None, help="train into DIR/crf and DIR/softmax")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.budget_seconds = parse_duration(args.time_budget)
    args.vector_files = _vector_files(args.vectors)
    d = args.data
    corpus = TaggedCorpus.from_files(d / "eng.train.gz", d / "eng.testa.gz", scheme="iob1")
    if args.limit_sentences:
        corpus = replace(corpus, train=corpus.train[: args.limit_sentences])
    test = read_conll(d / "eng.testb.gz", scheme="iob1")
    print(
        f"CoNLL-2003: {len(corpus.train):,} training, {len(corpus.valid):,} dev, {len(test):,} "
        f"test sentences; vectors {', '.join(Path(v).name for v in args.vector_files)}; "
        f"{args.threads} threads, {args.time_budget} per model"
    )
    runs = [_run(args, corpus, test, crf=m == "crf") for m in args.models]
    info = machine()
    info["cpu_model"] = _cpu_model() or info["cpu"]
    payload = {
        "benchmark": "tag",
        "data": "CoNLL-2003 English (eng.train / eng.testa / eng.testb, IOB1 read as IOB2)",
        "machine": info,
        "threads": args.threads,
        "time_budget_seconds": args.budget_seconds,
        "train_sentences": len(corpus.train),
        "vectors": [Path(v).name for v in args.vector_files],
        "runs": runs,
    }
    print(f"CPU: {info['cpu_model']}; torch {torch.__version__}")
    if not args.no_save:
        print(f"results: {save('tag', payload)}")


if __name__ == "__main__":
    main()
