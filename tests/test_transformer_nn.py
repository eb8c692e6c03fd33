"""Transformer modules (seqlab.nn.transformer) against torch.nn with the same weights.

Properties:
* equivalence: ``MultiHeadAttention`` equals ``torch.nn.MultiheadAttention`` (state dicts
  load both ways) for self- and cross-attention, key padding + look-ahead masks (converted
  with ``to_torch_mask``), ``batch_first`` both ways: outputs, head-averaged weights and
  every gradient, in float64; also with keys/values of other widths (``kdim``/``vdim``:
  separate W_Q, W_K, W_V named as torch's), and the same initialisation under one seed;
* equivalence: ``TransformerEncoderLayer`` / ``TransformerDecoderLayer`` equal torch's with
  the same state dict for post-/pre-norm × relu/gelu with masks, forward and backward;
* the fast path (torch's fused SDPA) equals the readable path;
* a key/value cache fed one position at a time equals the full causal sequence, a static
  cross-attention cache equals attending the memory, and copies keep the earlier state;
* positional encoding equals the paper's formula; embeddings are scaled by √d_model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from seqlab.functional.transformer import causal_mask, padding_mask, to_torch_mask
from seqlab.nn.transformer import (
    KVCache,
    MultiHeadAttention,
    PositionalEncoding,
    ScaledEmbedding,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
)

E, NH = 12, 3


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def assert_same_gradients(ours: nn.Module, theirs: nn.Module, inputs, outputs) -> None:
    """Backpropagate a random-weighted sum of each output; compare inputs' and parameters'
    gradients."""
    grads = []
    for module, ins, out in ((ours, inputs[0], outputs[0]), (theirs, inputs[1], outputs[1])):
        weight = randn(*out.shape, seed=7)
        params = [p for _, p in sorted(module.named_parameters())]
        grads.append(torch.autograd.grad((out * weight).sum(), [*ins, *params]))
    assert len(grads[0]) == len(grads[1])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("kind", ["self", "cross", "cross-kv"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_equals_torch(kind: str, batch_first: bool, need_weights: bool):
    torch.manual_seed(0)
    ours = MultiHeadAttention(E, NH, batch_first=batch_first).double()
    theirs = nn.MultiheadAttention(E, NH, batch_first=batch_first).double()
    theirs.load_state_dict(ours.state_dict())
    ours.load_state_dict(theirs.state_dict())  # and back: the same names and shapes
    b, tq, tk = 3, 5, 5 if kind == "self" else 7
    lengths = torch.tensor([tk, 2, tk - 1])
    mask = padding_mask(lengths, tk)  # (B, 1, 1, Tk)
    if kind == "self":
        mask = mask & causal_mask(tq)  # (B, 1, Tq, Tk)
    base = [randn(b, t, E, seed=s) for s, t in ((1, tq), (2, tk), (3, tk))]  # q, k, v
    if not batch_first:
        base = [x.transpose(0, 1).contiguous() for x in base]  # (T, B, E)

    def leaves() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The distinct inputs, and query/key/value (the same tensor where shared)."""
        q, k, v = (x.clone().requires_grad_() for x in base)
        if kind == "self":
            return [q], [q, q, q]
        return ([q, k], [q, k, k]) if kind == "cross" else ([q, k, v], [q, k, v])

    (leaves_ours, mine), (leaves_theirs, theirs_in) = leaves(), leaves()
    out, weights = ours(*mine, mask, need_weights=need_weights)
    ref, ref_w = theirs(
        *theirs_in,
        key_padding_mask=to_torch_mask(padding_mask(lengths, tk)[:, 0, 0]),
        attn_mask=to_torch_mask(causal_mask(tq)[0, 0]) if kind == "self" else None,
        need_weights=need_weights,
    )
    torch.testing.assert_close(out, ref)
    if need_weights:
        assert weights is not None and weights.shape == (b, NH, tq, tk)
        torch.testing.assert_close(weights.mean(dim=1), ref_w)  # torch averages the heads
    else:
        assert weights is None
    assert_same_gradients(ours, theirs, (leaves_ours, leaves_theirs), (out, ref))


def test_fast_path_equals_readable_path() -> None:
    torch.manual_seed(0)
    mha = MultiHeadAttention(E, NH).double()
    x = randn(2, 6, E).requires_grad_()
    mask = padding_mask(torch.tensor([6, 3]), 6) & causal_mask(6)
    fast, none = mha(x, x, x, mask)
    slow, weights = mha(x, x, x, mask, need_weights=True)
    assert none is None and weights is not None
    torch.testing.assert_close(fast, slow)
    g = randn(*fast.shape, seed=5)
    grad_fast = torch.autograd.grad((fast * g).sum(), [x, *mha.parameters()])
    grad_slow = torch.autograd.grad((slow * g).sum(), [x, *mha.parameters()])
    for a, b in zip(grad_fast, grad_slow, strict=True):
        torch.testing.assert_close(a, b)


def test_heads_are_the_course_loop() -> None:
    """concat(head_1..head_h) W_O with head_i = softmax(Q W_iQ (K W_iK)ᵀ/√hs) V W_iV."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(E, NH).double()
    q_in, kv = randn(2, 4, E, seed=1), randn(2, 5, E, seed=2)
    out, _ = mha(q_in, kv, kv)
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
    hs = E // NH
    heads = []
    for i in range(NH):
        rows = slice(i * hs, (i + 1) * hs)
        q = q_in @ w_q[rows].T + b_q[rows]
        k = kv @ w_k[rows].T + b_k[rows]
        v = kv @ w_v[rows].T + b_v[rows]
        heads.append(torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hs), dim=-1) @ v)
    want = mha.out_proj(torch.cat(heads, dim=-1))
    torch.testing.assert_close(out, want)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_equals_torch(norm_first: bool, activation: str) -> None:
    torch.manual_seed(0)
    ours = TransformerEncoderLayer(E, NH, 20, 0.1, activation, norm_first).double().eval()
    theirs = nn.TransformerEncoderLayer(
        E, NH, 20, 0.1, activation, batch_first=True, norm_first=norm_first
    ).double()
    theirs.load_state_dict(ours.state_dict())
    theirs.eval()
    x = randn(3, 6, E)
    lengths = torch.tensor([6, 2, 4])
    mask = padding_mask(lengths, 6) & causal_mask(6)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    out, _ = ours(xs[0], mask)
    ref = theirs(
        xs[1],
        src_mask=to_torch_mask(causal_mask(6)[0, 0]),
        src_key_padding_mask=to_torch_mask(padding_mask(lengths, 6)[:, 0, 0]),
    )
    torch.testing.assert_close(out, ref)
    assert_same_gradients(ours, theirs, ([xs[0]], [xs[1]]), (out, ref))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_equals_torch(norm_first: bool, activation: str) -> None:
    torch.manual_seed(0)
    ours = TransformerDecoderLayer(E, NH, 20, 0.1, activation, norm_first).double().eval()
    theirs = nn.TransformerDecoderLayer(
        E, NH, 20, 0.1, activation, batch_first=True, norm_first=norm_first
    ).double()
    theirs.load_state_dict(ours.state_dict())
    theirs.eval()
    x, memory = randn(3, 5, E, seed=1), randn(3, 7, E, seed=2)
    lengths = torch.tensor([7, 1, 4])
    ins = [[x.clone().requires_grad_(), memory.clone().requires_grad_()] for _ in range(2)]
    out, self_w, cross_w = ours(*ins[0], causal_mask(5), padding_mask(lengths, 7))
    assert self_w is None and cross_w is None
    ref = theirs(
        *ins[1],
        tgt_mask=to_torch_mask(causal_mask(5)[0, 0]),
        memory_key_padding_mask=to_torch_mask(padding_mask(lengths, 7)[:, 0, 0]),
    )
    torch.testing.assert_close(out, ref)
    assert_same_gradients(ours, theirs, (ins[0], ins[1]), (out, ref))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_steps_with_cache_equal_full_sequence(norm_first: bool) -> None:
    torch.manual_seed(0)
    layer = TransformerDecoderLayer(E, NH, 20, 0.0, "relu", norm_first).double().eval()
    x, memory = randn(2, 6, E, seed=1), randn(2, 4, E, seed=2)
    memory_mask = padding_mask(torch.tensor([4, 2]), 4)
    full, _, full_cross = layer(x, memory, causal_mask(6), memory_mask, need_weights=True)
    self_cache = KVCache()
    memory_cache = layer.multihead_attn.memory_cache(memory)
    assert memory_cache.static and memory_cache.length == 4
    outs, crosses, snapshots = [], [], []
    for t in range(6):
        snapshots.append(self_cache.copy())
        out, _, cross = layer(
            x[:, t : t + 1],
            None,  # the static cache holds the memory's keys and values
            None,
            memory_mask,
            need_weights=True,
            self_cache=self_cache,
            memory_cache=memory_cache,
        )
        outs.append(out)
        crosses.append(cross)
        assert self_cache.length == t + 1 and memory_cache.length == 4
    torch.testing.assert_close(torch.cat(outs, dim=1), full)
    torch.testing.assert_close(torch.cat(crosses, dim=2), full_cross)
    assert [s.length for s in snapshots] == list(range(6))  # copies keep their state


def test_encoder_layer_chunks_with_cache_equal_full_sequence() -> None:
    """The decoder-only block: a causal layer reading 3 + 1 + 2 positions through a cache."""
    torch.manual_seed(0)
    layer = TransformerEncoderLayer(E, NH, 20, 0.0, "gelu", True).double().eval()
    x = randn(2, 6, E)
    full, _ = layer(x, causal_mask(6))
    cache, outs, start = KVCache(), [], 0
    for size in (3, 1, 2):
        mask = causal_mask(size, start + size)
        out, _ = layer(x[:, start : start + size], mask, cache=cache)
        outs.append(out)
        start += size
    torch.testing.assert_close(torch.cat(outs, dim=1), full)


def test_positional_encoding_is_the_papers_formula() -> None:
    pe = PositionalEncoding(6, max_positions=10)
    assert not list(pe.parameters()) and "table" not in pe.state_dict()
    x = torch.zeros(1, 4, 6)
    got = pe(x, offset=3)[0].numpy()
    want = np.zeros((4, 6))
    for row, pos in enumerate(range(3, 7)):
        for i in range(3):
            want[row, 2 * i] = math.sin(pos / 10000 ** (2 * i / 6))
            want[row, 2 * i + 1] = math.cos(pos / 10000 ** (2 * i / 6))
    np.testing.assert_allclose(got, want, atol=1e-6)
    odd = PositionalEncoding(5, max_positions=4)(torch.zeros(1, 4, 5))  # odd widths work too
    assert odd.shape == (1, 4, 5)
    with pytest.raises(ValueError, match="exceed max_positions=10"):
        pe(torch.zeros(1, 8, 6), offset=3)
    learned = PositionalEncoding(6, max_positions=10, kind="learned")
    assert [p.shape for p in learned.parameters()] == [(10, 6)]
    # a trained table that starts from the same sinusoids (the hand-computed ones above)
    np.testing.assert_allclose(learned.table.detach().numpy()[3:7], want, atol=1e-6)
    with pytest.raises(ValueError, match="kind must be"):
        PositionalEncoding(6, kind="rotary")  # type: ignore[arg-type]


def test_scaled_embedding() -> None:
    torch.manual_seed(0)
    emb = ScaledEmbedding(50, 16, padding_idx=0)
    ids = torch.tensor([[0, 3, 7]])
    torch.testing.assert_close(emb(ids), emb.weight[ids] * 4.0)
    assert emb(ids)[0, 0].abs().sum() == 0
    # N(0, 1/d) init: the scaled embeddings have entries of unit size
    assert 0.8 < float((emb.weight[1:] * 4.0).detach().std()) < 1.2


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="multiple of num_heads"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="activation must be"):
        TransformerEncoderLayer(E, NH, activation="tanh")  # type: ignore[arg-type]
    mha = MultiHeadAttention(E, NH)
    with pytest.raises(ValueError, match=r"expected query of shape \(B, T, E=12\)"):
        mha(torch.zeros(2, 3, 5), torch.zeros(2, 3, 12), torch.zeros(2, 3, 12))
    with pytest.raises(ValueError, match="same batch and length"):
        mha(torch.zeros(2, 3, 12), torch.zeros(2, 3, 12), torch.zeros(2, 4, 12))
    with pytest.raises(ValueError, match="key and value are needed"):
        mha(torch.zeros(2, 3, 12), None, None)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize(("kdim", "vdim"), [(5, 7), (E, 7), (5, E)])
def test_kdim_vdim_equal_torch(kdim: int, vdim: int, batch_first: bool, need_weights: bool):
    """Keys/values of other widths: separate W_Q, W_K, W_V named as torch names them."""
    torch.manual_seed(0)
    ours = MultiHeadAttention(E, NH, batch_first=batch_first, kdim=kdim, vdim=vdim).double()
    theirs = nn.MultiheadAttention(E, NH, batch_first=batch_first, kdim=kdim, vdim=vdim)
    theirs = theirs.double()
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    assert ours.in_proj_weight is None and ours.k_proj_weight.shape == (E, kdim)
    theirs.load_state_dict(ours.state_dict())
    ours.load_state_dict(theirs.state_dict())
    b, tq, tk = 3, 5, 7
    lengths = torch.tensor([tk, 2, tk - 1])
    look_ahead = causal_mask(tq, tk)  # (1, 1, Tq, Tk): a rectangular look-ahead mask
    mask = padding_mask(lengths, tk) & look_ahead  # (B, 1, Tq, Tk)
    base = [randn(b, tq, E, seed=1), randn(b, tk, kdim, seed=2), randn(b, tk, vdim, seed=3)]
    if not batch_first:
        base = [x.transpose(0, 1).contiguous() for x in base]  # (T, B, ·)
    mine = [x.clone().requires_grad_() for x in base]
    peer = [x.clone().requires_grad_() for x in base]
    out, weights = ours(*mine, mask, need_weights=need_weights)
    ref, ref_w = theirs(
        *peer,
        key_padding_mask=to_torch_mask(padding_mask(lengths, tk)[:, 0, 0]),
        attn_mask=to_torch_mask(look_ahead[0, 0]),
        need_weights=need_weights,
    )
    torch.testing.assert_close(out, ref)
    assert (weights is not None) == need_weights  # weights only when asked, as torch
    if weights is not None:
        torch.testing.assert_close(weights.mean(dim=1), ref_w)
    assert_same_gradients(ours, theirs, (mine, peer), (out, ref))


def test_kdim_vdim_cache_and_self_attention() -> None:
    """kdim = vdim = E given explicitly keeps the packed weight (torch does too); a static
    cache over a memory of width kdim equals attending the memory."""
    packed = MultiHeadAttention(E, NH, kdim=E, vdim=E)
    assert packed.in_proj_weight is not None and "q_proj_weight" not in packed.state_dict()
    torch.manual_seed(0)
    mha = MultiHeadAttention(E, NH, kdim=6, vdim=6).double()
    x, memory = randn(2, 4, E, seed=1), randn(2, 5, 6, seed=2)
    want, _ = mha(x, memory, memory)
    cache = mha.memory_cache(memory)
    got, _ = mha(x, None, None, cache=cache)
    torch.testing.assert_close(got, want)


def test_kdim_vdim_errors() -> None:
    mha = MultiHeadAttention(E, NH, kdim=5, vdim=7)
    q, k, v = torch.zeros(2, 3, E), torch.zeros(2, 4, 5), torch.zeros(2, 4, 7)
    mha(q, k, v)  # the right widths
    with pytest.raises(
        ValueError, match=r"expected key of shape \(B, T, kdim=5\), got \(2, 4, 7\)"
    ):
        mha(q, v, v)
    with pytest.raises(ValueError, match=r"expected value of shape \(B, T, vdim=7\)"):
        mha(q, k, k)
    with pytest.raises(ValueError, match=r"expected query of shape \(B, T, E=12\)"):
        mha(k, k, v)
    with pytest.raises(ValueError, match="same batch and length"):
        mha(q, k, torch.zeros(2, 5, 7))
    with pytest.raises(ValueError, match=r"kdim=5\), got \(2, 4, 12\)"):
        mha.memory_cache(torch.zeros(2, 4, E))
    with pytest.raises(ValueError, match="kdim and vdim must be >= 1"):
        MultiHeadAttention(E, NH, kdim=0)


@pytest.mark.parametrize(("kdim", "vdim"), [(None, None), (5, 7)])
def test_initialisation_equals_torch(kdim: int | None, vdim: int | None) -> None:
    """Same seed, same parameters: torch's initialisation, drawn in torch's order."""
    torch.manual_seed(0)
    ours = MultiHeadAttention(E, NH, kdim=kdim, vdim=vdim).state_dict()
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(E, NH, kdim=kdim, vdim=vdim).state_dict()
    assert list(ours) == list(theirs)
    for name, value in ours.items():
        torch.testing.assert_close(value, theirs[name], rtol=0, atol=0, msg=name)
