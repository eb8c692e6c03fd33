"""The scene dataset (determinism, captions true to the pixels) and the captions reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from seqlab._io import DataError
from seqlab.data.scenes import (
    COLOURS,
    CaptionData,
    caption_meaning,
    make_scenes,
    read_captions,
    read_image_folder,
    scene_split,
    scenes_data,
    write_image_folder,
)


def test_scenes_are_deterministic_per_seed() -> None:
    a, b, c = make_scenes(30, 4), make_scenes(30, 4), make_scenes(30, 5)
    assert all(
        np.array_equal(x.image, y.image) and x.captions == y.captions
        for x, y in zip(a, b, strict=True)
    )
    assert any(x.captions != y.captions for x, y in zip(a, c, strict=True))
    test = scene_split("test", 50)
    assert np.array_equal(test.images, scene_split("test", 50).images)  # the fixed split
    assert not np.array_equal(test.images, scene_split("train", 50).images)


# -- reading the scene back from its pixels, independently of the generator ----------------


def _colour_masks(image: np.ndarray) -> dict[str, np.ndarray]:
    """Pixels within 40 (per channel) of each palette colour."""
    px = image.astype(np.int32)
    return {
        name: (np.abs(px - np.array(rgb)).max(axis=-1) <= 40)
        for name, rgb in COLOURS.items()
        if (np.abs(px - np.array(rgb)).max(axis=-1) <= 40).sum() > 0
    }


def _thing(mask: np.ndarray) -> tuple[str, str]:
    """(size, shape) of one shape's pixels: its width, and how much of its box it fills."""
    ys, xs = np.nonzero(mask)
    w, h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    fill = mask.sum() / (w * h)
    shape = "square" if fill > 0.92 else ("circle" if fill > 0.64 else "triangle")
    return ("small" if w <= 11 else "large"), shape


def _parts(mask: np.ndarray) -> list[np.ndarray]:
    """The connected shapes of one colour (scipy's labelling)."""
    labels, n = ndimage.label(mask)
    return [labels == k for k in range(1, n + 1)]


def _meaning_from_pixels(image: np.ndarray) -> tuple[object, ...]:
    masks = _colour_masks(image)
    if len(masks) == 2:  # a relation: two colours
        (ca, ma), (cb, mb) = masks.items()
        (ya, xa), (yb, xb) = np.argwhere(ma).mean(0), np.argwhere(mb).mean(0)
        sa, sb = _thing(ma), _thing(mb)
        a, b = (sa[0], ca, sa[1]), (sb[0], cb, sb[1])
        if abs(ya - yb) > abs(xa - xb):
            return ("two", a, "above", b) if ya < yb else ("two", b, "above", a)
        return ("two", a, "to the left of", b) if xa < xb else ("two", b, "to the left of", a)
    ((colour, mask),) = masks.items()
    parts = _parts(mask)
    size, shape = _thing(parts[0])
    if len(parts) > 1:
        assert all(_thing(p) == (size, shape) for p in parts)
        return ("count", len(parts), (size, colour, shape))
    return ("one", (size, colour, shape))


def test_captions_say_what_the_pixels_show() -> None:
    scenes = [s for s in make_scenes(300, 11) if s.kind != "one"] + make_scenes(
        150, 12, kinds=("one",)
    )
    wrong = []
    for s in scenes:
        seen = _meaning_from_pixels(s.image)
        if any(caption_meaning(c) != seen for c in s.captions):
            wrong.append((s.captions[0], seen))
    assert not wrong, wrong[:3]
    kinds = {s.kind for s in scenes}
    assert kinds == {"one", "two", "count"}


def test_caption_meaning_reads_every_phrasing_alike() -> None:
    a = caption_meaning("a small red circle above a large blue square")
    assert a == caption_meaning("there is a large blue square below a small red circle")
    assert a != caption_meaning("a small red circle below a large blue square")
    assert caption_meaning("three large green triangles in the picture") == (
        "count",
        3,
        ("large", "green", "triangle"),
    )
    for bad in ("a red circle", "a huge red circle", "two small red circle", "dog", ""):
        assert caption_meaning(bad) is None


# -- the captions reader -------------------------------------------------------------------


def test_captions_file_round_trip_and_flickr_names(tmp_path: Path) -> None:
    data = scenes_data(make_scenes(4, 0))
    file = write_image_folder(data, tmp_path / "imgs")
    back = read_image_folder(tmp_path / "imgs", file, side=32)
    assert np.array_equal(back.images, data.images)  # PNG is lossless
    assert back.captions == data.captions
    (tmp_path / "f.txt").write_text("x.jpg#0\tA dog .\nx.jpg#1\tA brown dog .\n", encoding="utf-8")
    assert read_captions(tmp_path / "f.txt") == {"x.jpg": ["A dog .", "A brown dog ."]}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a.png\tok\nb.png no tab\n", ":2: no tab"),
        ("a.png\tok\n\n\tempty name\n", ":3: empty image name"),
        ("a.png\t  \n", ":1: empty caption for a.png"),
        ("# only a comment\n", "no caption"),
    ],
)
def test_captions_file_errors_name_file_and_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "c.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=problem) as info:
        read_captions(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_folder_errors(tmp_path: Path) -> None:
    bad = tmp_path / "c.tsv"
    bad.write_bytes(b"a.png\tok\nb.png\t\xff\xfe\n")
    with pytest.raises(DataError, match=r"c.tsv:2: not UTF-8"):
        read_captions(bad)
    write_image_folder(scenes_data(make_scenes(1, 0)), tmp_path / "imgs")
    caps = tmp_path / "caps.tsv"
    caps.write_text("scene-0.png\ta b\nmissing.png\tc d\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"caps.tsv:2: no image missing.png"):
        read_image_folder(tmp_path / "imgs", caps)
    (tmp_path / "imgs" / "junk.png").write_text("not an image", encoding="utf-8")
    caps.write_text("junk.png\tc d\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"junk.png: not a readable image"):
        read_image_folder(tmp_path / "imgs", caps)


def test_caption_data_checks_its_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\) uint8"):
        CaptionData(np.zeros((2, 8, 8), np.uint8), [["a"], ["b"]], ["x", "y"])
    with pytest.raises(ValueError, match="at least one caption"):
        CaptionData(np.zeros((1, 8, 8, 3), np.uint8), [[]], ["x"])
