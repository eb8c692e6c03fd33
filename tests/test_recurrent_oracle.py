"""Oracle: seqlab's recurrent nets against the NumPy float64 reference with hand-written BPTT.

``tests/reference/numpy_rnn.py`` (itself checked by finite differences) computes outputs,
final states and the gradients of ``sum(w_out * out) + sum(w_h * h_n) (+ sum(w_c * c_n))``
without autodiff. seqlab's autograd / BPTT gradients must match it for every variant,
including the ones torch.nn does not have (GRU with ``reset_after=False``, LSTM with
peepholes), and for both unfused implementations. ``torch.autograd.gradcheck`` checks the
same gradients against finite differences on tiny sizes.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from torch import Tensor
from torch.func import functional_call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import seqlab.nn as snn
from tests.reference import numpy_rnn as ref

E, H, T, B = 3, 4, 5, 3
LENGTHS = (3, 5, 1)  # unsorted, unequal, one of length 1
SCALE = 0.8
RTOL, ATOL = 1e-10, 1e-10

# variant -> (oracle mode, reset_after, peephole)
VARIANTS: dict[str, tuple[str, bool, bool]] = {
    "rnn_tanh": ("rnn_tanh", True, False),
    "rnn_relu": ("rnn_relu", True, False),
    "gru": ("gru", True, False),
    "gru_reset_before": ("gru", False, False),
    "lstm": ("lstm", True, False),
    "lstm_peephole": ("lstm", True, True),
}


def make_module(
    variant: str, impl: str, input_size: int = E, hidden_size: int = H, **kw: object
) -> snn.RNNBase:
    """A float64 seqlab module for ``variant``."""
    mode, reset_after, peephole = VARIANTS[variant]
    common: dict = {"impl": impl, "dtype": torch.float64, **kw}
    if mode.startswith("rnn_"):
        return snn.RNN(input_size, hidden_size, nonlinearity=mode[4:], **common)
    if mode == "gru":
        return snn.GRU(input_size, hidden_size, reset_after=reset_after, **common)
    return snn.LSTM(input_size, hidden_size, peephole=peephole, **common)


def randomize_(module: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2 * SCALE - SCALE)


def assert_close(
    case: str, name: str, got: Tensor, want: np.ndarray, *, may_be_zero: bool = False
) -> None:
    """Fail, naming the case, the quantity and the max error, unless ``got`` ≈ the oracle's.

    An all-zero oracle value fails too (the comparison would be vacuous) unless
    ``may_be_zero`` (a ReLU unit can be dead on a short sequence).
    """
    ours = got.detach().numpy()
    assert ours.shape == want.shape, f"{case}: {name}: shape {ours.shape}, oracle {want.shape}"
    assert may_be_zero or np.any(want != 0), f"{case}: {name}: the oracle's value is all zero"
    err = np.abs(ours - want)
    ok = bool(np.all(err <= ATOL + RTOL * np.abs(want)))  # NaN fails
    assert ok, f"{case}: {name}: max abs err {err.max():.3e} (rtol={RTOL}, atol={ATOL})"


# -- outputs and every gradient against the oracle -------------------------------------------


@pytest.mark.parametrize("lengths", ["full", "packed"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("layers", [1, 2], ids=["L1", "L2"])
@pytest.mark.parametrize("impl", ["bptt", "loop"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_matches_numpy_oracle(
    variant: str, impl: str, layers: int, bidirectional: bool, bias: bool, lengths: str
) -> None:
    case = f"{variant} impl={impl} L={layers} bi={bidirectional} bias={bias} {lengths}"
    mode, reset_after, peephole = VARIANTS[variant]
    is_lstm = mode == "lstm"
    gen = torch.Generator().manual_seed(zlib.crc32(case.encode()))
    module = make_module(variant, impl, num_layers=layers, bidirectional=bidirectional, bias=bias)
    randomize_(module, gen)
    num_states = layers * (2 if bidirectional else 1)

    def randn(*shape: int) -> Tensor:
        return torch.randn(shape, generator=gen, dtype=torch.float64)

    x, h0, c0 = randn(T, B, E), randn(num_states, B, H), randn(num_states, B, H)
    lens = None if lengths == "full" else list(LENGTHS)
    if lens is not None:
        for b, n in enumerate(lens):
            x[n:, b] = 1e3 * randn(T - n, E)  # garbage in the padding: must be ignored
    w_out = randn(T, B, num_states // layers * H)
    w_h, w_c = randn(num_states, B, H), randn(num_states, B, H)

    # seqlab, under autograd
    leaves = [x.clone().requires_grad_(), h0.clone().requires_grad_()]
    if is_lstm:
        leaves.append(c0.clone().requires_grad_())
    inp = leaves[0]
    if lens is not None:
        inp = pack_padded_sequence(leaves[0], torch.tensor(lens), enforce_sorted=False)
    out, state = module(inp, tuple(leaves[1:]) if is_lstm else leaves[1])
    if isinstance(out, PackedSequence):
        out, out_lens = pad_packed_sequence(out, total_length=T)
        assert out_lens.tolist() == lens, f"{case}: lengths {out_lens.tolist()}"
    finals = list(state) if is_lstm else [state]
    weighted = zip((w_h, w_c), finals, strict=False)  # c_n only for the LSTM
    loss = (w_out * out).sum() + sum((w * f).sum() for w, f in weighted)
    names, params = zip(*module.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, [*leaves, *params])

    # the oracle
    np_params = {n: p.detach().numpy() for n, p in module.named_parameters()}
    hx_np = (h0.numpy(), c0.numpy()) if is_lstm else h0.numpy()
    o_out, o_hn, o_cn, cache = ref.forward(
        x.numpy(),
        hx_np,
        np_params,
        mode,
        num_layers=layers,
        bidirectional=bidirectional,
        reset_after=reset_after,
        peephole=peephole,
        lengths=lens,
    )
    o_grads = ref.backward(w_out.numpy(), w_h.numpy(), w_c.numpy() if is_lstm else None, cache)

    got = {"output": out, "h_n": finals[0]}
    want = {"output": o_out, "h_n": o_hn}
    if is_lstm:
        assert o_cn is not None
        got["c_n"], want["c_n"] = finals[1], o_cn
    keys = ["input", "h0", "c0"][: len(leaves)] + list(names)
    got.update((f"d {k}", g) for k, g in zip(keys, grads, strict=True))
    want.update((f"d {k}", o_grads[k]) for k in keys)
    assert set(o_grads) == set(keys), f"{case}: oracle has {sorted(o_grads)}, ours {keys}"
    for name, value in want.items():
        assert_close(case, name, got[name], value, may_be_zero=mode == "rnn_relu")


# -- finite differences (gradcheck) ------------------------------------------------------------

GC_T, GC_B, GC_E, GC_H = 3, 2, 2, 2
GC_LENGTHS = (1, 3)  # unsorted


@pytest.mark.parametrize(
    ("layers", "lengths"),
    [(1, "full"), (1, "packed"), (2, "packed")],
    ids=["L1-full", "L1-packed", "L2-packed"],
)
@pytest.mark.parametrize("impl", ["bptt", "loop"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_gradcheck(variant: str, impl: str, layers: int, lengths: str) -> None:
    """d(outputs, final states)/d(input, h0, c0, every parameter) == finite differences."""
    gen = torch.Generator().manual_seed(zlib.crc32(f"gc-{variant}-{impl}-{layers}".encode()))
    module = make_module(
        variant,
        impl,
        input_size=GC_E,
        hidden_size=GC_H,
        num_layers=layers,
        bidirectional=True,
    )
    randomize_(module, gen)
    is_lstm = VARIANTS[variant][0] == "lstm"
    names = [n for n, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]
    num_states = 2 * layers

    def randn(*shape: int) -> Tensor:
        return torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_()

    x = randn(GC_T, GC_B, GC_E)
    states = [randn(num_states, GC_B, GC_H) for _ in range(2 if is_lstm else 1)]
    lens = torch.tensor(GC_LENGTHS)

    def fn(x: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        hx, ps = rest[: len(states)], rest[len(states) :]
        inp = x if lengths == "full" else pack_padded_sequence(x, lens, enforce_sorted=False)
        out, state = functional_call(
            module, dict(zip(names, ps, strict=True)), (inp, tuple(hx) if is_lstm else hx[0])
        )
        data = out.data if isinstance(out, PackedSequence) else out
        return (data, *(state if is_lstm else (state,)))

    assert torch.autograd.gradcheck(fn, (x, *states, *params))
