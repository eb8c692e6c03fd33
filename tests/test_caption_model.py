"""The captioning network: its equations against torch.nn, and the step protocol."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.decoding import beam_search, greedy_search
from seqlab.models.captioner import CaptionModel, CaptionModelConfig

V, PAD = 11, 0


def _model(seed: int = 0, **kw: object) -> CaptionModel:
    torch.manual_seed(seed)
    cfg = CaptionModelConfig(
        vocab_size=V, image_size=16, channels=(4, 6), embedding_dim=5, hidden_size=7,
        attention_dim=3, **kw,
    )  # fmt: skip
    model = CaptionModel(cfg).double().eval()
    with torch.no_grad():  # random, non-zero values everywhere
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def _images(b: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, 3, 16, 16, generator=torch.Generator().manual_seed(seed)).double()


def test_one_step_equals_the_equations_with_torch_lstm_cell() -> None:
    m = _model()
    images = _images(2)
    tokens = torch.tensor([3, 5])
    # encoder by hand: conv blocks with torch.nn.functional, regions row-major + positions
    x = images - 0.5
    for conv in (m.cnn[0], m.cnn[3]):
        x = F.max_pool2d(F.relu(F.conv2d(x, conv.weight, conv.bias, padding=1)), 2)
    a = x.flatten(2).transpose(1, 2) + m.position  # (B, R, C)
    mean = a.mean(1)
    h0, c0 = torch.tanh(m.init_h(mean)), torch.tanh(m.init_c(mean))
    att = m.attention
    e = torch.tanh(att.query_proj(h0)[:, None] + att.key_proj(a)) @ att.v  # (B, R)
    alpha = e.softmax(-1)
    z = torch.sigmoid(m.gate(h0)) * (alpha[:, :, None] * a).sum(1)  # (B, C)
    ref = nn.LSTMCell(m.cell.input_size, m.cell.hidden_size).double()
    ref.load_state_dict({k: getattr(m.cell, k) for k in ref.state_dict()})
    h, c = ref(torch.cat([m.embedding(tokens), z], -1), (h0, c0))
    want = F.log_softmax(m.head(torch.cat([h, z], -1)), -1)

    log_probs, state = m.step(tokens, m.init_state(images))
    torch.testing.assert_close(log_probs, want)
    torch.testing.assert_close(state.attention, alpha)
    torch.testing.assert_close(state.cell, c)


def test_stepping_equals_teacher_forcing_and_padding_changes_nothing() -> None:
    m = _model()
    images = _images(3)
    captions = [[1, 4, 5, 6, 2], [1, 7, 2], [1, 8, 9, 2]]
    width = max(map(len, captions))
    tgt = torch.tensor([c + [PAD] * (width - len(c)) for c in captions])
    logits, alphas = m(images, tgt, return_attention=True)
    state = m.init_state(images)
    for t in range(width):
        log_probs, state = m.step(tgt[:, t], state)
        torch.testing.assert_close(log_probs, logits[:, t].log_softmax(-1))
        torch.testing.assert_close(state.attention, alphas[:, t])
    for i, c in enumerate(captions):  # each caption alone, unpadded
        alone = m(images[i : i + 1], torch.tensor([c]))
        torch.testing.assert_close(alone[0], logits[i, : len(c)])
    # the loss ignores padding: equal to the per-token mean over the real targets
    out = torch.tensor([c[1:] + [3] + [PAD] * (width - len(c)) for c in captions])
    real = out != PAD
    want = F.cross_entropy(logits[real], out[real])
    torch.testing.assert_close(m.loss(images, tgt, out), want)


def test_reorder_state_equals_stepping_the_reordered_batch() -> None:
    m = _model()
    images = _images(3)
    index = torch.tensor([2, 0, 2])
    moved = m.reorder_state(m.init_state(images), index)
    a, _ = m.step(torch.tensor([4, 5, 6]), moved)
    b, _ = m.step(torch.tensor([4, 5, 6]), m.init_state(images[index]))
    torch.testing.assert_close(a, b)


def test_beam_of_one_equals_greedy_search() -> None:
    m = _model(seed=3)
    images = _images(4, seed=2)
    greedy = greedy_search(m, m.init_state(images), batch_size=4, bos_id=1, eos_id=2, max_length=8)
    beam = beam_search(
        m, m.init_state(images), batch_size=4, beam_size=1, bos_id=1, eos_id=2, max_length=8
    )
    assert [g.tokens for g in greedy] == [b[0].tokens for b in beam]
    for g, b in zip(greedy, beam, strict=True):
        assert g.log_prob == pytest.approx(b[0].log_prob)


def test_config_round_trip_and_checks() -> None:
    cfg = CaptionModelConfig(vocab_size=9, channels=(8, 16, 16))
    assert CaptionModelConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.grid == 4
    with pytest.raises(ValueError, match="divisible by 2\\^3"):
        CaptionModelConfig(vocab_size=9, image_size=36)
    m = _model()
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 3, 16, 16\)"):
        m.init_state(torch.rand(2, 3, 8, 8).double())
    with pytest.raises(ValueError, match=r"expected tokens of shape \(B=2,\)"):
        m.step(torch.tensor([1]), m.init_state(_images(2)))


def _log_p(m: CaptionModel, images: torch.Tensor, row: int, ids: list[int]) -> float:
    """log P(ids + <EOS> | image) by stepping one token at a time (bos 1, eos 2)."""
    torch.set_grad_enabled(False)
    state = m.init_state(images[row : row + 1])
    total, token = 0.0, 1
    for nxt in [*ids, 2]:
        log_probs, state = m.step(torch.tensor([token]), state)
        total += float(log_probs[0, nxt])
        token = nxt
    torch.set_grad_enabled(True)
    return total


def test_closest_references_picks_the_match_else_the_likeliest() -> None:
    from seqlab.decoding import Hypothesis
    from seqlab.decoding.references import closest_references

    m = _model(seed=5)
    images = _images(3, seed=4)
    refs = [[[4, 5], [6, 7, 8], [9]], [[3, 3, 3], [5]], [[10, 4], [7], [8, 8]]]
    outs = [Hypothesis([9], -1.0, -1.0, True), Hypothesis([4], -1.0, -1.0, True)]
    outs.append(Hypothesis([10, 4], -1.0, -1.0, False))  # unfinished: matches nothing
    got = closest_references(m, m.init_state(images), outs, refs, bos_id=1, eos_id=2, alpha=0.7)
    assert got[0] == 2  # the output equals reference 2
    best = {}
    for row in (1, 2):  # brute force: the best length-normalised log P
        scores = [_log_p(m, images, row, y) / (len(y) + 1) ** 0.7 for y in refs[row]]
        best[row] = max(range(len(scores)), key=scores.__getitem__)
        assert got[row] == best[row]
    # a reference holding <UNK> loses to any other: make row 1's favourite hold it
    unk_id = refs[1][best[1]][0]
    unk = closest_references(m, m.init_state(images), outs, refs, bos_id=1, eos_id=2, unk_id=unk_id)
    assert unk[1] == 1 - best[1]
