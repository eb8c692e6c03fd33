"""Scaled dot-product attention and the Transformer's masks (seqlab.functional.transformer).

Properties:
* oracle: softmax(QKᵀ/√d_k)V equals a NumPy float64 loop over batch, head, query and key,
  with padding + look-ahead masks; ``gradcheck`` on tiny sizes;
* peer agreement: equals ``torch.nn.functional.scaled_dot_product_attention`` (same mask
  convention: True = attended), and torch.nn's True = masked masks after ``to_torch_mask``;
* the fused fast path equals the readable one (outputs and gradients);
* fully masked rows give zero weights and a zero output, and no NaN in any gradient;
* masks of the wrong dtype or shape are a ValueError naming the expected shape.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqlab.functional.transformer import (
    causal_mask,
    fast_scaled_dot_product_attention,
    padding_mask,
    scaled_dot_product_attention,
    to_torch_mask,
)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def qkv(b=2, h=3, tq=4, tk=5, dk=6, dv=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, tq, dk, generator=g, dtype=torch.float64)
    k = torch.randn(b, h, tk, dk, generator=g, dtype=torch.float64)
    v = torch.randn(b, h, tk, dv, generator=g, dtype=torch.float64)
    return q, k, v


def numpy_attention(q, k, v, mask):
    """Brute force: one query at a time, one key at a time, float64."""
    q, k, v = (x.detach().numpy() for x in (q, k, v))
    m = np.broadcast_to(mask.numpy(), (q.shape[0], q.shape[1], q.shape[2], k.shape[2]))
    out = np.zeros((*q.shape[:3], v.shape[-1]))
    weights = np.zeros((*q.shape[:3], k.shape[2]))
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            for i in range(q.shape[2]):
                kept = [j for j in range(k.shape[2]) if m[b, h, i, j]]
                if not kept:
                    continue  # seqlab's choice: a fully masked row attends nothing
                e = {j: float(q[b, h, i] @ k[b, h, j]) / math.sqrt(q.shape[-1]) for j in kept}
                top = max(e.values())
                z = sum(math.exp(s - top) for s in e.values())
                for j in kept:
                    weights[b, h, i, j] = math.exp(e[j] - top) / z
                    out[b, h, i] += weights[b, h, i, j] * v[b, h, j]
    return out, weights


def test_masks_by_hand() -> None:
    assert causal_mask(3).tolist() == [[[[1, 0, 0], [1, 1, 0], [1, 1, 1]]]]
    # two new queries after three cached keys: query i sees keys 0 … 3 + i
    assert causal_mask(2, 5)[0, 0].tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    pad = padding_mask(torch.tensor([2, 4]), 4)
    assert pad.shape == (2, 1, 1, 4)
    assert pad[:, 0, 0].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    assert to_torch_mask(pad).tolist() == (~pad).tolist()
    with pytest.raises(ValueError, match="Tq <= Tk"):
        causal_mask(3, 2)
    with pytest.raises(ValueError, match="lengths of shape"):
        padding_mask(torch.tensor([2.0]), 3)
    with pytest.raises(ValueError, match="bool mask"):
        to_torch_mask(torch.ones(2, 3))


@pytest.mark.parametrize("which", ["none", "padding", "causal", "both", "per-head"])
def test_equals_numpy_oracle(which: str) -> None:
    q, k, v = qkv(tq=5, tk=5)
    pad = padding_mask(torch.tensor([5, 2]), 5)  # (B, 1, 1, T)
    masks = {
        "none": torch.ones(1, 1, 1, 5, dtype=torch.bool),
        "padding": pad,
        "causal": causal_mask(5),
        "both": pad & causal_mask(5),
        "per-head": torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(3)) > 0.4,
    }
    mask = masks[which]
    out, weights = scaled_dot_product_attention(q, k, v, None if which == "none" else mask)
    want_out, want_w = numpy_attention(q, k, v, mask)
    np.testing.assert_allclose(weights.numpy(), want_w, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), want_out, atol=1e-12)


def test_equals_torch_sdpa_and_torch_mha_convention() -> None:
    q, k, v = qkv()
    mask = padding_mask(torch.tensor([3, 5]), 5) & causal_mask(4, 5)  # (B, 1, 4, 5)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    # torch.nn's masks say True = masked: a float mask of -inf where to_torch_mask is True
    additive = torch.zeros(mask.shape, dtype=q.dtype).masked_fill(to_torch_mask(mask), -math.inf)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=additive))


def test_fast_path_equals_readable_path_with_gradients() -> None:
    q, k, v = (x.requires_grad_() for x in qkv(tq=5, tk=5))
    mask = padding_mask(torch.tensor([5, 3]), 5) & causal_mask(5)
    mask = mask.expand(2, 3, 5, 5).clone()
    mask[1, 2, 4] = False  # one fully masked row
    slow, _ = scaled_dot_product_attention(q, k, v, mask)
    fast = fast_scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(fast, slow)
    g = torch.randn_like(slow)
    grads_slow = torch.autograd.grad((slow * g).sum(), (q, k, v))
    grads_fast = torch.autograd.grad((fast * g).sum(), (q, k, v))
    for a, b in zip(grads_fast, grads_slow, strict=True):
        torch.testing.assert_close(a, b)


def test_fully_masked_rows_are_zero_not_nan() -> None:
    q, k, v = (x.requires_grad_() for x in qkv(tq=3, tk=4))
    mask = torch.ones(2, 1, 3, 4, dtype=torch.bool)
    mask[0, 0, 1] = False  # query 1 of row 0 sees no key
    for fast in (False, True):
        if fast:
            out = fast_scaled_dot_product_attention(q, k, v, mask)
        else:
            out, weights = scaled_dot_product_attention(q, k, v, mask)
            assert weights[0, :, 1].abs().sum() == 0
            torch.testing.assert_close(weights[0, :, 0].sum(-1), torch.ones(3, dtype=q.dtype))
        assert out[0, :, 1].abs().sum() == 0
        assert out[0, :, 0].abs().sum() > 0
        grads = torch.autograd.grad(out.sum(), (q, k, v))
        assert all(torch.isfinite(g).all() for g in grads)
        assert grads[0][0, :, 1].abs().sum() == 0  # the dead query gets no gradient


def test_gradcheck() -> None:
    q, k, v = (x.requires_grad_() for x in qkv(b=1, h=2, tq=2, tk=3, dk=2, dv=2))
    mask = causal_mask(2, 3)
    assert torch.autograd.gradcheck(lambda *a: scaled_dot_product_attention(*a, mask)[0], (q, k, v))


def test_dropout_only_in_training() -> None:
    q, k, v = qkv()
    out, _ = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    out_eval, _ = scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=False)
    torch.testing.assert_close(out, out_eval)
    torch.manual_seed(0)
    _, dropped = scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=True)
    assert (dropped == 0).float().mean() > 0.3  # about half the weights are dropped


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (torch.ones(2, 1, 4, 5), "bool attention mask"),
        (torch.ones(4, 5, dtype=torch.bool), r"\(B=2\|1, nh=3\|1, Tq=4\|1, Tk=5\), got \(4, 5\)"),
        (torch.ones(2, 1, 4, 4, dtype=torch.bool), "got \\(2, 1, 4, 4\\)"),
        (torch.ones(3, 1, 1, 5, dtype=torch.bool), "got \\(3, 1, 1, 5\\)"),
    ],
)
def test_bad_masks_are_clear_errors(mask: torch.Tensor, message: str) -> None:
    q, k, v = qkv()
    for fn in (scaled_dot_product_attention, fast_scaled_dot_product_attention):
        with pytest.raises(ValueError, match=message):
            fn(q, k, v, mask)


def test_bad_qkv_shapes() -> None:
    q, k, v = qkv()
    with pytest.raises(ValueError, match="expected q"):
        scaled_dot_product_attention(q[0], k, v)
    with pytest.raises(ValueError, match="expected q"):
        scaled_dot_product_attention(q, k, v[:, :, :3])
