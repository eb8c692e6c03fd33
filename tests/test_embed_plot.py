"""2-D maps of word vectors: projections against NumPy, label placement, PNG files, errors.

PCA equals a NumPy SVD of the centred unit vectors (up to sign). t-SNE is judged by
trustworthiness (Venna & Kaski 2001; a NumPy reference that equals scikit-learn's): on a
closed curve winding through 12 dimensions it keeps neighbourhoods (> 0.95) where PCA's
flat shadow does not (< 0.9) and random coordinates score about 0.5. The PNG is read back:
a dot at every projected point, ink inside every label's box, every word labelled.
"""

from __future__ import annotations

import struct
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from seqlab.embeddings.keyed_vectors import KeyedVectors, OOVError
from seqlab.viz.embeddings import (
    ShortArrowWarning,
    _place_labels,
    arrow_shrink,
    plot_embeddings,
    project_2d,
)


def random_kv(
    n: int = 30, dim: int = 16, seed: int = 0, extra: tuple[str, ...] = ()
) -> KeyedVectors:
    rng = np.random.default_rng(seed)
    words = [f"word{i}" for i in range(n)] + list(extra)
    return KeyedVectors(words, rng.normal(size=(len(words), dim)))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    return width, height


def test_pca_projection_matches_numpy_svd_up_to_sign() -> None:
    x = np.random.default_rng(1).normal(size=(25, 10))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    centred = unit - unit.mean(axis=0)
    vt = np.linalg.svd(centred)[2]
    expected = centred @ vt[:2].T
    got = project_2d(x, method="pca")
    for k in range(2):
        assert abs(float(got[:, k] @ expected[:, k])) == pytest.approx(
            float(expected[:, k] @ expected[:, k]), rel=1e-9
        )
        np.testing.assert_allclose(np.abs(got[:, k]), np.abs(expected[:, k]), atol=1e-9)
    # scale invariance: the map is of the unit vectors (cosine geometry)
    np.testing.assert_allclose(project_2d(x * np.arange(1, 26)[:, None]), got, atol=1e-9)


@pytest.mark.parametrize("n", [3, 30])
def test_tsne_runs_below_the_perplexity_limit_and_is_seeded(n: int) -> None:
    x = np.random.default_rng(2).normal(size=(n, 8))
    a = project_2d(x, method="tsne", seed=3)
    assert a.shape == (n, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, project_2d(x, method="tsne", seed=3))


def trustworthiness(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Trustworthiness of the map ``y`` (N, 2) of ``x`` (N, E), in NumPy: 1 minus the
    normalised sum, over each point's k nearest neighbours in the map, of how far beyond k
    they rank among its neighbours in ``x`` (1: every map neighbour is a true neighbour)."""
    n = len(x)

    def distances(z: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(z[:, None] - z[None], axis=-1)  # (N, N)
        np.fill_diagonal(d, np.inf)
        return d

    rank = np.empty((n, n), dtype=np.int64)  # rank[i, j]: j is i's rank[i, j]-th neighbour in x
    rank[np.arange(n)[:, None], np.argsort(distances(x), axis=1, kind="stable")] = np.arange(
        1, n + 1
    )
    near = np.argsort(distances(y), axis=1, kind="stable")[:, :k]  # (N, k) in the map
    penalty = np.maximum(np.take_along_axis(rank, near, axis=1) - k, 0).sum()
    return float(1.0 - 2.0 / (n * k * (2 * n - 3 * k - 1)) * penalty)


def winding_curve(seed: int, n: int = 60, dim: int = 24) -> np.ndarray:
    """n points along a closed curve sum_m cos(m t) a_m + sin(m t) b_m, m = 1..6, with
    orthonormal a_m, b_m in ``dim`` dimensions (plus a little noise): a loop whose 2-D
    PCA shadow crosses itself many times."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    basis = np.linalg.qr(rng.normal(size=(dim, 12)))[0].T  # (12, dim) orthonormal rows
    x = sum(
        np.outer(np.cos(m * t), basis[2 * m - 2]) + np.outer(np.sin(m * t), basis[2 * m - 1])
        for m in range(1, 7)
    )
    return np.asarray(x) + 0.05 * rng.normal(size=(n, dim))


@pytest.mark.parametrize("seed", [0, 1])
def test_tsne_keeps_neighbourhoods_that_pca_loses(seed: int) -> None:
    from sklearn.manifold import trustworthiness as sklearn_trustworthiness

    x = winding_curve(seed)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)  # what project_2d maps
    tsne, pca = project_2d(x, method="tsne", seed=0), project_2d(x, method="pca")
    noise = np.random.default_rng(seed).normal(size=(len(x), 2))
    scores = {name: trustworthiness(unit, y, 5) for name, y in [("tsne", tsne), ("pca", pca)]}
    scores["random"] = trustworthiness(unit, noise, 5)
    for name, y in [("tsne", tsne), ("pca", pca), ("random", noise)]:  # the reference is right
        assert scores[name] == pytest.approx(sklearn_trustworthiness(unit, y, n_neighbors=5))
    assert scores["tsne"] > 0.95, scores
    assert scores["pca"] < 0.9, scores  # a linear map cannot pass: t-SNE must have run
    assert scores["random"] < 0.65, scores  # the bound is far above chance


def test_tsne_keeps_planted_clusters_apart() -> None:
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(2, 12)) * 3
    x = np.concatenate([c + 0.3 * rng.normal(size=(15, 12)) for c in centres])  # (30, 12)
    coords = project_2d(x, method="tsne", seed=0)
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    label = np.repeat([0, 1], 15)
    assert (label[d.argmin(axis=1)] == label).all()  # every nearest neighbour in its cluster
    within = d[label[:, None] == label[None]]
    assert np.median(within[np.isfinite(within)]) < np.median(d[label[:, None] != label[None]])


def test_tsne_without_scikit_learn_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # import fails as if missing
    with pytest.raises(ImportError, match=r"pip install 'seqlab\[viz\]'"):
        project_2d(np.eye(5), method="tsne")


def test_projection_rejects_too_few_words_and_unknown_method() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        project_2d(np.ones((2, 4)))
    with pytest.raises(ValueError, match="unknown projection"):
        project_2d(np.eye(4), method="umap")  # type: ignore[arg-type]


def boxes_overlap(pos: np.ndarray, sizes: np.ndarray) -> int:
    n, count = len(pos), 0
    for i in range(n):
        for j in range(i + 1, n):
            ox = min(pos[i, 0] + sizes[i, 0], pos[j, 0] + sizes[j, 0]) - max(pos[i, 0], pos[j, 0])
            oy = min(pos[i, 1] + sizes[i, 1], pos[j, 1] + sizes[j, 1]) - max(pos[i, 1], pos[j, 1])
            count += ox > 1e-6 and oy > 1e-6
    return count


def test_label_placement_removes_overlaps_of_a_crowded_cluster() -> None:
    rng = np.random.default_rng(4)
    anchors = 400 + rng.normal(scale=15, size=(40, 2))  # 40 labels crowded in a 60-px blob
    sizes = np.column_stack([rng.uniform(20, 60, 40), np.full(40, 10.0)])
    start = anchors + np.array([3.0, 2.0])
    assert boxes_overlap(start, sizes) > 20  # the naive placement is a mess
    pos = _place_labels(anchors, sizes, (0.0, 0.0, 800.0, 800.0))
    assert boxes_overlap(pos, sizes) == 0
    assert (pos >= 0).all() and (pos + sizes <= 800).all()
    # labels stay near their points (a repulsion, not a scatter)
    assert float(np.linalg.norm(pos - start, axis=1).max()) < 200


@pytest.mark.parametrize("method", ["tsne", "pca"])
def test_png_written_with_the_requested_size(tmp_path: Path, method: str) -> None:
    kv = random_kv(extra=("man", "woman", "king", "queen"))
    words = [f"word{i}" for i in range(30)]
    out = plot_embeddings(
        kv, words, method=method, out=tmp_path / "map.png", figsize=(8.0, 6.0), dpi=50
    )  # type: ignore[arg-type]
    assert out == tmp_path / "map.png"
    assert png_size(out) == (400, 300)
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]  # no temporary file left


def test_png_shows_a_dot_at_every_point_and_every_label(tmp_path: Path, monkeypatch) -> None:
    """Read the PNG back: each word is labelled once, its label anchored at its PCA point;
    the pixel there is the dots' blue; the label's box holds dark text pixels; most of the
    plot area stays white (a map, not a smear)."""
    import matplotlib.image as mpimg
    from matplotlib.axes import Axes

    labels: list = []
    real = Axes.annotate

    def spy(self, text, xy, *args, **kwargs):
        annotation = real(self, text, xy, *args, **kwargs)
        if text:
            labels.append((self, text, xy, annotation))
        return annotation

    monkeypatch.setattr(Axes, "annotate", spy)
    kv = random_kv(n=25)
    words = list(kv.index_to_key)
    out = plot_embeddings(
        kv, words, method="pca", arrows=[], out=tmp_path / "m.png", figsize=(6.0, 4.5), dpi=100
    )
    image = mpimg.imread(out)[..., :3]  # (450, 600, 3) in [0, 1]
    assert image.shape == (450, 600, 3)
    coords = project_2d(kv[words], method="pca")
    assert [text for _, text, _, _ in labels] == words
    ax = labels[0][0]
    renderer = ax.figure.canvas.get_renderer()
    height = image.shape[0]
    for (_, word, xy, annotation), point in zip(labels, coords, strict=True):
        np.testing.assert_allclose(xy, point, atol=1e-12)
        x, y = ax.transData.transform(xy)
        col, row = round(x), round(height - y)
        dot = image[row - 2 : row + 3, col - 2 : col + 3]  # (5, 5, 3) around the point
        assert (dot[..., 2] - dot[..., 0] > 0.2).any(), f"no dot at {word}"
        box = annotation.get_window_extent(renderer)
        ink = image[round(height - box.y1) : round(height - box.y0), round(box.x0) : round(box.x1)]
        assert (ink.mean(axis=-1) < 0.5).sum() >= 5, f"no text in the label of {word}"
    area = ax.get_window_extent(renderer)
    inside = image[
        round(height - area.y1) : round(height - area.y0), round(area.x0) : round(area.x1)
    ]
    painted = float((inside.min(axis=-1) < 0.95).mean())
    assert 0.01 < painted < 0.5, painted


def test_top_and_default_size(tmp_path: Path) -> None:
    out = plot_embeddings(random_kv(), top=12, method="pca", out=tmp_path / "top.png")
    assert png_size(out) == (1210, 935)  # 11 x 8.5 inches at 110 dpi


def test_default_arrows_are_skipped_when_their_words_are_unknown(tmp_path: Path) -> None:
    kv = random_kv()  # no man/woman/king/queen: the default arrows are simply not drawn
    plot_embeddings(kv, top=10, method="pca", out=tmp_path / "a.png")
    assert (tmp_path / "a.png").is_file()


def test_explicit_arrows_with_missing_words_name_them(tmp_path: Path) -> None:
    kv = random_kv(extra=("man", "woman"))
    with pytest.raises(OOVError) as info:
        plot_embeddings(
            kv,
            top=10,
            method="pca",
            arrows=[("man", "woman"), ("king", "queen")],
            out=tmp_path / "x.png",
        )
    assert info.value.words == ["king", "queen"]
    assert "king" in str(info.value) and "queen" in str(info.value)
    assert not (tmp_path / "x.png").exists()


def test_unknown_plotted_word_and_bad_arguments(tmp_path: Path) -> None:
    kv = random_kv()
    with pytest.raises(OOVError, match="nope"):
        plot_embeddings(kv, ["word1", "word2", "nope"], method="pca", out=tmp_path / "x.png")
    with pytest.raises(ValueError, match="not both"):
        plot_embeddings(kv, ["word1"], top=5, method="pca", out=tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least 3"):
        plot_embeddings(kv, ["word1", "word2"], method="pca", out=tmp_path / "x.png")


def test_arrow_shrink_leaves_every_arrow_visible() -> None:
    """4 points off each dot, but never the whole arrow (4 + 4 erased arrows under 8 pt)."""
    lengths = np.array([0.0, 0.5, 3.0, 7.9, 8.0, 20.0, 40.0, 500.0])
    shrink = np.array([arrow_shrink(float(x)) for x in lengths])
    assert (shrink >= 0).all() and (shrink <= 4.0).all()
    assert (2 * shrink[1:] < lengths[1:]).all()  # some of the arrow is always drawn
    assert (shrink[lengths >= 20] == 4.0).all()  # long arrows keep clear of the dots


def spy_arrows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, float, float]]:
    """Record every analogy arrow drawn: (from, to, length in points, shrinkA + shrinkB)."""
    from matplotlib.axes import Axes

    seen: list[tuple[str, str, float, float]] = []
    real = Axes.annotate

    def spy(self, text, xy, *args, **kwargs):
        props = kwargs.get("arrowprops")
        if text == "" and props is not None:
            a = self.transData.transform(kwargs["xytext"])
            b = self.transData.transform(xy)
            length = float(np.hypot(*(b - a))) * 72.0 / self.figure.dpi
            names = {tuple(np.round(t.xy, 9)): t.get_text() for t in self.texts}
            seen.append(
                (
                    names.get(tuple(np.round(kwargs["xytext"], 9)), "?"),
                    names.get(tuple(np.round(xy, 9)), "?"),
                    length,
                    props["shrinkA"] + props["shrinkB"],
                )
            )
        return real(self, text, xy, *args, **kwargs)

    monkeypatch.setattr(Axes, "annotate", spy)
    return seen


def spy_notes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the texts written on the figure itself (the notes under the map)."""
    from matplotlib.figure import Figure

    notes: list[str] = []
    real = Figure.text

    def spy(self, x, y, s, *args, **kwargs):
        notes.append(s)
        return real(self, x, y, s, *args, **kwargs)

    monkeypatch.setattr(Figure, "text", spy)
    return notes


def test_arrow_between_neighbouring_words_is_lengthened_and_reported(
    tmp_path: Path, monkeypatch
) -> None:
    """man and woman land a few points apart: the arrow is drawn 18 points long anyway, with a
    note on the figure and a warning (before: a 1-8 point arrow hidden under the dots)."""
    rng = np.random.default_rng(0)
    words = [f"word{i}" for i in range(30)] + ["man", "woman"]
    x = rng.normal(size=(32, 16))
    x[31] = x[30] + 0.04 * rng.normal(size=16)  # woman right next to man
    kv = KeyedVectors(words, x)
    arrows, notes = spy_arrows(monkeypatch), spy_notes(monkeypatch)
    with pytest.warns(ShortArrowWarning, match=r"man -> woman: the PCA map put the two words"):
        plot_embeddings(kv, words[:30], method="pca", context=0, out=tmp_path / "near.png")
    assert len(arrows) == 1
    start, end, length, shrunk = arrows[0]
    assert (start, end) == ("man", "woman")
    assert length == pytest.approx(18.0, rel=0.05), length
    assert shrunk < length / 2
    assert len(notes) == 1 and notes[0].startswith("man -> woman: the PCA map put")


def test_identical_arrow_words_still_get_a_visible_arrow(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 8))
    x[11] = x[10]  # the same vector: the projection puts both words on one spot
    kv = KeyedVectors([f"w{i}" for i in range(10)] + ["a", "b"], x)
    arrows = spy_arrows(monkeypatch)
    with pytest.warns(ShortArrowWarning, match=r"a -> b: .* 0\.0% of its width apart"):
        plot_embeddings(kv, top=12, method="pca", arrows=[("a", "b")], out=tmp_path / "x.png")
    assert arrows[0][2] >= 18.0 - 1e-6


def gendered_kv(seed: int = 0, dim: int = 50) -> KeyedVectors:
    """Like GloVe: 100 frequent function-word-like vectors first, then gendered pairs
    (man/woman, king/queen, boy/girl ...) that share a 'female' offset and are each other's
    nearest neighbours, far from the frequent words."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=dim)
    words = [f"w{i}" for i in range(100)]
    vecs = [common + 0.8 * rng.normal(size=dim) for _ in range(100)]
    person, royal, female, young = (rng.normal(size=dim) for _ in range(4))
    male = {
        "man": person,
        "king": person + royal,
        "boy": person + young,
        "prince": person + royal + young,
        "father": person + 0.5 * rng.normal(size=dim),
        "he": person + 0.5 * rng.normal(size=dim),
    }
    female_of = dict(
        man="woman", king="queen", boy="girl", prince="princess", father="mother", he="she"
    )
    for word, v in male.items():
        words.append(word)
        vecs.append(v + 0.15 * rng.normal(size=dim))
    for word, v in male.items():
        words.append(female_of[word])
        vecs.append(v + 0.45 * female + 0.15 * rng.normal(size=dim))
    return KeyedVectors(words, np.array(vecs))


def test_default_map_of_the_top_words_shows_both_arrows(tmp_path: Path, monkeypatch) -> None:
    """The default call (top 100, t-SNE, man -> woman and king -> queen): before, the four
    arrow words formed a clique that t-SNE squeezed to one spot (arrows 0.0 points long)."""
    kv = gendered_kv()
    arrows = spy_arrows(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortArrowWarning)
        plot_embeddings(kv, top=100, out=tmp_path / "map.png")
    assert {(a, b) for a, b, _, _ in arrows} == {("man", "woman"), ("king", "queen")}
    for _, _, length, shrunk in arrows:
        assert length >= 18.0 - 1e-6 and shrunk < length / 2
    assert png_size(tmp_path / "map.png") == (1210, 935)


def test_arrow_words_bring_their_nearest_neighbours() -> None:
    """An arrow word the map lacks comes with its 5 nearest neighbours (so t-SNE sees a
    neighbourhood, not a clique); words the user listed are kept as given."""
    from seqlab.viz.embeddings import _choose_words

    kv = gendered_kv()
    pairs = [("man", "woman"), ("king", "queen")]
    chosen = _choose_words(kv, None, 100, pairs)
    top = [f"w{i}" for i in range(100)]
    assert chosen[:104] == [*top, "man", "woman", "king", "queen"]
    expected = []
    for w in ("man", "woman", "king", "queen"):
        for neighbour, _ in kv.most_similar(w, topn=5):
            if neighbour not in [*top, "man", "woman", "king", "queen", *expected]:
                expected.append(neighbour)
    assert chosen[104:] == expected and {"girl", "prince", "princess", "mother"} <= set(expected)
    assert _choose_words(kv, None, 100, pairs, context=0) == chosen[:104]
    listed = ["man", "woman", "king", "queen", "w1"]
    assert _choose_words(kv, listed, None, pairs) == listed  # nothing added
    with pytest.raises(ValueError, match="context must be at least 0"):
        _choose_words(kv, None, 10, pairs, context=-1)


def test_tsne_of_four_words_keeps_the_pairs_apart() -> None:
    """plot --words man,woman,king,queen: perplexity (N-1)/3 = 1 collapsed each pair onto one
    spot (1% of the map apart); the floor of 5 (below N) spreads them."""
    kv = gendered_kv()
    x = kv[["man", "woman", "king", "queen"]]
    coords = project_2d(x, method="tsne")
    span = float(np.ptp(coords, axis=0).max())
    for i, j in [(0, 1), (2, 3)]:
        assert np.linalg.norm(coords[i] - coords[j]) > 0.2 * span
