"""word2vec's HogBatch update (``Word2VecConfig(update="hogbatch")``, Ji et al. 2016).

- Oracle: one ``batch_negative`` step equals a NumPy float64 evaluation of the formula from
  the same snapshot (H, U): F = H Uᵀ, G = (y - σ(F))·alpha, syn0[c] += G U, syn1neg[o, k] +=
  Gᵀ H, the loss -Σ log σ(±F); with odd m and K+1 (the zero-padded blocks), a noise word equal
  to the target (skipped), a noise word drawn twice and a context word present twice (their
  updates summed). For m = 1 and distinct noise words it equals word2vec.c's pair step
  (``pair_negative``).
- Kernel: train_chunk with ``hogbatch`` counts the same (context, center) pairs as the pair
  mode from the same seed.
- Learning: on planted topic clusters the HogBatch vectors separate the clusters as well as
  the pair mode's (within the calibrated seed-to-seed noise) and reach the same loss.
- Configuration: ``update`` outside skip-gram + negative sampling + numba is a ValueError;
  the default (``update="auto"``, ``negative=None``) is HogBatch with 8 noise words per center
  word where it applies and the pair update with 5 per pair elsewhere, and the result records
  what ran.
"""

from __future__ import annotations

import numpy as np
import pytest

from seqlab.embeddings import _w2v_kernels as K
from seqlab.embeddings.word2vec import Word2VecConfig, train_word2vec
from tests.test_word2vec import _cluster_corpus, _cluster_margin


def _numpy_hogbatch(
    syn0: np.ndarray,  # (V, E)
    syn1: np.ndarray,  # (V, E)
    contexts: list[int],
    target: int,
    noise: list[int],
    alpha: float,
) -> tuple[np.ndarray, np.ndarray, float]:
    """The HogBatch formula in float64 from one snapshot; returns (syn0', syn1', loss)."""
    s0, s1 = syn0.astype(np.float64), syn1.astype(np.float64)
    rows = [target, *noise]
    h = s0[contexts]  # (m, E)
    u = s1[rows]  # (K+1, E)
    f = h @ u.T  # (m, K+1)
    y = np.zeros(len(rows))  # (K+1,)
    y[0] = 1.0
    keep = np.array([True] + [k != target for k in noise])  # (K+1,) noise == target skipped
    g = (y - 1.0 / (1.0 + np.exp(-f))) * alpha * keep  # (m, K+1)
    loss = -(np.log(1.0 / (1.0 + np.exp(-(2 * y - 1) * f))) * keep).sum()
    np.add.at(s0, contexts, g @ u)  # (m, E), repeated rows summed
    np.add.at(s1, rows, g.T @ h)  # (K+1, E)
    return s0, s1, float(loss)


def _run_kernel(
    syn0: np.ndarray,
    syn1: np.ndarray,
    contexts: list[int],
    target: int,
    noise: list[int],
    alpha: float,
) -> tuple[np.ndarray, np.ndarray, float]:
    s0, s1 = syn0.copy(), syn1.copy()
    m, n_out, size = len(contexts), len(noise) + 1, syn0.shape[1]
    hbuf = np.full((m + 1, size), np.nan, np.float32)  # garbage: the kernel must pad itself
    ubuf = np.full((n_out + 1, size), np.nan, np.float32)
    gbuf = np.full((m + 1, n_out + 1), np.nan, np.float32)
    loss = K.batch_negative(
        s0,
        np.array(contexts, np.int32),
        m,
        s1,
        target,
        np.array(noise, np.int32),
        len(noise),
        alpha,
        hbuf,
        ubuf,
        gbuf,
    )
    return s0, s1, loss


CASES = [  # (contexts, target, noise): even/odd m and K+1, skipped, repeated rows
    ([1, 2, 3, 4], 0, [5, 6, 7, 8, 9]),
    ([1, 2, 3], 0, [5, 6, 7, 8]),
    ([2, 4, 2, 7, 1], 3, [3, 9, 9, 5, 6]),
    ([5], 5, [6, 0, 5]),
]


@pytest.mark.parametrize(("contexts", "target", "noise"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_batch_step_equals_numpy_formula(
    contexts: list[int], target: int, noise: list[int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    syn0 = rng.normal(0, 0.5, (10, 7)).astype(np.float32)  # (V, E)
    syn1 = rng.normal(0, 0.5, (10, 7)).astype(np.float32)  # (V, E)
    alpha = 0.3
    got0, got1, loss = _run_kernel(syn0, syn1, contexts, target, noise, alpha)
    ref0, ref1, ref_loss = _numpy_hogbatch(syn0, syn1, contexts, target, noise, alpha)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(got0, ref0, atol=2e-6)
    np.testing.assert_allclose(got1, ref1, atol=2e-6)
    # not vacuous: every context row and every used output row moved
    assert np.abs(got0[contexts] - syn0[contexts]).min(axis=1).max() > 1e-4
    assert (np.abs(got1 - syn1).max(axis=1) > 1e-3).sum() == len({target, *noise})


def test_single_context_equals_pair_step() -> None:
    rng = np.random.default_rng(4)
    syn0 = rng.normal(0, 0.5, (10, 7)).astype(np.float32)  # (V, E)
    syn1 = rng.normal(0, 0.5, (10, 7)).astype(np.float32)  # (V, E)
    noise = np.array([4, 8, 2, 1, 6], np.int32)  # distinct (a repeat would see its own update)
    got0, got1, loss = _run_kernel(syn0, syn1, [3], 2, noise.tolist(), 0.2)
    ref0, ref1 = syn0.copy(), syn1.copy()
    neu1e = np.zeros(7, np.float32)
    ref_loss = K.pair_negative(ref0, 3, ref1, 2, noise, 5, 0.2, neu1e)
    ref0[3] += neu1e
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(got0, ref0, atol=1e-6)
    np.testing.assert_allclose(got1, ref1, atol=1e-6)


def test_hogbatch_trains_the_same_pairs() -> None:
    """window=1 fixes every radius at 1: each sentence of n >= 2 words gives 2(n-1) pairs."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, 500).astype(np.int32)  # (N,)
    bounds = np.array([0, 7, 180, 181, 500], np.int64)  # a 1-word sentence: no pair
    expected = 2 * (6 + 172 + 318)
    table = K.alias_table(np.full(20, 1 / 20))
    dummy = np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.int32), np.zeros(1, np.int32)
    for hogbatch in (False, True):
        syn0 = rng.normal(0, 0.1, (20, 8)).astype(np.float32)  # (V, E)
        syn1 = np.zeros((20, 8), np.float32)  # (V, E)
        loss, examples, kept = K.train_chunk(
            syn0,
            syn1,
            ids,
            bounds,
            np.ones(20),
            table,
            *dummy,
            True,
            K.OBJECTIVE_NEGATIVE,
            1,
            3,
            True,
            1e-6,
            1e-6,
            11,
            hogbatch,
        )
        assert (examples, kept) == (expected, 500), hogbatch
        # zero output vectors and a tiny rate: each pair's loss is (1 + K) log 2, less log 2
        # per noise word equal to the target (probability 1/20 each)
        mean = loss / examples
        assert 4 * np.log(2.0) * (1 - 3 / 20) - 0.05 < mean <= 4 * np.log(2.0) + 1e-6, mean


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hogbatch_learns_planted_clusters_like_pair_mode(seed: int) -> None:
    corpus, clusters = _cluster_corpus(seed=seed)
    base = {
        "vector_size": 16,
        "window": 3,
        "min_count": 1,
        "sample": 0.0,
        "epochs": 4,
        "alpha": 0.01,
        "workers": 1,
        "seed": seed,
        "negative": 5,  # the same K for both: their losses are then the same objective
    }
    pair = train_word2vec(corpus, Word2VecConfig(**base, update="pair"))
    hog = train_word2vec(corpus, Word2VecConfig(**base, update="hogbatch"))
    m_pair, _ = _cluster_margin(pair.vectors, clusters)
    m_hog, p_hog = _cluster_margin(hog.vectors, clusters)
    # Calibrated on corpus/config seeds 1-5: pair margins 0.658-0.659, HogBatch 0.659-0.665,
    # purity 1.0 for both; final losses 1.471-1.475 (pair) and 1.473-1.504 (HogBatch) from
    # ~3.0. Random vectors give margin ~0.0 and purity ~0.2.
    assert m_hog > 0.5 and p_hog >= 0.9, (m_hog, p_hog)
    assert m_hog > m_pair - 0.02, (m_hog, m_pair)
    assert hog.epoch_losses[-1] < hog.epoch_losses[0]
    assert abs(hog.epoch_losses[-1] - pair.epoch_losses[-1]) < 0.05, (
        hog.epoch_losses,
        pair.epoch_losses,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "cbow"},
        {"objective": "hierarchical"},
        {"engine": "torch"},
        {"update": "minibatch"},
    ],
)
def test_hogbatch_config_errors(kwargs: dict[str, object]) -> None:
    update = kwargs.pop("update", "hogbatch")
    with pytest.raises(ValueError, match="update"):
        Word2VecConfig(update=update, **kwargs)  # type: ignore[arg-type]


def test_default_update_and_noise_words_resolve_by_configuration() -> None:
    """auto: HogBatch with 8 noise words per center for skip-gram + negative on numba; the
    pair update with 5 per pair for CBOW, the other objectives and the torch engine."""
    config = Word2VecConfig()
    assert (config.update, config.negative) == ("auto", None)
    assert (config.resolved_update, config.resolved_negative) == ("hogbatch", 8)
    for kwargs in ({"method": "cbow"}, {"objective": "hierarchical"}, {"engine": "torch"}):
        config = Word2VecConfig(**kwargs)  # type: ignore[arg-type]
        assert (config.resolved_update, config.resolved_negative) == ("pair", 5), kwargs
    assert Word2VecConfig(update="pair").resolved_negative == 5
    assert Word2VecConfig(update="hogbatch", negative=5).resolved_negative == 5  # as given


def test_default_run_is_hogbatch_and_records_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel receives hogbatch=True and K = 8 under the defaults; the result's config
    records the resolved update and noise words."""
    calls: list[tuple[int, bool]] = []
    real = K.train_chunk

    def spy(*args):  # (..., negative at 12, ..., hogbatch at 17)
        calls.append((args[12], args[17]))
        return real(*args)

    monkeypatch.setattr(K, "train_chunk", spy)
    corpus, _ = _cluster_corpus(seed=1, sentences=40)
    small = {"vector_size": 4, "min_count": 1, "epochs": 1, "workers": 1}
    result = train_word2vec(corpus, Word2VecConfig(**small))
    assert set(calls) == {(8, True)}
    assert (result.config["update"], result.config["negative"]) == ("hogbatch", 8)
    calls.clear()
    result = train_word2vec(corpus, Word2VecConfig(**small, update="pair"))
    assert set(calls) == {(5, False)}
    assert (result.config["update"], result.config["negative"]) == ("pair", 5)
