"""seqlab's recurrent modules side by side with torch.nn's fused kernels and a textbook loop.

For every family (RNN, GRU, LSTM) and shape configuration, each repeat times every model
once, in rotating order (the machine is noisy: A B C A B C ...), forward (inference) and
forward+backward (training). The table reports tokens/s (median) and the ratio to torch.nn
(seqlab tokens/s ÷ torch.nn tokens/s, median with min–max over repeats; > 1 is faster).

    python benchmarks/recurrent.py                   # CPU, the issue's sizes
    python benchmarks/recurrent.py --device cuda     # GPU
    python benchmarks/recurrent.py --quick           # a smoke run (small, 2 repeats)
    python benchmarks/recurrent.py --profile         # where the time goes (torch.profiler)
    python benchmarks/recurrent.py --threads 1 --clock cpu   # on a shared machine

``--clock cpu`` times each call in CPU time of this process (``time.process_time``) instead of
wall time, so other jobs on a shared machine count less; use it with ``--threads 1`` (with more
threads it also counts the OpenMP workers' spin-waiting).

``--profile`` runs torch.nn's GRU and LSTM and the course's variants under torch.profiler and
splits each call's time into matrix products (GEMM), torch's fused oneDNN RNN primitive,
elementwise ops, copies, views and allocations, and the rest (Python, autograd, dispatch):
the per-step overhead a loop of small ops pays on top of the GEMMs it cannot avoid.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

import seqlab.nn as snn
from _common import machine, run_name, save, summary, timer


@dataclass(frozen=True)
class Entry:
    """One model in the comparison."""

    family: str  # RNN / GRU / LSTM
    name: str  # label in the table
    build: Callable[[int, int, int, bool], nn.Module]  # (E, H, layers, bidirectional)
    peer: bool = False  # the torch.nn model the ratios are taken against


def entries() -> list[Entry]:
    """The models compared, per family, the torch.nn peer first."""
    return [
        Entry("RNN", "torch.nn.RNN", lambda e, h, n, b: nn.RNN(e, h, n, bidirectional=b), True),
        Entry(
            "RNN", "seqlab RNN (auto: fused)", lambda e, h, n, b: snn.RNN(e, h, n, bidirectional=b)
        ),
        Entry(
            "RNN",
            "seqlab RNN impl=bptt",
            lambda e, h, n, b: snn.RNN(e, h, n, bidirectional=b, impl="bptt"),
        ),
        Entry(
            "RNN",
            "textbook loop",
            lambda e, h, n, b: snn.RNN(e, h, n, bidirectional=b, impl="loop"),
        ),
        Entry("GRU", "torch.nn.GRU", lambda e, h, n, b: nn.GRU(e, h, n, bidirectional=b), True),
        Entry(
            "GRU",
            "seqlab GRU (auto: compiled loop)",
            lambda e, h, n, b: snn.GRU(e, h, n, bidirectional=b),
        ),
        Entry(
            "GRU",
            "seqlab GRU impl=bptt",
            lambda e, h, n, b: snn.GRU(e, h, n, bidirectional=b, impl="bptt"),
        ),
        Entry(
            "GRU",
            "seqlab GRU reset_after=False (bptt)",
            lambda e, h, n, b: snn.GRU(e, h, n, bidirectional=b, reset_after=False),
        ),
        Entry(
            "GRU",
            "textbook loop, reset_after=False",
            lambda e, h, n, b: snn.GRU(e, h, n, bidirectional=b, reset_after=False, impl="loop"),
        ),
        Entry("LSTM", "torch.nn.LSTM", lambda e, h, n, b: nn.LSTM(e, h, n, bidirectional=b), True),
        Entry(
            "LSTM",
            "seqlab LSTM (auto: fused; trains bptt)",
            lambda e, h, n, b: snn.LSTM(e, h, n, bidirectional=b),
        ),
        Entry(
            "LSTM",
            "seqlab LSTM impl=bptt",
            lambda e, h, n, b: snn.LSTM(e, h, n, bidirectional=b, impl="bptt"),
        ),
        Entry(
            "LSTM",
            "seqlab LSTM peephole=True (bptt)",
            lambda e, h, n, b: snn.LSTM(e, h, n, bidirectional=b, peephole=True),
        ),
        Entry(
            "LSTM",
            "textbook loop, peephole=True",
            lambda e, h, n, b: snn.LSTM(e, h, n, bidirectional=b, peephole=True, impl="loop"),
        ),
    ]


def fwd(model: nn.Module, x: torch.Tensor) -> None:
    """Inference: forward only, no graph."""
    with torch.no_grad():
        model.eval()(x)


def fwdbwd(model: nn.Module, x: torch.Tensor) -> None:
    """Training: forward and backward of a sum loss."""
    out, _ = model.train()(x)
    out.sum().backward()
    model.zero_grad(set_to_none=True)


def cpu_timer(fn: Callable[[], object]) -> float:
    """CPU seconds of this process spent in one call of ``fn``."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def time_family(
    models: dict[str, nn.Module], x: torch.Tensor, repeats: int, device: str, clock: str = "wall"
) -> dict[str, dict[str, list[float]]]:
    """Seconds per call for every model and phase, models interleaved in rotating order."""
    tick = cpu_timer if clock == "cpu" else timer(device)
    times: dict[str, dict[str, list[float]]] = {n: {"fwd": [], "fwdbwd": []} for n in models}
    for m in models.values():  # warm-up: allocator, oneDNN weight reorders, cuDNN plans
        fwd(m, x)
        fwdbwd(m, x)
    names = list(models)
    for r in range(repeats):
        for n in names[r % len(names) :] + names[: r % len(names)]:
            m = models[n]
            times[n]["fwd"].append(tick(lambda m=m: fwd(m, x)))
            times[n]["fwdbwd"].append(tick(lambda m=m: fwdbwd(m, x)))
    return times


def measure(args: argparse.Namespace) -> dict[str, object]:
    """Run every configuration; return the results as a JSON-able dict."""
    torch.manual_seed(0)
    tokens = args.batch * args.steps
    rows = []
    for layers, bidirectional in args.configs:
        x = torch.randn(args.steps, args.batch, args.input, device=args.device)
        for family in ("RNN", "GRU", "LSTM"):
            group = [e for e in entries() if e.family == family]
            group = [e for e in group if e.peer or not args.only or e.name in args.only]
            models = {
                e.name: e.build(args.input, args.hidden, layers, bidirectional).to(args.device)
                for e in group
            }
            times = time_family(models, x, args.repeats, args.device, args.clock)
            peer = next(e.name for e in group if e.peer)
            for e in group:
                row: dict[str, object] = {
                    "family": family,
                    "layers": layers,
                    "bidirectional": bidirectional,
                    "model": e.name,
                }
                for phase in ("fwd", "fwdbwd"):
                    ts = times[e.name][phase]
                    ratios = [p / t for p, t in zip(times[peer][phase], ts, strict=True)]
                    row[phase] = {
                        "seconds": summary(ts),
                        "tokens_per_s": tokens / statistics.median(ts),
                        "ratio_to_torch": summary(ratios),
                    }
                rows.append(row)
                print_row(row)
    return {
        "benchmark": "recurrent",
        "device": args.device,
        "sizes": {
            "batch": args.batch,
            "steps": args.steps,
            "input": args.input,
            "hidden": args.hidden,
        },
        "repeats": args.repeats,
        "clock": args.clock,
        "machine": machine(),
        "rows": rows,
    }


def print_row(row: dict) -> None:
    cfg = f"{row['layers']}L{'x2 bi' if row['bidirectional'] else ''}"
    f, fb = row["fwd"], row["fwdbwd"]
    print(
        f"{cfg:8s} {row['model']:38s} fwd {f['tokens_per_s']:9.0f} tok/s "
        f"x{f['ratio_to_torch']['median']:.2f}  fwd+bwd {fb['tokens_per_s']:9.0f} tok/s "
        f"x{fb['ratio_to_torch']['median']:.2f}",
        flush=True,
    )


PROFILED = (
    "torch.nn.GRU",
    "seqlab GRU (auto: compiled loop)",
    "seqlab GRU reset_after=False (bptt)",
    "torch.nn.LSTM",
    "seqlab LSTM peephole=True (bptt)",
)
GEMM_OPS = {"mkldnn::_linear_pointwise", "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
FUSED_RNN_OPS = {"aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward"}
COPY_OPS = {"aten::copy_", "aten::cat", "aten::stack", "aten::clone", "aten::index_select"}
VIEW_OPS = {
    "aten::empty", "aten::empty_like", "aten::empty_strided", "aten::new_empty", "aten::view",
    "aten::slice", "aten::select", "aten::as_strided", "aten::split", "aten::unbind",
    "aten::t", "aten::transpose", "aten::unsqueeze", "aten::squeeze", "aten::reshape",
    "aten::expand", "aten::chunk", "aten::unsafe_split", "aten::unsafe_chunk", "aten::narrow",
    "aten::permute", "aten::resize_", "aten::detach", "aten::alias", "aten::_unsafe_view",
    "aten::contiguous", "aten::zeros", "aten::zero_", "aten::zeros_like", "aten::fill_",
    "aten::ones_like", "aten::new_zeros", "aten::new_ones", "aten::lift_fresh",
}  # fmt: skip
FUSED_STEP = "seqlab::compiled_loop"  # seqlab's numba loops (brgemm + gates), recorded by --profile
PARTS = (
    "GEMM", "fused RNN", "compiled loop", "elementwise", "copies", "views+allocs", "Python+autograd"
)  # fmt: skip


def _part(name: str) -> str:
    """The column an op's self time goes to."""
    if name in GEMM_OPS:
        return "GEMM"
    if name in FUSED_RNN_OPS:
        return "fused RNN"
    if name == FUSED_STEP:
        return "compiled loop"
    if name in COPY_OPS:
        return "copies"
    if name in VIEW_OPS:
        return "views+allocs"
    if name.startswith(("aten::", "mkldnn::")):
        return "elementwise"
    return "Python+autograd"  # autograd nodes, Python functions, the profiler's own records


def _record_compiled_loops() -> None:
    """Make seqlab's compiled loops (the LSTM's and the original GRU's whole sequence, their
    GEMMs included) show in torch.profiler as ``FUSED_STEP``. They are no torch op and run
    on worker threads the profiler does not see, so the record wraps the call that hands
    them out and waits for them, on the calling thread."""
    from seqlab.functional import _fused_step

    run_rows = _fused_step._run_rows

    def recorded(*args: object) -> None:
        with torch.profiler.record_function(FUSED_STEP):
            run_rows(*args)  # type: ignore[arg-type]

    _fused_step._run_rows = recorded  # type: ignore[assignment]


def profile_call(fn: Callable[[], None], calls: int) -> dict[str, float]:
    """Milliseconds per call of ``fn`` by part: ops' self CPU time; the time no op accounts
    for (the Python loop, autograd's engine, dispatch) goes to "Python+autograd"."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        tick = timer("cpu")
        wall = sum(tick(fn) for _ in range(calls))
    parts = dict.fromkeys(PARTS, 0.0)
    for e in prof.key_averages():
        parts[_part(e.key)] += e.self_cpu_time_total / 1e3  # ms
    parts["Python+autograd"] += max(0.0, wall * 1e3 - sum(parts.values()))
    return {k: v / calls for k, v in parts.items()} | {"total": wall * 1e3 / calls}


def profile_table(args: argparse.Namespace) -> str:
    """The --profile table: ms per call by part, and the non-GEMM time per recurrent step."""
    torch.manual_seed(0)
    lines = [
        "| config | model | phase | ms/call | " + " | ".join(PARTS) + " | non-GEMM µs/step |",
        "|---|---|---|---:|" + "---:|" * len(PARTS) + "---:|",
    ]
    for layers, bidirectional in args.configs:
        x = torch.randn(args.steps, args.batch, args.input)
        steps = args.steps * layers * (2 if bidirectional else 1)  # recurrent steps per call
        for e in entries():
            if e.name not in PROFILED:
                continue
            model = e.build(args.input, args.hidden, layers, bidirectional)
            for phase, fn in (("inference", fwd), ("training", fwdbwd)):
                p = profile_call(lambda m=model, f=fn, x=x: f(m, x), args.repeats)
                cfg = f"{layers}L{' bi' if bidirectional else ''}"
                cells = " | ".join(f"{p[k]:.1f}" for k in PARTS)
                fused = p["fused RNN"] or p["compiled loop"]  # GEMMs inside, not split out
                other = p["total"] - p["GEMM"]  # the per-step overhead
                per_step = "(fused)" if fused else f"{other * 1e3 / steps:.0f}"
                lines.append(
                    f"| {cfg} | {e.name} | {phase} | {p['total']:.1f} | {cells} | {per_step} |"
                )
                print(lines[-1], flush=True)
    return "\n".join(lines)


def markdown(result: dict) -> str:
    """The README table."""
    lines = [
        "| config | model | fwd tok/s | fwd ratio (min–max) "
        "| fwd+bwd tok/s | fwd+bwd ratio (min–max) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        cfg = f"{row['layers']} layer{'s' if row['layers'] > 1 else ''}" + (
            ", bidirectional" if row["bidirectional"] else ""
        )
        cells = []
        for phase in ("fwd", "fwdbwd"):
            r = row[phase]["ratio_to_torch"]
            cells += [
                f"{row[phase]['tokens_per_s']:,.0f}",
                f"{r['median']:.2f} ({r['min']:.2f}–{r['max']:.2f})",
            ]
        lines.append(f"| {cfg} | {row['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--input", type=int, default=128)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--only", default="", help="comma-separated model names to keep")
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or this process's CPU time (a shared machine; best with --threads 1)",
    )
    p.add_argument("--quick", action="store_true", help="small sizes, 2 repeats (smoke test)")
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/")
    p.add_argument(
        "--profile",
        action="store_true",
        help="print where the time goes (GEMM, elementwise, copies, Python) instead of ratios",
    )
    args = p.parse_args(argv)
    args.configs = [(1, False), (2, True)]
    if args.quick:
        args.batch, args.steps, args.input, args.hidden, args.repeats = 8, 10, 16, 32, 2
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda given but torch sees no CUDA device")
    if args.profile:
        if args.device != "cpu":
            raise SystemExit("error: --profile splits CPU time; run it with --device cpu")
        _record_compiled_loops()
        print(f"{machine()['cpu']}, {torch.get_num_threads()} threads, torch {torch.__version__}")
        print()
        print(profile_table(args))
        return
    result = measure(args)
    print()
    print(markdown(result))
    if not args.no_save and not args.quick:
        facts = result["machine"]
        if args.device == "cpu":
            suffix = f"cpu-{run_name(facts['cpu'], int(facts['torch_threads']))}"
        else:
            suffix = "cuda"
        print(f"\nsaved {save(f'recurrent-{suffix}', result)}")


if __name__ == "__main__":
    main()
