"""seqlab's Transformer pieces side by side with torch.nn, and the key/value cache's gain.

(a) Encoder layer, forward + backward: seqlab ``TransformerEncoderLayer`` vs
    ``torch.nn.TransformerEncoderLayer`` with the same weights and arguments
    (dim_feedforward = 4·d, dropout 0.1, relu, batch-first, the same input) at d 256/512,
    heads 4/8, T 64/128, B 32, for post-norm and pre-norm (``norm_first``), in train mode
    (dropout on) and eval mode (dropout off; the input requires grad, so torch's inference
    fast path is not taken by either). Ratio = torch time ÷ seqlab time (> 1: seqlab
    faster; target ≥ 0.95). ``--profile`` prints torch.profiler's top operators of both
    layers at the first size, to see where any difference comes from.
(b) Generation: a decoder-only ``TransformerLanguageModel`` draws ``--tokens`` tokens greedily,
    once with the key/value cache (``step``) and once recomputing the whole prefix at every
    token (``forward`` on y<1..t>). Both must draw the same tokens. Speed-up = recompute time
    ÷ cache time (target ≥ 3).

Each repeat runs the contenders in alternating order (the machine is noisy); the table shows
medians with min–max over repeats, and the CPU model, threads and versions.

    python benchmarks/transformer.py                    # CPU, the issue's sizes
    python benchmarks/transformer.py --threads 2 --repeats 7
    python benchmarks/transformer.py --quick            # a smoke run (small, 2 repeats)
    python benchmarks/transformer.py --threads 1 --quick --profile --skip-generation
    python benchmarks/transformer.py --device cuda
"""

from __future__ import annotations

import argparse
import platform
import subprocess
from collections.abc import Callable

import torch
from torch import nn

from _common import machine, save, summary, timer
from seqlab.models.transformer import TransformerLanguageModel, TransformerLMConfig
from seqlab.nn.transformer import TransformerEncoderLayer

SIZES = [(256, 4, 64), (256, 4, 128), (512, 8, 64), (512, 8, 128)]  # (d, heads, T)
QUICK_SIZES = [(64, 4, 32)]


def cpu_model() -> str:
    """``lscpu``'s model name (else platform's)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or platform.machine()


def training_step(layer: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def run() -> None:
        out = layer(x)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()
        layer.zero_grad(set_to_none=True)

    return run


def layer_pair(
    d: int, heads: int, norm_first: bool, train: bool, args: argparse.Namespace
) -> tuple[nn.Module, nn.Module]:
    """seqlab's and torch's encoder layer: same arguments, same weights, same mode."""
    torch.manual_seed(0)
    ours = TransformerEncoderLayer(d, heads, 4 * d, args.dropout, norm_first=norm_first)
    peer = nn.TransformerEncoderLayer(
        d, heads, 4 * d, args.dropout, batch_first=True, norm_first=norm_first
    )
    peer.load_state_dict(ours.state_dict())
    return ours.to(args.device).train(train), peer.to(args.device).train(train)


def encoder_layers(args: argparse.Namespace) -> list[dict[str, object]]:
    """(a): seconds per forward+backward of each layer, and the ratio, per configuration."""
    time_it = timer(args.device)
    rows = []
    configs = [
        (size, norm, mode)
        for size in (QUICK_SIZES if args.quick else SIZES)
        for norm in args.norm
        for mode in args.modes
    ]
    for (d, heads, steps), norm, mode in configs:
        ours, peer = layer_pair(d, heads, norm == "pre", mode == "train", args)
        x = torch.randn(args.batch, steps, d, device=args.device, requires_grad=True)
        runs = {"seqlab": training_step(ours, x), "torch": training_step(peer, x)}
        for fn in runs.values():  # warm up
            fn()
        times: dict[str, list[float]] = {name: [] for name in runs}
        for r in range(args.repeats):
            order = list(runs) if r % 2 == 0 else list(reversed(runs))
            for name in order:
                times[name].append(time_it(runs[name]))
        ratios = [t / s for s, t in zip(times["seqlab"], times["torch"], strict=True)]
        rows.append(
            {
                "d_model": d,
                "heads": heads,
                "T": steps,
                "B": args.batch,
                "norm": norm,
                "mode": mode,
                "dropout": args.dropout,
                "seqlab_s": summary(times["seqlab"]),
                "torch_s": summary(times["torch"]),
                "ratio_torch_over_seqlab": summary(ratios),
            }
        )
    return rows


@torch.no_grad()
def generate(model: TransformerLanguageModel, prompt: torch.Tensor, n: int, cache: bool) -> list:
    """Greedy tokens after ``prompt`` (B, 1): with the cache, or recomputing the prefix."""
    tokens = prompt  # (B, t)
    if cache:
        log_probs, state = model.step(prompt[:, 0], model.init_state(prompt.shape[0]))
        for _ in range(n):
            nxt = log_probs.argmax(-1)  # (B,)
            tokens = torch.cat([tokens, nxt[:, None]], 1)
            log_probs, state = model.step(nxt, state)
    else:
        for _ in range(n):
            logits, _ = model(tokens)  # (B, t, V): every position again
            tokens = torch.cat([tokens, logits[:, -1].argmax(-1, keepdim=True)], 1)
    return tokens.tolist()


def generation(args: argparse.Namespace) -> dict[str, object]:
    """(b): seconds to draw ``args.tokens`` tokens with and without the cache."""
    d, heads, layers = (64, 4, 2) if args.quick else (256, 4, 4)
    n = 32 if args.quick else args.tokens
    torch.manual_seed(0)
    config = TransformerLMConfig(
        vocab_size=256, d_model=d, num_heads=heads, num_layers=layers,
        dim_feedforward=4 * d, max_positions=n + 1,
    )  # fmt: skip
    model = TransformerLanguageModel(config).to(args.device).eval()
    prompt = torch.zeros(args.gen_batch, 1, dtype=torch.long, device=args.device)
    same = generate(model, prompt, n, True) == generate(model, prompt, n, False)
    time_it = timer(args.device)
    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(args.repeats):
        for cache in (True, False) if r % 2 == 0 else (False, True):
            times[cache].append(time_it(lambda c=cache: generate(model, prompt, n, c)))
    speedups = [f / c for c, f in zip(times[True], times[False], strict=True)]
    return {
        "d_model": d,
        "heads": heads,
        "layers": layers,
        "tokens": n,
        "batch": args.gen_batch,
        "same_tokens": same,
        "cache_s": summary(times[True]),
        "recompute_s": summary(times[False]),
        "speedup": summary(speedups),
    }


def profile_layers(args: argparse.Namespace, calls: int = 5) -> None:
    """torch.profiler's operators by self CPU time, for each layer at the first size."""
    from torch.profiler import ProfilerActivity, profile

    d, heads, steps = (QUICK_SIZES if args.quick else SIZES)[0]
    norm, mode = args.norm[0], args.modes[0]
    layers = layer_pair(d, heads, norm == "pre", mode == "train", args)
    x = torch.randn(args.batch, steps, d, device=args.device, requires_grad=True)
    for name, layer in zip(("seqlab", "torch.nn"), layers, strict=True):
        run = training_step(layer, x)
        run()  # warm up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                run()
        print(
            f"\nprofile: {name}, d {d}, nh {heads}, T {steps}, {norm}-norm, {mode}, {calls} steps"
        )
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def fmt(s: dict[str, float], unit: str = "") -> str:
    return f"{s['median']:.3g}{unit} ({s['min']:.3g}–{s['max']:.3g})"


def report(result: dict[str, object]) -> None:
    info = result["machine"]
    assert isinstance(info, dict)
    print(f"CPU: {result['cpu_model']}  threads: {info['torch_threads']}  torch {info['torch']}")
    print("\n(a) encoder layer forward+backward, seconds per step (median, min–max)")
    print(
        f"{'d':>4} {'nh':>3} {'T':>4} {'B':>3} {'norm':>4} {'mode':>5}  {'seqlab':>22}  "
        f"{'torch.nn':>22}  torch/seqlab"
    )
    for row in result["encoder_layer"]:  # type: ignore[attr-defined]
        print(
            f"{row['d_model']:>4} {row['heads']:>3} {row['T']:>4} {row['B']:>3} "
            f"{row['norm']:>4} {row['mode']:>5}  "
            f"{fmt(row['seqlab_s']):>22}  {fmt(row['torch_s']):>22}  "
            f"{fmt(row['ratio_torch_over_seqlab'], 'x')}"
        )
    g = result.get("generation")
    if not isinstance(g, dict):
        return
    print(
        f"\n(b) greedy generation of {g['tokens']} tokens (batch {g['batch']}, d {g['d_model']}, "
        f"{g['layers']} layers): KV cache {fmt(g['cache_s'], ' s')}, recomputing the prefix "
        f"{fmt(g['recompute_s'], ' s')}; speed-up {fmt(g['speedup'], 'x')}; "
        f"same tokens: {g['same_tokens']}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch", type=int, default=32, help="B of the encoder-layer comparison")
    p.add_argument("--tokens", type=int, default=256, help="tokens generated in (b)")
    p.add_argument("--gen-batch", type=int, default=1, help="sequences generated at once in (b)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--dropout", type=float, default=0.1, help="both layers' dropout")
    p.add_argument(
        "--norm", nargs="+", choices=["post", "pre"], default=["post", "pre"],
        help="post-norm (the paper) and/or pre-norm (norm_first)",
    )  # fmt: skip
    p.add_argument(
        "--modes", nargs="+", choices=["train", "eval"], default=["train", "eval"],
        help="train: dropout on; eval: dropout off (forward+backward in both)",
    )  # fmt: skip
    p.add_argument("--profile", action="store_true", help="torch.profiler top ops, first size")
    p.add_argument("--skip-generation", action="store_true", help="only (a)")
    p.add_argument("--quick", action="store_true", help="small sizes, 2 repeats (smoke test)")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = 2
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict[str, object] = {
        "machine": machine(),
        "cpu_model": cpu_model(),
        "repeats": args.repeats,
        "encoder_layer": encoder_layers(args),
    }
    if not args.skip_generation:
        result["generation"] = generation(args)
    report(result)
    if args.profile:
        profile_layers(args)
    rows: list[dict] = result["encoder_layer"]  # type: ignore[assignment]
    ratios = [row["ratio_torch_over_seqlab"]["median"] for row in rows]
    print(f"\nworst median encoder ratio {min(ratios):.3f} (target >= 0.95)")
    if not args.no_save and not args.quick:
        print(f"saved {save(f'transformer-{args.device}', result)}")


if __name__ == "__main__":
    main()
