"""Labelled data: text readers (CSV, TSV, tab lines; the course's Emojify, IMDB, SST-2 and UCI
layouts, written here with made-up rows), sequence readers (.npz, long CSV), the generated
sets (DNA motifs, activity signals) and their errors.

The generated sets are checked for what makes them worth learning: a DNA motif that a bag of
characters cannot find but a 6-gram check finds every time, and activity signals that the
mean of each channel does not separate but their spectrum does.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqlab._io import DataError
from seqlab.data import (
    EMOJI,
    Example,
    SequenceExample,
    activity,
    dna_motif,
    read_emojify,
    read_labelled,
    read_sequences,
    write_sequences_npz,
)

# The course's Emojify layout, byte for byte: no header, `sentence,label,,` (extra empty
# columns), a ` [n]` note in the 4th column, CRLF line ends; test files quote the sentence
# with a tab inside. The sentences are made up.
EMOJIFY_TRAIN = (
    b"we had a lovely dinner,4,,\r\n"
    b"I love my cat,0,, [3]\r\n"
    b"the game starts soon,1,,\r\n"
    b"that was so funny,2,, [0]\r\n"
    b"I lost my keys,3,,\r\n"
)
EMOJIFY_TEST = b'"pasta for lunch\t",4\r\n"she is my friend\t",0\r\n"he kicked the ball\t",1\r\n'


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def pairs(examples: list[Example]) -> list[tuple[str, str]]:
    return [(e.text, e.label) for e in examples]


# -- text readers ------------------------------------------------------------------------------
def test_the_course_emojify_layout_reads_with_the_defaults(tmp_path: Path) -> None:
    train = read_labelled(write(tmp_path / "train_emoji.csv", EMOJIFY_TRAIN))
    assert pairs(train) == [
        ("we had a lovely dinner", "4"),
        ("I love my cat", "0"),
        ("the game starts soon", "1"),
        ("that was so funny", "2"),
        ("I lost my keys", "3"),
    ]
    assert [e.line for e in train] == [1, 2, 3, 4, 5]
    test = read_labelled(write(tmp_path / "test_emoji.csv", EMOJIFY_TEST))
    assert pairs(test)[0] == ("pasta for lunch", "4")  # the tab inside the quotes is stripped


def test_read_emojify_reads_both_files_and_names_a_missing_one(tmp_path: Path) -> None:
    write(tmp_path / "train_emoji.csv", EMOJIFY_TRAIN)
    with pytest.raises(DataError, match=r"test_emoji\.csv: no such file — .*Emojify assignment"):
        read_emojify(tmp_path)
    write(tmp_path / "test_emoji.csv", EMOJIFY_TEST)
    train, test = read_emojify(tmp_path)
    assert len(train) == 5 and len(test) == 3
    assert {e.label for e in train} == set(EMOJI) == {"0", "1", "2", "3", "4"}
    write(tmp_path / "test_emoji.csv", b"odd one,7,,\r\n")
    with pytest.raises(DataError, match=r"test_emoji\.csv:1: unknown label '7'"):
        read_emojify(tmp_path)


def test_imdb_layout_gzip_header_quotes_and_line_breaks(tmp_path: Path) -> None:
    text = (
        "id,rating,label,text\n"
        '0,3,0,"Dull, long, and ""clever"" only in name.<br /><br />Skip it."\n'
        '7,9,1,"Lovely.\nA second paragraph,\r\nwith commas."\n'
        "8,10,1,Plain text without quotes\n"
    )
    path = tmp_path / "train.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    got = read_labelled(path)
    assert pairs(got) == [
        ('Dull, long, and "clever" only in name.<br /><br />Skip it.', "0"),
        ("Lovely.\nA second paragraph,\nwith commas.", "1"),
        ("Plain text without quotes", "1"),
    ]
    assert [e.line for e in got] == [2, 3, 6]  # where each record starts
    by_index = read_labelled(path, text_column=3, label_column=1, header=True)
    assert [e.label for e in by_index] == ["3", "9", "10"]
    with pytest.raises(
        DataError, match=r"column 'review' is not in the header \(id, rating, label"
    ):
        read_labelled(path, text_column="review")


@pytest.mark.parametrize("name", ["sentence", "content"])
def test_sst2_layout_label_first_with_a_header(tmp_path: Path, name: str) -> None:
    path = tmp_path / "dev.tsv.gz"
    body = f"label\t{name}\n0\tno movement , no yuks .\n1\ta gem of a film .\n"
    path.write_bytes(gzip.compress(body.encode()))
    assert pairs(read_labelled(path)) == [
        ("no movement , no yuks .", "0"),
        ("a gem of a film .", "1"),
    ]


def test_plain_tab_lines_auto_detect_the_label_side(tmp_path: Path) -> None:
    uci = "A very slow movie, aimless.  \t0\nGreat acting\tand a tab.\t1\n\nNot good at all\t0\n"
    got = read_labelled(write(tmp_path / "imdb_labelled.txt", uci))
    assert pairs(got) == [
        ("A very slow movie, aimless.", "0"),
        ("Great acting\tand a tab.", "1"),  # text-tab splits at the last tab
        ("Not good at all", "0"),
    ]
    assert [e.line for e in got] == [1, 2, 4]
    flipped = "pos\tlovely film\tindeed\nneg\tawful film\n"
    got = read_labelled(write(tmp_path / "flipped.txt", flipped))
    assert pairs(got) == [("lovely film\tindeed", "pos"), ("awful film", "neg")]
    words = write(tmp_path / "words.txt", "apple\tfruit\ncarrot\tvegetable\n")
    with pytest.raises(DataError, match=r"both sides look like labels.*format='label-tab'"):
        read_labelled(words)
    assert pairs(read_labelled(words, format="text-tab")) == [
        ("apple", "fruit"),
        ("carrot", "vegetable"),
    ]
    assert pairs(read_labelled(words, format="label-tab"))[0] == ("fruit", "apple")


def test_headless_tsv_is_sniffed_and_csv_columns_can_be_chosen(tmp_path: Path) -> None:
    tsv = write(tmp_path / "x.tsv", "it was great\t1\nit was bad\t0\n")
    assert pairs(read_labelled(tsv)) == [("it was great", "1"), ("it was bad", "0")]
    csv_path = write(tmp_path / "x.csv", "1,it was great\n0,it was bad\n")
    assert pairs(read_labelled(csv_path, text_column=1)) == [
        ("it was great", "1"),
        ("it was bad", "0"),
    ]
    assert pairs(read_labelled(csv_path, text_column=1, label_column=0)) == pairs(
        read_labelled(csv_path, label_column=0)
    )
    with pytest.raises(DataError, match="names a column, but the file has no header"):
        read_labelled(csv_path, text_column="text", header=False)
    with pytest.raises(ValueError, match="both read from column 1"):
        read_labelled(csv_path, text_column=1, label_column=1)
    with pytest.raises(ValueError, match="0-based index"):
        read_labelled(csv_path, text_column=-1)


@pytest.mark.parametrize(
    ("name", "data", "kwargs", "message"),
    [
        ("a.csv", "hello,pos\n  ,neg\n", {}, r"a\.csv:2: empty text"),
        ("a.csv", "hello,pos\nbye,\n", {}, r"a\.csv:2: missing label"),
        (
            "a.csv",
            "hello,pos\nbye,meh\n",
            {"labels": ["pos", "neg"]},
            r"a\.csv:2: unknown label 'meh' — the known labels are neg, pos",
        ),
        ("a.csv", b"hello,pos\nbye \xe9,neg\n", {}, r"a\.csv:2: not valid UTF-8"),
        ("a.csv", "\n\n", {}, r"a\.csv: no examples in it"),
        ("a.csv", "text,label\n", {}, r"a\.csv: no examples in it"),
        (
            "a.csv",
            "hello,pos\nlonely\n",
            {},
            r"a\.csv:2: the row has 1 column\(s\), expected at least 2",
        ),
        ("a.csv", 'ok,pos\n"open quote,neg\nmore,pos\n', {}, r"a\.csv:2: malformed CSV record"),
        ("a.csv", "id,text\n1,hi\n", {}, r"a\.csv:1: no label column in the header \(id, text\)"),
        ("a.txt", "pos\tfine\nno tab here\n", {}, r"a\.txt:2: no tab in the line"),
        ("a.json", "{}", {}, r"a\.json: cannot tell the format from the extension '\.json'"),
        ("missing.csv", None, {}, r"missing\.csv: no such file"),
    ],
)
def test_text_reader_errors_name_file_and_line(
    tmp_path: Path, name: str, data: str | bytes | None, kwargs: dict, message: str
) -> None:
    path = tmp_path / name
    if data is not None:
        write(path, data)
    with pytest.raises(DataError, match=message) as err:
        read_labelled(path, **kwargs)
    assert "\n" not in str(err.value)


def test_labelled_modules_do_not_import_torch() -> None:
    code = (
        "import sys\nimport seqlab.data.labelled, seqlab.data.synthetic, "
        "seqlab.metrics.classification\nprint('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- sequence readers -------------------------------------------------------------------------
def same(a: list[SequenceExample], b: list[SequenceExample]) -> None:
    assert [(e.label, e.item) for e in a] == [(e.label, e.item) for e in b]
    for x, y in zip(a, b, strict=True):
        assert x.features.dtype == np.float32
        np.testing.assert_array_equal(x.features, y.features)


@pytest.mark.parametrize("ragged", [False, True], ids=["stacked", "per-item"])
def test_npz_round_trip(tmp_path: Path, ragged: bool) -> None:
    rng = np.random.default_rng(0)
    lengths = [5, 3, 7] if ragged else [4, 4, 4]
    examples = [
        SequenceExample(rng.normal(size=(t, 2)).astype(np.float32), label, 0, f"s{i}")
        for i, (t, label) in enumerate(zip(lengths, ["a", "b", "a"], strict=True))
    ]
    path = write_sequences_npz(tmp_path / "seq.npz", examples)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq.npz"]  # no temporary file left
    with np.load(path) as z:
        assert ("features" in z.files) != ragged and ("x_2" in z.files) == ragged
    same(read_sequences(path), examples)


def test_npz_with_integer_labels_and_no_items(tmp_path: Path) -> None:
    x = np.arange(24, dtype=np.float64).reshape(2, 4, 3)
    np.savez(tmp_path / "d.npz", features=x, labels=np.array([3, 1]))
    got = read_sequences(tmp_path / "d.npz")
    assert [(e.label, e.item, e.features.shape) for e in got] == [
        ("3", "features[0]", (4, 3)),
        ("1", "features[1]", (4, 3)),
    ]
    np.testing.assert_array_equal(got[1].features, x[1])


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"features": np.zeros((2, 3, 1))}, r"no `labels` array \(arrays: features\)"),
        (
            {"x_0": np.zeros((3, 2)), "x_1": np.zeros((4, 3)), "labels": np.array(["a", "b"])},
            r"`x_1` has 3 features per step, the first sequence has 2",
        ),
        (
            {"features": np.zeros((2, 3, 1)), "labels": np.array(["a"])},
            r"`labels` has shape \(1,\), expected \(2,\)",
        ),
        (
            {"features": np.array([[[0.0], [np.nan]]]), "labels": np.array(["a"])},
            r"`features\[0\]` holds NaN or infinite values \(step 1\)",
        ),
        (
            {"x_0": np.zeros((3, 2)), "x_2": np.zeros((3, 2)), "labels": np.array(["a", "b"])},
            r"skip x_1",
        ),
        (
            {"features": np.zeros((2, 3, 1)), "labels": np.array(["a", "b"]), "extra": np.zeros(2)},
            r"unexpected array\(s\) extra",
        ),
        ({"features": np.zeros((2, 3)), "labels": np.array(["a", "b"])}, r"expected \(N, T, F\)"),
        (
            {"features": np.zeros((1, 3, 1)), "labels": np.array([0.5])},
            r"expected strings or integers",
        ),
        (
            {"features": np.zeros((1, 3, 1)), "labels": np.array(["a"], dtype=object)},
            r"object array \(a pickle\)",
        ),
    ],
)
def test_npz_errors(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message) as err:
        read_sequences(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


LONG = (
    "item,t,ax,ay,label\n"
    "walk-1,0,0.5,1.0,walking\n"
    "walk-1,1,0.25,-1.5e-1,walking\n"
    "run-7,0,2,3,running\n"
)


def test_long_csv_reads_one_sequence_per_item(tmp_path: Path) -> None:
    got = read_sequences(write(tmp_path / "s.csv", LONG))
    assert [(e.item, e.label, e.line) for e in got] == [
        ("walk-1", "walking", 2),
        ("run-7", "running", 4),
    ]
    np.testing.assert_array_equal(
        got[0].features, np.array([[0.5, 1.0], [0.25, -0.15]], np.float32)
    )
    no_time = "label,item,f\nx,a,1\nx,a,2\n"  # any column order; t is optional
    (only,) = read_sequences(write(tmp_path / "n.csv", no_time))
    assert only.features.shape == (2, 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (LONG.replace("0.25", "abc"), r"s\.csv:3: column 'ax': 'abc' is not a number"),
        (LONG.replace("0.25", "nan"), r"s\.csv:3: column 'ax': nan is not finite"),
        (LONG.replace("walk-1,1,", "walk-1,0,"), r"s\.csv:3: time 0 does not increase"),
        (
            LONG + "walk-1,5,1,1,walking\n",
            r"s\.csv:5: the rows of item 'walk-1' are not consecutive",
        ),
        (
            LONG.replace("-1.5e-1,walking", "-1.5e-1,running"),
            r"s\.csv:3: item 'walk-1' changes its label",
        ),
        ("item,t,label\na,0,x\n", r"s\.csv:1: no feature column"),
        ("t,f,label\n0,1,x\n", r"s\.csv:1: no column 'item' in the header \(t, f, label\)"),
        (LONG.replace("run-7,0,2,3", "run-7,0,2"), r"s\.csv:4: the row has 4 cells, the header 5"),
        ("item,t,f,label\n", r"s\.csv: no sequences in it"),
    ],
)
def test_long_csv_errors(tmp_path: Path, data: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_sequences(write(tmp_path / "s.csv", data))


# -- generated sets -----------------------------------------------------------------------------
def test_dna_motif_is_seeded_balanced_and_clean() -> None:
    data = dna_motif(201, seed=3, length=(20, 40))
    assert pairs(data) == pairs(dna_motif(201, seed=3, length=(20, 40)))
    assert pairs(data) != pairs(dna_motif(201, seed=4, length=(20, 40)))
    labels = [e.label for e in data]
    assert abs(labels.count("motif") - labels.count("none")) <= 1
    assert all(set(e.text) <= set("ACGT") and 20 <= len(e.text) <= 40 for e in data)
    assert all(("TATAAT" in e.text) == (e.label == "motif") for e in data)
    noisy = dna_motif(400, seed=0, noise=0.5)
    assert sum("TATAAT" not in e.text for e in noisy if e.label == "motif") > 100


def _letter_counts(examples: list[Example]) -> np.ndarray:
    return np.array([[e.text.count(b) for b in "ACGT"] for e in examples], dtype=np.float64)


@pytest.mark.parametrize("decoys", [True, False])
def test_dna_motif_needs_order_not_letter_counts(decoys: bool) -> None:
    linear = pytest.importorskip("sklearn.linear_model", reason="scikit-learn is not installed")
    train, test = dna_motif(1000, seed=1, decoys=decoys), dna_motif(1000, seed=2, decoys=decoys)
    model = linear.LogisticRegression(max_iter=1000)
    model.fit(_letter_counts(train), [e.label for e in train])
    bag = model.score(_letter_counts(test), [e.label for e in test])
    six_gram = np.mean([("TATAAT" in e.text) == (e.label == "motif") for e in test])
    assert six_gram == 1.0
    # The decoys give both classes the same letters: a bag of characters scored 0.50 on these
    # 1,000 held-out strings (chance; one binomial s.d. is 0.016). Without decoys the motif's
    # extra A and T give it away (0.66), which the second case checks.
    if decoys:
        assert bag < 0.56
    else:
        assert bag > 0.6


def test_dna_motif_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="motif must be"):
        dna_motif(4, motif="TAXA")
    with pytest.raises(ValueError, match="length must be at least"):
        dna_motif(4, length=3)
    with pytest.raises(ValueError, match="noise"):
        dna_motif(4, noise=2.0)


def _nearest_centroid(features: np.ndarray, labels: list[str], test: np.ndarray) -> list[str]:
    classes = sorted(set(labels))
    y = np.array(labels)
    centres = np.stack([features[y == c].mean(axis=0) for c in classes])
    return [classes[i] for i in ((test[:, None] - centres[None]) ** 2).sum(-1).argmin(axis=1)]


def _channel_means(examples: list[SequenceExample]) -> np.ndarray:
    return np.stack([e.features.mean(axis=0) for e in examples])


def _spectrum(examples: list[SequenceExample]) -> np.ndarray:
    """log power per frequency, summed over channels (the same under any sensor rotation)."""
    out = []
    for e in examples:
        x = e.features - e.features.mean(axis=0)
        out.append(np.log((np.abs(np.fft.rfft(x, axis=0)) ** 2).sum(axis=1)[1:] + 1e-3))
    return np.stack(out)


def test_activity_signals_have_sequence_structure() -> None:
    train, test = activity(300, seed=1), activity(300, seed=2)
    assert all(e.features.shape == (100, 3) and e.features.dtype == np.float32 for e in train)
    assert [e.label for e in train].count("walking") == 100
    again = activity(300, seed=1)
    assert [e.label for e in again] == [e.label for e in train]
    np.testing.assert_array_equal(again[7].features, train[7].features)
    assert not np.array_equal(test[7].features, train[7].features)
    truth = [e.label for e in test]
    accuracy = {}
    for name, features in (("mean", _channel_means), ("spectrum", _spectrum)):
        pred = _nearest_centroid(features(train), [e.label for e in train], features(test))
        accuracy[name] = np.mean([p == t for p, t in zip(pred, truth, strict=True)])
    # Measured on these 300 held-out signals: channel means 0.24 (chance is 0.33, the sensor's
    # random orientation moves gravity to any axis), spectra 0.98.
    assert accuracy["mean"] < 0.45
    assert accuracy["spectrum"] > 0.9


def test_activity_options() -> None:
    (one,) = activity(1, seed=0, length=64, rate_hz=32.0, channels=5)
    assert one.features.shape == (64, 5)
    # The rotation keeps the body-frame energy: gravity (1 g) stays on average in the signal.
    assert np.linalg.norm(one.features, axis=1).mean() == pytest.approx(1.0, abs=0.3)
    with pytest.raises(ValueError, match="rate_hz must be at least 25"):
        activity(3, rate_hz=10.0)
    with pytest.raises(ValueError, match="channels"):
        activity(3, channels=0)
