"""Every file reader, fed random bytes, truncations, flipped bytes and other encodings: the
result is a correct parse or a one-line DataError naming the file, never another exception.

Each reader starts from a valid file it must parse, and hypothesis mutates it: cut it short,
overwrite bytes, splice in invalid UTF-8 or Latin-1 text, or replace it with random bytes.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqlab
from seqlab._io import DataError
from seqlab.data import Vocab, read_lines, read_text
from seqlab.data.conll import read_conll
from seqlab.data.datasets import TextCorpus
from seqlab.data.labelled import read_emojify, read_labelled, read_sequences
from seqlab.data.parallel import read_pairs, read_parallel
from seqlab.embeddings import KeyedVectors
from seqlab.models.rnn_lm import LMConfig
from seqlab.tasks import LanguageModel, LMTaskConfig
from seqlab.train.checkpoint import load_checkpoint, save_checkpoint

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run: CI never sees a new one by chance
)


@st.composite
def mutations(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` cut, overwritten, spliced with other encodings, or replaced by noise."""
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "latin1", "noise", "same"]))
    if kind == "truncate":
        return valid[: draw(st.integers(0, max(len(valid) - 1, 0)))]
    if kind == "flip":
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 8))):
            if data:
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "splice":
        at = draw(st.integers(0, len(valid)))
        junk = draw(st.sampled_from([b"\xff\xfe", b"\xc3", b"\x00", b"\n\n\t", b"\xe2\x80"]))
        return valid[:at] + junk + valid[at:]
    if kind == "latin1":
        text = draw(st.text(alphabet="éàüßçñ abc\n\t", min_size=1, max_size=40))
        return valid + text.encode("latin-1")
    if kind == "noise":
        return draw(st.binary(max_size=200))
    return valid


def check(read: Callable[[Path], Any], path: Path, data: bytes, *others: Path) -> Any:
    """Read ``data`` from ``path``: a result, or a one-line DataError naming the file (or
    one of ``others`` that the reader reads with it)."""
    path.write_bytes(data)
    try:
        return read(path)
    except DataError as err:
        message = str(err)
        assert "\n" not in message, message
        assert str(err.path) in {str(p) for p in (path, *others)}, message
        return None


TEXT = "first line\nsecond line, with ünïcode\nthird\n".encode()


@given(data=mutations(TEXT))
@SETTINGS
def test_text_readers(tmp_path: Path, data: bytes) -> None:
    file = tmp_path / "corpus.txt"
    text = check(read_text, file, data)
    if text is not None:
        assert text == data.decode("utf-8").replace("\r\n", "\n") or isinstance(text, str)
    check(read_lines, file, data)
    check(lambda p: TextCorpus.from_file(p, valid_fraction=0.3), file, data)


def _vocab_bytes() -> bytes:
    import tempfile

    vocab = Vocab.build([list("hello world")], level="char", specials=("<UNK>", "<EOS>"))
    with tempfile.TemporaryDirectory() as d:
        vocab.save(Path(d) / "v.json")
        return (Path(d) / "v.json").read_bytes()


@given(data=mutations(_vocab_bytes()))
@SETTINGS
def test_vocabulary_reader(tmp_path: Path, data: bytes) -> None:
    vocab = check(Vocab.load, tmp_path / "vocab.json", data)
    if vocab is not None:
        assert len(vocab) >= 1 and all(vocab.token(i) in vocab for i in range(len(vocab)))


CONLL = "-DOCSTART- -X- O\n\nJosé NNP B-PER\nsang VBD O\n\nin IN O\nOslo NNP B-LOC\n".encode()


@given(data=mutations(CONLL))
@SETTINGS
def test_conll_reader(tmp_path: Path, data: bytes) -> None:
    for scheme in (None, "iob1", "iobes"):
        sentences = check(lambda p, s=scheme: read_conll(p, scheme=s), tmp_path / "ner.conll", data)
        if sentences is not None:
            assert sentences and all(len(s.tokens) == len(s.tags) >= 1 for s in sentences)


PAIRS = b"Go.\tVa !\tCC-BY\nRun!\tCours !\nI see.\tJe comprends.\n"


@given(data=mutations(PAIRS), other=mutations(b"Va !\nCours !\nJe comprends.\n"))
@SETTINGS
def test_parallel_readers(tmp_path: Path, data: bytes, other: bytes) -> None:
    pairs = check(read_pairs, tmp_path / "pairs.tsv", data)
    if pairs is not None:
        assert all(s and t for s, t in pairs)
    (tmp_path / "tgt.txt").write_bytes(other)
    tgt = tmp_path / "tgt.txt"
    check(lambda p: read_parallel(p, tgt), tmp_path / "src.txt", data, tgt)


LABELLED = {
    "imdb.csv": b'id,label,text\n1,pos,"Good, ""really"" good"\n2,neg,"Bad\nvery bad"\n',
    "imdb.csv.gz": gzip.compress(b'id,label,text\n1,pos,"Good, really"\n2,neg,Bad\n'),
    "emoji.csv": b'"I want food\t",4,,\r\nlove you,0,, [2]\r\n',
    "sst2.tsv": b"label\tsentence\n0\tdull .\n1\tfine .\n",
    "uci.txt": b"Slow movie.  \t0\nLoved it.\t1\n",
}


@pytest.mark.parametrize("name", sorted(LABELLED))
def test_labelled_text_readers(tmp_path: Path, name: str) -> None:
    @given(data=mutations(LABELLED[name]))
    @SETTINGS
    def run(data: bytes) -> None:
        examples = check(read_labelled, tmp_path / name, data)
        if examples is not None:
            assert examples and all(e.text and e.label and e.line >= 1 for e in examples)

    run()


@given(data=mutations(b"never talk to me,3,,\r\nfood is life,4,, [0]\r\n"))
@SETTINGS
def test_emojify_reader(tmp_path: Path, data: bytes) -> None:
    test = tmp_path / "test_emoji.csv"
    test.write_bytes(b'"I want to eat\t",4\r\n')
    sets = check(lambda p: read_emojify(p.parent), tmp_path / "train_emoji.csv", data, test)
    if sets is not None:
        assert all(e.label in "01234" for e in sets[0])


def _npz(per_item: bool) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    if per_item:
        np.savez(buffer, x_0=np.ones((3, 2)), x_1=np.zeros((1, 2)), labels=np.array(["a", "b"]))
    else:
        np.savez_compressed(buffer, features=np.ones((2, 3, 2)), labels=np.array([0, 1]))
    return buffer.getvalue()


SEQUENCES = {
    "long.csv": b"item,t,ax,ay,label\nw1,0,0.5,1,walk\nw1,1,0.2,-1,walk\nr7,0,2,3,run\n",
    "items.npz": _npz(per_item=True),
    "stacked.npz": _npz(per_item=False),
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_sequence_readers(tmp_path: Path, name: str) -> None:
    @given(data=mutations(SEQUENCES[name]))
    @SETTINGS
    def run(data: bytes) -> None:
        examples = check(read_sequences, tmp_path / name, data)
        if examples is not None:
            assert all(e.features.ndim == 2 and e.features.size and e.label for e in examples)

    run()


def _vectors(binary: bool) -> bytes:
    import numpy as np

    kv = KeyedVectors(["king", "queen", "man"], np.arange(12, dtype=np.float32).reshape(3, 4))
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "v.bin"
        kv.save(path, format="word2vec-binary" if binary else "word2vec")
        return path.read_bytes()


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_word_vector_readers(tmp_path: Path, binary: bool) -> None:
    @given(data=mutations(_vectors(binary)))
    @SETTINGS
    def run(data: bytes) -> None:
        kv = check(KeyedVectors.load, tmp_path / "vectors.bin", data)
        if kv is not None:
            assert len(kv) >= 1

    run()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    vocab = Vocab.build([list("abc")], level="char", specials=("<UNK>", "<EOS>"))
    config = LMTaskConfig(
        level="char", unit="line", model=LMConfig(vocab_size=len(vocab), hidden_size=4)
    )
    lm = LanguageModel(LanguageModel.build_model(config), vocab, config)  # type: ignore[arg-type]
    return lm.save(tmp_path_factory.mktemp("lm") / "model")


def _folder_with(original: Path, copy: Path, name: str, data: bytes) -> Path:
    """A fresh copy of the folder ``original`` at ``copy`` whose file ``name`` holds ``data``."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(original, copy)
    (copy / name).write_bytes(data)
    return copy


def _loads_or_names(load: Callable[[Path], Any], folder: Path) -> Any:
    """``load(folder)``, or None after a one-line DataError naming a file in ``folder``."""
    try:
        return load(folder)
    except DataError as err:
        assert "\n" not in str(err) and str(folder) in str(err), str(err)
        return None


@pytest.mark.parametrize("name", ["config.json", "vocab.json", "model.safetensors"])
def test_model_directory_reader(model_dir: Path, tmp_path: Path, name: str) -> None:
    @given(data=mutations((model_dir / name).read_bytes()))
    @SETTINGS
    def run(data: bytes) -> None:
        copy = _folder_with(model_dir, tmp_path / "copy", name, data)
        for load in (LanguageModel.load, seqlab.load):
            _loads_or_names(load, copy)

    run()


@pytest.mark.parametrize("name", ["model.safetensors", "trainer.pt"])
def test_checkpoint_reader(tmp_path: Path, name: str) -> None:
    model = torch.nn.Linear(3, 2)
    saved = save_checkpoint(tmp_path / "ckpt", model, {"step": 3, "rng": torch.arange(4)})

    @given(data=mutations((saved / name).read_bytes()))
    @SETTINGS
    def run(data: bytes) -> None:
        copy = _folder_with(saved, tmp_path / "copy", name, data)
        state = _loads_or_names(lambda p: load_checkpoint(p, torch.nn.Linear(3, 2)), copy)
        assert state is None or isinstance(state, dict)

    run()


CAPTIONS = "a.png#0\ta small red circle\na.png#1\tthere is a small red circle\nb.png\tün chat\n"


@given(data=mutations(CAPTIONS.encode()))
@SETTINGS
def test_captions_reader(tmp_path: Path, data: bytes) -> None:
    from seqlab.data.scenes import read_captions

    table = check(read_captions, tmp_path / "captions.tsv", data)
    if table is not None:
        assert table and all(name and refs and all(refs) for name, refs in table.items())


def _png() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@given(data=mutations(_png()))
@SETTINGS
def test_image_reader(tmp_path: Path, data: bytes) -> None:
    from seqlab.data.scenes import load_image

    image = check(lambda p: load_image(p, 16), tmp_path / "a.png", data)
    if image is not None:
        assert image.shape == (16, 16, 3)


def _midi() -> bytes:
    import tempfile

    from seqlab.music import Note, Song, write_midi

    notes = [Note(start=0, end=4, pitch=p) for p in (60, 64, 67)] + [Note(start=6, end=8, pitch=72)]
    with tempfile.TemporaryDirectory() as d:
        return write_midi(Song(tuple(notes)), Path(d) / "s.mid").read_bytes()


@given(data=mutations(_midi()))
@SETTINGS
def test_midi_reader(tmp_path: Path, data: bytes) -> None:
    from seqlab.music import read_midi

    song = check(read_midi, tmp_path / "song.mid", data)
    if song is not None:
        assert song.notes and all(0 <= n.pitch <= 127 and n.start < n.end for n in song.notes)
