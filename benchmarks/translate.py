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
    python benchmarks/translate.py --model runs/de --tune-alpha 0 0.2 0.4 0.6 0.8 1.0 1.2

``--tune-alpha`` chooses beam search's length-normalisation exponent α on the validation
pairs (``val.*``, beam ``--analyze-beam``) and decodes the test set with it, so the test set
picks nothing. ``--model`` reports on a model directory trained before (its steps and time
from its ``metrics.jsonl``) instead of training one.
"""

from __future__ import annotations

import argparse
import json
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
from seqlab.train import parse_duration, read_metrics
from seqlab.train.loop import CONFIG_FILE, METRICS_FILE

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
    p.add_argument(
        "--tune-alpha",
        type=float,
        nargs="+",
        default=None,
        metavar="A",
        help="choose alpha among these on the validation pairs (beam --analyze-beam)",
    )
    p.add_argument("--analyze-beam", type=int, default=5)
    p.add_argument("--test-size", type=int, default=None, help="first N test pairs only")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--smoke", action="store_true", help="tiny model, 1 minute, 100 test pairs")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--keep", type=Path, default=None, help="train into this model directory")
    p.add_argument("--model", type=Path, default=None, help="report on this trained model")
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
    if args.model is not None:
        tr = Translator.load(args.model, device=args.device)
        config, record = tr.config, trained_record(args.model)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            where = args.keep if args.keep is not None else Path(tmp) / "model"
            tr, result = Translator.train(corpus, where, config, train)
        record = {
            "train": train.to_dict(),
            "train_seconds": result.seconds,
            "steps": result.steps,
            "stopped_because": result.stopped_because,
            "best_valid_loss": result.best_valid,
        }
    best = record["best_valid_loss"]
    print(
        f"{args.pair}: {len(corpus.train):,} training pairs, vocabularies "
        f"{len(tr.src_vocab):,} -> {len(tr.tgt_vocab):,}; trained {record['steps']} steps in "
        f"{record['train_seconds']:.0f} s ({record['stopped_because']}), best valid loss "
        f"{best if best is None else round(best, 3)}"
    )
    tuning = None
    if args.tune_alpha:
        tuning = tune_alpha(tr, corpus, args.tune_alpha, args.analyze_beam)
    alpha = tuning["alpha"] if tuning else args.alpha
    rows = []
    for k in args.beams:
        t0 = time.perf_counter()
        entry = tr.evaluate(sources, references, beam_sizes=(k,), alpha=alpha, bleu=True)
        r = entry["results"][0]
        seconds = time.perf_counter() - t0
        name = "greedy" if k == 1 else f"beam {k}"
        print(f"{name:<8} BLEU {r['bleu']:6.2f}   decode {seconds:7.2f} s")
        rows.append({"beam_size": k, "bleu": r["bleu"], "decode_seconds": seconds})
    signature = entry["results"][0]["signature"]
    print(f"BLEU signature: {signature}")
    t0 = time.perf_counter()
    analysis = tr.analyze(sources, references, beam_size=args.analyze_beam, alpha=alpha)
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
        f"error analysis (beam {args.analyze_beam}, alpha {alpha:g}): "
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
        **record,
        "train_pairs": len(corpus.train),
        "test_pairs": len(test),
        "alpha": alpha,
        "alpha_tuning": tuning,
        "bleu": rows,
        "signature": signature,
        "error_analysis": split,
    }
    if not args.no_save and not args.smoke:
        budget = args.budget if args.model is None else f"{record['train_seconds'] / 60:.0f}m"
        name = f"translate-{args.pair}-{tr.config.arch}-{config.level}-{args.device}-{budget}"
        print(f"results: {save(name, payload)}")


def trained_record(model_dir: Path) -> dict:
    """How a model directory was trained: its TrainConfig, and the steps, seconds and best
    validation loss its ``metrics.jsonl`` logged."""
    rows = read_metrics(model_dir / METRICS_FILE)
    logged = [r for r in rows if "elapsed" in r]
    valid = [r["valid_loss"] for r in rows if "valid_loss" in r]
    train = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    return {
        "train": train,
        "train_seconds": logged[-1]["elapsed"] if logged else None,
        "steps": logged[-1]["step"] if logged else None,
        "stopped_because": "trained before",
        "best_valid_loss": min(valid) if valid else None,
    }


def tune_alpha(tr: Translator, corpus: ParallelCorpus, alphas: list[float], beam: int) -> dict:
    """BLEU on the validation pairs for each α at beam ``beam``; the best α (ties: the first)."""
    sources, references = [s for s, _ in corpus.valid], [t for _, t in corpus.valid]
    scores = []
    for a in alphas:
        entry = tr.evaluate(sources, references, beam_sizes=(beam,), alpha=a, bleu=True)
        scores.append({"alpha": a, "valid_bleu": entry["results"][0]["bleu"]})
        print(f"alpha {a:4.2f}: validation BLEU {scores[-1]['valid_bleu']:6.2f} (beam {beam})")
    best = max(scores, key=lambda r: r["valid_bleu"])
    print(f"chosen alpha {best['alpha']:g} on {len(sources):,} validation pairs")
    return {"beam_size": beam, "valid_pairs": len(sources), "scores": scores, **best}


if __name__ == "__main__":
    main()
