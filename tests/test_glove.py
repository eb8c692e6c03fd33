"""GloVe: co-occurrence counting, the weighting function, AdaGrad steps, learning.

Properties:
* Oracle — the sparse, memory-bounded counter equals a brute-force Python double loop
  (window sizes, with and without 1/d weighting, symmetric or right-context only, sentence
  boundaries never crossed); a tiny memory limit (many drains and merges) equals an unbounded one.
* Oracle — AdaGrad steps of the numba kernel and of the torch engine equal a NumPy float64
  reference whose gradients are checked against torch autograd of J.
* Golden — f(x) = min(1, (x/x_max)^α) at hand-computed points.
* Learning — J falls; on a planted topic corpus every same-topic pair ends closer than
  every cross-topic pair.
* Consistency — combine options, seed determinism (workers=1), bad configs raise ValueError.
"""

from __future__ import annotations

import gzip
import itertools
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.embeddings import _glove_kernels as K
from seqlab.embeddings import glove as G
from seqlab.embeddings.glove import GloVeConfig, cooccurrence_matrix, glove_weight, train_glove

# -- helpers -----------------------------------------------------------------------------------


def brute_force_cooccurrence(
    sentences: list[np.ndarray], window: int, weighted: bool, symmetric: bool
) -> dict[tuple[int, int], float]:
    """X by the definition: for each word, each earlier word within ``window`` in its sentence."""
    x: dict[tuple[int, int], float] = {}
    for s in sentences:
        for t in range(len(s)):
            for k in range(max(0, t - window), t):
                inc = 1.0 / (t - k) if weighted else 1.0
                pair = (int(s[k]), int(s[t]))  # s[t] is to the right of s[k]
                x[pair] = x.get(pair, 0.0) + inc
                if symmetric:
                    x[pair[::-1]] = x.get(pair[::-1], 0.0) + inc
    return x


def assert_coo_equals(
    coo: tuple[np.ndarray, np.ndarray, np.ndarray], x: dict[tuple[int, int], float]
) -> None:
    rows, cols, values = coo
    assert rows.dtype == np.int32 and cols.dtype == np.int32 and values.dtype == np.float32
    pairs = sorted(x)  # sorted by row, then column
    np.testing.assert_array_equal(rows, [i for i, _ in pairs])
    np.testing.assert_array_equal(cols, [j for _, j in pairs])
    np.testing.assert_allclose(values, [x[p] for p in pairs], rtol=1e-6)


def random_sentences(seed: int, vocab_size: int, n: int, max_len: int) -> list[np.ndarray]:
    """Sentences of Zipf-like ids (small ids frequent, as a count-sorted vocabulary), some empty."""
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, vocab_size + 1)
    probs /= probs.sum()
    return [
        rng.choice(vocab_size, size=rng.integers(0, max_len + 1), p=probs).astype(np.int32)
        for _ in range(n)
    ]


def planted_corpus(seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """3 topics of 6 words; each sentence draws 12 words from one topic."""
    rng = np.random.default_rng(seed)
    topics = [[f"t{c}w{k}" for k in range(6)] for c in range(3)]
    sentences = [list(rng.choice(topics[rng.integers(3)], 12)) for _ in range(300)]
    return topics, sentences


PLANTED = GloVeConfig(
    vector_size=10, window=3, epochs=30, min_count=1, workers=1, x_max=10.0, batch_size=64
)


# -- counting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 2, 5])
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("symmetric", [True, False])
def test_cooccurrence_equals_brute_force(window: int, weighted: bool, symmetric: bool) -> None:
    sentences = random_sentences(window, vocab_size=25, n=60, max_len=15)
    coo = cooccurrence_matrix(
        sentences, 25, window=window, distance_weighting=weighted, symmetric=symmetric
    )
    assert_coo_equals(coo, brute_force_cooccurrence(sentences, window, weighted, symmetric))


def test_cooccurrence_does_not_cross_sentences() -> None:
    # "0 1" then "2": 1 and 2 are adjacent in the stream but in different sentences
    rows, cols, values = cooccurrence_matrix([np.array([0, 1]), np.array([2])], 3, window=5)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 0)]
    np.testing.assert_array_equal(values, [1.0, 1.0])


def test_cooccurrence_golden_distance_weighting() -> None:
    # "0 1 2" with window 2: X01 = X12 = 1 (adjacent), X02 = 1/2, symmetric
    rows, cols, values = cooccurrence_matrix([np.array([0, 1, 2])], 3, window=2)
    dense = np.zeros((3, 3), np.float32)
    dense[rows, cols] = values
    np.testing.assert_array_equal(dense, [[0, 1, 0.5], [1, 0, 1], [0.5, 1, 0]])


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Record every call of the kernel ``name`` (the glove module calls it through K)."""
    calls: list[int] = []
    real = getattr(K, name)

    def counted(*args: np.ndarray) -> object:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(K, name, counted)
    return calls


def test_memory_limit_gives_the_same_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    sentences = random_sentences(7, vocab_size=300, n=400, max_len=40)
    unbounded = cooccurrence_matrix(sentences, 300, window=4, memory_limit_mb=64)
    drains = _count_calls(monkeypatch, "drain_table")
    tiny = cooccurrence_matrix(sentences, 300, window=4, memory_limit_mb=0.002)
    # the tiny limit really worked in pieces: the hash table was drained many times
    assert len(drains) > 20, drains
    for a, b in zip(tiny, unbounded, strict=True):  # exact sums: bit for bit the same
        np.testing.assert_array_equal(a, b)
    assert_coo_equals(tiny, brute_force_cooccurrence(sentences, 4, True, True))


def test_growing_hash_table_keeps_every_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large vocabulary: few pairs fit the dense table, the hash table grows, then drains."""
    rng = np.random.default_rng(11)
    sentences = [rng.integers(0, 5000, size=40).astype(np.int32) for _ in range(400)]
    grows = _count_calls(monkeypatch, "rehash")
    drains = _count_calls(monkeypatch, "drain_table")
    coo = cooccurrence_matrix(sentences, 5000, window=4, memory_limit_mb=8)
    assert len(grows) == 1 and len(drains) >= 2, (grows, drains)
    assert_coo_equals(coo, brute_force_cooccurrence(sentences, 4, True, True))


def test_cooccurrence_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"word ids must be in \[0, 3\)"):
        cooccurrence_matrix([np.array([0, 3])], 3)
    with pytest.raises(ValueError, match="window"):
        cooccurrence_matrix([np.array([0, 1])], 3, window=0)
    with pytest.raises(ValueError, match="memory_limit_mb"):
        cooccurrence_matrix([np.array([0, 1])], 3, memory_limit_mb=0)
    with pytest.raises(ValueError, match="shape"):
        cooccurrence_matrix([np.zeros((2, 2), np.int32)], 3)


# -- the weighting function ------------------------------------------------------------------


def test_weight_function_golden() -> None:
    x = np.array([0.0, 1.0, 50.0, 100.0, 150.0, 1e6])
    expected = [0.0, 0.01**0.75, 0.5**0.75, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(glove_weight(x, 100.0, 0.75), expected, rtol=1e-12)
    np.testing.assert_allclose(glove_weight(np.array([2.0]), 4.0, 0.5), [np.sqrt(0.5)])
    with pytest.raises(ValueError):
        glove_weight(np.array([-1.0]))


# -- one AdaGrad step against a NumPy float64 reference ----------------------------------------


def reference_cost_and_grads(
    w: np.ndarray, wc: np.ndarray, b: np.ndarray, bc: np.ndarray, i: int, j: int, x: float,
    x_max: float, alpha: float,
) -> tuple[float, np.ndarray, np.ndarray, float, float]:  # fmt: skip
    """One term of J = f(x)(w_i·w~_j + b_i + b~_j − log x)² and the gradients of ½ of it."""
    f = min(1.0, (x / x_max) ** alpha)
    diff = w[i] @ wc[j] + b[i] + bc[j] - np.log(x)
    return f * diff**2, f * diff * wc[j], f * diff * w[i], f * diff, f * diff


def reference_adagrad(
    params: dict[str, np.ndarray], entries: list[tuple[int, int, float]], eta: float,
    x_max: float, alpha: float,
) -> float:  # fmt: skip
    """glove.c's update, entry after entry, in float64: θ -= η g / sqrt(G); G += (η g)²."""
    p = params
    total = 0.0
    for i, j, x in entries:
        cost, gw, gwc, gb, gbc = reference_cost_and_grads(
            p["w"], p["w_ctx"], p["b"], p["b_ctx"], i, j, x, x_max, alpha
        )
        total += cost
        for name, gsq, index, grad in (
            ("w", "gsq_w", i, gw),
            ("w_ctx", "gsq_ctx", j, gwc),
            ("b", "gsq_b", i, gb),
            ("b_ctx", "gsq_bctx", j, gbc),
        ):
            step = eta * grad
            p[name][index] = p[name][index] - step / np.sqrt(p[gsq][index])
            p[gsq][index] = p[gsq][index] + step * step
    return total


def test_reference_gradients_match_autograd() -> None:
    rng = np.random.default_rng(0)
    w, wc = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    b, bc = rng.normal(size=3), rng.normal(size=3)
    i, j, x = 1, 2, 7.0
    cost, gw, gwc, gb, gbc = reference_cost_and_grads(w, wc, b, bc, i, j, x, 10.0, 0.75)
    tw, twc, tb, tbc = (torch.tensor(a, requires_grad=True) for a in (w, wc, b, bc))
    f = min(1.0, (x / 10.0) ** 0.75)
    j_term = f * (tw[i] @ twc[j] + tb[i] + tbc[j] - np.log(x)) ** 2
    (0.5 * j_term).backward()
    assert float(j_term.detach()) == pytest.approx(cost, rel=1e-12)
    np.testing.assert_allclose(tw.grad[i].numpy(), gw, rtol=1e-12)
    np.testing.assert_allclose(twc.grad[j].numpy(), gwc, rtol=1e-12)
    assert float(tb.grad[i]) == pytest.approx(gb, rel=1e-12)
    assert float(tbc.grad[j]) == pytest.approx(gbc, rel=1e-12)


def _random_params(seed: int, vocab_size: int, dim: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = G._init_params(vocab_size, dim, rng)
    p.w[:] = rng.normal(scale=0.3, size=p.w.shape)  # larger than the init: visible steps
    p.w_ctx[:] = rng.normal(scale=0.3, size=p.w.shape)
    p.gsq_w[:] = rng.uniform(1, 3, size=p.w.shape)  # a state past the first step
    p.gsq_bctx[:] = rng.uniform(1, 3, size=vocab_size)
    return {k: v.copy() for k, v in vars(p).items()}


# entries with a repeated word, a repeated context, i == j, and x above x_max
ENTRIES = [(0, 1, 3.0), (2, 1, 0.5), (0, 0, 12.0), (3, 2, 1.25)]


@pytest.mark.parametrize("engine", ["numba", "torch"])
def test_adagrad_steps_equal_numpy_reference(engine: str) -> None:
    x_max, alpha, eta = 10.0, 0.75, 0.05
    start = _random_params(3, vocab_size=4, dim=16)
    expected = {k: v.astype(np.float64) for k, v in start.items()}
    # the numba kernel visits blocks of 2 entries in the order [1, 0]: entries 2, 3, 0, 1
    visit = ENTRIES[2:] + ENTRIES[:2] if engine == "numba" else ENTRIES
    expected_cost = reference_adagrad(expected, visit, eta, x_max, alpha)
    rows = np.array([e[0] for e in ENTRIES], np.int32)
    cols = np.array([e[1] for e in ENTRIES], np.int32)
    values = np.array([e[2] for e in ENTRIES], np.float64)
    log_x = np.log(values).astype(np.float32)
    weight = glove_weight(values, x_max, alpha).astype(np.float32)
    got = {k: v.copy() for k, v in start.items()}
    if engine == "numba":
        p = G._Params(**got)
        cost = K.adagrad_epoch(
            rows, cols, log_x, weight, np.array([1, 0]), 2,  # blocks [2, 4) then [0, 2)
            p.w, p.w_ctx, p.b, p.b_ctx, p.gsq_w, p.gsq_ctx, p.gsq_b, p.gsq_bctx, eta,
        )  # fmt: skip
    else:  # batches of one entry: the minibatch update is then the per-entry step
        t = {k: torch.from_numpy(v) for k, v in got.items()}
        cost = G._torch_epoch(
            t,
            torch.from_numpy(rows.astype(np.int64)),
            torch.from_numpy(cols.astype(np.int64)),
            torch.from_numpy(log_x),
            torch.from_numpy(weight),
            torch.arange(len(ENTRIES)),
            eta,
            batch_size=1,
        )
    assert cost == pytest.approx(expected_cost, rel=1e-5)
    for name, value in expected.items():
        assert not np.allclose(value, start[name]), f"{name} did not move"
        np.testing.assert_allclose(got[name], value, rtol=2e-5, atol=1e-6, err_msg=name)


def test_torch_minibatch_sums_gradients_of_the_batch() -> None:
    """A batch of entries sharing word 0: one step with the summed gradient per row."""
    x_max, alpha, eta = 10.0, 0.75, 0.05
    start = _random_params(5, vocab_size=4, dim=8)
    entries = [(0, 1, 3.0), (0, 2, 5.0), (1, 3, 2.0)]
    expected = {k: v.astype(np.float64) for k, v in start.items()}
    grads: dict[tuple[str, int], np.ndarray] = {}
    for i, j, x in entries:  # gradients all at the starting point
        _, gw, gwc, gb, gbc = reference_cost_and_grads(
            expected["w"], expected["w_ctx"], expected["b"], expected["b_ctx"], i, j, x, x_max,
            alpha,
        )  # fmt: skip
        for key, g in ((("w", i), gw), (("w_ctx", j), gwc), (("b", i), gb), (("b_ctx", j), gbc)):
            grads[key] = grads.get(key, 0.0) + eta * np.asarray(g)
    gsq_of = {"w": "gsq_w", "w_ctx": "gsq_ctx", "b": "gsq_b", "b_ctx": "gsq_bctx"}
    for (name, index), step in grads.items():
        gsq = gsq_of[name]
        expected[name][index] -= step / np.sqrt(expected[gsq][index])
        expected[gsq][index] += step * step
    t = {k: torch.from_numpy(v.copy()) for k, v in start.items()}
    values = np.array([e[2] for e in entries])
    G._torch_epoch(
        t,
        torch.tensor([e[0] for e in entries]),
        torch.tensor([e[1] for e in entries]),
        torch.from_numpy(np.log(values).astype(np.float32)),
        torch.from_numpy(glove_weight(values, x_max, alpha).astype(np.float32)),
        torch.arange(3),
        eta,
        batch_size=3,
    )
    for name, value in expected.items():
        np.testing.assert_allclose(t[name].numpy(), value, rtol=2e-5, atol=1e-6, err_msg=name)


def test_reported_cost_is_j_over_nnz() -> None:
    """With a negligible learning rate the first epoch's cost is J(init) / nnz (float64)."""
    rows, cols, values = cooccurrence_matrix(random_sentences(1, 40, 50, 12), 40, window=3)
    config = GloVeConfig(vector_size=8, epochs=1, learning_rate=1e-12, workers=1, x_max=5.0)
    params, losses = G._train_matrix(rows, cols, values, 40, config)
    v = values.astype(np.float64)
    diff = (
        np.einsum("ne,ne->n", params.w[rows].astype(np.float64), params.w_ctx[cols])
        + params.b[rows]
        + params.b_ctx[cols]
        - np.log(v)
    )
    j_cost = float(np.sum(np.minimum(1.0, (v / 5.0) ** 0.75) * diff**2))
    assert losses[0] == pytest.approx(j_cost / rows.size, rel=1e-5)


# -- learning --------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["numba", "torch"])
def test_planted_topics_cluster_and_cost_falls(engine: str) -> None:
    topics, sentences = planted_corpus(1)
    result = train_glove(sentences, GloVeConfig(**{**PLANTED.to_dict(), "engine": engine}))
    losses = result.epoch_losses
    assert len(losses) == PLANTED.epochs
    assert all(np.isfinite(losses))
    # calibrated: J/nnz falls from ~14 (numba) / ~17 (torch) to < 0.01 on seeds 1-4
    assert losses[-1] < 0.01 * losses[0]
    # the descent phase is monotone (later epochs jitter around ~0.005 in minibatches)
    assert all(b < a for a, b in itertools.pairwise(losses[:8])), losses
    kv = result.vectors
    topic_of = {w: c for c, ws in enumerate(topics) for w in ws}
    pairs = [(a, b) for a in topic_of for b in topic_of if a < b]
    same = [kv.similarity(a, b) for a, b in pairs if topic_of[a] == topic_of[b]]
    other = [kv.similarity(a, b) for a, b in pairs if topic_of[a] != topic_of[b]]
    # calibrated on seeds 1-4, both engines: min(same) - max(other) >= 0.11 and the mean
    # same-topic cosine >= 0.93 while the mean cross-topic one <= 0.37
    assert min(same) > max(other)
    assert np.mean(same) - np.mean(other) > 0.5


def test_combine_options_and_seed_determinism() -> None:
    _, sentences = planted_corpus(2)
    base = dict(vector_size=6, window=2, epochs=3, min_count=1, workers=1)
    runs = {c: train_glove(sentences, GloVeConfig(**base, combine=c)) for c in G.Combine.__args__}
    summed, averaged, word = (runs[c].vectors.vectors for c in ("sum", "average", "word"))
    np.testing.assert_array_equal(summed, 2 * averaged)  # (w + w~) / 2 is exact in float32
    assert not np.allclose(summed, word)
    # "word" is w alone: the fitted parameters, recomputed from the same matrix and seed
    words = runs["word"].vectors.index_to_key
    corpus_ids = [np.array([words.index(w) for w in s], np.int32) for s in sentences]
    coo = cooccurrence_matrix(corpus_ids, len(words), window=2)
    params, losses = G._train_matrix(*coo, len(words), GloVeConfig(**base))
    np.testing.assert_array_equal(word, params.w)
    np.testing.assert_array_equal(summed, params.w + params.w_ctx)
    # seed determinism with one worker; another seed gives other vectors
    assert losses == runs["sum"].epoch_losses
    again = train_glove(sentences, GloVeConfig(**base))
    np.testing.assert_array_equal(again.vectors.vectors, summed)
    other = train_glove(sentences, GloVeConfig(**base, seed=2))
    assert not np.allclose(other.vectors.vectors, summed)


def test_two_workers_learn_too() -> None:
    topics, sentences = planted_corpus(3)
    result = train_glove(sentences, GloVeConfig(**{**PLANTED.to_dict(), "workers": 2}))
    assert result.epoch_losses[-1] < 0.01 * result.epoch_losses[0]
    kv = result.vectors
    assert kv.similarity(topics[0][0], topics[0][1]) > kv.similarity(topics[0][0], topics[1][0])


def test_train_glove_reads_a_gzip_file_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, sentences = planted_corpus(4)
    path = tmp_path / "corpus.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(" ".join(s) + "\n" for s in sentences)
    config = GloVeConfig(vector_size=4, window=2, epochs=2, min_count=1, max_vocab_size=10)
    result = train_glove(path, config, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "2/2" in captured.err and "J/nnz" in captured.err
    assert len(result.vectors) == 10 and result.vectors.vector_size == 4
    assert result.vectors.counts is not None and list(result.vectors.counts) == sorted(
        result.vectors.counts, reverse=True
    )
    assert result.config == config.to_dict() and result.config["combine"] == "sum"
    assert result.seconds > 0 and result.words_per_second > 0
    assert len(result.epoch_losses) == 2


# -- bad configurations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("vector_size", 0),
        ("window", -1),
        ("window", 2.5),
        ("epochs", 0),
        ("x_max", 0.0),
        ("alpha", -0.75),
        ("learning_rate", float("nan")),
        ("min_count", 0),
        ("max_vocab_size", 0),
        ("combine", "mean"),
        ("memory_limit_mb", 0),
        ("workers", 0),
        ("engine", "cuda"),
        ("batch_size", 0),
        ("seed", -1),
        ("device", "not-a-device"),
        ("symmetric", 1),
    ],
)
def test_bad_config_raises(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field if field != "device" else "device"):
        GloVeConfig(**{field: value})


def test_numba_engine_needs_the_cpu() -> None:
    with pytest.raises(ValueError, match="CPU"):
        GloVeConfig(engine="numba", device="cuda")


def test_empty_vocabulary_raises() -> None:
    with pytest.raises(ValueError, match="min_count"):
        train_glove([["a", "b"]], GloVeConfig(min_count=5))


def test_words_per_second_counts_epochs_and_excludes_counting(monkeypatch) -> None:
    """words/s = corpus tokens x epochs / seconds of training (as word2vec's); the counting
    of co-occurrences is reported apart. A fake clock makes the seconds exact."""
    clock = {"now": 100.0}
    monkeypatch.setattr(G, "time", types.SimpleNamespace(perf_counter=lambda: clock["now"]))
    real_count, real_train = G.cooccurrence_matrix, G._train_matrix

    def counting(*args, **kwargs):
        out = real_count(*args, **kwargs)
        clock["now"] += 7.0  # counting takes 7 s
        return out

    def training(*args, **kwargs):
        out = real_train(*args, **kwargs)
        clock["now"] += 2.0  # training takes 2 s
        return out

    monkeypatch.setattr(G, "cooccurrence_matrix", counting)
    monkeypatch.setattr(G, "_train_matrix", training)
    _, sentences = planted_corpus(3)
    config = GloVeConfig(vector_size=4, window=2, epochs=4, min_count=1, workers=1)
    result = train_glove(sentences, config)
    tokens = sum(len(s) for s in sentences)  # min_count 1: every token is in the vocabulary
    assert result.counting_seconds == pytest.approx(7.0)
    assert result.words_per_second == pytest.approx(tokens * 4 / 2.0)
    assert result.seconds == pytest.approx(9.0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_absent_cuda_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="device 'cuda' is not available"):
        GloVeConfig(device="cuda")
    assert GloVeConfig(device="auto").device == "cpu"
