"""Self-checks of the NumPy reference oracle (``tests/reference/numpy_rnn.py``).

The hand-written BPTT is compared with central finite differences of the scalar loss
``L = sum(Wout * out) + sum(Wh * h_n) (+ sum(Wc * c_n))`` for every input and parameter.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import pytest

from tests.reference import numpy_rnn as ref

EPS = 1e-6
RTOL = 1e-6
ATOL = 1e-6
T, B, E = 3, 3, 3

# (mode, reset_after, peephole) -> readable id
CELLS: dict[str, tuple[str, bool, bool]] = {
    "rnn_tanh": ("rnn_tanh", True, False),
    "rnn_relu": ("rnn_relu", True, False),
    "gru_reset_after": ("gru", True, False),
    "gru_reset_before": ("gru", False, False),
    "lstm": ("lstm", True, False),
    "lstm_peephole": ("lstm", True, True),
}
LENGTHS: dict[str, list[int] | None] = {"full": None, "ragged": [3, 1, 2]}


def make_params(
    rng: np.random.Generator,
    mode: str,
    hidden: int,
    *,
    num_layers: int,
    bidirectional: bool,
    bias: bool,
    peephole: bool,
    scale: float = 0.8,
) -> dict[str, np.ndarray]:
    """Random parameters keyed by torch.nn names."""
    rows = ref.GATES[mode] * hidden
    num_dirs = 2 if bidirectional else 1
    params: dict[str, np.ndarray] = {}
    for k in range(num_layers):
        in_size = E if k == 0 else num_dirs * hidden
        for d in range(num_dirs):
            shapes = {"weight_ih": (rows, in_size), "weight_hh": (rows, hidden)}
            if bias:
                shapes.update({"bias_ih": (rows,), "bias_hh": (rows,)})
            if peephole:
                shapes["weight_ch"] = (3 * hidden,)
            for stem, shape in shapes.items():
                params[ref.param_name(stem, k, d)] = rng.uniform(-scale, scale, shape)
    return params


def numeric_grad(loss: Callable[[], float], arr: np.ndarray) -> np.ndarray:
    """Central finite differences of ``loss`` w.r.t. ``arr`` (perturbed in place)."""
    grad = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        orig = arr[idx]
        arr[idx] = orig + EPS
        plus = loss()
        arr[idx] = orig - EPS
        minus = loss()
        arr[idx] = orig
        # ∂L/∂θ ≈ (L(θ + ε) − L(θ − ε)) / 2ε
        grad[idx] = (plus - minus) / (2 * EPS)
    return grad


def assert_grad_close(case: str, name: str, analytic: np.ndarray, numeric: np.ndarray) -> None:
    """Fail with a message naming the case, the parameter and the max error."""
    assert analytic.shape == numeric.shape, f"{case}: d/d{name} shape {analytic.shape}"
    err = np.abs(analytic - numeric)
    max_abs = float(err.max(initial=0.0))
    max_rel = float((err / np.maximum(np.abs(numeric), 1e-12)).max(initial=0.0))
    ok = bool(np.all(err <= ATOL + RTOL * np.abs(numeric)))
    assert ok, f"{case}: d/d{name} mismatch, max abs err {max_abs:.3e}, max rel err {max_rel:.3e}"


def build_case(
    cell: str,
    bias: bool,
    num_layers: int,
    bidirectional: bool,
    lengths: list[int] | None,
    hidden: int = 2,
    seed: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, object]]:
    """Random inputs, loss weights and forward kwargs for one configuration."""
    mode, reset_after, peephole = CELLS[cell]
    if seed is None:
        seed = zlib.crc32(f"{cell}-{bias}-{num_layers}-{bidirectional}-{lengths}".encode())
    rng = np.random.default_rng(seed)
    n_states = num_layers * (2 if bidirectional else 1)
    inputs = {"input": rng.normal(size=(T, B, E)), "h0": rng.normal(size=(n_states, B, hidden))}
    if mode == "lstm":
        inputs["c0"] = rng.normal(size=(n_states, B, hidden))
    inputs.update(
        make_params(
            rng,
            mode,
            hidden,
            num_layers=num_layers,
            bidirectional=bidirectional,
            bias=bias,
            peephole=peephole,
        )
    )
    weights = {
        "out": rng.normal(size=(T, B, n_states // num_layers * hidden)),
        "h_n": rng.normal(size=(n_states, B, hidden)),
        "c_n": rng.normal(size=(n_states, B, hidden)),
    }
    kwargs: dict[str, object] = {
        "mode": mode,
        "num_layers": num_layers,
        "bidirectional": bidirectional,
        "reset_after": reset_after,
        "peephole": peephole,
        "lengths": lengths,
    }
    return inputs, weights, kwargs


def run_forward(inputs: dict[str, np.ndarray], kwargs: dict[str, object]) -> tuple:
    """Call ``ref.forward`` with the inputs dict split into x, hx and params."""
    params = {k: v for k, v in inputs.items() if k not in ("input", "h0", "c0")}
    hx = (inputs["h0"], inputs["c0"]) if "c0" in inputs else inputs["h0"]
    return ref.forward(inputs["input"], hx, params, **kwargs)  # type: ignore[arg-type]


def check_gradients(case: str, inputs: dict, weights: dict, kwargs: dict) -> None:
    """Compare the hand-written backward with finite differences for every input."""

    def loss() -> float:
        out, h_n, c_n, _ = run_forward(inputs, kwargs)
        # L = Σ Wout ⊙ out + Σ Wh ⊙ h_n (+ Σ Wc ⊙ c_n)
        total = np.sum(weights["out"] * out) + np.sum(weights["h_n"] * h_n)
        return float(total + (0.0 if c_n is None else np.sum(weights["c_n"] * c_n)))

    _, _, c_n, cache = run_forward(inputs, kwargs)
    dc_n = None if c_n is None else weights["c_n"]
    grads = ref.backward(weights["out"], weights["h_n"], dc_n, cache)
    assert set(grads) == set(inputs), f"{case}: gradient keys {sorted(grads)}"
    for name, arr in inputs.items():
        assert_grad_close(case, name, grads[name], numeric_grad(loss, arr))


@pytest.mark.parametrize("lengths", list(LENGTHS), ids=list(LENGTHS))
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2], ids=["L1", "L2"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_backward_matches_finite_differences(
    cell: str, bias: bool, num_layers: int, bidirectional: bool, lengths: str
) -> None:
    """Hand-written BPTT == central finite differences for x, h0, c0 and all parameters."""
    inputs, weights, kwargs = build_case(cell, bias, num_layers, bidirectional, LENGTHS[lengths])
    case = f"{cell} bias={bias} L={num_layers} bi={bidirectional} lengths={lengths}"
    check_gradients(case, inputs, weights, kwargs)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_layer_backward_matches_finite_differences(cell: str, bias: bool) -> None:
    """``layer_backward`` alone (H=3, T=4, ragged lengths) also matches finite differences."""
    mode, reset_after, peephole = CELLS[cell]
    rng = np.random.default_rng(zlib.crc32(f"layer-{cell}-{bias}".encode()))
    hs = 3
    torch_named = make_params(
        rng, mode, hs, num_layers=1, bidirectional=False, bias=bias, peephole=peephole
    )
    p = ref.layer_params(torch_named, 0, 0)
    x, h0 = rng.normal(size=(T + 1, B, E)), rng.normal(size=(B, hs))
    c0 = rng.normal(size=(B, hs)) if mode == "lstm" else None
    w_out, w_h, w_c = (rng.normal(size=s) for s in [(T + 1, B, hs), (B, hs), (B, hs)])
    lengths = np.array([4, 1, 3])
    kw = {"reset_after": reset_after, "peephole": peephole, "lengths": lengths}

    def loss() -> float:
        out, h_t, c_t, _ = ref.layer_forward(x, h0, c0, p, mode, **kw)  # type: ignore[arg-type]
        extra = 0.0 if c_t is None else float(np.sum(w_c * c_t))
        return float(np.sum(w_out * out) + np.sum(w_h * h_t)) + extra

    *_, cache = ref.layer_forward(x, h0, c0, p, mode, **kw)  # type: ignore[arg-type]
    grads = ref.layer_backward(w_out, w_h, w_c if mode == "lstm" else None, cache)
    assert (grads["c0"] is None) == (mode != "lstm")
    named = {"x": x, "h0": h0, **({"c0": c0} if c0 is not None else {}), **p}
    assert set(k for k, v in grads.items() if v is not None) == set(named)
    for name, arr in named.items():
        analytic = grads[name]
        assert analytic is not None
        assert_grad_close(f"layer {cell}", name, analytic, numeric_grad(loss, arr))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_lengths_equal_running_each_sequence_alone(cell: str, bidirectional: bool) -> None:
    """Forward with ``lengths`` == each sequence run alone, truncated to its length."""
    lengths = [4, 1, 3]
    inputs, _, kwargs = build_case(cell, True, 2, bidirectional, lengths, hidden=3)
    inputs["input"] = np.random.default_rng(7).normal(size=(4, B, E))
    out, h_n, c_n, _ = run_forward(inputs, kwargs)
    for b, n in enumerate(lengths):
        alone = dict(inputs)
        alone["input"] = inputs["input"][:n, b : b + 1]  # (n, 1, E)
        alone["h0"] = inputs["h0"][:, b : b + 1]  # (L*D, 1, H)
        if "c0" in inputs:
            alone["c0"] = inputs["c0"][:, b : b + 1]  # (L*D, 1, H)
        out_b, h_b, c_b, _ = run_forward(alone, {**kwargs, "lengths": None})
        np.testing.assert_allclose(
            out[:n, b : b + 1],
            out_b,
            rtol=1e-12,
            atol=1e-12,
            err_msg=f"{cell}: out of sequence {b}",
        )
        assert np.all(out[n:, b] == 0.0), f"{cell}: padded outputs of sequence {b} not 0"
        np.testing.assert_allclose(
            h_n[:, b : b + 1], h_b, rtol=1e-12, atol=1e-12, err_msg=f"{cell}: h_n of sequence {b}"
        )
        if c_n is not None:
            np.testing.assert_allclose(
                c_n[:, b : b + 1],
                c_b,
                rtol=1e-12,
                atol=1e-12,
                err_msg=f"{cell}: c_n of sequence {b}",
            )


def relu_preactivations(cache: ref.NetCache) -> np.ndarray:
    """All ReLU pre-activations at valid (unpadded) time steps."""
    values = []
    for layer in cache.layers:
        for lc in layer:
            for t, step in enumerate(lc.steps):
                valid = lc.mask[t, :, 0] > 0
                values.append(step["a"][valid].ravel())
    return np.concatenate(values)


@pytest.mark.parametrize("lengths", list(LENGTHS), ids=list(LENGTHS))
def test_rnn_relu_finite_differences_avoid_kinks(lengths: str) -> None:
    """With a fixed seed every ReLU pre-activation is far from the kink at 0, so FD is valid."""
    margin = 1e-3  # >> EPS times the size of any input-to-preactivation derivative here
    for seed in range(100):
        inputs, weights, kwargs = build_case(
            "rnn_relu", True, 2, True, LENGTHS[lengths], hidden=3, seed=seed
        )
        *_, cache = run_forward(inputs, kwargs)
        if np.abs(relu_preactivations(cache)).min() > margin:
            break
    else:
        pytest.fail("no seed with ReLU pre-activations away from 0")
    assert np.any(relu_preactivations(cache) < 0), "some units must be inactive (kink exercised)"
    check_gradients(f"rnn_relu seed={seed} lengths={lengths}", inputs, weights, kwargs)


def test_reverse_padded_is_an_involution() -> None:
    """Reversal within length maps [a b c | pad] to [c b a | pad] and is its own inverse."""
    a = np.arange(12, dtype=np.float64).reshape(4, 3, 1)  # (T, B, 1)
    lengths = np.array([4, 1, 3])
    r = ref.reverse_padded(a, lengths)
    np.testing.assert_array_equal(r[:, 0, 0], a[::-1, 0, 0])
    np.testing.assert_array_equal(r[:, 1, 0], a[:, 1, 0])
    np.testing.assert_array_equal(r[:, 2, 0], a[[2, 1, 0, 3], 2, 0])
    np.testing.assert_array_equal(ref.reverse_padded(r, lengths), a)


def test_gru_reset_variants_differ() -> None:
    """``reset_after`` really switches between the two GRU formulations."""
    inputs, _, kwargs = build_case("gru_reset_after", True, 1, False, None)
    out_after = run_forward(inputs, kwargs)[0]
    out_before = run_forward(inputs, {**kwargs, "reset_after": False})[0]
    assert not np.allclose(out_after, out_before)


def test_invalid_lengths_rejected() -> None:
    """Lengths outside [1, T] are errors."""
    inputs, _, kwargs = build_case("rnn_tanh", True, 1, False, None)
    with pytest.raises(ValueError, match="lengths"):
        run_forward(inputs, {**kwargs, "lengths": [0, 1, 2]})
    with pytest.raises(ValueError, match="lengths"):
        run_forward(inputs, {**kwargs, "lengths": [4, 1, 2]})
