"""seqlab.nn's recurrent modules under torch.compile, torch.export, torch.jit.trace, ONNX, autocast.

The drop-in promise of issue 17: wherever ``torch.nn.RNN/GRU/LSTM`` compile, export, trace,
export to ONNX and train under ``torch.autocast("cpu", dtype=torch.bfloat16)``, so do
seqlab's modules, the course's variants (``GRU(reset_after=False)``, ``LSTM(peephole=True)``)
included, before and after a first forward pass (a forward pass used to leave oneDNN state
behind that the tracers could not read). Each call's result is compared with the eager module:

* torch.compile (Inductor, ``fullgraph=True``): outputs and every gradient;
* torch.export.export: the exported program's outputs, and no oneDNN op in its graph;
* torch.jit.trace: the traced module on a new input of the traced shape;
* torch.onnx.export (TorchScript exporter) read back by onnxruntime: outputs;
* autocast bfloat16: a training step (forward, backward, SGD step) whose outputs and
  gradients stay within bfloat16 round-off of the float32 ones.

Configurations: 1 layer, and 2 layers bidirectional batch-first. Compiling is slow (tens of
seconds a module on 2 cores), so the default run compiles each module once, after a forward
pass, in the small configuration; ``-m slow`` compiles every module, fresh, 2 layers bidirectional.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import seqlab.nn as snn
from seqlab.functional import _gemm

E, H, T, B = 3, 4, 5, 2


@dataclass(frozen=True)
class Config:
    layers: int  # stacked layers
    bidirectional: bool  # both directions
    batch_first: bool  # input (B, T, E) instead of (T, B, E)

    def __str__(self) -> str:
        bi = "bi" if self.bidirectional else "uni"
        return f"L{self.layers}-{bi}-{'bf' if self.batch_first else 'tf'}"


SMALL = Config(1, False, False)
DEEP = Config(2, True, True)
CONFIGS = (SMALL, DEEP)


def _stack(cfg: Config, cell: Callable[[int], nn.Module]) -> nn.Module:
    """The generic wrappers: Stacked(Bidirectional(Recurrent(cell)) or Recurrent(cell))."""
    layers: list[nn.Module] = []
    for k in range(cfg.layers):
        size = E if k == 0 else H * (2 if cfg.bidirectional else 1)
        if cfg.bidirectional:
            layers.append(snn.Bidirectional(snn.Recurrent(cell(size)), snn.Recurrent(cell(size))))
        else:
            layers.append(snn.Recurrent(cell(size)))
    return snn.Stacked(layers, batch_first=cfg.batch_first)


def _full(cls: type, **kw: Any) -> Callable[[Config], nn.Module]:
    def build(cfg: Config) -> nn.Module:
        return cls(
            E,
            H,
            cfg.layers,
            batch_first=cfg.batch_first,
            bidirectional=cfg.bidirectional,
            **kw,
        )

    return build


# name -> builder; the first six are the table, the rest the other paths
MODULES: dict[str, Callable[[Config], nn.Module]] = {
    "RNN": _full(snn.RNN),
    "GRU": _full(snn.GRU),
    "LSTM": _full(snn.LSTM),
    "LSTM(proj_size=2)": _full(snn.LSTM, proj_size=2),
    "GRU(reset_after=False)": _full(snn.GRU, reset_after=False),
    "LSTM(peephole=True)": _full(snn.LSTM, peephole=True),
    "LSTM(impl=bptt)": _full(snn.LSTM, impl="bptt"),
    "RNN(relu, impl=bptt)": _full(snn.RNN, nonlinearity="relu", impl="bptt"),
    "LSTM(peephole, proj_size=2)": _full(snn.LSTM, peephole=True, proj_size=2),
    "Stacked(GRUCell(reset_after=False))": lambda cfg: _stack(
        cfg, lambda n: snn.GRUCell(n, H, reset_after=False)
    ),
    "Stacked(LSTMCell(peephole=True))": lambda cfg: _stack(
        cfg, lambda n: snn.LSTMCell(n, H, peephole=True)
    ),
}
STATES = ("fresh", "after-forward")
# autocast bfloat16 against float32, over every case below (torch 2.13, CPU): worst output
# error 0.0053, worst gradient error 1.05% of the largest gradient; bounds ~3-4x that
OUTPUT_TOL = 0.02  # max |bf16 - fp32| on outputs (which lie in (-1, 1))
GRAD_TOL = 0.03  # max |bf16 - fp32| on gradients, relative to the largest gradient


def _flat(value: Any) -> list[Tensor]:
    """Every tensor of a nested output, depth first (the order ONNX numbers outputs in)."""
    if isinstance(value, Tensor):
        return [value]
    return [t for v in value for t in _flat(v)]


def _input(cfg: Config, seed: int = 0, steps: int = T) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (B, steps, E) if cfg.batch_first else (steps, B, E)
    return torch.randn(shape, generator=g)


def _module(name: str, cfg: Config, state: str) -> nn.Module:
    """A module in ``state``: never run, or run forward (and backward) once."""
    torch.manual_seed(0)
    module = MODULES[name](cfg)
    if state == "fresh":
        _gemm._onednn_works.cache_clear()  # as in a new process: nothing checked or cached
    else:
        out = module(_input(cfg, seed=1))
        sum(t.sum() for t in _flat(out)).backward()
        module.zero_grad(set_to_none=True)
    return module


def _assert_close(got: list[Tensor], want: list[Tensor], atol: float, what: str) -> None:
    assert len(got) == len(want), f"{what}: {len(got)} tensors, expected {len(want)}"
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.shape == w.shape, f"{what}[{k}]: shape {tuple(g.shape)} != {tuple(w.shape)}"
        torch.testing.assert_close(g.float(), w.float(), atol=atol, rtol=0, msg=what + f"[{k}]")


def _loss(out: Any) -> Tensor:
    """A loss that weighs every output element differently (a plain sum hides swaps)."""
    total = torch.zeros(())
    for k, t in enumerate(_flat(out)):
        w = torch.linspace(-1.0, 1.0, t.numel()).view(t.shape) * (k + 1)
        total = total + (w * t.float()).sum()
    return total


def _grads(
    module: nn.Module, x: Tensor, run: Callable[[Tensor], Any]
) -> tuple[list[Tensor], list[Tensor]]:
    """The outputs, and d loss / d input and d loss / d every parameter."""
    module.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    out = run(x)
    _loss(out).backward()
    grads = [x.grad] + [p.grad for p in module.parameters()]
    assert all(g is not None for g in grads)
    return [t.detach() for t in _flat(out)], grads  # type: ignore[return-value]


# -- torch.compile --------------------------------------------------------------------


def _check_compile(name: str, cfg: Config, state: str, steps: int = T) -> None:
    module = _module(name, cfg, state)
    x = _input(cfg, steps=steps)
    want = _grads(module, x, module)
    torch._dynamo.reset()  # a fresh cache: no fallback to eager after too many recompiles
    compiled = torch.compile(module, fullgraph=True)  # Inductor; one graph, no break
    got = _grads(module, x, compiled)
    _assert_close(got[0], want[0], 1e-5, f"compile {name}: outputs")
    _assert_close(got[1], want[1], 1e-4, f"compile {name}: gradients")


# each module and variant once (the wrappers and the other impls in the slow sweep)
COMPILE_FAST = (
    "RNN",
    "GRU",
    "LSTM",
    "LSTM(proj_size=2)",
    "GRU(reset_after=False)",
    "LSTM(peephole=True)",
)
NO_COMPILER = shutil.which("g++") is None and shutil.which("c++") is None


@pytest.mark.skipif(NO_COMPILER, reason="Inductor needs a C++ compiler (g++) on CPU")
@pytest.mark.parametrize("name", COMPILE_FAST)
def test_compile_forward_backward_after_a_forward_pass(name: str) -> None:
    _check_compile(name, SMALL, "after-forward", steps=3)  # 3 steps: a smaller graph


@pytest.mark.slow
@pytest.mark.skipif(NO_COMPILER, reason="Inductor needs a C++ compiler (g++) on CPU")
@pytest.mark.parametrize("name", MODULES)
def test_compile_sweep(name: str) -> None:
    """Every module, fresh, 2 layers bidirectional batch-first (about 35 s each on 2 cores:
    the after-forward state of each variant is in the fast tier above)."""
    _check_compile(name, DEEP, "fresh")


def test_compile_without_a_compiler_backend_aot_eager() -> None:
    """The traced path itself, through AOTAutograd, without Inductor's C++ step."""
    module = _module("GRU(reset_after=False)", DEEP, "after-forward")
    x = _input(DEEP)
    want = _grads(module, x, module)
    torch._dynamo.reset()
    got = _grads(module, x, torch.compile(module, backend="aot_eager", fullgraph=True))
    _assert_close(got[0], want[0], 1e-5, "aot_eager: outputs")
    _assert_close(got[1], want[1], 1e-4, "aot_eager: gradients")


# -- export, trace, ONNX, autocast: every module, state and configuration ------------

CASES = [(n, c, s) for n in MODULES for c in CONFIGS for s in STATES]
IDS = [f"{n}-{c}-{s}" for n, c, s in CASES]


@pytest.mark.parametrize(("name", "cfg", "state"), CASES, ids=IDS)
def test_torch_export(name: str, cfg: Config, state: str) -> None:
    module = _module(name, cfg, state)
    x = _input(cfg)
    program = torch.export.export(module, (x,))
    assert "mkldnn" not in str(program.graph), "a oneDNN op leaked into the exported graph"
    with torch.no_grad():
        _assert_close(_flat(program.module()(x)), _flat(module(x)), 1e-6, f"export {name}")


@pytest.mark.parametrize(("name", "cfg", "state"), CASES, ids=IDS)
def test_jit_trace(name: str, cfg: Config, state: str) -> None:
    module = _module(name, cfg, state)
    traced = torch.jit.trace(module, (_input(cfg),), check_trace=False)
    x = _input(cfg, seed=2)  # a new input of the traced shape
    with torch.no_grad():
        _assert_close(_flat(traced(x)), _flat(module(x)), 1e-6, f"trace {name}")


def _onnx_run(module: nn.Module, x: Tensor, **kw: Any) -> list[Tensor]:
    ort = pytest.importorskip("onnxruntime")
    buf = io.BytesIO()
    result = torch.onnx.export(module, (x,), buf if not kw.get("dynamo") else None, **kw)
    data = buf.getvalue() if result is None else result.model_proto.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    outs = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    return [torch.from_numpy(o) for o in outs]


@pytest.mark.parametrize(("name", "cfg", "state"), CASES, ids=IDS)
def test_onnx_export_read_back_by_onnxruntime(name: str, cfg: Config, state: str) -> None:
    module = _module(name, cfg, state).eval()
    x = _input(cfg)
    got = _onnx_run(module, x, dynamo=False)
    with torch.no_grad():
        _assert_close(got, _flat(module(x)), 1e-5, f"onnx {name}")


@pytest.mark.parametrize("name", ["LSTM", "GRU(reset_after=False)", "LSTM(peephole=True)"])
def test_onnx_dynamo_exporter(name: str) -> None:
    """torch.onnx.export's default (dynamo=True) exporter, which needs onnxscript."""
    pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript")
    module = _module(name, DEEP, "after-forward").eval()
    x = _input(DEEP)
    with torch.no_grad():
        _assert_close(_onnx_run(module, x, dynamo=True), _flat(module(x)), 1e-5, "onnx")


@pytest.mark.parametrize(("name", "cfg", "state"), CASES, ids=IDS)
def test_autocast_bfloat16_training_step(name: str, cfg: Config, state: str) -> None:
    module = _module(name, cfg, state)
    x = _input(cfg)
    want = _grads(module, x, module)  # float32
    params = [p.detach().clone() for p in module.parameters()]

    def run(inp: Tensor) -> Any:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return module(inp)

    got = _grads(module, x, run)
    # bfloat16 keeps 8 significant bits (0.4% a rounding), a few roundings deep over 5
    # steps and 2 layers (OUTPUT_TOL, GRAD_TOL: see their comments for the measured margins)
    _assert_close(got[0], want[0], OUTPUT_TOL, f"autocast {name}: outputs")
    scale = max(g.abs().max().item() for g in want[1])
    _assert_close(got[1], want[1], GRAD_TOL * scale, f"autocast {name}: gradients")
    torch.optim.SGD(module.parameters(), lr=0.1).step()
    assert all(
        not torch.equal(p, q) and torch.isfinite(p).all()
        for p, q in zip(module.parameters(), params, strict=True)
    )


# -- which path runs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "eager", "autocast"),
    [
        ("GRU", "bptt", "fused"),  # "auto": the compiled loop, torch's kernel under autocast
        ("LSTM(proj_size=2)", "fused", "fused"),
        ("GRU(reset_after=False)", "bptt", "loop"),
        ("LSTM(peephole=True)", "bptt", "loop"),
        ("LSTM(peephole, proj_size=2)", "loop", "loop"),
    ],
)
def test_eager_float32_keeps_the_fast_kernels(name: str, eager: str, autocast: str) -> None:
    module = MODULES[name](SMALL)
    x = _input(SMALL)
    assert module.path(x, x.shape[1]) == eager
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert module.path(x, x.shape[1]) == autocast


class _Product(nn.Module):
    """x W^T through the kernels' GEMM helper, as the BPTT kernels call it."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, E))

    def forward(self, x: Tensor) -> Tensor:
        return _gemm.linear(x, self.weight)  # (N, E) -> (N, 4)


def test_tracing_does_not_poison_the_onednn_check() -> None:
    """A first call under a tracer must not cache "oneDNN is broken" for the process.

    (Fresh modules used to export where used ones failed: the check had run on fake
    tensors, failed, and switched oneDNN off; after a forward pass it was on and its ops
    leaked into the graph.)
    """
    x = torch.randn(3, E)
    for record in (
        lambda m: torch.export.export(m, (x,)),
        lambda m: torch.jit.trace(m, (x,)),
        lambda m: torch.export.export(MODULES["GRU(reset_after=False)"](SMALL), (_input(SMALL),)),
    ):
        _gemm._onednn_works.cache_clear()
        record(_Product())
        expected = torch.backends.mkldnn.is_available() and _gemm._onednn_agrees()
        assert _gemm.onednn_enabled(torch.ones(1)) == expected
    _gemm._onednn_works()  # now checked eagerly: still no oneDNN op in a recorded graph
    assert "mkldnn" not in str(torch.export.export(_Product(), (x,)).graph)
