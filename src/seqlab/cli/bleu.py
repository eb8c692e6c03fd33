"""``seqlab bleu REF [REF ...] < HYP``: corpus or sentence BLEU, sacreBLEU-compatible.

Several reference files are several references per sentence. ``--explain`` shows, per
sentence, the clipped n-gram counts, the precisions and the brevity penalty.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import typer

from seqlab.cli._common import print_json, user_errors


def _decode(data: bytes, name: str) -> list[str]:
    """UTF-8 bytes as lines (a final newline ends the last line; it does not start one)."""
    from seqlab._io import DataError

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            name, f"not UTF-8 ({exc.reason})", hint="convert the file to UTF-8", line=line
        ) from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _read(path: Path) -> list[str]:
    from seqlab._io import DataError

    if not path.exists():
        raise DataError(path, "no such file", hint="check the path")
    if path.is_dir():
        raise DataError(path, "is a folder, not a text file", hint="give a file")
    return _decode(path.read_bytes(), str(path))


def _read_stdin() -> list[str]:
    from seqlab._io import DataError

    if sys.stdin.isatty():  # nothing piped in: say so rather than wait
        raise DataError(
            "<stdin>", "no hypotheses piped in", hint="use `seqlab bleu REF < HYP` or -i HYP"
        )
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        return _decode(buffer.read(), "<stdin>")
    return _decode(sys.stdin.read().encode("utf-8"), "<stdin>")


def _explain(
    index: int, hyp: str, score: object, ref_lens: Sequence[int], method: str
) -> list[str]:
    """Why one sentence scores what it does: matches, precisions, brevity penalty."""
    from seqlab.metrics.bleu import BLEUScore

    assert isinstance(score, BLEUScore)
    c, r = score.sys_len, score.ref_len
    refs = ", ".join(str(n) for n in ref_lens if n >= 0)
    if c >= r:
        bp = f"BP = 1 (hyp_len {c} >= closest ref_len {r})"
    elif c == 0:
        bp = f"BP = 0 (empty hypothesis, closest ref_len {r})"
    else:
        bp = f"BP = exp(1 - {r}/{c}) = {score.bp:.4f} (hyp_len {c} < closest ref_len {r})"
    out = [
        f"sentence {index}: BLEU = {score.score:.2f}",
        f"  hyp: {hyp if len(hyp) <= 100 else hyp[:97] + '...'}",
        f"  ref lengths: {refs}; {bp}",
        "  n  clipped/total   p_n (%)",
    ]
    matched_any = any(score.counts)
    for n, (m, t, p) in enumerate(
        zip(score.counts, score.totals, score.precisions, strict=True), 1
    ):
        if t == 0:
            note = "no n-grams of this order: left out (effective order)"
            out.append(f"  {n}  {m:>5}/{t:<5}  {'-':>9}  {note}")
            continue
        note = ""
        if not matched_any:
            note = "no match at all: BLEU = 0"
        elif m == 0:
            note = f"no match: {method} smoothing" if p > 0 else "no match: log 0, BLEU = 0"
        elif method == "add-k" and n > 1:
            note = "add-k smoothing"
        out.append(f"  {n}  {m:>5}/{t:<5}  {p:>9.2f}  {note}".rstrip())
    return out


@user_errors
def bleu(
    refs: list[Path] = typer.Argument(
        ..., help="Reference file(s), one segment per line; several files: several references."
    ),
    input_path: Path | None = typer.Option(
        None, "--input", "-i", help="Hypotheses, one per line (default: standard input)."
    ),
    tokenize: str = typer.Option("13a", help="Tokenizer: 13a, intl, char or none."),
    smooth_method: str = typer.Option("exp", help="Smoothing: exp, floor, add-k or none."),
    smooth_value: float | None = typer.Option(
        None, help="floor's epsilon (default 0.1) or add-k's k (default 1)."
    ),
    lowercase: bool = typer.Option(False, "--lowercase", help="Case-insensitive BLEU."),
    sentence_level: bool = typer.Option(
        False, "--sentence-level", help="One score per line (effective order, as sacreBLEU)."
    ),
    explain: bool = typer.Option(
        False, "--explain", help="Per sentence: clipped counts, p_n and the brevity penalty."
    ),
    width: int = typer.Option(2, help="Decimals of the printed score."),
    short: bool = typer.Option(False, "--short", help="Short signature (#:1|c:mixed|...)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """BLEU of hypotheses (stdin or -i) against reference files, as sacreBLEU computes it."""
    from seqlab._io import DataError
    from seqlab.metrics.bleu import BLEUConfig, bleu_statistics

    BLEUConfig(
        tokenize=tokenize,  # type: ignore[arg-type]
        smooth_method=smooth_method,  # type: ignore[arg-type]
        smooth_value=smooth_value,
    )  # a bad option fails before any reading
    hyp_name = str(input_path) if input_path is not None else "<stdin>"
    hypotheses = _read(input_path) if input_path is not None else _read_stdin()
    if not hypotheses:
        raise DataError(hyp_name, "no hypotheses (empty input)", hint="one hypothesis per line")
    streams = []
    for path in refs:
        lines = _read(path)
        if len(lines) != len(hypotheses):
            raise DataError(
                path,
                f"{len(lines)} reference lines but {len(hypotheses)} hypothesis lines "
                f"in {hyp_name}",
                hint="give one reference line per hypothesis line",
            )
        streams.append(lines)
    stats = bleu_statistics(hypotheses, streams, tokenize=tokenize, lowercase=lowercase)  # type: ignore[arg-type]
    smooth = {"smooth_method": smooth_method, "smooth_value": smooth_value}
    corpus = stats.corpus_score(**smooth)  # type: ignore[arg-type]
    per_sentence = stats.sentence_scores(**smooth) if sentence_level or explain else []  # type: ignore[arg-type]
    sig = BLEUConfig(
        tokenize=tokenize,  # type: ignore[arg-type]
        lowercase=lowercase,
        smooth_method=smooth_method,  # type: ignore[arg-type]
        smooth_value=smooth_value,
    )
    if json_out:
        corpus_dict = corpus.to_dict()
        if explain:
            sentences = []
            for i, s in enumerate(per_sentence):
                d = s.to_dict()
                d["ref_lens"] = [n for n in stats.ref_lens[i] if n >= 0]
                sentences.append(d)
            print_json({"corpus": corpus_dict, "sentences": sentences})
        elif sentence_level:
            print_json([s.to_dict() for s in per_sentence])
        else:
            print_json(corpus_dict)
        return
    if explain:
        typer.echo(
            f"per-sentence BLEU (effective order, {smooth_method} smoothing); "
            "p_n = clipped matches / hypothesis n-grams"
        )
        for i, s in enumerate(per_sentence):
            lines = _explain(i + 1, hypotheses[i], s, stats.ref_lens[i], smooth_method)
            typer.echo("\n".join(lines))
        typer.echo("corpus:")
    elif sentence_level:
        eff = replace(sig, effective_order=True)
        short_sig = eff.signature(stats.nrefs, short=True) if short else None
        for s in per_sentence:
            typer.echo(_line(s, width, short_sig))
        return
    corpus_sig = sig.signature(stats.nrefs, short=True) if short else None
    typer.echo(_line(corpus, width, corpus_sig))


def _line(score: object, width: int, short_signature: str | None) -> str:
    from seqlab.metrics.bleu import BLEUScore

    assert isinstance(score, BLEUScore)
    if short_signature is not None:
        score = replace(score, signature=short_signature)
    return score.format(width)
