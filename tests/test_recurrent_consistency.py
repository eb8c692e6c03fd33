"""Consistency: different ways of computing the same recurrence give the same numbers.

* a batch equals its sequences run one by one (outputs, final states, gradients);
* padding (garbage values, lengths given by packing) does not change the non-pad outputs;
* stepping a cell equals the sequence module with the same weights; seqlab's cells equal
  torch.nn's;
* the generic wrappers (``Recurrent``, ``Bidirectional``, ``Stacked``) equal the deep
  bidirectional modules, and run torch.nn cells and user-defined cells;
* ``impl="bptt"``, ``"loop"`` and ``"fused"`` agree in float32, and with dropout in training
  mode ``bptt`` and ``loop`` draw the same masks.

Everything is float64 with round-off tolerance unless said otherwise, and every comparison
goes through :func:`assert_close`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
)

import seqlab.nn as snn
from seqlab.nn.generic import Bidirectional, Recurrent, Stacked

E, H, T, B = 3, 4, 5, 3
LENGTHS = (3, 5, 1)  # unsorted, unequal, one of length 1
SCALE = 0.8
F64 = torch.float64
TOL = {torch.float64: (1e-10, 1e-10), torch.float32: (1e-5, 1e-5)}  # (rtol, atol)

# variant -> (module class, cell class, options); "fused" exists only without options.
VARIANTS: dict[str, tuple[type, type, dict[str, object]]] = {
    "rnn_tanh": (snn.RNN, snn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (snn.RNN, snn.RNNCell, {"nonlinearity": "relu"}),
    "gru": (snn.GRU, snn.GRUCell, {}),
    "gru_reset_before": (snn.GRU, snn.GRUCell, {"reset_after": False}),
    "lstm": (snn.LSTM, snn.LSTMCell, {}),
    "lstm_peephole": (snn.LSTM, snn.LSTMCell, {"peephole": True}),
}
FUSABLE = ("rnn_tanh", "rnn_relu", "gru", "lstm")
VARIANT_IMPLS = [
    (v, impl)
    for v in VARIANTS
    for impl in ("fused", "bptt", "loop")
    if impl != "fused" or v in FUSABLE
]


# -- helpers ---------------------------------------------------------------------------------


def assert_close(
    case: object,
    name: str,
    got: Tensor,
    want: Tensor,
    *,
    may_be_zero: bool = False,
) -> None:
    """Fail, naming the case, the quantity and the max error, unless ``got`` ≈ ``want``.

    The tolerance follows the dtype. An all-zero ``want`` fails too (the comparison would be
    vacuous) unless ``may_be_zero``.
    """
    assert got.shape == want.shape, f"{case}: {name}: shape {tuple(got.shape)} vs {want.shape}"
    assert got.dtype == want.dtype, f"{case}: {name}: dtype {got.dtype} vs {want.dtype}"
    nonzero = may_be_zero or want.numel() == 0 or bool(want.ne(0).any())
    assert nonzero, f"{case}: {name}: expected value is all zero, the comparison is vacuous"
    rtol, atol = TOL[want.dtype]
    err = (got.detach() - want.detach()).abs()
    ok = bool((err <= atol + rtol * want.detach().abs()).all())  # NaN fails
    assert ok, f"{case}: {name}: max abs err {err.max().item():.3e} (rtol={rtol}, atol={atol})"


def is_lstm(variant: str) -> bool:
    return variant.startswith("lstm")


def seeded(*key: object) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(repr(key).encode()))


def randn(gen: torch.Generator, *shape: int, dtype: torch.dtype = F64) -> Tensor:
    return torch.randn(shape, generator=gen, dtype=dtype)


def randomize_(module: nn.Module, gen: torch.Generator) -> nn.Module:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2 * SCALE - SCALE)
    return module


def make_seq(
    variant: str, impl: str = "auto", dtype: torch.dtype = F64, input_size: int = E, **kw: object
) -> snn.RNNBase:
    cls, _, opts = VARIANTS[variant]
    return cls(input_size, H, impl=impl, dtype=dtype, **opts, **kw)


def make_cell(variant: str, input_size: int = E, dtype: torch.dtype = F64) -> nn.Module:
    _, cls, opts = VARIANTS[variant]
    return cls(input_size, H, dtype=dtype, **opts)


def weighted_loss(outputs: Iterable[Tensor], seed: int) -> Tensor:
    """sum_k sum(w_k * out_k) with fixed random weights w_k (same seed, same weights)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.stack(
        [(torch.randn(o.shape, generator=gen, dtype=o.dtype) * o).sum() for o in outputs]
    ).sum()


def grads(loss: Tensor, wrt: dict[str, Tensor]) -> dict[str, Tensor]:
    values = torch.autograd.grad(loss, list(wrt.values()))
    return {f"d {k}": g for k, g in zip(wrt, values, strict=True)}


def states_of(state: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return list(state) if isinstance(state, tuple | list) else [state]


def initial_states(
    gen: torch.Generator, variant: str, shape: tuple[int, ...], dtype: torch.dtype = F64
) -> list[Tensor]:
    count = 2 if is_lstm(variant) else 1
    return [randn(gen, *shape, dtype=dtype).requires_grad_() for _ in range(count)]


def as_hx(states: list[Tensor]) -> Tensor | tuple[Tensor, ...]:
    return tuple(states) if len(states) == 2 else states[0]


# -- batched equals one by one ---------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize(("variant", "impl"), VARIANT_IMPLS)
def test_batch_equals_sequences_one_by_one(variant: str, impl: str, bidirectional: bool) -> None:
    """A packed batch == each sequence alone (unbatched, its own length and initial state).

    The loss is a sum of per-sequence terms, so the batch's gradients w.r.t. a sequence and
    its initial state are that sequence's alone, and its parameter gradients are the sums.
    """
    case = f"{variant} impl={impl} bi={bidirectional}"
    gen = seeded(case)
    module = randomize_(make_seq(variant, impl, num_layers=2, bidirectional=bidirectional), gen)
    params = dict(module.named_parameters())
    d = 2 if bidirectional else 1
    n_states = 2 if is_lstm(variant) else 1
    seqs = [randn(gen, n, E).requires_grad_() for n in LENGTHS]
    hx = initial_states(gen, variant, (2 * d, len(LENGTHS), H))
    weights = [  # per sequence: for its outputs, then for each of its final states
        [randn(gen, n, d * H), *(randn(gen, 2 * d, H) for _ in range(n_states))] for n in LENGTHS
    ]

    def seq_loss(b: int, out_b: Tensor, finals_b: list[Tensor]) -> Tensor:
        terms = zip(weights[b], [out_b, *finals_b], strict=True)
        return torch.stack([(w * t).sum() for w, t in terms]).sum()

    out, state = module(pack_sequence(seqs, enforce_sorted=False), as_hx(hx))
    padded, _ = pad_packed_sequence(out)  # (T, B, D*H) in the caller's order
    finals = states_of(state)
    loss = torch.stack(
        [seq_loss(b, padded[:n, b], [f[:, b] for f in finals]) for b, n in enumerate(LENGTHS)]
    ).sum()
    wrt = {**params, **{f"input {b}": s for b, s in enumerate(seqs)}}
    wrt.update((f"state {i}", h) for i, h in enumerate(hx))
    batch_grads = grads(loss, wrt)

    param_sums = {k: torch.zeros_like(p) for k, p in params.items()}
    may_be_zero = variant == "rnn_relu"  # a ReLU net can be dead on a short sequence
    for b, seq in enumerate(seqs):
        seq_b = seq.detach().clone().requires_grad_()  # (n, E): unbatched
        hx_b = [h.detach()[:, b].clone().requires_grad_() for h in hx]  # (L*D, H) each
        out_b, state_b = module(seq_b, as_hx(hx_b))
        finals_b = states_of(state_b)
        want_out = padded[: LENGTHS[b], b]
        assert_close(case, f"output {b}", out_b, want_out, may_be_zero=may_be_zero)
        for i, (f_b, f) in enumerate(zip(finals_b, finals, strict=True)):
            assert_close(case, f"final state {i} of {b}", f_b, f[:, b], may_be_zero=may_be_zero)
        wrt_b = {**params, "input": seq_b, **{f"state {i}": h for i, h in enumerate(hx_b)}}
        g_b = grads(seq_loss(b, out_b, finals_b), wrt_b)
        assert_close(
            case,
            f"d input {b}",
            batch_grads[f"d input {b}"],
            g_b["d input"],
            may_be_zero=may_be_zero,
        )
        for i in range(n_states):
            assert_close(
                case,
                f"d state {i} of sequence {b}",
                batch_grads[f"d state {i}"][:, b],
                g_b[f"d state {i}"],
                may_be_zero=may_be_zero,
            )
        for k in param_sums:
            param_sums[k] += g_b[f"d {k}"]
    for k, total in param_sums.items():
        assert_close(case, f"d {k} (sum over sequences)", batch_grads[f"d {k}"], total)


# -- padding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize(("variant", "impl"), VARIANT_IMPLS)
def test_garbage_padding_does_not_change_outputs(
    variant: str, impl: str, bidirectional: bool
) -> None:
    """Garbage-padded to T+2, lengths by packing: the valid steps' outputs and the final
    states are those of the unpadded sequence (a plain batch of one, no lengths); padded
    steps give 0 and receive no gradient.
    """
    case = f"{variant} impl={impl} bi={bidirectional}"
    gen = seeded("pad", case)
    module = randomize_(make_seq(variant, impl, num_layers=2, bidirectional=bidirectional), gen)
    t_pad = T + 2
    x = 1e3 * randn(gen, t_pad, len(LENGTHS), E)  # garbage everywhere ...
    for b, n in enumerate(LENGTHS):
        x[:n, b] = randn(gen, n, E)  # ... but in the sequences
    x.requires_grad_()
    lens = torch.tensor(LENGTHS)
    out, state = module(pack_padded_sequence(x, lens, enforce_sorted=False))
    padded, _ = pad_packed_sequence(out, total_length=t_pad)  # (T+2, B, D*H)
    pad = torch.arange(t_pad)[:, None] >= lens[None, :]  # (T+2, B)
    assert bool((padded[pad] == 0).all()), f"{case}: outputs at padded steps are not 0"
    d_x = grads(weighted_loss([padded], 1), {"x": x})["d x"]
    assert bool((d_x[pad] == 0).all()), f"{case}: gradient reaches the padding"
    zero_ok = variant == "rnn_relu"
    for b, n in enumerate(LENGTHS):
        alone = x.detach()[:n, b : b + 1].clone().requires_grad_()  # (n, 1, E)
        out_b, state_b = module(alone)
        assert_close(case, f"output {b}", padded[:n, b : b + 1], out_b, may_be_zero=zero_ok)
        for k, (f, f_b) in enumerate(zip(states_of(state), states_of(state_b), strict=True)):
            assert_close(case, f"final state {k} of {b}", f[:, b : b + 1], f_b, may_be_zero=zero_ok)
        # the loss's weights for this sequence's steps: the same draw, sliced
        w = torch.randn(padded.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
        d_alone = torch.autograd.grad((w[:n, b : b + 1] * out_b).sum(), alone)[0]
        assert_close(case, f"d input {b}", d_x[:n, b : b + 1], d_alone, may_be_zero=zero_ok)


@pytest.mark.parametrize(("variant", "impl"), VARIANT_IMPLS)
def test_padding_after_the_end_does_not_change_earlier_outputs(variant: str, impl: str) -> None:
    """Unidirectional, no lengths: garbage appended after step n leaves outputs < n alone."""
    case = f"{variant} impl={impl}"
    gen = seeded("causal", case)
    module = randomize_(make_seq(variant, impl, num_layers=2), gen)
    x = randn(gen, T, B, E)
    hx = initial_states(gen, variant, (2, B, H))
    out, _ = module(x, as_hx(hx))
    for n in (1, 3):
        garbage = x.clone()
        garbage[n:] = 1e3 * randn(gen, T - n, B, E)
        out_g, _ = module(garbage, as_hx(hx))
        assert_close(case, f"outputs before step {n}", out_g[:n], out[:n])
        assert not torch.allclose(out_g[n:], out[n:]), f"{case}: garbage had no effect at all"


# -- cells -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "impl"), VARIANT_IMPLS)
def test_stepping_the_cell_equals_the_sequence_module(variant: str, impl: str) -> None:
    """seqlab's cell stepped over time == the 1-layer module with the same weights."""
    case = f"{variant} impl={impl}"
    gen = seeded("step", case)
    module = randomize_(make_seq(variant, impl), gen)
    cell = make_cell(variant)
    # module -> cell: weight_ih_l0 -> weight_ih, ...
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in module.state_dict().items()})
    x = randn(gen, T, B, E).requires_grad_()
    hx = initial_states(gen, variant, (1, B, H))
    out, state = module(x, as_hx(hx))
    x_c = x.detach().clone().requires_grad_()
    hx_c = [h.detach()[0].clone().requires_grad_() for h in hx]
    s = as_hx(hx_c)
    steps = []
    for t in range(T):
        s = cell(x_c[t], s)
        steps.append(states_of(s)[0])
    stepped = torch.stack(steps)  # (T, B, H)
    zero_ok = variant == "rnn_relu"
    assert_close(case, "outputs", stepped, out, may_be_zero=zero_ok)
    for k, (f_c, f) in enumerate(zip(states_of(s), states_of(state), strict=True)):
        assert_close(case, f"final state {k}", f_c, f[0], may_be_zero=zero_ok)
    g_mod = grads(
        weighted_loss([out, *states_of(state)], 2),
        {"x": x, **{f"state {i}": h for i, h in enumerate(hx)}, **dict(module.named_parameters())},
    )
    g_cell = grads(
        weighted_loss([stepped, *(f[None] for f in states_of(s))], 2),
        {
            "x": x_c,
            **{f"state {i}": h for i, h in enumerate(hx_c)},
            **dict(cell.named_parameters()),
        },
    )
    assert_close(case, "d x", g_cell["d x"], g_mod["d x"], may_be_zero=zero_ok)
    for i in range(len(hx)):
        want = g_mod[f"d state {i}"][0]
        assert_close(case, f"d state {i}", g_cell[f"d state {i}"], want, may_be_zero=zero_ok)
    for name, _ in cell.named_parameters():
        want = g_mod[f"d {name}_l0"]
        assert_close(case, f"d {name}", g_cell[f"d {name}"], want, may_be_zero=zero_ok)


TORCH_CELLS = {
    "rnn_tanh": (snn.RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (snn.RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    "gru": (snn.GRUCell, nn.GRUCell, {}),
    "lstm": (snn.LSTMCell, nn.LSTMCell, {}),
}


@pytest.mark.parametrize("state_given", [True, False], ids=["state", "nostate"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("kind", list(TORCH_CELLS))
def test_cell_matches_torch_cell(kind: str, bias: bool, batched: bool, state_given: bool) -> None:
    """Two steps (the first from the given state or from None), values and gradients."""
    case = f"{kind} bias={bias} batched={batched} state={state_given}"
    gen = seeded("cell", case)
    ours_cls, torch_cls, opts = TORCH_CELLS[kind]
    theirs = randomize_(torch_cls(E, H, bias=bias, dtype=F64, **opts), gen)
    ours = ours_cls(E, H, bias=bias, dtype=F64, **opts)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    ours.load_state_dict(theirs.state_dict())
    xs = [randn(gen, *((B, E) if batched else (E,))) for _ in range(2)]
    hx = initial_states(gen, kind, (B, H) if batched else (H,)) if state_given else []
    results = []
    for module in (ours, theirs):
        xs_l = [x.clone().requires_grad_() for x in xs]
        hx_l = [h.detach().clone().requires_grad_() for h in hx]
        first = module(xs_l[0], as_hx(hx_l) if hx_l else None)
        second = module(xs_l[1], first)
        outs = [*states_of(first), *states_of(second)]
        wrt = {f"x{i}": x for i, x in enumerate(xs_l)}
        wrt.update((f"state {i}", h) for i, h in enumerate(hx_l))
        wrt.update(module.named_parameters())
        res = {f"output {i}": o for i, o in enumerate(outs)}
        res.update(grads(weighted_loss(outs, 3), wrt))
        results.append(res)
    got, want = results
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert_close(case, name, got[name], value, may_be_zero=kind == "rnn_relu")


# -- generic wrappers ------------------------------------------------------------------------


def stacked_like(module: snn.RNNBase, variant: str, batch_first: bool) -> Stacked:
    """Stacked([Bidirectional(Recurrent(cell), Recurrent(cell)), ...]) with copied weights."""
    layers = []
    for k in range(module.num_layers):
        layer_in = E if k == 0 else 2 * H
        pair = []
        for suffix in ("", "_reverse"):
            cell = make_cell(variant, layer_in)
            cell.load_state_dict(
                {name: getattr(module, f"{name}_l{k}{suffix}") for name in cell.state_dict()}
            )
            pair.append(Recurrent(cell))
        layers.append(Bidirectional(pair[0], pair[1]))
    return Stacked(layers, batch_first=batch_first)


@pytest.mark.parametrize("state_given", [True, False], ids=["state", "nostate"])
@pytest.mark.parametrize("layout", ["padded", "batch_first", "packed"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_stacked_bidirectional_wrappers_equal_deep_module(
    variant: str, layout: str, state_given: bool
) -> None:
    case = f"{variant} {layout} state={state_given}"
    gen = seeded("wrappers", case)
    batch_first = layout == "batch_first"
    module = randomize_(
        make_seq(variant, num_layers=2, bidirectional=True, batch_first=batch_first), gen
    )
    stacked = stacked_like(module, variant, batch_first)
    if layout == "packed":
        data = [randn(gen, n, E) for n in LENGTHS]
    else:
        data = [randn(gen, B, T, E) if batch_first else randn(gen, T, B, E)]
    hx = initial_states(gen, variant, (4, len(LENGTHS), H)) if state_given else []
    results = []
    for net in (stacked, module):
        xs = [d.clone().requires_grad_() for d in data]
        hx_l = [h.detach().clone().requires_grad_() for h in hx]
        inp = pack_sequence(xs, enforce_sorted=False) if layout == "packed" else xs[0]
        if net is module:
            out, state = module(inp, as_hx(hx_l) if hx_l else None)
            finals = states_of(state)  # each (L*D, B, H)
            named = dict(module.named_parameters())
        else:
            # Stacked's state: one (forward, backward) pair per layer, each the cell's state
            per_layer = None
            if hx_l:
                cell_state = [as_hx([h[i] for h in hx_l]) for i in range(4)]
                per_layer = [(cell_state[0], cell_state[1]), (cell_state[2], cell_state[3])]
            out, fin = stacked(inp, per_layer)
            flat = [states_of(s) for pair in fin for s in pair]  # [k*D + d][h or c]
            finals = [torch.stack([f[i] for f in flat]) for i in range(len(flat[0]))]
            named = {}
            for name, p in stacked.named_parameters():  # layers.1.backward_layer.cell.weight_ih
                _, k, side, _, stem = name.split(".")
                named[f"{stem}_l{k}{'_reverse' if side == 'backward_layer' else ''}"] = p
        res = {}
        if isinstance(out, PackedSequence):
            out = out.data
        res["output"] = out
        res.update((f"final state {i}", f) for i, f in enumerate(finals))
        wrt = {f"input {i}": x for i, x in enumerate(xs)}
        wrt.update((f"state {i}", h) for i, h in enumerate(hx_l))
        wrt.update(named)
        res.update(grads(weighted_loss([out, *finals], 4), wrt))
        results.append(res)
    got, want = results
    assert sorted(got) == sorted(want), f"{case}: {sorted(got)} != {sorted(want)}"
    for name, value in want.items():
        assert_close(case, name, got[name], value, may_be_zero=variant == "rnn_relu")


@pytest.mark.parametrize("layout", ["padded", "packed", "unbatched"])
def test_recurrent_runs_a_torch_lstm_cell(layout: str) -> None:
    """Recurrent(torch.nn.LSTMCell) == torch.nn.LSTM with the same weights."""
    gen = seeded("torch-lstm-cell", layout)
    cell = randomize_(nn.LSTMCell(E, H, dtype=F64), gen)
    lstm = nn.LSTM(E, H, dtype=F64)
    lstm.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    if layout == "packed":
        inp: Tensor | PackedSequence = pack_sequence(
            [randn(gen, n, E) for n in LENGTHS], enforce_sorted=False
        )
    else:
        inp = randn(gen, T, E) if layout == "unbatched" else randn(gen, T, B, E)
    out, (h, c) = Recurrent(cell)(inp)
    want_out, (want_h, want_c) = lstm(inp)
    if isinstance(out, PackedSequence):
        assert isinstance(want_out, PackedSequence)
        out, want_out = out.data, want_out.data
    assert_close(layout, "output", out, want_out)
    assert_close(layout, "h", h, want_h[0])
    assert_close(layout, "c", c, want_c[0])


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_recurrent_unbatched_final_state_is_unbatched(kind: str) -> None:
    cell = make_cell(kind)
    out, state = Recurrent(cell)(torch.zeros(T, E, dtype=F64))
    assert out.shape == (T, H)
    assert [tuple(s.shape) for s in states_of(state)] == [(H,)] * len(states_of(state))


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_recurrent_accepts_an_unbatched_initial_state(kind: str) -> None:
    gen = seeded("unbatched-initial", kind)
    cell = randomize_(make_cell(kind), gen)
    x = randn(gen, T, E)
    hx = [randn(gen, H) for _ in range(2 if is_lstm(kind) else 1)]
    out, _ = Recurrent(cell)(x, as_hx(hx))
    want, _ = Recurrent(cell)(x[:, None], as_hx([h[None] for h in hx]))  # batch of one
    assert_close(kind, "output", out, want[:, 0])


class TinyCell(nn.Module):
    """A user's Elman cell: ``h' = tanh(W x + b + U h)``; a ``hidden_size`` and nothing else."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.inp = nn.Linear(input_size, hidden_size, dtype=F64)
        self.rec = nn.Linear(hidden_size, hidden_size, bias=False, dtype=F64)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return torch.tanh(self.inp(x) + self.rec(h))


@pytest.mark.parametrize("layout", ["padded", "packed"])
def test_recurrent_runs_a_user_defined_cell(layout: str) -> None:
    """Bidirectional(Recurrent(TinyCell), Recurrent(TinyCell)) == a bidirectional tanh RNN."""
    gen = seeded("tiny", layout)
    fwd, bwd = (randomize_(TinyCell(E, H), gen) for _ in range(2))
    rnn = snn.RNN(E, H, bidirectional=True, dtype=F64)
    with torch.no_grad():
        for cell, suffix in ((fwd, ""), (bwd, "_reverse")):
            getattr(rnn, f"weight_ih_l0{suffix}").copy_(cell.inp.weight)
            getattr(rnn, f"bias_ih_l0{suffix}").copy_(cell.inp.bias)
            getattr(rnn, f"weight_hh_l0{suffix}").copy_(cell.rec.weight)
            getattr(rnn, f"bias_hh_l0{suffix}").zero_()
    if layout == "packed":
        inp: Tensor | PackedSequence = pack_sequence(
            [randn(gen, n, E) for n in LENGTHS], enforce_sorted=False
        )
    else:
        inp = randn(gen, T, B, E)
    out, (h_f, h_b) = Bidirectional(Recurrent(fwd), Recurrent(bwd))(inp)
    want_out, want_h = rnn(inp)
    if isinstance(out, PackedSequence):
        assert isinstance(want_out, PackedSequence)
        out, want_out = out.data, want_out.data
    assert_close(layout, "output", out, want_out)
    assert_close(layout, "forward final state", h_f, want_h[0])
    assert_close(layout, "backward final state", h_b, want_h[1])


# -- implementations agree -------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_impls_agree_in_float32(variant: str) -> None:
    """bptt == loop (== fused where torch has the kernel), float32, deep, bi, packed."""
    case = f"{variant} float32"
    gen = seeded("f32", variant)
    f32 = torch.float32
    impls = ["bptt", "loop", "fused"] if variant in FUSABLE else ["bptt", "loop"]
    modules = [make_seq(variant, impl, f32, num_layers=2, bidirectional=True) for impl in impls]
    randomize_(modules[0], gen)
    for m in modules[1:]:
        m.load_state_dict(modules[0].state_dict())
    seqs = [randn(gen, n, E, dtype=f32) for n in LENGTHS]
    hx = initial_states(gen, variant, (4, len(LENGTHS), H), f32)
    results = []
    for m in modules:
        xs = [s.clone().requires_grad_() for s in seqs]
        hx_l = [h.detach().clone().requires_grad_() for h in hx]
        out, state = m(pack_sequence(xs, enforce_sorted=False), as_hx(hx_l))
        res = {"output": out.data}
        res.update((f"final state {i}", f) for i, f in enumerate(states_of(state)))
        wrt = {f"input {i}": x for i, x in enumerate(xs)}
        wrt.update((f"state {i}", h) for i, h in enumerate(hx_l))
        wrt.update(m.named_parameters())
        res.update(grads(weighted_loss([out.data, *states_of(state)], 5), wrt))
        results.append(res)
    for impl, res in zip(impls[1:], results[1:], strict=True):
        for name, value in results[0].items():
            zero_ok = variant == "rnn_relu"
            assert_close(f"{case} {impl} vs bptt", name, res[name], value, may_be_zero=zero_ok)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_training_dropout_draws_the_same_masks_in_bptt_and_loop(variant: str) -> None:
    """Same seed, dropout between layers in training mode: bptt and loop agree exactly."""
    gen = seeded("dropout", variant)
    kw = {"num_layers": 3, "bidirectional": True, "dropout": 0.5}
    bptt = randomize_(make_seq(variant, "bptt", **kw), gen).train()
    loop = make_seq(variant, "loop", **kw).train()
    loop.load_state_dict(bptt.state_dict())
    x = randn(gen, T, B, E)
    results = []
    for m in (bptt, loop):
        torch.manual_seed(1234)
        out, state = m(x)
        res = {"output": out, **{f"final state {i}": f for i, f in enumerate(states_of(state))}}
        res.update(grads(weighted_loss([out, *states_of(state)], 6), dict(m.named_parameters())))
        results.append(res)
    for name, value in results[0].items():
        zero_ok = variant == "rnn_relu"
        assert_close(f"{variant} dropout", name, results[1][name], value, may_be_zero=zero_ok)
    # not vacuous: dropout did change the result
    assert not torch.allclose(bptt.eval()(x)[0], results[0]["output"]), "dropout had no effect"
