"""Equivalence: ``seqlab.nn.RNN/GRU/LSTM`` compute what ``torch.nn.RNN/GRU/LSTM`` compute.

Both modules hold the same weights (the state dict is loaded both ways: torch -> seqlab and
seqlab -> torch), read the same input and are differentiated through the same random-weighted
loss ``sum(w_out * out) + sum(w_h * h_n) (+ sum(w_c * c_n))``. Outputs, final states and every
gradient (input, initial states, each parameter) must agree to float64 round-off, for every
``impl`` (torch's fused kernels, seqlab's hand-written BPTT, the autograd loop).

The configuration space (cell x impl x layers x directions x layout x batch_first x bias x
initial state) is covered as: the full product over (cell, impl, layers, directions, packed or
padded) and, for the rest, a pairwise covering set (every pair of values of any two of those
options occurs at least once). Unbatched input is one of the padded options.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_sequence

import seqlab.nn as snn
import seqlab.nn.recurrent as seqlab_recurrent

E, H, T, B = 3, 4, 5, 3
LENGTHS = (3, 5, 1)  # packed input: unsorted, unequal, one sequence of length 1
SCALE = 0.8  # weights ~ U(-0.8, 0.8): larger than torch's init, so the gates saturate a bit
TOL = {torch.float64: (1e-10, 1e-10), torch.float32: (1e-5, 1e-5)}  # (rtol, atol)

CELLS = ("rnn_tanh", "rnn_relu", "gru", "lstm")
IMPLS = ("fused", "bptt", "loop")

# Pairwise covering sets: every pair of values of any two options occurs in some row.
PAIRWISE_PADDED = (  # (batch_first, bias, initial state, unbatched)
    (False, False, False, False),
    (False, True, True, True),
    (True, False, True, True),
    (True, True, False, True),
    (True, True, True, False),
)
PAIRWISE_PACKED = (  # (batch_first, bias, initial state); packed input is never unbatched
    (False, False, False),
    (False, True, True),
    (True, False, True),
    (True, True, False),
)


@dataclass(frozen=True)
class Case:
    cell: str
    impl: str
    layers: int
    bidirectional: bool
    layout: str  # "padded" | "packed" | "unbatched"
    batch_first: bool
    bias: bool
    initial_state: bool
    dtype: torch.dtype = torch.float64

    def __str__(self) -> str:
        parts = [
            self.cell,
            self.impl,
            f"L{self.layers}",
            "bi" if self.bidirectional else "uni",
            self.layout,
            "bf" if self.batch_first else "tf",
            "bias" if self.bias else "nobias",
            "h0" if self.initial_state else "noh0",
        ]
        if self.dtype != torch.float64:
            parts.append(str(self.dtype).removeprefix("torch."))
        return "-".join(parts)


def _cases() -> list[Case]:
    cases = []
    for cell in CELLS:
        for impl in IMPLS:
            for layers in (1, 2):
                for bi in (False, True):
                    for bf, bias, h0, unbatched in PAIRWISE_PADDED:
                        layout = "unbatched" if unbatched else "padded"
                        cases.append(Case(cell, impl, layers, bi, layout, bf, bias, h0))
                    for bf, bias, h0 in PAIRWISE_PACKED:
                        cases.append(Case(cell, impl, layers, bi, "packed", bf, bias, h0))
    return cases


CASES = _cases()
# One float32 case per cell type and impl: the hardest layout (deep, bidirectional, packed).
CASES_F32 = [
    Case(cell, impl, 2, True, "packed", False, True, True, torch.float32)
    for cell in CELLS
    for impl in IMPLS
]


# -- helpers ---------------------------------------------------------------------------------


def assert_close(
    case: object,
    name: str,
    got: Tensor,
    want: Tensor,
    dtype: torch.dtype,
    *,
    may_be_zero: bool = False,
) -> None:
    """Fail, naming the case, the quantity and the max error, unless ``got`` ≈ ``want``.

    ``want`` is torch's value. An all-zero ``want`` is itself a failure (the comparison would
    be vacuous) unless ``may_be_zero`` (a ReLU net can be dead on a short sequence).
    """
    rtol, atol = TOL[dtype]
    assert got.shape == want.shape, (
        f"{case}: {name}: shape {tuple(got.shape)}, torch has {tuple(want.shape)}"
    )
    assert got.dtype == want.dtype, f"{case}: {name}: dtype {got.dtype}, torch has {want.dtype}"
    nonzero = may_be_zero or want.numel() == 0 or bool(want.ne(0).any())
    assert nonzero, f"{case}: {name}: torch's value is all zero, the comparison would be vacuous"
    err = (got.double() - want.double()).abs()
    ok = bool((err <= atol + rtol * want.double().abs()).all())  # NaN fails
    assert ok, f"{case}: {name}: max abs err {err.max().item():.3e} (rtol={rtol}, atol={atol})"


def make_pair(cell: str, impl: str, dtype: torch.dtype, **kw: Any) -> tuple[nn.Module, snn.RNNBase]:
    """A torch.nn module and a seqlab module of the same configuration (weights unrelated)."""
    common = {"dtype": dtype, **kw}
    if cell.startswith("rnn_"):
        nl = cell.removeprefix("rnn_")
        return (
            nn.RNN(E, H, nonlinearity=nl, **common),
            snn.RNN(E, H, nonlinearity=nl, impl=impl, **common),
        )
    if cell == "gru":
        return nn.GRU(E, H, **common), snn.GRU(E, H, impl=impl, **common)
    return nn.LSTM(E, H, **common), snn.LSTM(E, H, impl=impl, **common)


def randomize_(module: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2 * SCALE - SCALE)


@dataclass
class Inputs:
    """The leaves of one forward call; cloned afresh for each module."""

    x: list[Tensor]  # one padded tensor, or the sequences of a packed batch
    packed: bool
    hx: list[Tensor]  # [] | [h0] | [h0, c0]

    @staticmethod
    def make(case: Case, gen: torch.Generator, proj_size: int = 0) -> Inputs:
        """Inputs for ``case``; with ``proj_size`` P, h_0 is (L*D, B, P) and c_0 (L*D, B, H)."""

        def randn(*shape: int) -> Tensor:
            return torch.randn(shape, generator=gen, dtype=case.dtype)

        num_states = case.layers * (2 if case.bidirectional else 1)
        if case.layout == "packed":
            x = [randn(n, E) for n in LENGTHS]
            state_shape: tuple[int, ...] = (num_states, len(LENGTHS), H)
        elif case.layout == "unbatched":
            x = [randn(T, E)]
            state_shape = (num_states, H)
        else:
            x = [randn(B, T, E) if case.batch_first else randn(T, B, E)]
            state_shape = (num_states, B, H)
        count = 0 if not case.initial_state else (2 if case.cell == "lstm" else 1)
        hx = [randn(*state_shape) for _ in range(count)]
        if proj_size and hx:
            hx[0] = randn(*state_shape[:-1], proj_size)  # h_0: (L*D, B, P)
        return Inputs(x, case.layout == "packed", hx)


def run(module: nn.Module, inputs: Inputs, seed: int) -> dict[str, Tensor]:
    """Forward, the random-weighted loss and its gradients; everything keyed by name."""
    xs = [x.clone().requires_grad_() for x in inputs.x]
    hx = [h.clone().requires_grad_() for h in inputs.hx]
    inp = pack_sequence(xs, enforce_sorted=False) if inputs.packed else xs[0]
    state_arg = None if not hx else (tuple(hx) if len(hx) == 2 else hx[0])
    out, state = module(inp, state_arg)
    finals = list(state) if isinstance(state, tuple) else [state]
    res: dict[str, Tensor] = {}
    if isinstance(out, PackedSequence):
        res["output.batch_sizes"] = out.batch_sizes
        res["output.sorted_indices"] = out.sorted_indices
        res["output.unsorted_indices"] = out.unsorted_indices
        out = out.data
    res["output"] = out
    res.update(zip(("h_n", "c_n"), finals, strict=False))
    gen = torch.Generator().manual_seed(seed)
    loss = sum(
        (torch.randn(t.shape, generator=gen, dtype=t.dtype) * t).sum() for t in [out, *finals]
    )
    names, params = zip(*module.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, [*xs, *hx, *params])
    d_x, d_hx, d_params = (
        grads[: len(xs)],
        grads[len(xs) : len(xs) + len(hx)],
        grads[len(xs) + len(hx) :],
    )
    res.update((f"d input[{i}]", g) for i, g in enumerate(d_x))
    res.update((f"d {n}", g) for n, g in zip(("h_0", "c_0"), d_hx, strict=False))
    res.update((f"d {n}", g) for n, g in zip(names, d_params, strict=True))
    return res


def check_against_torch(case: Case, module_kw: dict[str, Any], train: bool = False) -> None:
    """Both load directions: same outputs, final states and gradients as torch.nn."""
    for direction in ("torch->seqlab", "seqlab->torch"):
        seed = zlib.crc32(f"{case}-{module_kw}-{direction}".encode())
        gen = torch.Generator().manual_seed(seed)
        theirs, ours = make_pair(case.cell, case.impl, case.dtype, **module_kw)
        if direction == "torch->seqlab":
            randomize_(theirs, gen)
            ours.load_state_dict(theirs.state_dict())
        else:
            randomize_(ours, gen)
            theirs.load_state_dict(ours.state_dict())
        theirs.train(train)
        ours.train(train)
        inputs = Inputs.make(case, gen, module_kw.get("proj_size", 0))
        want = run(theirs, inputs, seed)
        got = run(ours, inputs, seed)
        assert sorted(got) == sorted(want), f"{case} {direction}: {sorted(got)} != {sorted(want)}"
        for name, value in want.items():
            assert_close(
                f"{case} {direction}",
                name,
                got[name],
                value,
                case.dtype,
                may_be_zero=case.cell == "rnn_relu",
            )


def module_kwargs(case: Case) -> dict[str, Any]:
    return {
        "num_layers": case.layers,
        "bidirectional": case.bidirectional,
        "batch_first": case.batch_first,
        "bias": case.bias,
    }


# -- outputs, final states and gradients ------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_torch_float64(case: Case) -> None:
    check_against_torch(case, module_kwargs(case))


@pytest.mark.parametrize("case", CASES_F32, ids=str)
def test_matches_torch_float32(case: Case) -> None:
    check_against_torch(case, module_kwargs(case))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("cell", CELLS)
def test_dropout_in_eval_mode_matches_torch(cell: str, impl: str) -> None:
    """With dropout > 0 between layers, eval mode computes exactly torch's (dropout-free) net."""
    case = Case(cell, impl, 2, True, "padded", False, True, True)
    check_against_torch(case, {**module_kwargs(case), "dropout": 0.5}, train=False)
    # ... and dropout is live in training mode, so eval really is what switched it off.
    gen = torch.Generator().manual_seed(zlib.crc32(f"{case}-train".encode()))
    _, ours = make_pair(cell, impl, torch.float64, num_layers=2, dropout=0.5)
    randomize_(ours, gen)
    x = torch.randn(T, B, E, generator=gen, dtype=torch.float64)
    torch.manual_seed(0)
    eval_out = ours.eval()(x)[0]
    assert not torch.allclose(ours.train()(x)[0], eval_out), f"{case}: dropout had no effect"


# -- which implementation runs -------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("impl", [*IMPLS, "auto"])
def test_impl_selects_the_implementation(
    cell: str, impl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The equivalence tests above test what they say: ``impl`` picks the code that runs."""
    calls = {"bptt": 0, "loop": 0}
    scan = seqlab_recurrent.scan

    def counting_scan(*args: Any, **kwargs: Any) -> Any:
        calls["bptt"] += 1
        return scan(*args, **kwargs)

    monkeypatch.setattr(seqlab_recurrent, "scan", counting_scan)
    _, ours = make_pair(cell, impl, torch.float64, num_layers=2)
    step = ours._step

    def counting_step(*args: Any) -> Any:
        calls["loop"] += 1
        return step(*args)

    monkeypatch.setattr(ours, "_step", counting_step)
    ours(torch.randn(T, B, E, dtype=torch.float64))
    expected = {"fused": (0, 0), "auto": (0, 0), "bptt": (2, 0), "loop": (0, 2 * T)}[impl]
    assert (calls["bptt"], calls["loop"]) == expected, f"{cell} impl={impl}: calls {calls}"


@pytest.mark.parametrize(
    "make",
    [
        lambda impl: snn.GRU(E, H, reset_after=False, impl=impl),
        lambda impl: snn.LSTM(E, H, peephole=True, impl=impl),
    ],
    ids=["gru_reset_before", "lstm_peephole"],
)
def test_fused_impl_rejected_where_torch_has_no_kernel(make: Callable[[str], snn.RNNBase]) -> None:
    x = torch.randn(T, B, E)
    with pytest.raises(ValueError, match="fused"):
        make("fused")(x)  # rejected at construction or at the first forward
    module = make("auto")
    assert module.resolved_impl() == "bptt"
    module(x)


@pytest.mark.parametrize("cell", CELLS)
def test_auto_impl_is_fused_where_torch_has_a_kernel(cell: str) -> None:
    assert make_pair(cell, "auto", torch.float32)[1].resolved_impl() == "fused"


# -- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("layers", [1, 2], ids=["L1", "L2"])
@pytest.mark.parametrize("cell", CELLS)
def test_parameter_names_and_shapes_match_torch(
    cell: str, layers: int, bidirectional: bool, bias: bool
) -> None:
    theirs, ours = make_pair(
        cell, "auto", torch.float32, num_layers=layers, bidirectional=bidirectional, bias=bias
    )
    want = [(k, tuple(v.shape)) for k, v in dict(theirs.state_dict()).items()]
    got = [(k, tuple(v.shape)) for k, v in dict(ours.state_dict()).items()]
    assert got == want
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_variant_parameter_names(bidirectional: bool) -> None:
    """GRU(reset_after=False) has torch's names; LSTM(peephole=True) adds weight_ch (3H,)."""
    kw: dict[str, Any] = {"num_layers": 2, "bidirectional": bidirectional}
    gru = {k: tuple(v.shape) for k, v in nn.GRU(E, H, **kw).state_dict().items()}
    ours = snn.GRU(E, H, reset_after=False, **kw)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == gru
    lstm = {k: tuple(v.shape) for k, v in nn.LSTM(E, H, **kw).state_dict().items()}
    for k in range(2):
        for suffix in ("", "_reverse") if bidirectional else ("",):
            lstm[f"weight_ch_l{k}{suffix}"] = (3 * H,)
    ours_lstm = snn.LSTM(E, H, peephole=True, **kw)
    assert {k: tuple(v.shape) for k, v in ours_lstm.state_dict().items()} == lstm


# -- shape errors ----------------------------------------------------------------------------

BAD_INPUTS = {  # name -> (batch_first, bad shape)
    "wrong_E": (False, (T, B, E + 1)),
    "wrong_E_batch_first": (True, (B, T, E + 1)),
    "4d": (False, (T, B, E, 1)),
    "1d": (False, (E,)),
    "unbatched_wrong_E": (False, (T, E + 2)),
}


@pytest.mark.parametrize("bad", list(BAD_INPUTS))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("cell", CELLS)
def test_wrong_input_shape_names_expected_and_actual(cell: str, impl: str, bad: str) -> None:
    batch_first, shape = BAD_INPUTS[bad]
    _, ours = make_pair(cell, impl, torch.float32, batch_first=batch_first)
    expected = f"(B, T, E={E})" if batch_first else f"(T, B, E={E})"
    with pytest.raises(ValueError) as info:
        ours(torch.zeros(shape))
    msg = str(info.value)
    assert expected in msg and str(shape) in msg, msg


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("cell", CELLS)
def test_wrong_packed_input_size_names_expected_and_actual(cell: str, impl: str) -> None:
    _, ours = make_pair(cell, impl, torch.float32)
    with pytest.raises(ValueError) as info:
        ours(pack_sequence([torch.zeros(2, E + 1), torch.zeros(1, E + 1)]))
    msg = str(info.value)
    assert f"E={E}" in msg and f"(3, {E + 1})" in msg, msg


BAD_STATES = {  # name -> (unbatched input, bad h_0 shape, bad c_0 only)
    "wrong_layers": (False, (1, B, H), False),
    "wrong_batch": (False, (4, B + 1, H), False),
    "wrong_hidden": (False, (4, B, H + 1), False),
    "unbatched_given_3d": (True, (4, 1, H), False),
    "wrong_c0_only": (False, (4, B, H - 1), True),
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    ("cell", "bad"),
    [(c, b) for c in CELLS for b in BAD_STATES if c == "lstm" or not BAD_STATES[b][2]],
)
def test_wrong_state_shape_names_expected_and_actual(cell: str, impl: str, bad: str) -> None:
    unbatched, shape, c0_only = BAD_STATES[bad]
    _, ours = make_pair(cell, impl, torch.float32, num_layers=2, bidirectional=True)
    good = (4, H) if unbatched else (4, B, H)
    x = torch.zeros((T, E) if unbatched else (T, B, E))
    h0 = torch.zeros(good if c0_only else shape)
    hx = (h0, torch.zeros(shape if c0_only else good)) if cell == "lstm" else h0
    expected = f"(L*D=4, H={H})" if unbatched else f"(L*D=4, B={B}, H={H})"
    with pytest.raises(ValueError) as info:
        ours(x, hx)
    msg = str(info.value)
    assert expected in msg and str(shape) in msg, msg


# -- proj_size (torch.nn.LSTM's projection, since torch 1.8) ---------------------------------

P = 2  # projection size (< H)
# every impl with a projection x layers x directions x one row per layout
PROJ_CASES = [
    Case("lstm", impl, layers, bi, layout, bf, True, True)
    for impl in ("fused", "loop")
    for layers in (1, 2)
    for bi in (False, True)
    for layout, bf in (("padded", True), ("packed", False), ("unbatched", False))
]


@pytest.mark.parametrize("case", PROJ_CASES, ids=str)
def test_lstm_proj_size_matches_torch(case: Case) -> None:
    check_against_torch(case, {**module_kwargs(case), "proj_size": P})


@pytest.mark.parametrize("impl", ["fused", "loop"])
def test_lstm_proj_size_matches_torch_float32_without_initial_state(impl: str) -> None:
    case = Case("lstm", impl, 2, True, "packed", False, False, False, torch.float32)
    check_against_torch(case, {**module_kwargs(case), "proj_size": P})


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_lstm_proj_size_parameters_and_state_shapes_match_torch(bidirectional: bool) -> None:
    kw: dict[str, Any] = {"num_layers": 2, "bidirectional": bidirectional, "proj_size": P}
    theirs, ours = nn.LSTM(E, H, **kw), snn.LSTM(E, H, **kw)
    want = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == want
    assert "weight_hr_l1" in ours.state_dict()
    assert [[tuple(w.shape) for w in ws] for ws in ours.all_weights] == [
        [tuple(w.shape) for w in ws] for ws in theirs.all_weights
    ]
    d = 2 if bidirectional else 1
    out, (h_n, c_n) = ours(torch.randn(T, B, E))
    assert (out.shape, h_n.shape, c_n.shape) == ((T, B, d * P), (2 * d, B, P), (2 * d, B, H))
    with pytest.raises(ValueError, match=f"P={P}"):
        ours(torch.randn(T, B, E), (torch.zeros(2 * d, B, H), torch.zeros(2 * d, B, H)))


def test_lstm_proj_size_with_peepholes_runs_the_loop_and_equals_torch_at_zero_peepholes() -> None:
    """Peepholes and a projection together: no kernel, the loop; with p = 0 it is torch's."""
    gen = torch.Generator().manual_seed(7)
    theirs = nn.LSTM(E, H, 2, bidirectional=True, proj_size=P, dtype=torch.float64)
    ours = snn.LSTM(E, H, 2, bidirectional=True, proj_size=P, peephole=True, dtype=torch.float64)
    assert ours.resolved_impl() == "loop"
    randomize_(theirs, gen)
    ours.load_state_dict(theirs.state_dict(), strict=False)  # all but the peepholes
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if name.startswith("weight_ch"):
                p.zero_()
    x = torch.randn(T, B, E, generator=gen, dtype=torch.float64)
    for got, want in zip(_flatten(ours(x)), _flatten(theirs(x)), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    with torch.no_grad():  # and the peepholes are live: non-zero ones change the output
        for name, p in ours.named_parameters():
            if name.startswith("weight_ch"):
                p.fill_(0.5)
    assert not torch.allclose(ours(x)[0], theirs(x)[0])


def _flatten(value: Any) -> list[Tensor]:
    return [value] if isinstance(value, Tensor) else [t for v in value for t in _flatten(v)]


@pytest.mark.parametrize("bad", [-1, H, H + 1])
def test_lstm_proj_size_out_of_range_is_rejected_as_torch_does(bad: int) -> None:
    with pytest.raises(ValueError) as theirs:
        nn.LSTM(E, H, proj_size=bad)
    with pytest.raises(ValueError) as ours:
        snn.LSTM(E, H, proj_size=bad)
    assert str(ours.value) == str(theirs.value)


def test_lstm_proj_size_has_no_bptt_kernel() -> None:
    with pytest.raises(ValueError, match="proj_size"):
        snn.LSTM(E, H, proj_size=P, impl="bptt")
    assert snn.LSTM(E, H, proj_size=P).resolved_impl() == "fused"
