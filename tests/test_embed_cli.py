"""`seqlab embed ...` in process: every subcommand, --json output, exit codes, bad input."""

from __future__ import annotations

import itertools
import json
import random
import re
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.cli import main
from seqlab.embeddings.keyed_vectors import KeyedVectors

CUDA = torch.cuda.is_available()

DIM = 16
GENDERED = ["she", "he", "woman", "man", "girl", "boy", "mother", "father", "her", "his"]
NEUTRAL = ["receptionist", "engineer", "nurse", "doctor", "homemaker", "programmer"]


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def kv() -> KeyedVectors:
    """Random vectors with a planted analogy and a planted nearest neighbour.

    queen = unit(king) + unit(woman) - unit(man), so 3CosAdd's target direction is queen's
    own (cosine 1); kingdom = king + small noise is king's nearest neighbour.
    """
    rng = np.random.default_rng(0)
    vecs = {w: rng.normal(size=DIM) for w in [*GENDERED, *NEUTRAL, "king"]}
    vecs["queen"] = unit(vecs["king"]) + unit(vecs["woman"]) - unit(vecs["man"])
    vecs["kingdom"] = vecs["king"] + 0.05 * rng.normal(size=DIM)
    for i in range(40):
        vecs[f"w{i}"] = rng.normal(size=DIM)
    return KeyedVectors(list(vecs), np.array(list(vecs.values())))


@pytest.fixture(scope="module")
def vectors(kv: KeyedVectors, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kv.save(tmp_path_factory.mktemp("vec") / "vectors.txt", format="word2vec")


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["embed", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


# ------------------------------------------------------------------------------- queries


def test_similar_json_and_human(capsys, vectors: Path, kv: KeyedVectors) -> None:
    code, out, _ = run(capsys, "similar", vectors, "king", "--topn", "3", "--json")
    assert code == 0
    hits = json.loads(out)
    assert [h["word"] for h in hits] == [w for w, _ in kv.most_similar("king", topn=3)]
    assert hits[0]["word"] == "kingdom" and hits[0]["similarity"] > 0.99
    code, out, _ = run(capsys, "similar", vectors, "king", "--topn", "2")
    assert code == 0 and out.splitlines()[1].split()[0] == "kingdom"


def test_analogy_prints_the_course_line_and_json(capsys, vectors: Path) -> None:
    code, out, _ = run(capsys, "analogy", vectors, "man", "woman", "king")
    assert code == 0
    assert out.strip() == "man : woman :: king : queen (1.00)"
    code, out, _ = run(capsys, "analogy", vectors, "man", "woman", "king", "--topn", "2", "--json")
    answers = json.loads(out)["answers"]
    assert code == 0 and len(answers) == 2 and answers[0]["word"] == "queen"
    code, out, _ = run(capsys, "analogy", vectors, "man", "woman", "king", "--method", "3cosmul")
    assert code == 0 and out.startswith("man : woman :: king : queen (")


def test_unknown_words_exit_2_naming_them(capsys, vectors: Path) -> None:
    code, _, err = run(capsys, "similar", vectors, "kingz")
    assert_one_line_error(code, err, "kingz")
    code, _, err = run(capsys, "analogy", vectors, "man", "womanz", "kingz")
    assert_one_line_error(code, err, "womanz", "kingz")
    # --limit reads only the first N vectors: "king" is not among the first 5
    code, _, err = run(capsys, "similar", vectors, "king", "--limit", "5")
    assert_one_line_error(code, err, "king")


def test_malformed_vector_files_exit_2_with_file_and_line(capsys, tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("3 2\na 0.1 0.2\nb 0.3\nc 0.5 0.6\n")
    code, _, err = run(capsys, "similar", ragged, "a")
    assert_one_line_error(code, err, f"{ragged}:3")
    missing = tmp_path / "nope.txt"
    code, _, err = run(capsys, "convert", missing, tmp_path / "x.txt", "--to", "glove")
    assert_one_line_error(code, err, "nope.txt")


def cosadd_answer(kv: KeyedVectors, a: str, b: str, c: str) -> str:
    """3CosAdd by brute force in NumPy: the word (not a, b or c) whose unit vector has the
    largest cosine with unit(b) - unit(a) + unit(c)."""
    words = list(kv.index_to_key)
    unit_rows = np.array(kv.vectors, dtype=np.float64)
    unit_rows /= np.linalg.norm(unit_rows, axis=1, keepdims=True)
    row = {w: unit_rows[i] for i, w in enumerate(words)}
    scores = unit_rows @ (row[b] - row[a] + row[c])
    return max((w for w in words if w not in (a, b, c)), key=lambda w: scores[words.index(w)])


def test_evaluate_with_given_files(capsys, vectors: Path, kv: KeyedVectors, tmp_path: Path) -> None:
    """--json reports each section's counts and accuracies: the answers are those of a NumPy
    3CosAdd reference, the planted king:queen one is right, a question with zzz is skipped."""
    questions = tmp_path / "questions.txt"
    questions.write_text(
        ": family\nman woman king queen\nman woman king zzz\n"
        ": gram-pronouns\nhe she his her\nshe he her his\nman king woman queen\n"
    )
    assert cosadd_answer(kv, "man", "woman", "king") == "queen"  # planted: cosine 1
    pronouns = [("he", "she", "his", "her"), ("she", "he", "her", "his")]
    pronouns.append(("man", "king", "woman", "queen"))
    right = sum(cosadd_answer(kv, a, b, c) == d for a, b, c, d in pronouns)
    assert 0 < right < 3, right  # a mix of right and wrong answers: the counts are informative
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("king\tkingdom\t9.5\nking\tnurse\t1.0\nman\twoman\t8.0\nw1\tw2\t0.5\n")
    code, out, _ = run(
        capsys, "evaluate", vectors, "--analogies", questions, "--similarity", pairs, "--json"
    )
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"analogies", "similarity"}
    analogies = result["analogies"]
    assert analogies["sections"] == [
        {"name": "family", "correct": 1, "total": 1, "skipped": 1, "accuracy": 1.0},
        {
            "name": "gram-pronouns",
            "correct": right,
            "total": 3,
            "skipped": 0,
            "accuracy": pytest.approx(right / 3),
        },
    ]
    assert {k: v for k, v in analogies.items() if k != "sections"} == {
        "path": str(questions),
        "method": "3cosadd",
        "restrict_vocab": 300000,
        "case_insensitive": True,
        "correct": 1 + right,
        "total": 4,
        "skipped": 1,
        "questions": 5,
        "accuracy": pytest.approx((1 + right) / 4),
        "coverage": pytest.approx(4 / 5),
        "semantic_accuracy": 1.0,
        "syntactic_accuracy": pytest.approx(right / 3),
    }
    assert set(result["similarity"]) == {str(pairs)}
    code, out, _ = run(capsys, "evaluate", vectors, "--similarity", pairs)
    assert code == 0 and "Spearman" in out and "analog" not in out.lower()
    assert "on 4 pairs (0 skipped for out-of-vocabulary words)" in out


def test_evaluate_restrict_vocab_is_for_analogies_only(
    capsys, vectors: Path, kv: KeyedVectors, tmp_path: Path
) -> None:
    """--restrict-vocab 5 keeps the analogy search to 5 words; similarity pairs of rarer words
    are still scored, and the human output counts the out-of-vocabulary pairs."""
    questions = tmp_path / "questions.txt"
    questions.write_text(": family\nman woman king queen\n")
    rare = kv.index_to_key[20:26]  # far beyond the first 5 words
    pairs = tmp_path / "pairs.tsv"
    lines = [f"{a}\t{b}\t{i}.0" for i, (a, b) in enumerate(itertools.pairwise(rare))]
    pairs.write_text("\n".join([*lines, "ghost\tking\t1.0"]) + "\n")
    args = ["evaluate", vectors, "--analogies", questions, "--similarity", pairs]
    code, out, _ = run(capsys, *args, "--restrict-vocab", "5", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["analogies"]["skipped"] == 1  # king/queen are not among the first 5
    sim = result["similarity"][str(pairs)]
    assert sim["pairs"] == 5 and sim["oov_pairs"] == 1 and sim["restrict_vocab"] is None
    code, out, _ = run(capsys, *args, "--restrict-vocab", "5")
    assert code == 0 and "on 5 pairs (1 skipped for out-of-vocabulary words)" in out


# ----------------------------------------------------------------------------- pictures


def test_plot_writes_png_and_checks_its_arguments(capsys, vectors: Path, tmp_path: Path) -> None:
    out = tmp_path / "map.png"
    code, stdout, _ = run(capsys, "plot", vectors, "--top", "20", "--method", "pca", "--out", out)
    assert code == 0 and out.read_bytes()[:4] == b"\x89PNG" and "map.png" in stdout
    words = ",".join(["king", "queen", "man", "woman", *NEUTRAL])
    code, stdout, _ = run(
        capsys, "plot", vectors, "--words", words, "--method", "pca",
        "--arrows", "man:woman,king:queen", "--out", out, "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(stdout)["out"] == str(out)
    code, _, err = run(capsys, "plot", vectors, "--method", "pca", "--out", out)
    assert_one_line_error(code, err, "--words", "--top")
    code, _, err = run(
        capsys, "plot", vectors, "--top", "10", "--arrows", "man:woman,kong:qween", "--out", out
    )
    assert_one_line_error(code, err, "kong", "qween")
    code, _, err = run(
        capsys, "plot", vectors, "--top", "10", "--arrows", "man-woman", "--out", out
    )
    assert_one_line_error(code, err, "man:woman")


def test_plot_tsne_without_scikit_learn_exits_2(capsys, monkeypatch, vectors, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # import fails as if missing
    code, _, err = run(capsys, "plot", vectors, "--top", "10", "--out", tmp_path / "m.png")
    assert_one_line_error(code, err, "pip install 'seqlab[viz]'")


# ------------------------------------------------------------------------------- debias


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove"])
def test_debias_writes_the_input_format(capsys, kv: KeyedVectors, tmp_path: Path, fmt: str) -> None:
    src = kv.save(tmp_path / "in.vec", format=fmt)  # type: ignore[arg-type]
    dest = tmp_path / "out.vec"
    code, out, _ = run(capsys, "debias", src, "--out", dest, "--no-analogies", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["format"] == fmt
    assert report["direct_bias_before"] > 0.05 and report["direct_bias_after"] < 1e-6
    assert {n["word"] for n in report["neutral"]} == set(NEUTRAL)
    debiased = KeyedVectors.load(dest, format=fmt)  # reads only in the format it was written
    assert debiased.index_to_key == kv.index_to_key
    g = np.array(report["bias_direction"])
    assert np.abs(debiased[NEUTRAL] @ g).max() < 1e-6


def test_debias_human_report_and_bad_method(capsys, vectors: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        capsys, "debias", vectors, "--out", tmp_path / "d.txt", "--no-analogies", "--method", "pca"
    )
    assert code == 0
    assert "DirectBias" in out and "receptionist" in out and "'pca'" in out
    code, _, err = run(capsys, "debias", vectors, "--out", tmp_path / "d.txt", "--method", "svd")
    assert_one_line_error(code, err, "svd")


# ------------------------------------------------------------------------------ formats


def test_convert_round_trip_through_every_format(
    capsys, vectors: Path, kv: KeyedVectors, tmp_path: Path
) -> None:
    binary, glove, back = tmp_path / "v.bin", tmp_path / "v.glove.gz", tmp_path / "back.txt"
    assert run(capsys, "convert", vectors, binary, "--to", "word2vec-binary")[0] == 0
    assert (
        run(capsys, "convert", binary, glove, "--to", "glove", "--from", "word2vec-binary")[0] == 0
    )
    code, out, _ = run(capsys, "convert", glove, back, "--to", "word2vec", "--json")
    assert code == 0 and json.loads(out) == {
        "out": str(back), "format": "word2vec", "words": len(kv), "dim": DIM
    }  # fmt: skip
    final = KeyedVectors.load(back, format="word2vec")
    assert final.index_to_key == kv.index_to_key
    np.testing.assert_array_equal(final.vectors, kv.vectors)  # float32 exact
    assert (
        run(capsys, "convert", vectors, tmp_path / "few.txt", "--to", "glove", "--limit", "7")[0]
        == 0
    )
    assert len(KeyedVectors.load(tmp_path / "few.txt")) == 7
    code, _, err = run(capsys, "convert", vectors, tmp_path / "x", "--to", "fasttext")
    assert_one_line_error(code, err, "fasttext")


def test_export_projector(capsys, vectors: Path, kv: KeyedVectors, tmp_path: Path) -> None:
    folder = tmp_path / "projector"
    code, out, _ = run(capsys, "export-projector", vectors, folder, "--json")
    assert code == 0 and json.loads(out)["words"] == len(kv)
    assert (folder / "metadata.tsv").read_text().splitlines() == kv.index_to_key
    rows = (folder / "vectors.tsv").read_text().splitlines()
    assert len(rows) == len(kv) and len(rows[0].split("\t")) == DIM


# -------------------------------------------------------------------------------- train


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 sentences over 30 words (every word frequent enough for min_count 1)."""
    rng = random.Random(0)
    words = [f"t{i}" for i in range(30)]
    lines = [" ".join(rng.choice(words) for _ in range(10)) for _ in range(300)]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("skipgram", ["--objective", "negative", "--workers", "1"]),
        ("cbow", ["--objective", "hierarchical", "--workers", "1"]),
        ("glove", ["--workers", "1"]),
        ("nnlm", ["--window", "2"]),
    ],
)  # each trains 2 epochs on 3,000 words: 1-2 s apiece (NNLM ~5 s: its trainer's setup)
def test_train_writes_loadable_vectors_and_reports_epochs(
    capsys, corpus: Path, tmp_path: Path, method: str, extra: list[str]
) -> None:
    out = tmp_path / "vectors.bin"
    code, stdout, err = run(
        capsys, "train", "--corpus", corpus, "--method", method, *extra, "--dim", "8",
        "--epochs", "2", "--min-count", "1", "--out", out,
        "--format", "word2vec-binary", "--no-progress", "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["method"] == method and summary["vocab_size"] == 30
    # --device auto (the default): the GPU only where the method has a GPU path
    gpu = CUDA and method in ("skipgram", "nnlm")
    assert summary["device"] == ("cuda" if gpu else "cpu")
    assert ("counting_seconds" in summary) == (method == "glove")
    assert len(summary["epoch_losses"]) == 2 and all(np.isfinite(summary["epoch_losses"]))
    assert summary["words_per_second"] > 0
    trained = KeyedVectors.load(out, format="word2vec-binary")
    assert len(trained) == 30 and trained.vector_size == 8


@pytest.mark.parametrize(
    ("options", "update", "negative"),
    [
        ([], "hogbatch", 8),  # the default for skip-gram with negative sampling on the CPU
        (["--update", "pair"], "pair", 5),
        (["--update", "hogbatch", "--negative", "5"], "hogbatch", 5),
        (["--update", "pair", "--negative", "7"], "pair", 7),
        (["--method", "cbow"], "pair", 5),
    ],
)
def test_train_update_flag_reaches_the_trainer(
    capsys, corpus: Path, tmp_path: Path, options: list[str], update: str, negative: int
) -> None:
    code, stdout, err = run(
        capsys, "train", "--corpus", corpus, *options, "--dim", "4", "--epochs", "1",
        "--min-count", "1", "--workers", "1", "--device", "cpu", "--out", tmp_path / "v.txt",
        "--no-progress", "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    assert (summary["update"], summary["negative"]) == (update, negative)


def test_train_human_output_and_bad_method(capsys, corpus: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        capsys, "train", "--corpus", corpus, "--method", "glove", "--dim", "4", "--epochs", "2",
        "--min-count", "1", "--out", tmp_path / "g.txt", "--no-progress",
    )  # fmt: skip
    assert code == 0
    assert out.splitlines()[0].startswith("epoch   1  loss ") and "words/s" in out
    code, _, err = run(
        capsys, "train", "--corpus", corpus, "--method", "fasttext", "--out", tmp_path / "x.txt"
    )
    assert_one_line_error(code, err, "fasttext")
    code, _, err = run(
        capsys, "train", "--corpus", tmp_path / "none.txt", "--out", tmp_path / "x.txt"
    )
    assert_one_line_error(code, err, "none.txt")


def test_train_passes_the_trainer_options(capsys, corpus: Path, tmp_path: Path) -> None:
    common = ["--corpus", corpus, "--dim", "4", "--epochs", "1", "--min-count", "1"]
    common += ["--workers", "1", "--no-progress", "--json"]
    code, stdout, err = run(
        capsys, "train", *common, "--out", tmp_path / "w.txt", "--max-vocab", "10",
        "--ns-exponent", "0", "--sample", "0", "--alpha", "0.05",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(stdout)["vocab_size"] == 10
    code, stdout, err = run(
        capsys, "train", *common, "--out", tmp_path / "g.txt", "--method", "glove",
        "--combine", "average", "--x-max", "10", "--max-vocab", "12",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(stdout)["vocab_size"] == 12
    code, _, err = run(capsys, "train", *common, "--out", tmp_path / "x.txt", "--sample", "-1")
    assert_one_line_error(code, err, "sample")
    code, _, err = run(
        capsys, "train", *common, "--out", tmp_path / "x.txt", "--method", "glove",
        "--combine", "max",
    )  # fmt: skip
    assert_one_line_error(code, err, "combine")


def test_train_applies_alpha_to_each_method(
    capsys, monkeypatch, corpus: Path, tmp_path: Path
) -> None:
    """--alpha is word2vec's alpha, GloVe's AdaGrad eta and the NNLM's AdamW learning rate."""
    import seqlab.embeddings.glove as glove
    import seqlab.embeddings.nnlm as nnlm
    import seqlab.embeddings.word2vec as word2vec

    configs: dict[str, object] = {}
    for module, name in (
        (word2vec, "train_word2vec"),
        (glove, "train_glove"),
        (nnlm, "train_nnlm"),
    ):
        real = getattr(module, name)

        def spy(corpus, config, *, progress=False, real=real, name=name):
            configs[name] = config
            return real(corpus, config, progress=progress)

        monkeypatch.setattr(module, name, spy)
    common = ["--corpus", corpus, "--dim", "4", "--epochs", "1", "--min-count", "1"]
    common += ["--alpha", "0.0123", "--no-progress", "--json"]
    for method in ("skipgram", "glove", "nnlm"):
        code, _, err = run(capsys, "train", *common, "--method", method, "--out", tmp_path / "v")
        assert code == 0, err
    assert configs["train_word2vec"].alpha == 0.0123  # type: ignore[attr-defined]
    assert configs["train_glove"].learning_rate == 0.0123  # type: ignore[attr-defined]
    assert configs["train_nnlm"].learning_rate == 0.0123  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("method", "options", "needle"),
    [
        ("glove", ["--objective", "hierarchical"], "--objective hierarchical"),
        ("glove", ["--negative", "10"], "--negative 10"),
        ("nnlm", ["--negative", "10"], "--negative 10"),
        ("glove", ["--sample", "0"], "--sample 0"),
        ("nnlm", ["--ns-exponent", "1"], "--ns-exponent 1"),
        ("nnlm", ["--workers", "4"], "--workers 4"),
        ("skipgram", ["--x-max", "10"], "--x-max 10"),
        ("cbow", ["--combine", "average"], "--combine average"),
        ("skipgram", ["--objective", "hierarchical", "--negative", "10"], "--objective negative"),
        ("glove", ["--update", "pair"], "--update pair"),
        ("skipgram", ["--objective", "softmax", "--update", "hogbatch"], "--objective negative"),
        (
            "cbow",
            ["--update", "hogbatch"],
            "--update=hogbatch needs --method=skipgram, --objective=negative and the numba "
            "engine, got --method=cbow",
        ),
        ("skipgram", ["--update", "sgd"], "--update must be auto, pair or hogbatch, got 'sgd'"),
    ],
)
def test_train_rejects_options_the_method_does_not_read(
    capsys, monkeypatch, corpus: Path, tmp_path: Path, method: str, options: list[str], needle: str
) -> None:
    import seqlab.embeddings.corpus as corpus_module

    def no_training(*args, **kwargs):
        raise AssertionError("the corpus was read before the options were checked")

    monkeypatch.setattr(corpus_module, "SentenceCorpus", no_training)
    code, _, err = run(
        capsys, "train", "--corpus", corpus, "--method", method, *options, "--out", tmp_path / "v"
    )
    assert_one_line_error(code, err, needle)


def test_train_accepts_inapplicable_options_left_at_their_default(
    capsys, corpus: Path, tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "train", "--corpus", corpus, "--method", "glove", "--update", "auto",
        "--objective", "negative", "--dim", "4", "--epochs", "1", "--min-count", "1",
        "--out", tmp_path / "g.txt", "--no-progress",
    )  # fmt: skip
    assert code == 0, err


@pytest.mark.skipif(CUDA, reason="checks the error on a machine without CUDA")
@pytest.mark.parametrize("method", ["skipgram", "glove", "nnlm"])
def test_train_on_absent_cuda_is_one_line(
    capsys, corpus: Path, tmp_path: Path, method: str
) -> None:
    code, _, err = run(
        capsys, "train", "--corpus", corpus, "--method", method, "--device", "cuda",
        "--min-count", "1", "--out", tmp_path / "v.txt", "--no-progress",
    )  # fmt: skip
    assert_one_line_error(code, err, "device 'cuda' is not available")
    assert not (tmp_path / "v.txt").exists()


PROSE = [
    "Meanwhile, the King spoke to the Queen.",
    "Meanwhile the queen's dog -- a small one -- ran (fast) to the king!",
    'The man said: "Meanwhile, don\'t run." The woman ran.',
]


def test_train_tokenize_simple_splits_punctuation_off_raw_prose(capsys, tmp_path: Path) -> None:
    from gensim.utils import simple_preprocess

    prose = tmp_path / "prose.txt"
    prose.write_text("\n".join(PROSE * 20) + "\n", encoding="utf-8")
    common = ["--corpus", prose, "--dim", "4", "--epochs", "1", "--min-count", "1"]
    common += ["--workers", "1", "--no-progress", "--json"]
    code, out, err = run(capsys, "train", *common, "--out", tmp_path / "w.txt")
    assert code == 0, err
    assert json.loads(out)["tokenize"] == "whitespace"  # the default: as before
    words = set(KeyedVectors.load(tmp_path / "w.txt").index_to_key)
    assert {"Meanwhile,", "Meanwhile", "King", "king!"} <= words
    edges = {w for w in words if w[0] in string.punctuation or w[-1] in string.punctuation}
    marked = {w for w in edges if any(c.isalpha() for c in w)}  # not "--"
    assert len(marked) == 8  # "Meanwhile,", "king!", "(fast)", "run.\"", ...
    assert err.startswith(f"note: 8 of the {len(words)} words carry punctuation (")
    assert "--tokenize simple" in err and len(err.splitlines()) == 1
    code, out, err = run(capsys, "train", *common, "--out", tmp_path / "s.txt",
                         "--tokenize", "simple")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["tokenize"] == "simple" and "note" not in err
    words = set(KeyedVectors.load(tmp_path / "s.txt").index_to_key)
    assert words == {w for line in PROSE for w in simple_preprocess(line)}
    assert "meanwhile" in words and "Meanwhile," not in words and "king" in words
    code, _, err = run(capsys, "train", *common, "--out", tmp_path / "x.txt", "--tokenize", "nltk")
    assert_one_line_error(code, err, "--tokenize", "whitespace, simple, text8 or words", "nltk")


def test_train_help_names_the_default_tokenization(capsys) -> None:
    out = help_text(capsys, "train")
    assert "whitespace (default)" in out and "simple_preprocess" in out
    assert "[default: whitespace]" in out


def test_text8_like_corpus_gets_no_punctuation_note(capsys, corpus: Path, tmp_path: Path) -> None:
    code, _, err = run(capsys, "train", "--corpus", corpus, "--dim", "4", "--epochs", "1",
                       "--min-count", "1", "--workers", "1", "--no-progress",
                       "--out", tmp_path / "v.txt")  # fmt: skip
    assert code == 0 and err == "", err


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["similar", "{v}", "king", "--topn", "0"], "--topn must be at least 1, got 0"),
        (["similar", "{v}", "king", "--topn", "-3"], "--topn must be at least 1, got -3"),
        (["similar", "{v}", "king", "--restrict-vocab", "0"], "--restrict-vocab"),
        (["similar", "{v}", "king", "--limit", "0"], "--limit must be at least 1"),
        (["analogy", "{v}", "man", "woman", "king", "--topn", "0"], "--topn"),
        (["analogy", "{v}", "man", "woman", "king", "--restrict-vocab", "-1"], "--restrict-vocab"),
        (["analogy", "{v}", "man", "woman", "king", "--method", "3cos"], "--method"),
        (["evaluate", "{v}", "--restrict-vocab", "0"], "--restrict-vocab"),
        (["evaluate", "{v}", "--method", "cos"], "--method"),
        (["plot", "{v}", "--top", "0", "--out", "{tmp}/p.png"], "--top must be at least 1"),
        (["plot", "{v}", "--top", "5", "--seed", "-1", "--out", "{tmp}/p.png"], "--seed"),
        (["plot", "{v}", "--top", "5", "--limit", "-1", "--out", "{tmp}/p.png"], "--limit"),
        (["plot", "{v}", "--top", "5", "--context", "-1", "--out", "{tmp}/p.png"], "--context"),
        (["debias", "{v}", "--restrict-vocab", "0", "--out", "{tmp}/d.txt"], "--restrict-vocab"),
        (["convert", "{v}", "{tmp}/c.txt", "--to", "glove", "--limit", "0"], "--limit"),
        (["train", "--dim", "0"], "--dim must be at least 1, got 0"),
        (["train", "--dim", "-4"], "--dim"),
        (["train", "--window", "-1"], "--window must be at least 1, got -1"),
        (["train", "--method", "glove", "--window", "0"], "--window"),
        (["train", "--method", "nnlm", "--window", "0"], "--window"),
        (["train", "--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["train", "--method", "glove", "--epochs", "0"], "--epochs"),
        (["train", "--min-count", "0"], "--min-count must be at least 1, got 0"),
        (["train", "--max-vocab", "0"], "--max-vocab must be at least 1, got 0"),
        (["train", "--workers", "0"], "--workers"),
        (["train", "--negative", "0"], "--negative must be at least 1, got 0"),
        (["train", "--seed", "-1"], "--seed must be at least 0, got -1"),
        (["train", "--alpha", "0"], "--alpha must be > 0"),
        (["train", "--method", "glove", "--x-max", "-1"], "--x-max must be > 0"),
    ],
)
def test_numeric_options_out_of_range_are_one_line_errors(
    capsys, monkeypatch, corpus: Path, vectors: Path, tmp_path: Path, args: list[str], option: str
) -> None:
    """Before: similar/analogy --topn 0 (or -3) printed nothing and exited 0; the rest named
    the config field (vector_size), not the option, or failed late."""
    import seqlab.embeddings.word2vec as word2vec

    def no_training(*args, **kwargs):
        raise AssertionError("trained with a value out of range")

    monkeypatch.setattr(word2vec, "train_word2vec", no_training)
    argv = [a.format(v=vectors, tmp=tmp_path) for a in args]
    if argv[0] == "train":
        argv += ["--corpus", str(corpus), "--out", str(tmp_path / "t.txt"), "--no-progress"]
    code, out, err = run(capsys, *argv)
    assert_one_line_error(code, err, option)
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_outputs_under_a_file_fail_before_any_work(
    capsys, monkeypatch, corpus: Path, vectors: Path, tmp_path: Path
) -> None:
    """An output whose folder cannot be made (a file stands in its path) is a one-line error
    before any work; a missing folder is created, as ``mkdir -p`` does."""
    import seqlab.embeddings.word2vec as word2vec

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the output cannot be written")

    monkeypatch.setattr(word2vec, "train_word2vec", no_training)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    blocked = blocker / "sub" / "o.txt"
    cases = [
        ["train", "--corpus", corpus, "--out", blocked, "--no-progress"],
        ["convert", vectors, blocked, "--to", "glove"],
        ["debias", vectors, "--out", blocked, "--no-analogies"],
        ["plot", vectors, "--top", "10", "--method", "pca", "--out", blocked],
    ]
    for args in cases:
        code, _, err = run(capsys, *args)
        assert_one_line_error(code, err, str(blocked), "cannot be created")
        assert ".tmp" not in err
    code, _, err = run(capsys, "export-projector", vectors, blocker / "proj")
    assert_one_line_error(code, err, str(blocker / "proj"), "cannot be created")
    code, _, err = run(capsys, "convert", vectors, tmp_path, "--to", "glove")
    assert_one_line_error(code, err, "is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
    made = tmp_path / "new" / "deeper" / "c.txt"
    code, _, err = run(capsys, "convert", vectors, made, "--to", "glove")
    assert code == 0 and made.is_file(), err


def help_text(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The --help text of ``seqlab embed ARGS`` with rich's box lines and wrapping removed."""
    assert main(["embed", *args, "--help"]) == 0
    text = re.sub(r"[\u2500-\u257f]", " ", capsys.readouterr().out)
    return " ".join(text.split())


def test_plot_help_says_how_to_turn_the_default_arrows_off(capsys, vectors, tmp_path) -> None:
    assert '--arrows "" draws none' in help_text(capsys, "plot")
    png = tmp_path / "plain.png"
    code, _, err = run(capsys, "plot", vectors, "--top", "10", "--method", "pca", "--arrows", "",
                       "--out", png)  # fmt: skip
    assert code == 0 and png.is_file(), err


def test_plot_says_when_it_moved_an_arrows_words_apart(capsys, vectors, tmp_path) -> None:
    """kingdom is king plus a little noise: the PCA map puts them on one spot, so the arrow
    is drawn lengthened and a note (stderr, and --json's notes) says so."""
    png = tmp_path / "near.png"
    code, out, err = run(capsys, "plot", vectors, "--top", "20", "--method", "pca",
                         "--arrows", "king:kingdom", "--out", png, "--json")  # fmt: skip
    assert code == 0 and png.is_file(), err
    notes = json.loads(out)["notes"]
    assert len(notes) == 1 and notes[0].startswith("king -> kingdom: the PCA map put the two")
    assert err == f"note: {notes[0]}\n"
    code, out, err = run(capsys, "plot", vectors, "--top", "20", "--method", "pca",
                         "--arrows", "man:woman", "--out", png, "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["notes"] == [] and err == ""


def test_train_help_names_the_gpu_paths(capsys) -> None:
    out = help_text(capsys, "train")
    assert "[default: auto]" in out and "GPU paths: skip-gram with --objective negative" in out


# ---------------------------------------------------------------------------- subprocess


def test_subprocess_python_m_seqlab_embed_similar(vectors: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "seqlab", "embed", "similar", str(vectors), "king", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["word"] == "kingdom"
