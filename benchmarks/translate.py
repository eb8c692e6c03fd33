"""Word-level translation on Multi30k: test BLEU for greedy and beam search, error analysis.

Trains ``seqlab translate train --src ... --tgt ...``'s default text model (a bidirectional
GRU encoder, Bahdanau attention; :data:`seqlab.tasks.translator.PRESETS` ``"text"``) on the
Multi30k training split for a time budget, then reports on ``test_2016_flickr``:

* corpus BLEU (sacreBLEU-compatible 13a, cased) for greedy search and beam B = 1, 3, 5, 10;
* the course's beam-search error analysis at one beam size: the share of wrong outputs
  whose fault is the search (P(y*|x) > P(ŷ|x)) vs the model.

    python benchmarks/translate.py --budget 30m                  # en -> de, the lead's run
    python benchmarks/translate.py --pair en-fr --budget 30m
    python benchmarks/translate.py --smoke                       # a one-minute check
    python benchmarks/translate.py --budget 15m --keep runs/de   # keep the model directory
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from _common import machine, save
from seqlab.tasks.translator import (
    PRESETS,
    TRANSFORMER_PRESETS,
    ParallelCorpus,
    Translator,
    read_parallel,
)
from seqlab.train import parse_duration

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "multi30k"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help="folder with Multi30k's .gz files")
    p.add_argument("--pair", default="en-de", choices=["en-de", "en-fr", "de-en", "fr-en"])
    p.add_argument("--budget", default="30m", help="training time, e.g. 30m")
    p.add_argument("--steps", type=int, default=10**6)
    p.add_argument("--arch", default="rnn", choices=["rnn", "transformer"])
    p.add_argument("--tokenizer", default=None, choices=["word", "bpe"], help="(preset's)")
    p.add_argument("--vocab-size", type=int, default=None, help="BPE pieces (preset's)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--embedding", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help="(the preset's)")
    p.add_argument("--beams", type=int, nargs="+", default=[1, 3, 5, 10])
    p.add_argument("--alpha", type=float, default=0.7)
    p.add_argument("--analyze-beam", type=int, default=5)
    p.add_argument("--test-size", type=int, default=None, help="first N test pairs only")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--smoke", action="store_true", help="tiny model, 1 minute, 100 test pairs")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--keep", type=Path, default=None, help="train into this model directory")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke:
        args.budget, args.hidden, args.embedding = "1m", 64, 64
        args.test_size = args.test_size or 100
    src_lang, tgt_lang = args.pair.split("-")
    d = args.data
    corpus = ParallelCorpus.from_files(
        d / f"train.{src_lang}.gz",
        d / f"train.{tgt_lang}.gz",
        valid_src=d / f"val.{src_lang}.gz",
        valid_tgt=d / f"val.{tgt_lang}.gz",
    )
    test = read_parallel(
        d / f"test_2016_flickr.{src_lang}.gz", d / f"test_2016_flickr.{tgt_lang}.gz"
    )
    if args.test_size:
        test = test[: args.test_size]
    sources, references = [s for s, _ in test], [t for _, t in test]
    if args.arch == "transformer":
        preset = TRANSFORMER_PRESETS["text"]
        config = replace(preset.config, batch_size=args.batch_size)
    else:
        preset = PRESETS["text"]
        model = replace(
            preset.config.model,
            hidden_size=args.hidden,
            embedding_dim=args.embedding,
            attention_dim=args.hidden,
        )
        config = replace(preset.config, model=model, batch_size=args.batch_size)
    if args.tokenizer is not None:
        config = replace(config, level=args.tokenizer)
    if args.vocab_size is not None:
        config = replace(config, vocab_size=args.vocab_size)
    train = replace(
        preset.train,
        lr=args.lr if args.lr is not None else preset.train.lr,
        max_steps=args.steps,
        warmup_steps=min(preset.train.warmup_steps, args.steps - 1),
        time_budget=parse_duration(args.budget),
        eval_every=50 if args.smoke else 1000,
        device=args.device,
        progress=args.progress,
    )
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep if args.keep is not None else Path(tmp) / "model"
        tr, result = Translator.train(corpus, where, config, train)
    print(
        f"{args.pair}: {len(corpus.train):,} training pairs, vocabularies "
        f"{len(tr.src_vocab):,} -> {len(tr.tgt_vocab):,}; trained {result.steps} steps in "
        f"{result.seconds:.0f} s ({result.stopped_because}), best valid loss "
        f"{result.best_valid if result.best_valid is None else round(result.best_valid, 3)}"
    )
    rows = []
    for k in args.beams:
        t0 = time.perf_counter()
        entry = tr.evaluate(sources, references, beam_sizes=(k,), alpha=args.alpha, bleu=True)
        r = entry["results"][0]
        seconds = time.perf_counter() - t0
        name = "greedy" if k == 1 else f"beam {k}"
        print(f"{name:<8} BLEU {r['bleu']:6.2f}   decode {seconds:7.2f} s")
        rows.append({"beam_size": k, "bleu": r["bleu"], "decode_seconds": seconds})
    signature = entry["results"][0]["signature"]
    print(f"BLEU signature: {signature}")
    t0 = time.perf_counter()
    analysis = tr.analyze(sources, references, beam_size=args.analyze_beam, alpha=args.alpha)
    split = {
        "beam_size": args.analyze_beam,
        "examples": len(analysis.rows),
        "correct": analysis.count("correct"),
        "search": analysis.count("search"),
        "model": analysis.count("model"),
        "reference_oov": sum(r.reference_oov for r in analysis.rows),
        "search_share": analysis.error_share("search"),
        "model_share": analysis.error_share("model"),
        "seconds": time.perf_counter() - t0,
    }
    print(
        f"error analysis (beam {args.analyze_beam}, alpha {args.alpha:g}): "
        f"{split['correct']} exact, {analysis.errors} wrong: beam search at fault "
        f"{split['search']} ({split['search_share']:.1%}), model {split['model']} "
        f"({split['model_share']:.1%}); {split['reference_oov']} references have a word "
        "outside the target vocabulary"
    )
    payload = {
        "benchmark": "translate",
        "pair": args.pair,
        "machine": machine(),
        "model": tr.config.to_dict(),
        "train": train.to_dict(),
        "train_pairs": len(corpus.train),
        "test_pairs": len(test),
        "train_seconds": result.seconds,
        "steps": result.steps,
        "best_valid_loss": result.best_valid,
        "bleu": rows,
        "signature": signature,
        "error_analysis": split,
    }
    if not args.no_save and not args.smoke:
        name = f"translate-{args.pair}-{args.arch}-{config.level}-{args.device}-{args.budget}"
        print(f"results: {save(name, payload)}")


if __name__ == "__main__":
    main()
