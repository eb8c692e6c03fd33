"""seqlab's CTC prefix beam search side by side with pyctcdecode on the same logits.

The logits are synthetic but shaped like an acoustic model's: random sequences of digit
words ("seven three nine"), each character held for 1-4 frames with 0-2 blank frames
between (at least one between equal letters), the true class raised above Gaussian noise,
and a share of frames whose peak goes to a wrong character. Both decoders get the same
log-probabilities, the same beam width and the same per-frame pruning of unlikely labels
(pyctcdecode's defaults: ``token_min_logp=-5``); no language model. The table reports the
seconds per utterance (median over repeats), the WER of each against the true text, and how
often the two decoders output the same text. Greedy decoding is the baseline.

pyctcdecode is a benchmark-only dependency (not a test dependency):

    .venv/bin/pip install pyctcdecode
    python benchmarks/ctc.py            # 300 utterances, beam 16, 3 repeats
    python benchmarks/ctc.py --quick    # 30 utterances, 1 repeat
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import torch

from _common import machine, save
from seqlab.decoding.ctc import ctc_beam_search, ctc_greedy_decode
from seqlab.functional.ctc import ctc_feasible, ctc_loss
from seqlab.metrics.asr import cer, wer

DIGITS = "zero one two three four five six seven eight nine".split()
ALPHABET = [*sorted(set("".join(DIGITS))), " "]  # class 0 is the blank, then these


def synthesize(n: int, seed: int, noise: float, confusion: float) -> list[tuple[str, torch.Tensor]]:
    """``n`` (text, log-probabilities (T, C)) pairs (module docstring)."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    classes = len(ALPHABET) + 1
    out = []
    for _ in range(n):
        text = " ".join(rng.choice(DIGITS) for _ in range(rng.randint(3, 6)))
        frames: list[int] = [0] * rng.randint(0, 3)
        for i, ch in enumerate(text):
            if i and text[i - 1] == ch:
                frames.append(0)  # a blank between equal letters
            frames += [ALPHABET.index(ch) + 1] * rng.randint(1, 4)
            frames += [0] * rng.randint(0, 2)
        peaks = torch.tensor(frames)  # (T,)
        wrong = torch.rand(len(frames), generator=gen) < confusion
        peaks = torch.where(wrong, torch.randint(1, classes, peaks.shape, generator=gen), peaks)
        logits = noise * torch.randn(len(frames), classes, generator=gen)  # (T, C)
        logits[torch.arange(len(frames)), peaks] += 5.0
        out.append((text, logits.log_softmax(-1)))
    return out


def to_text(labels: list[int]) -> str:
    return " ".join("".join(ALPHABET[k - 1] for k in labels).split())


def log_prob(text: str, lp: torch.Tensor) -> float:
    """ln P_ctc(text | x), exact (the forward recursion), -inf when it cannot align."""
    labels = [ALPHABET.index(ch) + 1 for ch in text]
    if not ctc_feasible([labels], [lp.shape[0]]).item():
        return float("-inf")
    return -float(ctc_loss(lp.unsqueeze(1), [labels], [lp.shape[0]], reduction="sum"))


def more_probable(
    data: list[tuple[str, torch.Tensor]], ours: list[str], theirs: list[str]
) -> tuple[int, int]:
    """Among utterances where the texts differ: how many times ours is at least as probable."""
    differ = [(lp, a, b) for (_, lp), a, b in zip(data, ours, theirs, strict=True) if a != b]
    better = sum(log_prob(a, lp) >= log_prob(b, lp) for lp, a, b in differ)
    return better, len(differ)


def timed(fn: Callable[[], list[str]], repeats: int) -> tuple[list[str], float]:
    times, texts = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        texts = fn()
        times.append(time.perf_counter() - start)
    return texts, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--utterances", type=int, default=300)
    parser.add_argument("--beam", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--confusion", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="30 utterances, 1 repeat")
    args = parser.parse_args()
    try:
        from pyctcdecode import build_ctcdecoder
    except ImportError:
        raise SystemExit(
            "error: pyctcdecode is not installed; it is a benchmark-only dependency: "
            ".venv/bin/pip install pyctcdecode"
        ) from None
    if args.quick:
        args.utterances, args.repeats = 30, 1
    torch.set_num_threads(1)
    data = synthesize(args.utterances, args.seed, args.noise, args.confusion)
    truth = [text for text, _ in data]
    arrays = [lp.numpy() for _, lp in data]
    decoder = build_ctcdecoder(["", *ALPHABET])
    min_logp = -5.0  # pyctcdecode's default token_min_logp, given to both

    def greedy() -> list[str]:
        return [to_text(ctc_greedy_decode(lp.unsqueeze(0))[0]) for _, lp in data]

    def ours() -> list[str]:
        return [
            to_text(ctc_beam_search(lp, beam_size=args.beam, token_min_logp=min_logp)[0].tokens)
            for _, lp in data
        ]

    def theirs() -> list[str]:
        return [
            " ".join(decoder.decode(a, beam_width=args.beam, token_min_logp=min_logp).split())
            for a in arrays
        ]

    rows = {}
    for name, fn in (("greedy (seqlab)", greedy), ("prefix beam (seqlab)", ours),
                     ("pyctcdecode 0.5", theirs)):  # fmt: skip
        texts, seconds = timed(fn, args.repeats)
        rows[name] = {"texts": texts, "ms_per_utt": 1000 * seconds / len(data),
                      "wer": wer(truth, texts), "cer": cer(truth, texts)}  # fmt: skip
    same = sum(
        a == b
        for a, b in zip(
            rows["prefix beam (seqlab)"]["texts"], rows["pyctcdecode 0.5"]["texts"], strict=True
        )
    )
    frames = statistics.mean(lp.shape[0] for _, lp in data)
    print(f"{len(data)} utterances, {frames:.0f} frames and {len(ALPHABET) + 1} classes on "
          f"average, beam {args.beam}, 1 thread")  # fmt: skip
    print("| decoder | ms / utterance | WER % | CER % |\n|---|---:|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['ms_per_utt']:.2f} | {100 * row['wer']:.2f} | "
              f"{100 * row['cer']:.2f} |")  # fmt: skip
    better, differ = more_probable(data, rows["prefix beam (seqlab)"]["texts"],
                                   rows["pyctcdecode 0.5"]["texts"])  # fmt: skip
    print(
        f"seqlab's beam and pyctcdecode give the same text on {same}/{len(data)} utterances; "
        f"where they differ, seqlab's text has the higher exact P_ctc in {better}/{differ}"
    )
    payload = {
        "machine": machine(),
        "args": vars(args),
        "frames_mean": frames,
        "same_text": same,
        "differ_seqlab_more_probable": [better, differ],
        "rows": {k: {kk: v for kk, v in r.items() if kk != "texts"} for k, r in rows.items()},
    }
    print("saved", save("ctc-beam", payload))


if __name__ == "__main__":
    main()
