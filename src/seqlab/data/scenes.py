"""Images with captions: the generated scene dataset and a reader for your own folder.

**Scenes** (:func:`make_scenes`, :func:`scene_split`): small RGB images (32 × 32 by default)
of one to three shapes (circle, square, triangle) in four colours and two sizes, drawn with
NumPy from a seed, each with several captions that say the same thing in other words (the
references BLEU and the exact match compare with)::

    one object       "a small red circle", "there is a small red circle", ...
    two objects      "a large blue square above a small green triangle",
                     "a small green triangle below a large blue square", ...
                     (relations: above, below, to the left of, to the right of)
    counts           "three small yellow circles", "there are three small yellow circles"

The two objects of a relation have different colours and lie in opposite halves of the image;
the objects of a count scene are identical and lie in distinct quarters. The background is
dark grey; every pixel gets a little uniform noise. :func:`caption_meaning` reads a caption
back into what it claims (objects, attributes, relation), so "A above B" and "B below A" mean
the same: the captioner's exact-meaning accuracy compares meanings, not words.

The held-out split is fixed: ``scene_split("test")`` is always the same 1,000 scenes (seed
:data:`TEST_SEED`), ``"valid"`` the same 500; training scenes come from the user's seed.

**A folder of images** (:func:`read_captions`, :func:`read_image_folder`): a captions file
with one ``image<TAB>caption`` line per caption, Flickr8k's layout (``name.jpg#0`` is read
as ``name.jpg``); several lines for one image are several references. Images are read with
Pillow (which matplotlib brings), converted to RGB and resized to a square. Errors are one
line naming the file and line (:class:`seqlab._io.DataError`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from seqlab._io import DataError, atomic_write_bytes, atomic_write_text

__all__ = [
    "COLOURS",
    "SHAPES",
    "SIZES",
    "TEST_SEED",
    "VALID_SEED",
    "CaptionData",
    "Scene",
    "SceneObject",
    "caption_meaning",
    "caption_tokens",
    "load_image",
    "make_scenes",
    "read_captions",
    "read_image_folder",
    "render_scene",
    "scene_split",
    "write_image_folder",
]

SHAPES = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 90, 230),
    "yellow": (230, 210, 40),
}
SIZES: dict[str, float] = {"small": 0.13, "large": 0.22}  # half-width / image side
BACKGROUND = (30, 30, 30)
NOISE = 8  # ± uniform noise on every channel
RELATIONS = {"above": "below", "below": "above", "to the left of": "to the right of"}
RELATIONS["to the right of"] = "to the left of"
NUMBERS = {2: "two", 3: "three"}
Kind = Literal["one", "two", "count"]
KINDS: tuple[Kind, ...] = ("one", "two", "count")
TEST_SEED = 1_000_003  # the fixed held-out scenes
VALID_SEED = 1_000_002  # the fixed validation scenes
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class SceneObject:
    """One shape of a scene."""

    shape: str  # one of SHAPES
    colour: str  # a key of COLOURS
    size: str  # "small" or "large"
    x: int  # centre column, pixels
    y: int  # centre row, pixels

    @property
    def phrase(self) -> str:
        """``"a small red circle"``."""
        return f"a {self.size} {self.colour} {self.shape}"

    @property
    def attributes(self) -> tuple[str, str, str]:
        return (self.size, self.colour, self.shape)


@dataclass(frozen=True)
class Scene:
    """A generated scene: its objects, what relates them, its image and its captions."""

    kind: Kind  # "one", "two" (a relation) or "count"
    objects: tuple[SceneObject, ...]  # 1, 2 (first relation second) or 2-3 identical ones
    relation: str | None  # "above", "below", "to the left of", "to the right of" (kind "two")
    image: np.ndarray  # (H, W, 3) uint8
    captions: tuple[str, ...]  # several phrasings of the same meaning, canonical first

    @property
    def meaning(self) -> tuple[object, ...]:
        """What the captions say, as :func:`caption_meaning` reads it."""
        first = self.objects[0].attributes
        if self.kind == "one":
            return ("one", first)
        if self.kind == "count":
            return ("count", len(self.objects), first)
        assert self.relation is not None
        return _relation_meaning(first, self.relation, self.objects[1].attributes)


@dataclass(frozen=True)
class CaptionData:
    """Images and their references: what a captioner trains and is evaluated on."""

    images: np.ndarray  # (N, H, W, 3) uint8
    captions: list[list[str]]  # N lists of one or more references
    names: list[str]  # N image names (file names, or "scene-17")
    name: str = ""  # where the data came from ("scenes", the captions file)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(
                f"expected images of shape (N, H, W, 3) uint8, got {self.images.shape} "
                f"{self.images.dtype}"
            )
        n = self.images.shape[0]
        if len(self.captions) != n or len(self.names) != n:
            raise ValueError(
                f"{n} images but {len(self.captions)} caption lists, {len(self.names)} names"
            )
        if any(not refs for refs in self.captions):
            raise ValueError("every image needs at least one caption")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, rows: Sequence[int]) -> CaptionData:
        """The examples ``rows``, in that order."""
        index = list(rows)
        return CaptionData(
            self.images[index],
            [self.captions[i] for i in index],
            [self.names[i] for i in index],
            self.name,
        )


# -- captions ------------------------------------------------------------------------------


def caption_tokens(text: str) -> list[str]:
    """The lowercased words and punctuation marks of a caption.

    >>> caption_tokens("A dog runs, fast.")
    ['a', 'dog', 'runs', ',', 'fast', '.']
    """
    return _TOKEN_RE.findall(text.lower())


def _relation_meaning(a: tuple[str, ...], relation: str, b: tuple[str, ...]) -> tuple[object, ...]:
    """ "A below B" is "B above A": the meaning keeps only above and to the left of."""
    if relation in ("below", "to the right of"):
        a, b, relation = b, a, RELATIONS[relation]
    return ("two", a, relation, b)


def _noun_phrase(words: list[str]) -> tuple[str, str, str] | None:
    if len(words) != 4 or words[0] != "a":
        return None
    size, colour, shape = words[1:]
    if size not in SIZES or colour not in COLOURS or shape not in SHAPES:
        return None
    return (size, colour, shape)


def caption_meaning(caption: str) -> tuple[object, ...] | None:
    """What a scene caption claims, or None when it is not a well-formed scene caption.

    ``("one", (size, colour, shape))``, ``("count", n, (size, colour, shape))`` or
    ``("two", A, "above" | "to the left of", B)``; "B below A" reads as "A above B".

    >>> caption_meaning("there is a small red circle below a large blue square")
    ('two', ('large', 'blue', 'square'), 'above', ('small', 'red', 'circle'))
    """
    words = caption_tokens(caption)
    if words[:2] in (["there", "is"], ["there", "are"]):
        words = words[2:]
    if words[-3:] == ["in", "the", "picture"]:
        words = words[:-3]
    text = " ".join(words)
    for relation in RELATIONS:
        left, sep, right = text.partition(f" {relation} ")
        if sep:
            a, b = _noun_phrase(left.split()), _noun_phrase(right.split())
            return None if a is None or b is None else _relation_meaning(a, relation, b)
    numbers = {v: k for k, v in NUMBERS.items()}
    if len(words) == 4 and words[0] in numbers and words[3].endswith("s"):
        thing = _noun_phrase(["a", words[1], words[2], words[3][:-1]])
        return None if thing is None else ("count", numbers[words[0]], thing)
    thing = _noun_phrase(words)
    return None if thing is None else ("one", thing)


def _captions(kind: Kind, objects: Sequence[SceneObject], relation: str | None) -> tuple[str, ...]:
    first = objects[0]
    if kind == "one":
        return (first.phrase, f"there is {first.phrase}", f"{first.phrase} in the picture")
    if kind == "count":
        plural = f"{NUMBERS[len(objects)]} {first.size} {first.colour} {first.shape}s"
        return (plural, f"there are {plural}", f"{plural} in the picture")
    if relation is None:
        raise ValueError(f"a {kind!r} scene of two objects needs a relation")
    a, b = first.phrase, objects[1].phrase
    return (f"{a} {relation} {b}", f"{b} {RELATIONS[relation]} {a}", f"there is {a} {relation} {b}")


# -- rendering -----------------------------------------------------------------------------


def _mask(obj: SceneObject, side: int) -> np.ndarray:
    """The pixels of one shape.  -> (side, side) bool"""
    r = SIZES[obj.size] * side  # half-width in pixels
    yy, xx = np.mgrid[0:side, 0:side]  # (side, side) each
    dx, dy = xx - obj.x, yy - obj.y
    if obj.shape == "circle":
        return dx**2 + dy**2 <= r**2
    if obj.shape == "square":
        return (np.abs(dx) <= r) & (np.abs(dy) <= r)
    # an upward triangle: apex at the top, base at the bottom, half-width grows with the row
    return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)


def render_scene(objects: Sequence[SceneObject], side: int, rng: np.random.Generator) -> np.ndarray:
    """Draw the objects on the dark background, then add the noise.  -> (side, side, 3) uint8"""
    image = np.empty((side, side, 3), dtype=np.int16)  # (H, W, 3)
    image[...] = BACKGROUND
    for obj in objects:
        image[_mask(obj, side)] = COLOURS[obj.colour]
    image += rng.integers(-NOISE, NOISE + 1, size=image.shape, dtype=np.int16)
    return np.clip(image, 0, 255).astype(np.uint8)


def _place(
    rng: np.random.Generator, side: int, size: str, box: tuple[int, int, int, int]
) -> tuple[int, int]:
    """A centre (x, y) that keeps a shape of ``size`` inside ``box`` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    return _coordinate(rng, side, size, x0, x1), _coordinate(rng, side, size, y0, y1)


def _coordinate(rng: np.random.Generator, side: int, size: str, lo: int, hi: int) -> int:
    """A centre coordinate in [lo, hi) that keeps a shape of ``size`` inside it."""
    r = int(np.ceil(SIZES[size] * side))
    return int(rng.integers(lo + r, max(lo + r, hi - r - 1) + 1))


def _attrs(
    rng: np.random.Generator, colours: Sequence[str] = tuple(COLOURS)
) -> tuple[str, str, str]:
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    colour = colours[int(rng.integers(len(colours)))]
    size = tuple(SIZES)[int(rng.integers(len(SIZES)))]
    return shape, colour, size


def _objects(
    kind: Kind, rng: np.random.Generator, side: int
) -> tuple[list[SceneObject], str | None]:
    half = side // 2
    if kind == "one":
        shape, colour, size = _attrs(rng)
        return [
            SceneObject(shape, colour, size, *_place(rng, side, size, (0, 0, side, side)))
        ], None
    if kind == "count":
        shape, colour, size = _attrs(rng)
        n = int(rng.integers(2, 4))
        cells = rng.permutation(4)[:n]
        boxes = [
            ((c % 2) * half, (c // 2) * half, (c % 2 + 1) * half, (c // 2 + 1) * half)
            for c in cells
        ]
        return [SceneObject(shape, colour, size, *_place(rng, side, size, b)) for b in boxes], None
    relation = tuple(RELATIONS)[int(rng.integers(len(RELATIONS)))]
    a = _attrs(rng)
    b = _attrs(rng, [c for c in COLOURS if c != a[1]])
    # A in one half, B in the other, both near one line across the halves, so that "above"
    # never also reads as "to the left of"
    halves = [(0, half), (half, side)]
    if relation in ("below", "to the right of"):
        halves.reverse()
    along = [_coordinate(rng, side, t[2], *h) for t, h in zip((a, b), halves, strict=True)]
    line = _coordinate(rng, side, "large", 0, side)
    r = int(np.ceil(SIZES["large"] * side))
    across = [int(np.clip(line + rng.integers(-2, 3), r, side - r - 1)) for _ in range(2)]
    vertical = relation in ("above", "below")
    xy = [(c, w) if vertical else (w, c) for c, w in zip(across, along, strict=True)]
    return [SceneObject(*a, *xy[0]), SceneObject(*b, *xy[1])], relation


def make_scenes(
    n: int, seed: int = 0, *, side: int = 32, kinds: Sequence[Kind] = KINDS
) -> list[Scene]:
    """``n`` scenes drawn from ``seed`` (the same seed, the same scenes), each of a kind
    drawn uniformly from ``kinds``; images ``side`` × ``side`` pixels."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if side < 16:
        raise ValueError(f"side must be >= 16 pixels, got {side}")
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds must be among {KINDS}, got {tuple(kinds)}")
    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(n):
        kind = kinds[int(rng.integers(len(kinds)))]
        objects, relation = _objects(kind, rng, side)
        image = render_scene(objects, side, rng)
        scenes.append(
            Scene(kind, tuple(objects), relation, image, _captions(kind, objects, relation))
        )
    return scenes


def scenes_data(scenes: Sequence[Scene], name: str = "scenes", start: int = 0) -> CaptionData:
    """Scenes as :class:`CaptionData` (named ``scene-<start+i>``)."""
    if not scenes:
        raise ValueError("no scenes")
    images = np.stack([s.image for s in scenes])  # (N, H, W, 3)
    names = [f"scene-{start + i}" for i in range(len(scenes))]
    return CaptionData(images, [list(s.captions) for s in scenes], names, name)


def scene_split(
    split: Literal["train", "valid", "test"], n: int | None = None, *, seed: int = 0, side: int = 32
) -> CaptionData:
    """A split of the scene dataset: ``"test"`` is the fixed held-out set (1,000 scenes from
    :data:`TEST_SEED`), ``"valid"`` the fixed validation set (500 from :data:`VALID_SEED`),
    ``"train"`` ``n`` scenes (default 20,000) from ``seed``."""
    defaults = {"train": 20_000, "valid": 500, "test": 1_000}
    seeds = {"train": seed, "valid": VALID_SEED, "test": TEST_SEED}
    if split not in defaults:
        raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
    if split == "train" and seed in (VALID_SEED, TEST_SEED):
        raise ValueError(f"seed {seed} draws the held-out scenes: choose another")
    count = defaults[split] if n is None else n
    return scenes_data(make_scenes(count, seeds[split], side=side), f"scenes-{split}")


# -- a folder of images --------------------------------------------------------------------


def read_captions(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """``image -> captions`` from a file of ``image<TAB>caption`` lines (Flickr8k's layout:
    a ``#N`` after the image name is dropped); blank lines and lines starting with ``#`` are
    skipped. One-line :class:`DataError` naming the file and line for a line without a tab,
    an empty name or caption, a file that is not UTF-8 or holds no caption."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(
            file, "no such captions file", hint="give an image<TAB>caption file"
        ) from None
    except IsADirectoryError:
        raise DataError(file, "is a folder, not a captions file", hint="give a file") from None
    except UnicodeDecodeError as exc:
        line = text_line(file.read_bytes(), exc.start)
        raise DataError(file, "not UTF-8 text", hint="save the file as UTF-8", line=line) from None
    out: dict[str, list[str]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, tab, caption = raw.partition("\t")
        hint = "each line is image<TAB>caption"
        if not tab:
            raise DataError(
                file, "no tab between the image and its caption", hint=hint, line=number
            )
        name, caption = name.strip().split("#")[0].strip(), caption.strip()
        if not name:
            raise DataError(file, "empty image name", hint=hint, line=number)
        if not caption_tokens(caption):
            raise DataError(file, f"empty caption for {name}", hint=hint, line=number)
        out.setdefault(name, []).append(caption)
    if not out:
        raise DataError(file, "no caption", hint="each line is image<TAB>caption")
    return out


def text_line(data: bytes, offset: int) -> int:
    """The 1-based line of byte ``offset``."""
    return data.count(b"\n", 0, offset) + 1


def load_image(path: str | os.PathLike[str], side: int) -> np.ndarray:
    """An image file as RGB, resized to ``side`` × ``side``; one-line :class:`DataError` when
    it is missing or not an image.  -> (side, side, 3) uint8"""
    from PIL import Image, UnidentifiedImageError

    file = Path(path)
    try:
        with Image.open(file) as img:
            rgb = img.convert("RGB")
            if rgb.size != (side, side):
                rgb = rgb.resize((side, side), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8).copy()  # (side, side, 3)
    except FileNotFoundError:
        raise DataError(file, "no such image", hint="check the path") from None
    except IsADirectoryError:
        raise DataError(file, "is a folder, not an image", hint="give an image file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DataError(
            file, f"not a readable image ({type(exc).__name__})", hint="give a PNG or JPEG"
        ) from None


def read_image_folder(
    images: str | os.PathLike[str], captions: str | os.PathLike[str], *, side: int = 64
) -> CaptionData:
    """The images of folder ``images`` named in the ``captions`` file, with their captions.

    An image the file names but the folder lacks is a one-line :class:`DataError` naming the
    captions file and the image's first line.
    """
    folder, file = Path(images), Path(captions)
    if not folder.is_dir():
        raise DataError(
            folder, "no such folder of images", hint="give the folder the captions name"
        )
    table = read_captions(file)
    lines = _first_lines(file)
    arrays = []
    for name in table:
        if not (folder / name).is_file():
            raise DataError(
                file,
                f"no image {name} in {folder}",
                hint="fix the name or add the image",
                line=lines.get(name),
            )
        arrays.append(load_image(folder / name, side))
    return CaptionData(np.stack(arrays), list(table.values()), list(table), str(file))


def _first_lines(file: Path) -> dict[str, int]:
    """The line where each image is first named (for error messages)."""
    out: dict[str, int] = {}
    for number, raw in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        name = raw.partition("\t")[0].strip().split("#")[0].strip()
        out.setdefault(name, number)
    return out


def write_image_folder(data: CaptionData, out: str | os.PathLike[str]) -> Path:
    """Write ``data`` as a folder of PNGs and its ``captions.tsv`` (atomic writes); returns
    the captions file, which :func:`read_image_folder` reads back."""
    import io

    from PIL import Image

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, image, refs in zip(data.names, data.images, data.captions, strict=True):
        file = name if name.lower().endswith((".png", ".jpg", ".jpeg")) else f"{name}.png"
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        atomic_write_bytes(folder / file, buffer.getvalue())
        lines += [f"{file}\t{ref}" for ref in refs]
    return atomic_write_text(folder / "captions.tsv", "\n".join(lines) + "\n")
