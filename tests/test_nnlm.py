"""The neural language model trainer (Bengio et al. 2003, the course's week 2).

Properties:
* Golden — context windows of a hand-checked sentence, left and both sides, with padding.
* Oracle — the forward pass and the loss equal a hand computation (embedding rows
  concatenated, tanh layer, output layer) fed to ``F.cross_entropy``.
* Learning — on a planted "I want a glass of orange juice" corpus the model ranks "juice"
  first after "a glass of orange" and puts the fruits together, away from the animals.
* Consistency — same seed, same run; bad configs raise ValueError.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqlab.embeddings.nnlm import NNLM, NNLMConfig, context_windows, fit_nnlm, train_nnlm

FRUITS = ["orange", "apple", "mango", "grape"]
ANIMALS = ["dog", "cat", "horse", "cow"]
PEOPLE = ["i", "she", "he", "we"]


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny matrices: one intra-op thread avoids spin-waiting on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def planted_corpus(seed: int, n: int = 400) -> list[list[str]]:
    """Fruits only ever appear before "juice", animals only as subjects of field/home sentences."""
    rng = np.random.default_rng(seed)
    templates = [
        lambda: f"{rng.choice(PEOPLE)} want a glass of {rng.choice(FRUITS)} juice",
        lambda: f"{rng.choice(PEOPLE)} like fresh {rng.choice(FRUITS)} juice with ice",
        lambda: f"the {rng.choice(ANIMALS)} runs in the field",
        lambda: f"my {rng.choice(ANIMALS)} sleeps at home",
    ]
    return [templates[rng.integers(4)]().split() for _ in range(n)]


PLANTED = NNLMConfig(
    context_size=3,
    vector_size=16,
    hidden_size=32,
    epochs=10,
    batch_size=32,
    learning_rate=1e-2,
    # strong decoupled decay: the random initial part of every embedding fades, and only what
    # the contexts teach remains (without it fruits are not reliably closer than animals)
    weight_decay=1.0,
    min_count=1,
)


# -- context windows -------------------------------------------------------------------------------


def test_context_windows_left_golden() -> None:
    contexts, targets = context_windows([np.array([5, 6, 7]), np.array([8])], 2, "left", 9)
    assert contexts.tolist() == [[9, 9], [9, 5], [5, 6], [9, 9]]
    assert targets.tolist() == [5, 6, 7, 8]


def test_context_windows_both_golden() -> None:
    contexts, targets = context_windows([np.array([5, 6, 7])], 2, "both", 9)
    assert contexts.tolist() == [[9, 9, 6, 7], [9, 5, 7, 9], [5, 6, 9, 9]]
    assert targets.tolist() == [5, 6, 7]


def test_context_windows_of_nothing() -> None:
    contexts, targets = context_windows([np.array([], np.int32)], 3, "both", 1)
    assert contexts.shape == (0, 6) and targets.shape == (0,)


# -- forward and loss against a hand computation ------------------------------------------------


def test_forward_and_loss_equal_hand_computation() -> None:
    torch.manual_seed(0)
    model = NNLM(7, context_length=3, vector_size=4, hidden_size=5).double()
    context = torch.tensor([[0, 1, 7], [6, 6, 2]])  # 7 is the padding id
    target = torch.tensor([3, 6])
    logits = model(context)
    assert logits.shape == (2, 7)
    e = model.embedding.weight.detach()  # (V+1, E)
    np.testing.assert_array_equal(e[7].numpy(), np.zeros(4))  # the padding row is zero
    rows = []
    for ctx in context.tolist():
        x = torch.cat([e[c] for c in ctx])  # (C*E,) [e_1; e_2; e_3]
        h = torch.tanh(model.hidden.weight.detach() @ x + model.hidden.bias.detach())  # (H,)
        rows.append(model.output.weight.detach() @ h + model.output.bias.detach())  # (V,)
    expected = torch.stack(rows)
    torch.testing.assert_close(logits.detach(), expected, rtol=1e-12, atol=1e-12)
    by_hand = -(expected.log_softmax(-1)[torch.arange(2), target]).mean()  # mean −log ŷ_target
    torch.testing.assert_close(F.cross_entropy(logits, target).detach(), by_hand)


def test_forward_rejects_a_wrong_shape() -> None:
    model = NNLM(5, context_length=2, vector_size=3, hidden_size=4)
    with pytest.raises(ValueError, match=r"expected context of shape \(B, 2\), got \(3,\)"):
        model(torch.tensor([0, 1, 2]))


# -- learning --------------------------------------------------------------------------------------


@pytest.mark.parametrize("context", ["left", "both"])
def test_learns_the_planted_corpus(context: str) -> None:
    sentences = planted_corpus(1)
    config = NNLMConfig(**{**PLANTED.to_dict(), "context": context})
    fit = fit_nnlm(sentences, config)
    losses = fit.result.epoch_losses
    assert len(losses) == config.epochs
    # calibrated on seeds 1-3: the loss falls from ~1.4 (left) / ~0.9 (both) to its floor,
    # ~0.62 / ~0.37, set by the random subject and fruit/animal choices: a ratio <= 0.46
    assert losses[-1] < 0.6 * losses[0]
    right = ["with"] if context == "both" else []
    top = fit.predict(["a", "glass", "of", "orange"], right, k=3)
    assert top[0][0] == "juice" and top[0][1] > 0.9
    assert fit.predict(["glass", "of", "apple"], right, k=1)[0][0] == "juice"
    kv = fit.result.vectors
    assert kv.vectors.shape == (len(fit.words), 16)
    # calibrated on seeds 1-3, both contexts: every fruit is closer to each other fruit than
    # to any animal by >= 0.87 in cosine, and cos(orange, apple) >= 0.97
    for fruit in FRUITS:
        nearest_fruit = min(kv.similarity(fruit, f) for f in FRUITS if f != fruit)
        nearest_animal = max(kv.similarity(fruit, a) for a in ANIMALS)
        assert nearest_fruit > nearest_animal + 0.5, fruit
    assert kv.similarity("orange", "apple") > 0.9


def test_same_seed_same_run(tmp_path: Path) -> None:
    sentences = planted_corpus(2, n=60)
    config = NNLMConfig(vector_size=4, hidden_size=8, epochs=2, batch_size=16, min_count=1)
    first = train_nnlm(sentences, config)
    second = fit_nnlm(sentences, config, out_dir=tmp_path / "run")
    np.testing.assert_array_equal(first.vectors.vectors, second.result.vectors.vectors)
    assert first.epoch_losses == second.result.epoch_losses
    assert (tmp_path / "run" / "metrics.jsonl").is_file()  # the Trainer's files were kept
    assert first.config == config.to_dict() and first.words_per_second > 0
    other = train_nnlm(sentences, NNLMConfig(**{**config.to_dict(), "seed": 2}))
    assert not np.allclose(other.vectors.vectors, first.vectors.vectors)


def test_predict_checks_its_input() -> None:
    config = NNLMConfig(vector_size=4, hidden_size=8, epochs=1, min_count=1)
    fit = fit_nnlm(planted_corpus(3, n=20), config)
    with pytest.raises(KeyError, match="zebra"):
        fit.predict(["a", "zebra"])
    with pytest.raises(ValueError, match="left context only"):
        fit.predict(["a"], ["juice"])
    # fewer words than the window: padded as at a sentence start
    assert len(fit.predict(["of"], k=4)) == 4


# -- bad configurations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("context_size", 0),
        ("context", "right"),
        ("vector_size", -1),
        ("hidden_size", 1.5),
        ("epochs", 0),
        ("batch_size", 0),
        ("learning_rate", 0.0),
        ("weight_decay", -0.1),
        ("min_count", 0),
        ("max_vocab_size", 0),
        ("time_budget", -1.0),
        ("seed", -3),
        ("device", "nowhere"),
    ],
)
def test_bad_config_raises(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        NNLMConfig(**{field: value})


def test_corpus_without_known_words_raises() -> None:
    with pytest.raises(ValueError, match="min_count"):
        train_nnlm([["a", "b"]], NNLMConfig(min_count=3))
