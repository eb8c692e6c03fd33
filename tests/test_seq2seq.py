"""The encoder–decoder model: consistency of its paths, the loss, and a small learning run.

Properties:
* two steps recomputed by hand from the documented equations (torch.nn's GRU and GRUCell as
  the encoder and cell references) equal the model; gradcheck on a tiny float64 model;
* stepping the decoder (``init_state`` + ``step``) equals teacher-forced ``forward`` for every
  attention × cell, and ``forward``'s attention equals the states' α;
* a padded batch equals each example run alone, and the content of source padding is ignored;
* ``reorder_state`` then ``step`` equals stepping the reordered batch from the start;
* the loss is the mean over non-pad targets, label smoothing is (1 − ε)·NLL + ε·mean(−log p);
* ``teacher_forcing`` < 1 feeds the model's own arg max or sample where the generator's coins
  say so, reproducibly;
* greedy and beam search (size 1) from :mod:`seqlab.decoding` serve the step protocol;
* configs round-trip through JSON; bad shapes raise ValueError naming the expected shape;
* a tiny model learns to reverse digit strings.
"""

from __future__ import annotations

import json

import pytest
import torch

from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig, Seq2SeqState

ATTENTIONS = ["bahdanau", "luong-dot", "luong-general", "none"]
CELLS = ["gru", "gru-original", "lstm"]
SRC_V, TGT_V = 11, 9
PAD = 0


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread, and stay fast when other jobs share the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(attention: str, cell: str, **kw) -> Seq2Seq:
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        src_vocab_size=SRC_V,
        tgt_vocab_size=TGT_V,
        embedding_dim=5,
        hidden_size=6,
        attention_dim=4,
        encoder_layers=kw.pop("encoder_layers", 2),
        decoder_layers=kw.pop("decoder_layers", 2),
        cell="lstm" if cell == "lstm" else "gru",
        reset_after=cell != "gru-original",
        attention=attention,  # type: ignore[arg-type]
        **kw,
    )
    return Seq2Seq(config).double().eval()


def make_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([4, 6, 1, 3])
    src = torch.randint(1, SRC_V, (4, 6), generator=g)
    src = src.masked_fill(torch.arange(6)[None, :] >= lengths[:, None], PAD)  # (B, T)
    tgt_in = torch.randint(1, TGT_V, (4, 5), generator=g)  # (B, S)
    return src, lengths, tgt_in


def run_steps(model: Seq2Seq, state: Seq2SeqState, tokens: torch.Tensor):
    """Step through ``tokens`` (B, S); return log-probs (B, S, V) and α (B, S, T) or None."""
    log_probs, alphas = [], []
    for t in range(tokens.shape[1]):
        lp, state = model.step(tokens[:, t], state)
        log_probs.append(lp)
        alphas.append(state.attention)
    att = None if alphas[0] is None else torch.stack(alphas, 1)
    return torch.stack(log_probs, 1), att


# -- consistency -------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_step_equals_teacher_forcing(attention: str, cell: str) -> None:
    model = make_model(attention, cell)
    src, lengths, tgt_in = make_batch()
    logits, att = model(src, lengths, tgt_in, return_attention=True)
    assert logits.shape == (4, 5, TGT_V)
    stepped, step_att = run_steps(model, model.init_state(src, lengths), tgt_in)
    torch.testing.assert_close(stepped, logits.log_softmax(-1), rtol=1e-10, atol=1e-10)
    if attention == "none":
        assert att is None and step_att is None
    else:
        assert att.shape == (4, 5, 6)
        torch.testing.assert_close(att, step_att, rtol=1e-10, atol=1e-10)
        # a distribution over the real source positions, exactly 0 on padding
        torch.testing.assert_close(att.sum(-1), torch.ones(4, 5, dtype=torch.float64))
        pad = torch.arange(6)[None, :] >= lengths[:, None]  # (B, T)
        assert torch.all(att.masked_select(pad[:, None, :]) == 0.0)


def test_bahdanau_first_step_attends_from_s0() -> None:
    """The course's e<t,t'> scores s<t-1>: step 1's α come from s<0>, the bridge's output."""
    model = make_model("bahdanau", "gru")
    src, lengths, tgt_in = make_batch()
    state = model.init_state(src, lengths)
    _, alphas = model.attention(
        state.hidden[-1], state.encoder_outputs, state.encoder_outputs, state.mask
    )
    _, after = model.step(tgt_in[:, 0], state)
    torch.testing.assert_close(after.attention, alphas, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_equations_by_hand(attention: str) -> None:
    """Two decoder steps recomputed from the documented equations with torch.nn's GRU/GRUCell.

    Encoder: torch.nn.GRU (same state dict) on each source alone; s<0> = tanh(W_b [a→; a←]);
    Bahdanau: c<t> from s<t-1>, s<t> = GRU([y<t-1>; c<t>], s<t-1>), ŷ = W_y [s<t>; c<t>];
    Luong: h<t> = GRU([y<t-1>; h̃<t-1>]), c<t> from h<t>, h̃<t> = tanh(W_c [c<t>; h<t>]);
    none: s<t> = GRU(y<t-1>, s<t-1>), ŷ = W_y s<t>.
    """
    model = make_model(attention, "gru", encoder_layers=1, decoder_layers=1)
    src, lengths, tgt_in = make_batch(8)
    got = model(src, lengths, tgt_in[:, :2]).log_softmax(-1)  # (B, 2, V)
    encoder = torch.nn.GRU(5, 6, bidirectional=True, batch_first=True).double()
    encoder.load_state_dict(model.encoder.state_dict())
    cell = torch.nn.GRUCell(model.cells[0].input_size, 6).double()
    cell.load_state_dict(model.cells[0].state_dict())
    for b in range(4):
        n = int(lengths[b])
        a, h_n = encoder(model.src_embedding(src[b : b + 1, :n]))  # (1, n, 2H), (2, 1, H)
        a = a[0]  # (n, 2H)
        s = torch.tanh(model.bridge(torch.cat([h_n[0, 0], h_n[1, 0]])))  # (H,)
        feed = torch.zeros(6, dtype=torch.float64)  # h̃<0>
        for t in range(2):
            y = model.tgt_embedding(tgt_in[b, t])  # (E,)
            if attention == "bahdanau":
                att = model.attention
                e = torch.tanh(att.query_proj(s) + att.key_proj(a)) @ att.v  # (n,)
                c = torch.softmax(e, 0) @ a  # (2H,)
                s = cell(torch.cat([y, c])[None], s[None])[0]
                out = torch.cat([s, c])
            elif attention == "none":
                s = cell(y[None], s[None])[0]
                out = s
            else:
                s = cell(torch.cat([y, feed])[None], s[None])[0]
                if attention == "luong-dot":
                    e = (a[:, :6] + a[:, 6:]) @ s  # keys a→ + a←
                else:
                    e = a @ model.attention.weight.T @ s  # sᵀ W a<t'>
                c = torch.softmax(e, 0) @ a
                feed = torch.tanh(model.combine(torch.cat([c, s])))
                out = feed
            want = model.head(out).log_softmax(-1)
            torch.testing.assert_close(got[b, t], want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_batched_equals_one_by_one(attention: str, bidirectional: bool) -> None:
    cell = "lstm" if attention == "luong-dot" else "gru"
    model = make_model(attention, cell, bidirectional=bidirectional)
    src, lengths, tgt_in = make_batch(1)
    logits = model(src, lengths, tgt_in)
    for b in range(src.shape[0]):
        n = int(lengths[b])
        alone = model(src[b : b + 1, :n], lengths[b : b + 1], tgt_in[b : b + 1])
        torch.testing.assert_close(alone[0], logits[b], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_source_padding_content_is_ignored(attention: str) -> None:
    model = make_model(attention, "gru")
    src, lengths, tgt_in = make_batch(2)
    pad = torch.arange(6)[None, :] >= lengths[:, None]
    other = src.masked_fill(pad, 7)  # garbage where the padding was
    want = model(src, lengths, tgt_in)
    torch.testing.assert_close(model(other, lengths, tgt_in), want, rtol=0, atol=0)
    # extra padding columns beyond the longest source change nothing either
    wider = torch.cat([src, torch.full((4, 3), PAD)], 1)  # (B, T + 3)
    torch.testing.assert_close(model(wider, lengths, tgt_in), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_reorder_state_then_step(attention: str) -> None:
    model = make_model(attention, "lstm" if attention != "luong-general" else "gru")
    src, lengths, tgt_in = make_batch(3)
    index = torch.tensor([2, 0, 0, 3, 1])
    state = model.init_state(src, lengths)
    for t in range(2):
        _, state = model.step(tgt_in[:, t], state)
    state = model.reorder_state(state, index)
    assert state.batch_size == 5
    got, got_att = run_steps(model, state, tgt_in[index, 2:])
    want_full, want_att = run_steps(
        model, model.init_state(src[index], lengths[index]), tgt_in[index]
    )
    torch.testing.assert_close(got, want_full[:, 2:], rtol=1e-10, atol=1e-10)
    if got_att is not None:
        torch.testing.assert_close(got_att, want_att[:, 2:], rtol=1e-10, atol=1e-10)


# -- loss --------------------------------------------------------------------------------------
def _targets() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    src, lengths, tgt_in = make_batch(4)
    tgt_out = torch.roll(tgt_in, -1, 1)
    tgt_out[0, 3:] = PAD  # sequence 0 has 3 real targets
    tgt_out[2, 1:] = PAD  # sequence 2 has 1
    return src, lengths, tgt_in, tgt_out


def test_loss_is_mean_over_non_pad_targets() -> None:
    model = make_model("bahdanau", "gru")
    src, lengths, tgt_in, tgt_out = _targets()
    log_p = model(src, lengths, tgt_in).log_softmax(-1)  # (B, S, V)
    nll = [-log_p[b, t, tgt_out[b, t]] for b in range(4) for t in range(5) if tgt_out[b, t] != PAD]
    want = torch.stack(nll).mean()
    torch.testing.assert_close(
        model.loss(src, lengths, tgt_in, tgt_out), want, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_label_smoothing(eps: float) -> None:
    model = make_model("luong-general", "lstm")
    src, lengths, tgt_in, tgt_out = _targets()
    logits = model(src, lengths, tgt_in)
    log_p = logits.log_softmax(-1)  # (B, S, V)
    terms = [
        (1 - eps) * -log_p[b, t, tgt_out[b, t]] + eps * -log_p[b, t].mean()
        for b in range(4)
        for t in range(5)
        if tgt_out[b, t] != PAD
    ]
    got = model.loss(src, lengths, tgt_in, tgt_out, label_smoothing=eps)
    torch.testing.assert_close(got, torch.stack(terms).mean(), rtol=1e-12, atol=1e-12)
    ref = torch.nn.functional.cross_entropy(
        logits.reshape(-1, TGT_V), tgt_out.reshape(-1), ignore_index=PAD, label_smoothing=eps
    )
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


def test_every_parameter_gets_a_gradient() -> None:
    for attention in ATTENTIONS:
        model = make_model(attention, "lstm")
        src, lengths, tgt_in, tgt_out = _targets()
        model.loss(src, lengths, tgt_in, tgt_out).backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (attention, name)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_gradcheck_whole_model(attention: str) -> None:
    """Autograd's gradients of the loss w.r.t. every parameter equal finite differences."""
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        src_vocab_size=5,
        tgt_vocab_size=4,
        embedding_dim=2,
        hidden_size=2,
        attention_dim=2,
        cell="lstm" if attention == "luong-general" else "gru",
        attention=attention,  # type: ignore[arg-type]
    )
    model = Seq2Seq(config).double()
    src = torch.tensor([[1, 2, 3], [4, 1, 0]])
    lengths = torch.tensor([3, 2])
    tgt_in = torch.tensor([[1, 2], [3, 1]])
    tgt_out = torch.tensor([[2, 3], [1, 0]])
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in model.parameters())

    def loss(*values: torch.Tensor) -> torch.Tensor:
        weights = dict(zip(names, values, strict=True))
        logits = torch.func.functional_call(model, weights, (src, lengths, tgt_in))
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, 4), tgt_out.reshape(-1), ignore_index=PAD
        )

    assert torch.autograd.gradcheck(loss, params)


# -- teacher forcing ratio -----------------------------------------------------------------------
@pytest.mark.parametrize("attention", ["bahdanau", "none"])
def test_no_teacher_forcing_feeds_own_argmax(attention: str) -> None:
    model = make_model(attention, "gru")
    src, lengths, tgt_in = make_batch(5)
    logits = model(src, lengths, tgt_in, teacher_forcing=0.0)
    state = model.init_state(src, lengths)
    tokens = tgt_in[:, 0]
    for t in range(tgt_in.shape[1]):
        lp, state = model.step(tokens, state)
        torch.testing.assert_close(lp, logits[:, t].log_softmax(-1), rtol=1e-10, atol=1e-10)
        tokens = lp.argmax(-1)
    # and it is not teacher forcing: the inputs after the first differ
    assert not torch.allclose(logits, model(src, lengths, tgt_in))


@pytest.mark.parametrize(
    ("ratio", "feed_back"), [(0.5, "argmax"), (0.5, "sample"), (0.0, "sample")]
)
def test_teacher_forcing_ratio_follows_the_generator(ratio: float, feed_back: str) -> None:
    model = make_model("luong-dot", "gru")
    src, lengths, tgt_in = make_batch(6)

    def run(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return model(src, lengths, tgt_in, teacher_forcing=ratio, feed_back=feed_back, generator=g)

    logits = run(3)
    torch.testing.assert_close(run(3), logits, rtol=0, atol=0)  # reproducible
    # replay with the documented draw order: B coins, then B samples, at each step t >= 1
    draws = torch.Generator().manual_seed(3)
    state = model.init_state(src, lengths)
    tokens = tgt_in[:, 0]
    mixed = False
    for t in range(tgt_in.shape[1]):
        lp, state = model.step(tokens, state)
        torch.testing.assert_close(lp, logits[:, t].log_softmax(-1), rtol=1e-10, atol=1e-10)
        if t + 1 == tgt_in.shape[1]:
            break
        truth = torch.ones(4, dtype=torch.bool)
        if ratio > 0:
            truth = torch.rand(4, generator=draws) < ratio
        if feed_back == "sample":
            probs = logits[:, t].softmax(-1)
            own = torch.multinomial(probs, 1, generator=draws).squeeze(1)
        else:
            own = lp.argmax(-1)
        truth = truth if ratio > 0 else torch.zeros(4, dtype=torch.bool)
        mixed |= bool(truth.any()) and bool((~truth).any())
        tokens = torch.where(truth, tgt_in[:, t + 1], own)
    assert mixed == (0 < ratio < 1)  # the seed exercises both branches
    if feed_back == "sample":  # a different seed draws different inputs
        assert not torch.allclose(run(4), logits)


def test_decoding_searches_serve_the_step_protocol() -> None:
    """Greedy search equals feeding back the arg max in ``forward``; beam size 1 equals it."""
    from seqlab.decoding import beam_search, greedy_search

    model = make_model("bahdanau", "lstm")
    src, lengths, _ = make_batch(7)
    bos, eos, steps = 1, 2, 6
    kw = {"batch_size": 4, "bos_id": bos, "eos_id": eos, "max_length": steps}
    greedy = greedy_search(model, model.init_state(src, lengths), **kw)
    beam = beam_search(model, model.init_state(src, lengths), beam_size=1, **kw)
    tgt_in = torch.full((4, steps), bos)  # only column 0 is read when feeding back
    own = model(src, lengths, tgt_in, teacher_forcing=0.0).argmax(-1)  # (B, S)
    for b in range(4):
        want = own[b].tolist()
        if eos in want:
            want = want[: want.index(eos) + 1]
        assert greedy[b].tokens == want
        assert beam[b][0].tokens == want


# -- config and errors -------------------------------------------------------------------------
def test_config_round_trip() -> None:
    config = Seq2SeqConfig(
        src_vocab_size=30, tgt_vocab_size=40, cell="lstm", attention="luong-general", dropout=0.2
    )
    back = Seq2SeqConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert back == config
    with pytest.raises(ValueError, match="unknown Seq2SeqConfig fields: colour"):
        Seq2SeqConfig.from_dict({**config.to_dict(), "colour": 1})


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"attention": "concat"}, "attention must be one of"),
        ({"cell": "rnn"}, "cell must be"),
        ({"hidden_size": 0}, "hidden_size must be a positive int"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"cell": "lstm", "reset_after": False}, "reset_after=False applies"),
        ({"tgt_pad_id": 5}, "tgt_pad_id 5 not in"),
    ],
)
def test_config_rejects_bad_values(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Seq2SeqConfig(src_vocab_size=5, tgt_vocab_size=5, **kw)


def test_shape_errors() -> None:
    model = make_model("bahdanau", "gru")
    src, lengths, tgt_in = make_batch()
    with pytest.raises(ValueError, match=r"expected src token ids of shape \(B, T\).*got \(6,\)"):
        model(src[0], lengths, tgt_in)
    with pytest.raises(ValueError, match=r"expected src_lengths of shape \(B=4,\).*got \(3,\)"):
        model(src, lengths[:3], tgt_in)
    with pytest.raises(ValueError, match=r"src_lengths must lie in \[1, T=6\], got min 0"):
        model(src, torch.tensor([4, 6, 0, 3]), tgt_in)
    with pytest.raises(ValueError, match=r"expected tgt_in of shape \(B=4, S\), got \(3, 5\)"):
        model(src, lengths, tgt_in[:3])
    with pytest.raises(ValueError, match=r"expected tgt_in token ids"):
        model(src, lengths, tgt_in.double())
    with pytest.raises(ValueError, match=r"expected tgt_out ids of shape \(4, 5\)"):
        model.loss(src, lengths, tgt_in, tgt_in[:, :4])
    state = model.init_state(src, lengths)
    with pytest.raises(ValueError, match=r"expected tokens of shape \(B=4,\) ids, got \(2,\)"):
        model.step(tgt_in[:2, 0], state)
    with pytest.raises(ValueError, match="teacher_forcing must be in"):
        model(src, lengths, tgt_in, teacher_forcing=1.5)


# -- learning ----------------------------------------------------------------------------------
def _reverse_batch(g: torch.Generator, batch: int) -> tuple[torch.Tensor, ...]:
    """Digit strings (ids 3..12, lengths 2..5) and their reversal followed by <eos>=2."""
    sos, eos = 1, 2
    lengths = torch.randint(2, 6, (batch,), generator=g)
    steps = int(lengths.max())
    digits = torch.randint(3, 13, (batch, steps), generator=g)
    valid = torch.arange(steps)[None, :] < lengths[:, None]  # (B, T)
    src = digits.masked_fill(~valid, PAD)
    # reverse each row within its length
    idx = (lengths[:, None] - 1 - torch.arange(steps)[None, :]).clamp(min=0)
    rev = src.gather(1, idx).masked_fill(~valid, PAD)  # (B, T)
    tgt_out = torch.cat([rev, torch.full((batch, 1), PAD)], 1)  # (B, T+1)
    tgt_out[torch.arange(batch), lengths] = eos
    tgt_in = torch.cat([torch.full((batch, 1), sos), rev], 1)  # (B, T+1)
    return src, lengths, tgt_in, tgt_out


def test_learns_to_reverse_digits() -> None:
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        src_vocab_size=13, tgt_vocab_size=13, embedding_dim=16, hidden_size=32, attention_dim=16
    )
    model = Seq2Seq(config)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for _ in range(150):
        loss = model.loss(*_reverse_batch(g, 64))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        held_out = model.loss(*_reverse_batch(torch.Generator().manual_seed(99), 256))
        src, lengths, tgt_in, tgt_out = _reverse_batch(torch.Generator().manual_seed(99), 256)
        greedy = model(src, lengths, tgt_in, teacher_forcing=0.0).argmax(-1)  # (B, S)
        exact = ((greedy == tgt_out) | (tgt_out == PAD)).all(1).float().mean()
    # Calibration (150 Adam steps, seeds 0-4 for init and data): held-out loss 0.0025-0.0147
    # and greedy exact match 0.99-1.0; chance is ln 11 ≈ 2.4 per token. The same model with
    # attention="none" (the string squeezed through s<0>) reaches 0.29-0.35 and 0.62-0.68, so
    # the bounds below (≈3x the worst attentive seed) separate a working attention path.
    assert held_out.item() < 0.05
    assert exact.item() >= 0.95
