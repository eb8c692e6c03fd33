"""Sampling filters against brute force; reproducibility; errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from seqlab.decoding import filter_logits, sample_next


def brute_force_keep(logits: list[float], temperature: float, top_k, top_p, banned) -> set[int]:
    """Which tokens survive, computed the slow obvious way on one row."""
    z = [x / temperature for x in logits]
    alive = [i for i in range(len(z)) if i not in banned]
    if top_k is not None:
        ranked = sorted(alive, key=lambda i: -z[i])
        kth = z[ranked[min(top_k, len(ranked)) - 1]]
        alive = [i for i in alive if z[i] >= kth]
    if top_p is not None:
        m = max(z[i] for i in alive)
        total = sum(math.exp(z[i] - m) for i in alive)
        p = {i: math.exp(z[i] - m) / total for i in alive}
        kept, mass = [], 0.0
        for i in sorted(alive, key=lambda i: -p[i]):
            if mass >= top_p:
                break
            kept.append(i)
            mass += p[i]
        alive = kept
    return set(alive)


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p", "banned"),
    list(itertools.product([0.5, 1.0, 2.0], [None, 1, 3], [None, 0.3, 0.9], [(), (0,), (2, 4)])),
)
def test_filter_matches_brute_force(temperature, top_k, top_p, banned) -> None:
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(4, 6, generator=g, dtype=torch.float64)
    z = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p, banned=banned)
    for row in range(4):
        kept = {i for i in range(6) if math.isfinite(z[row, i].item())}
        want = brute_force_keep(logits[row].tolist(), temperature, top_k, top_p, set(banned))
        assert kept == want, (row, kept, want)
        for i in kept:  # survivors keep their scaled logits
            assert z[row, i].item() == pytest.approx(logits[row, i].item() / temperature)


def test_sampling_frequencies_follow_the_filtered_softmax() -> None:
    logits = torch.tensor([[0.0, 1.0, 2.0, -1.0]])
    g = torch.Generator().manual_seed(0)
    draws = torch.stack(
        [sample_next(logits, temperature=0.7, top_k=3, generator=g) for _ in range(20000)]
    )
    freq = torch.bincount(draws.flatten(), minlength=4).double() / draws.numel()
    want = (filter_logits(logits, temperature=0.7, top_k=3)).softmax(1)[0].double()
    assert freq[3] == 0  # outside the top 3
    assert torch.allclose(freq, want, atol=0.015), (freq, want)


def test_banned_token_never_drawn_and_greedy_is_argmax() -> None:
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.0, 9.0]])
    g = torch.Generator().manual_seed(1)
    for _ in range(200):
        assert (sample_next(logits, banned=[0], generator=g)[0] != 0).item()
    assert sample_next(logits, greedy=True).tolist() == [0, 2]
    assert sample_next(logits, greedy=True, banned=[0]).tolist()[0] in (1, 2)


def test_same_seed_same_draws() -> None:
    logits = torch.randn(8, 50)
    a = sample_next(logits, top_p=0.9, generator=torch.Generator().manual_seed(3))
    b = sample_next(logits, top_p=0.9, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"banned": [0, 1, 2]}, "filtered out"),
    ],
)
def test_bad_settings_raise(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        sample_next(torch.zeros(1, 3), **kwargs)


def test_bad_shape_names_it() -> None:
    with pytest.raises(ValueError, match=r"\(B, V\), got \(3,\)"):
        filter_logits(torch.zeros(3))
