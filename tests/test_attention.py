"""Attention functions and modules against a NumPy float64 oracle, plus gradcheck.

Properties: the energies e<t'>, the weights α (a softmax over the valid source positions:
they sum to 1 and padded positions get exactly 0) and the context c = Σ α<t'> a<t'> equal
an independent NumPy implementation written here; changing keys or values at masked
positions changes nothing; autograd's gradients pass ``gradcheck``; the modules equal the
functions with their own parameters; shape errors raise ValueError naming the shape.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqlab.functional.attention import (
    additive_attention,
    additive_scores,
    attend,
    dot_attention,
    dot_scores,
    general_attention,
    masked_softmax,
    project_keys,
)
from seqlab.nn.attention import BahdanauAttention, LuongAttention

B, T, HQ, HK, A = 3, 5, 4, 6, 7
LENGTHS = [5, 2, 3]  # real positions per row; the rest is padding


# -- NumPy float64 oracle (loops over batch and positions, no shared code) ----------------
def np_softmax_masked(e: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.zeros_like(e)
    for b in range(e.shape[0]):
        valid = [t for t in range(e.shape[1]) if mask[b, t]]
        m = max(e[b, t] for t in valid)
        z = sum(np.exp(e[b, t] - m) for t in valid)
        for t in valid:
            out[b, t] = np.exp(e[b, t] - m) / z
    return out


def np_context(alphas: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros((values.shape[0], values.shape[2]))
    for b in range(values.shape[0]):
        for t in range(values.shape[1]):
            out[b] += alphas[b, t] * values[b, t]
    return out


def np_additive_energies(q, keys, w_a, b_a, w_s, v) -> np.ndarray:
    """e<t'> = vᵀ tanh(W_s s + W_a a<t'> + b) for every (b, t')."""
    e = np.zeros(keys.shape[:2])
    for b in range(keys.shape[0]):
        for t in range(keys.shape[1]):
            e[b, t] = v @ np.tanh(w_s @ q[b] + w_a @ keys[b, t] + b_a)
    return e


def np_dot_energies(q, keys) -> np.ndarray:
    return np.array([[q[b] @ keys[b, t] for t in range(keys.shape[1])] for b in range(len(q))])


def np_general_energies(q, keys, w) -> np.ndarray:
    return np.array([[q[b] @ w @ keys[b, t] for t in range(keys.shape[1])] for b in range(len(q))])


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors run fastest on one thread, and stay fast when other jobs share the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    mask = torch.arange(T)[None, :] < torch.tensor(LENGTHS)[:, None]  # (B, T)
    return {
        "q": randn(B, HQ),
        "keys": randn(B, T, HK),
        "values": randn(B, T, HK + 1),
        "w_a": randn(A, HK),
        "b_a": randn(A),
        "w_s": randn(A, HQ),
        "v": randn(A),
        "w_gen": randn(HQ, HK),
        "keys_q": randn(B, T, HQ),
        "mask": mask,
    }


def np_(x: torch.Tensor) -> np.ndarray:
    return x.detach().numpy()


def assert_close(actual: torch.Tensor, expected: np.ndarray) -> None:
    np.testing.assert_allclose(np_(actual), expected, rtol=1e-12, atol=1e-12)


# -- oracle agreement -------------------------------------------------------------------------
def test_additive_energies_match_oracle(data) -> None:
    projected = project_keys(data["keys"], data["w_a"], data["b_a"])
    e = additive_scores(data["q"], projected, data["w_s"], data["v"])
    want = np_additive_energies(*(np_(data[k]) for k in ("q", "keys", "w_a", "b_a", "w_s", "v")))
    assert_close(e, want)


def test_dot_energies_match_oracle(data) -> None:
    assert_close(
        dot_scores(data["q"], data["keys_q"]), np_dot_energies(np_(data["q"]), np_(data["keys_q"]))
    )


@pytest.mark.parametrize("use_mask", [True, False])
@pytest.mark.parametrize("kind", ["additive", "additive-projected", "dot", "general"])
def test_attention_matches_oracle(data, kind: str, use_mask: bool) -> None:
    q, keys, values = data["q"], data["keys"], data["values"]
    mask = data["mask"] if use_mask else None
    if kind == "additive":
        ctx, alphas = additive_attention(
            q, keys, values, data["w_s"], data["v"], mask, w_key=data["w_a"], b_key=data["b_a"]
        )
    elif kind == "additive-projected":
        projected = project_keys(keys, data["w_a"], data["b_a"])
        ctx, alphas = additive_attention(q, projected, values, data["w_s"], data["v"], mask)
    elif kind == "dot":
        keys = data["keys_q"]
        ctx, alphas = dot_attention(q, keys, values, mask)
    else:
        ctx, alphas = general_attention(q, keys, values, data["w_gen"], mask)
    if kind.startswith("additive"):
        e = np_additive_energies(*(np_(data[k]) for k in ("q", "keys", "w_a", "b_a", "w_s", "v")))
    elif kind == "dot":
        e = np_dot_energies(np_(q), np_(keys))
    else:
        e = np_general_energies(np_(q), np_(keys), np_(data["w_gen"]))
    np_mask = np_(data["mask"]) if use_mask else np.ones((B, T), dtype=bool)
    want_alphas = np_softmax_masked(e, np_mask)
    assert_close(alphas, want_alphas)
    assert_close(ctx, np_context(want_alphas, np_(values)))
    # a distribution over the valid positions: sums to 1, exactly 0 at padding
    np.testing.assert_allclose(np_(alphas.sum(-1)), np.ones(B), rtol=0, atol=1e-14)
    if use_mask:
        assert torch.all(alphas[~data["mask"]] == 0.0)
        assert torch.all(alphas[data["mask"]] > 0.0)


def test_masked_softmax_exact_zeros_and_sums() -> None:
    scores = torch.tensor([[1e4, -3.0, 2.0], [0.5, 0.5, 1e30]], dtype=torch.float64)
    mask = torch.tensor([[False, True, True], [True, True, False]])
    alphas = masked_softmax(scores, mask)
    assert alphas[0, 0].item() == 0.0 and alphas[1, 2].item() == 0.0
    assert_close(alphas, np_softmax_masked(np_(scores), np_(mask)))
    with pytest.raises(ValueError, match="mask of shape"):
        masked_softmax(scores, mask[:, :2])


def test_attend_is_weighted_sum(data) -> None:
    alphas = torch.softmax(torch.randn(B, T, dtype=torch.float64), -1)
    assert_close(attend(alphas, data["values"]), np_context(np_(alphas), np_(data["values"])))


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_padding_content_is_ignored(data, kind: str) -> None:
    """Keys and values at masked positions cannot change the context or the weights."""
    mask = data["mask"]
    noisy_keys = torch.where(mask[..., None], data["keys"], 1e3)
    noisy_keys_q = torch.where(mask[..., None], data["keys_q"], -7.0)
    noisy_values = torch.where(mask[..., None], data["values"], 1e6)

    def run(keys: torch.Tensor, keys_q: torch.Tensor, values: torch.Tensor):
        if kind == "additive":
            return additive_attention(
                data["q"],
                keys,
                values,
                data["w_s"],
                data["v"],
                mask,
                w_key=data["w_a"],
                b_key=data["b_a"],
            )
        if kind == "dot":
            return dot_attention(data["q"], keys_q, values, mask)
        return general_attention(data["q"], keys, values, data["w_gen"], mask)

    ctx0, a0 = run(data["keys"], data["keys_q"], data["values"])
    ctx1, a1 = run(noisy_keys, noisy_keys_q, noisy_values)
    torch.testing.assert_close(a1, a0, rtol=0, atol=0)
    torch.testing.assert_close(ctx1, ctx0, rtol=1e-12, atol=1e-12)


# -- gradients ---------------------------------------------------------------------------------
def test_gradcheck_additive(data) -> None:
    mask = data["mask"][:2, :4]
    q = data["q"][:2].clone().requires_grad_()
    keys = data["keys"][:2, :4].clone().requires_grad_()
    values = data["values"][:2, :4].clone().requires_grad_()
    params = [data[n].clone().requires_grad_() for n in ("w_s", "v", "w_a", "b_a")]

    def f(q, keys, values, w_s, v, w_a, b_a):
        return additive_attention(q, keys, values, w_s, v, mask, w_key=w_a, b_key=b_a)

    assert torch.autograd.gradcheck(f, (q, keys, values, *params))


def test_gradcheck_dot_and_general(data) -> None:
    mask = data["mask"][:2, :4]
    q = data["q"][:2].clone().requires_grad_()
    keys_q = data["keys_q"][:2, :4].clone().requires_grad_()
    keys = data["keys"][:2, :4].clone().requires_grad_()
    values = data["values"][:2, :4].clone().requires_grad_()
    w = data["w_gen"].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: dot_attention(*a, mask), (q, keys_q, values))
    assert torch.autograd.gradcheck(
        lambda q, k, v, w: general_attention(q, k, v, w, mask), (q, keys, values, w)
    )


# -- modules -----------------------------------------------------------------------------------
def test_bahdanau_module_equals_function(data) -> None:
    torch.manual_seed(0)
    att = BahdanauAttention(HQ, HK, A).double()
    q, keys, values, mask = data["q"], data["keys"], data["values"], data["mask"]
    ctx, alphas = att(q, keys, values, mask)
    e = np_additive_energies(
        np_(q),
        np_(keys),
        np_(att.key_proj.weight),
        np_(att.key_proj.bias),
        np_(att.query_proj.weight),
        np_(att.v),
    )
    want = np_softmax_masked(e, np_(mask))
    assert_close(alphas, want)
    assert_close(ctx, np_context(want, np_(values)))
    # precomputed keys give the same result
    ctx2, alphas2 = att(q, att.project_keys(keys), values, mask, keys_projected=True)
    torch.testing.assert_close(ctx2, ctx, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(alphas2, alphas, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("score", ["dot", "general"])
def test_luong_module_matches_oracle(data, score: str) -> None:
    torch.manual_seed(0)
    key_size = HQ if score == "dot" else HK
    keys = data["keys_q"] if score == "dot" else data["keys"]
    att = LuongAttention(HQ, key_size, score).double()
    ctx, alphas = att(data["q"], keys, data["values"], data["mask"])
    if score == "dot":
        e = np_dot_energies(np_(data["q"]), np_(keys))
    else:
        e = np_general_energies(np_(data["q"]), np_(keys), np_(att.weight))
    want = np_softmax_masked(e, np_(data["mask"]))
    assert_close(alphas, want)
    assert_close(ctx, np_context(want, np_(data["values"])))
    ctx2, _ = att(
        data["q"], att.project_keys(keys), data["values"], data["mask"], keys_projected=True
    )
    torch.testing.assert_close(ctx2, ctx, rtol=1e-13, atol=1e-13)


def test_module_argument_errors() -> None:
    with pytest.raises(ValueError, match="query_size == key_size"):
        LuongAttention(4, 6, "dot")
    with pytest.raises(ValueError, match="score must be"):
        LuongAttention(4, 4, "concat")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        BahdanauAttention(4, 0, 3)


# -- shape errors ------------------------------------------------------------------------------
def test_shape_errors_name_the_expected_shape(data) -> None:
    q, keys, values, mask = data["q"], data["keys"], data["values"], data["mask"]
    w_s, v, w_a = data["w_s"], data["v"], data["w_a"]
    with pytest.raises(ValueError, match=r"expected query of shape \(B, None\), got \(4,\)"):
        dot_attention(q[0], keys, values)
    with pytest.raises(
        ValueError, match=r"expected values of shape \(B=3, T=5, None\), got \(3, 4, 7\)"
    ):
        dot_attention(q, data["keys_q"], values[:, :4])
    with pytest.raises(ValueError, match=r"expected mask of shape \(B=3, T=5\), got \(3, 4\)"):
        dot_attention(q, data["keys_q"], values, mask[:, :4])
    with pytest.raises(ValueError, match=r"expected keys of shape \(3, T, H=4\), got \(3, 5, 6\)"):
        dot_attention(q, keys, values)
    with pytest.raises(ValueError, match=r"expected keys of shape \(B, T, Hk=6\)"):
        additive_attention(q, data["keys_q"], values, w_s, v, w_key=w_a)
    with pytest.raises(ValueError, match=r"expected keys of shape \(3, T, A=7\)"):
        additive_attention(q, keys, values, w_s, v)  # raw keys without w_key
    with pytest.raises(ValueError, match="bool mask"):
        dot_attention(q, data["keys_q"], values, mask.long())
