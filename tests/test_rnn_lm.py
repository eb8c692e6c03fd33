"""The recurrent language model: stepping equals the full pass; the loss is the course's."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.models.rnn_lm import LMConfig, RNNLanguageModel

VARIANTS = [
    {"cell": "rnn"},
    {"cell": "gru"},
    {"cell": "gru", "reset_after": False},
    {"cell": "lstm"},
    {"cell": "lstm", "peephole": True},
]


def make(**kw) -> RNNLanguageModel:
    torch.manual_seed(0)
    cfg = LMConfig(vocab_size=11, embedding_dim=5, hidden_size=7, num_layers=2, **kw)
    return RNNLanguageModel(cfg).double().eval()


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(map(str, kw.values())))
def test_step_protocol_equals_full_forward(kw) -> None:
    model = make(**kw)
    tokens = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(1))
    full, _ = model(tokens)  # (B, T, V)
    state = model.init_state(3)
    for t in range(6):
        log_probs, state = model.step(tokens[:, t], state)
        want = full[:, t].log_softmax(-1)
        assert torch.allclose(log_probs, want, atol=1e-12), (kw, t)


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(map(str, kw.values())))
def test_loss_is_mean_negative_log_likelihood(kw) -> None:
    model = make(**kw)
    g = torch.Generator().manual_seed(2)
    seq = torch.randint(0, 11, (2, 8), generator=g)
    inputs, targets = seq[:, :-1], seq[:, 1:]
    logits, _ = model(inputs)
    logp = logits.log_softmax(-1)
    nll = (
        -sum(logp[b, t, targets[b, t]].item() for b in range(2) for t in range(targets.shape[1]))
        / targets.numel()
    )
    assert math.isclose(model.loss(inputs, targets).item(), nll, rel_tol=1e-12)


def test_loss_ignores_padding_targets() -> None:
    model = make(cell="gru")
    seq = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0]])
    targets = torch.tensor([[2, 3, 4, 1], [6, 1, -100, -100]])
    full = model.loss(seq, targets)
    logp = model(seq)[0].log_softmax(-1)
    picked = [logp[0, t, targets[0, t]] for t in range(4)] + [
        logp[1, t, targets[1, t]] for t in (0, 1)
    ]
    assert torch.isclose(full, -torch.stack(picked).mean())


def test_bad_input_names_the_shape() -> None:
    model = make(cell="rnn")
    with pytest.raises(ValueError, match=r"\(B, T\), got \(3,\)"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="vocab_size"):
        LMConfig(vocab_size=1)


@pytest.mark.parametrize(
    ("cell", "extra"), [("gru", {}), ("lstm", {}), ("gru", {"reset_after": False})]
)
def test_every_kernel_computes_the_same_model(cell: str, extra: dict) -> None:
    base = LMConfig(vocab_size=11, cell=cell, embedding_dim=6, hidden_size=8, **extra)
    torch.manual_seed(0)
    tokens = torch.randint(0, 11, (3, 7))  # (B, T)
    ref = RNNLanguageModel(base)
    want, _ = ref(tokens)  # (B, T, V)
    impls = ["auto", "bptt", "loop"] + (["fused"] if extra == {} else [])
    for impl in impls:
        model = RNNLanguageModel(LMConfig(**{**base.to_dict(), "impl": impl}))
        model.load_state_dict(ref.state_dict())
        got, _ = model(tokens)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="impl must be one of"):
        LMConfig(vocab_size=11, cell=cell, impl="fast")
