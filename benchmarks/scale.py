"""Corpora of any size (issue 19): encoding time, peak memory and training speed by size.

Builds corpora of the given sizes by repeating text8's prefix (folded into 1,000-character
lines, as the issue measured; ``--fold 0`` keeps text8's one line), then for each size runs,
each in its own process under ``/usr/bin/time -v``:

* ``encode``: :func:`seqlab.data.tokens.corpus_tokens` into an empty cache (count + encode,
  streamed): seconds, MB/s and peak RSS;
* ``lm train``: the issue's command, ``seqlab lm train --text FILE --level char --unit text
  --steps 2`` (the token file now cached): wall seconds and peak RSS;
* ``throughput``: ``--steps N`` more with ``--valid-fraction 0``: training tokens/s.

``translate`` rows: a parallel corpus of the same size (source + target bytes) made by
repeating Multi30k's en-de training pairs (``--multi30k DIR``), or of ``--pairs N`` pairs
(``--pairs 4.5M``: WMT14 en-de's size); ``encode`` is both streamed passes of
:func:`seqlab.data.parallel.count_parallel` / :func:`~seqlab.data.parallel.encode_parallel`
(the "text" preset's tokenizer and vocabularies) into an empty cache; ``train`` is
``seqlab translate train --src --tgt --steps N`` (the "text" preset, the files cached):
peak RSS and target tokens/s.

``glove`` rows: :func:`seqlab.embeddings.glove.train_glove` on the text8 corpus of that
size (E 50, window 10, min_count 5, one epoch, ``--glove-memory`` GB for counting): the
vocabulary and counting seconds, training words/s and peak RSS. The corpus repeats one
prefix, so the co-occurrence matrix (what training holds) stops growing after the first
copy; the counting still reads every token.

``--baseline-src DIR`` runs the ``lm train`` command also with the seqlab under ``DIR/src``
(e.g. ``git archive HEAD src | tar -x -C DIR``: the version before) for a before/after table.
``--tasks`` picks lm, translate, glove. Results go to ``results/scale-<sizes>.json``.

    python benchmarks/scale.py --sizes 12.5M,50M                # about 10 minutes on 2 cores
    python benchmarks/scale.py --sizes 12.5M,50M,200M,1G        # the issue's table
    python benchmarks/scale.py --tasks translate --pairs 4.5M   # WMT14 en-de's size
    python benchmarks/scale.py --sizes 2M --steps 2             # a check of every row (1 min)

By the rates measured at 50 MB and 4.5 M pairs (translate's word-level encoding ~3 MB/s,
GloVe's counting ~5 MB/s) the 200 MB row should take about 5 minutes on 2 cores and the
1 GB row about 20; they need about 4 GB of disk in ``--work`` (the corpora, the token
files, GloVe's spilled runs). Each row is printed as it ends, and the tables (markdown) at the end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import machine, save

DEFAULT_TEXT = Path(__file__).resolve().parents[1] / "../shared/data/text8-prefix/text8.prefix.gz"
DEFAULT_MULTI30K = Path(__file__).resolve().parents[1] / "../shared/data/multi30k"
_UNITS = {"K": 10**3, "M": 10**6, "G": 10**9}


def parse_size(text: str) -> int:
    """``"12.5M"`` -> 12,500,000 bytes (K, M, G are powers of 10)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)", text.strip().upper())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 12.5M, 1G)")
    return int(float(m.group(1)) * _UNITS.get(m.group(2), 1))


def build_corpus(source: Path, size: int, fold: int, dest: Path) -> Path:
    """``dest``: ``source``'s text (folded into ``fold``-character lines) repeated up to
    ``size`` bytes, written piece by piece."""
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", encoding="utf-8") as handle:
        text = handle.read()
    if fold:
        text = "".join(text[i : i + fold] + "\n" for i in range(0, len(text), fold))
    data = text.encode("utf-8")
    with dest.open("wb") as out:
        left = size
        while left > 0:
            out.write(data[:left])
            left -= min(left, len(data))
    return dest


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``cmd`` under ``/usr/bin/time -v``: (wall seconds, peak RSS in MB, stdout)."""
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr)
    assert rss and wall, proc.stderr[-2000:]
    seconds = 0.0
    for part in wall.group(1).split(":"):
        seconds = seconds * 60 + float(part)
    return seconds, int(rss.group(1)) / 1024, proc.stdout


def lm_command(corpus: Path, out: Path, steps: int, threads: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "seqlab",
        "lm",
        "train",
        "--text",
        str(corpus),
        "--level",
        "char",
        "--unit",
        "text",
        "--steps",
        str(steps),
        "--out",
        str(out),
        "--threads",
        str(threads),
        "--no-progress",
        "--json",
        *extra,
    ]


def _env(work: Path, args: argparse.Namespace) -> dict[str, str]:
    shutil.rmtree(work / "cache", ignore_errors=True)
    return os.environ | {"SEQLAB_CACHE": str(work / "cache"), "OMP_NUM_THREADS": str(args.threads)}


def measure(corpus: Path, work: Path, args: argparse.Namespace) -> dict[str, object]:
    """The language model's row."""
    size = corpus.stat().st_size
    env = _env(work, args)
    encode = [
        sys.executable,
        "-c",
        "import sys, time; from seqlab.data.tokens import corpus_tokens; "
        "t = time.perf_counter(); corpus_tokens(sys.argv[1], level='char'); "
        "print(time.perf_counter() - t)",
        str(corpus),
    ]
    _, enc_rss, out = timed(encode, env)
    enc_s = float(out)
    row: dict[str, object] = {
        "task": "lm",
        "bytes": size,
        "encode_seconds": enc_s,
        "encode_mb_per_s": size / 1e6 / enc_s,
        "encode_peak_rss_mb": enc_rss,  # the process's, imports (torch) included
    }
    shutil.rmtree(work / "m", ignore_errors=True)
    wall, rss, _ = timed(lm_command(corpus, work / "m", 2, args.threads), env)
    row |= {"train2_seconds": wall, "train2_peak_rss_mb": rss}
    if args.baseline_src:
        shutil.rmtree(work / "m", ignore_errors=True)
        old = env | {"PYTHONPATH": str(Path(args.baseline_src) / "src")}
        wall, rss, _ = timed(lm_command(corpus, work / "m", 2, args.threads), old)
        row |= {"baseline_train2_seconds": wall, "baseline_train2_peak_rss_mb": rss}
    if args.steps:
        shutil.rmtree(work / "m", ignore_errors=True)
        cmd = lm_command(corpus, work / "m", args.steps, args.threads, "--valid-fraction", "0")
        _, rss, out = timed(cmd, env)
        summary = json.loads(out)
        tokens = args.steps * 32 * 100  # the preset's batch of 32 windows of 100 characters
        row |= {"train_tokens_per_s": tokens / summary["seconds"], "train_peak_rss_mb": rss}
    return row


def build_parallel(
    folder: Path, size: int | None, pairs: int | None, dest: Path
) -> tuple[Path, Path, Path, Path]:
    """Multi30k's en-de training pairs repeated up to ``size`` bytes (both sides) or
    ``pairs`` pairs, written piece by piece; and a 5-pair validation set (so that validating
    costs nothing next to the steps). Returns (src, tgt, valid src, valid tgt)."""
    sides = []
    for lang in ("en", "de"):
        with gzip.open(folder / f"train.{lang}.gz", "rt", encoding="utf-8") as handle:
            sides.append(handle.read().splitlines())
    n = len(sides[0])
    block = ["".join(line + "\n" for line in side).encode("utf-8") for side in sides]
    per_copy = len(block[0]) + len(block[1])
    total = pairs if pairs is not None else -(-(size or 0) * n // per_copy)
    paths = [dest / "train.en", dest / "train.de", dest / "valid.en", dest / "valid.de"]
    for side, (path, data) in enumerate(zip(paths[:2], block, strict=True)):
        with path.open("wb") as out:
            left = total
            while left >= n:
                out.write(data)
                left -= n
            out.write("".join(line + "\n" for line in sides[side][:left]).encode("utf-8"))
        paths[2 + side].write_text("".join(line + "\n" for line in sides[side][:5]))
    return paths[0], paths[1], paths[2], paths[3]


_ENCODE_PAIRS = """
import json, sys, time
from seqlab.data.parallel import ParallelFiles
from seqlab.tasks.translator import PRESETS, Translator
t = time.perf_counter()
src, tgt, vsrc, vtgt = sys.argv[1:5]
files = ParallelFiles(src=src, tgt=tgt, valid_src=vsrc, valid_tgt=vtgt)
tr, tokens = Translator.build(files, PRESETS["text"].config)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "pairs": len(tokens), "tgt_tokens": len(tokens.tgt),
                  "vocab": [len(tr.src_vocab), len(tr.tgt_vocab)]}))
"""


def measure_translate(paths: tuple[Path, ...], work: Path, args: argparse.Namespace) -> dict:
    """The translator's row: encoding (both passes) and training from the token files."""
    env = _env(work, args)
    size = paths[0].stat().st_size + paths[1].stat().st_size
    _, enc_rss, out = timed([sys.executable, "-c", _ENCODE_PAIRS, *map(str, paths)], env)
    enc = json.loads(out)
    row: dict[str, object] = {
        "task": "translate",
        "bytes": size,
        "pairs": enc["pairs"],
        "vocab_sizes": enc["vocab"],
        "encode_seconds": enc["seconds"],
        "encode_mb_per_s": size / 1e6 / enc["seconds"],
        "encode_peak_rss_mb": enc_rss,
    }
    shutil.rmtree(work / "m", ignore_errors=True)
    cmd = [sys.executable, "-m", "seqlab", "translate", "train", "--src", str(paths[0])]
    cmd += ["--tgt", str(paths[1]), "--valid-src", str(paths[2]), "--valid-tgt", str(paths[3])]
    cmd += ["--steps", str(args.steps), "--out", str(work / "m"), "--threads", str(args.threads)]
    cmd += ["--no-progress", "--json"]
    _, rss, out = timed(cmd, env)
    summary = json.loads(out)
    # target tokens a step, on average: 64 pairs of (mean target length + <EOS>)
    per_step = 64 * (enc["tgt_tokens"] / enc["pairs"] + 1)
    row |= {
        "train_seconds": summary["seconds"],
        "train_tokens_per_s": args.steps * per_step / summary["seconds"],
        "train_peak_rss_mb": rss,
    }
    return row


_GLOVE = """
import json, sys
from seqlab.embeddings.glove import GloVeConfig, train_glove
config = GloVeConfig(vector_size=50, window=10, min_count=5, epochs=1,
                     memory_limit_mb=float(sys.argv[2]) * 1024, workers=int(sys.argv[3]))
result = train_glove(sys.argv[1], config)
print(json.dumps({"seconds": result.seconds, "counting_seconds": result.counting_seconds,
                  "words_per_second": result.words_per_second, "vocab": len(result.vectors)}))
"""


def measure_glove(corpus: Path, work: Path, args: argparse.Namespace) -> dict:
    """GloVe's row: vocabulary + counting (spilling beyond --glove-memory), one epoch."""
    env = _env(work, args)
    cmd = [sys.executable, "-c", _GLOVE, str(corpus), str(args.glove_memory), str(args.threads)]
    wall, rss, out = timed(cmd, env)
    result = json.loads(out)
    return {
        "task": "glove",
        "bytes": corpus.stat().st_size,
        "vocab_size": result["vocab"],
        "memory_limit_gb": args.glove_memory,
        "seconds": result["seconds"],  # vocabulary + counting + one epoch
        "counting_seconds": result["counting_seconds"],
        "counting_mb_per_s": corpus.stat().st_size / 1e6 / result["counting_seconds"],
        "train_words_per_s": result["words_per_second"],
        "wall_seconds": wall,
        "peak_rss_mb": rss,
    }


_COLUMNS = {  # task: (header, row key, format) per column of the markdown table
    "lm": [
        ("encode", "encode_seconds", "{:.1f} s"),
        ("MB/s", "encode_mb_per_s", "{:.1f}"),
        ("encode peak RSS", "encode_peak_rss_mb", "{:,.0f} MB"),
        ("train --steps 2 peak RSS", "train2_peak_rss_mb", "{:,.0f} MB"),
        ("training tokens/s", "train_tokens_per_s", "{:,.0f}"),
    ],
    "translate": [
        ("encode (2 passes)", "encode_seconds", "{:.1f} s"),
        ("MB/s", "encode_mb_per_s", "{:.1f}"),
        ("encode peak RSS", "encode_peak_rss_mb", "{:,.0f} MB"),
        ("train peak RSS", "train_peak_rss_mb", "{:,.0f} MB"),
        ("target tokens/s", "train_tokens_per_s", "{:,.0f}"),
    ],
    "glove": [
        ("counting", "counting_seconds", "{:.1f} s"),
        ("MB/s", "counting_mb_per_s", "{:.1f}"),
        ("peak RSS", "peak_rss_mb", "{:,.0f} MB"),
        ("training words/s", "train_words_per_s", "{:,.0f}"),
    ],
}


def markdown(rows: list[dict]) -> str:
    """The rows as one markdown table per task (corpus size first), for the README."""
    out = []
    for task, columns in _COLUMNS.items():
        mine = [r for r in rows if r["task"] == task]
        if not mine:
            continue
        head = ["corpus", *(c[0] for c in columns)]
        out += [f"{task}:", "", "| " + " | ".join(head) + " |"]
        out.append("|---" + "|---:" * len(columns) + "|")
        for r in mine:
            size = f"{r['bytes'] / 1e6:,.1f} MB" + (
                f" ({r['pairs']:,} pairs)" if "pairs" in r else ""
            )
            cells = [fmt.format(r[key]) if key in r else "-" for _, key, fmt in columns]
            out.append("| " + " | ".join([size, *cells]) + " |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT, help="text8's prefix (.gz)")
    parser.add_argument(
        "--multi30k", type=Path, default=DEFAULT_MULTI30K, help="Multi30k (train.en.gz ...)"
    )
    parser.add_argument(
        "--sizes",
        default="12.5M,50M,200M,1G",
        help="comma-separated corpus sizes (K, M, G: powers of 10)",
    )
    parser.add_argument("--tasks", default="lm,translate,glove", help="lm, translate, glove")
    parser.add_argument(
        "--pairs", type=parse_size, help="translate: one corpus of this many pairs (4.5M)"
    )
    parser.add_argument("--fold", type=int, default=1000, help="line length (0: one line)")
    parser.add_argument("--steps", type=int, default=20, help="steps for the throughput")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--glove-memory", type=float, default=1.0, help="GloVe counting GB")
    parser.add_argument("--baseline-src", help="also run lm train with DIR/src's seqlab")
    parser.add_argument("--work", type=Path, help="folder for the corpora (default: a temp)")
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    sizes = [parse_size(s) for s in args.sizes.split(",")] if args.pairs is None else []
    work = args.work or Path(tempfile.mkdtemp(prefix="seqlab-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []

    def report(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    try:
        if args.pairs is not None:
            report(
                measure_translate(build_parallel(args.multi30k, None, args.pairs, work), work, args)
            )
        for size in sizes:
            if "lm" in tasks or "glove" in tasks:
                corpus = build_corpus(args.text, size, args.fold, work / f"corpus-{size}.txt")
                if "lm" in tasks:
                    report(measure(corpus, work, args))
                if "glove" in tasks:
                    report(measure_glove(corpus, work, args))
                corpus.unlink()
            if "translate" in tasks:
                paths = build_parallel(args.multi30k, size, None, work)
                report(measure_translate(paths, work, args))
                for path in paths:
                    path.unlink()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    what = f"pairs{args.pairs}" if args.pairs is not None else args.sizes
    if set(tasks) != {"lm", "translate", "glove"}:
        what += "-" + "-".join(tasks)
    name = "scale-" + what.replace(",", "-").replace(".", "_")
    path = save(name, {"machine": machine(), "fold": args.fold, "tasks": tasks, "rows": rows})
    print(markdown(rows))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
