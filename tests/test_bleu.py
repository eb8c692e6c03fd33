"""BLEU: peer agreement with sacreBLEU, golden hand-computed cases, tokenizers, the CLI.

sacreBLEU (a test-only dependency) is the independent reference: counts, totals and lengths
must be equal and scores within 1e-8, on hand-built cases, degenerate ones and random corpora.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sacrebleu.metrics import BLEU as SacreBLEU

import seqlab
from seqlab.cli import main
from seqlab.metrics import (
    BLEUConfig,
    BLEUScore,
    bleu_statistics,
    compute_bleu,
    corpus_bleu,
    sentence_bleu,
)
from seqlab.metrics import tokenize as seqlab_tokenize
from seqlab.metrics._bleu_numpy import count_numpy
from seqlab.metrics.bleu import _count_python, _prepare, _tokenize_prepared

SMOOTHINGS: list[tuple[str, float | None]] = [
    ("exp", None),
    ("floor", None),
    ("floor", 0.3),
    ("add-k", None),
    ("add-k", 2.0),
    ("none", None),
]
TOKENIZERS = ["13a", "intl", "char", "none"]


def sacre_corpus(hyps: list[str], refs: list[list[str | None]], **kw: object):  # type: ignore[no-untyped-def]
    """sacreBLEU's corpus score with seqlab's keyword names."""
    metric = SacreBLEU(
        tokenize=kw.get("tokenize", "13a"),  # type: ignore[arg-type]
        lowercase=bool(kw.get("lowercase", False)),
        smooth_method=kw.get("smooth_method", "exp"),  # type: ignore[arg-type]
        smooth_value=kw.get("smooth_value"),  # type: ignore[arg-type]
        effective_order=bool(kw.get("effective_order", False)),
        max_ngram_order=int(kw.get("max_ngram_order", 4)),  # type: ignore[call-overload]
    )
    return metric, metric.corpus_score(hyps, refs)


def assert_agrees(
    ours: BLEUScore, hyps: list[str], refs: list[list[str | None]], **kw: object
) -> None:
    """Counts/totals/lengths equal to sacreBLEU's, score and precisions within 1e-8.

    Counts are compared with an unsmoothed sacreBLEU run: sacreBLEU's add-k adds k to the
    counts it returns, seqlab reports the clipped counts themselves.
    """
    _, raw = sacre_corpus(hyps, refs, **{**kw, "smooth_method": "none", "smooth_value": None})
    assert ours.counts == raw.counts
    assert ours.totals == raw.totals
    assert (ours.sys_len, ours.ref_len) == (raw.sys_len, raw.ref_len)
    _, theirs = sacre_corpus(hyps, refs, **kw)
    assert ours.score == pytest.approx(theirs.score, abs=1e-8, rel=0)
    assert ours.precisions == pytest.approx(theirs.precisions, abs=1e-8, rel=0)
    assert ours.bp == pytest.approx(theirs.bp, abs=1e-12, rel=0)


# ------------------------------------------------------------------------------ golden


def test_course_modified_precision_example_p1_is_2_of_7() -> None:
    refs = ["The cat is on the mat.", "There is a cat on the mat."]
    score = sentence_bleu("the the the the the the the", refs, lowercase=True)
    assert (score.counts[0], score.totals[0]) == (2, 7)  # "the" clipped to its max ref count
    assert score.precisions[0] == pytest.approx(100 * 2 / 7, abs=1e-12)
    assert_agrees(
        score,
        ["the the the the the the the"],
        [[r] for r in refs],
        lowercase=True,
        effective_order=True,
    )


def test_hand_computed_bleu() -> None:
    # p = 5/6, 3/5, 2/4, 1/3 (the 'the' of the hypothesis occurs twice, once in the ref); BP = 1
    score = corpus_bleu(["the cat sat on the mat"], [["the cat sat on a mat"]])
    assert score.counts == [5, 3, 2, 1]
    assert score.totals == [6, 5, 4, 3]
    assert score.bp == 1.0
    assert score.score == pytest.approx(100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, abs=1e-9)


def test_hand_computed_brevity_penalty_and_effective_order() -> None:
    # c = 2, r = 6: BP = exp(1 - 6/2); with effective order only p1 = p2 = 1 count
    score = sentence_bleu("the cat", ["the cat sat on the mat"])
    assert score.bp == pytest.approx(math.exp(-2), abs=1e-15)
    assert score.score == pytest.approx(100 * math.exp(-2), abs=1e-9)
    # without effective order p3 = p4 = 0 (no 3-grams): BLEU = 0, as sacreBLEU
    assert corpus_bleu(["the cat"], [["the cat sat on the mat"]]).score == pytest.approx(0.0)


def test_closest_reference_length_ties_go_to_the_shorter() -> None:
    # hypothesis of 5 tokens, references of 4 and 6: both 1 away -> r = 4 (no penalty)
    score = corpus_bleu(["a b c d e"], [["a b c d"], ["a b c d e f"]])
    assert score.ref_len == 4
    score = corpus_bleu(["a b c d e"], [["a b c d e f"], ["a b c d"]])  # order does not matter
    assert score.ref_len == 4
    assert_agrees(score, ["a b c d e"], [["a b c d e f"], ["a b c d"]])


def test_identical_corpus_scores_100() -> None:
    lines = ["A man rides a horse.", "Two dogs play in the snow, happily!"]
    assert corpus_bleu(lines, [lines]).score == pytest.approx(100.0, abs=1e-12)


DEGENERATE: list[tuple[list[str], list[list[str | None]]]] = [
    ([""], [["the cat"]]),  # empty hypothesis
    (["the cat"], [[""]]),  # empty reference
    ([""], [[""]]),  # both empty
    (["a b c", ""], [["a b c", "x y"]]),  # an empty line in the corpus
    (["dog"], [["cat"]]),  # no match
    (["this is a test", "another test"], [["ref1", "ref2"]]),  # no match (sacreBLEU #141)
    (["this is a fest"], [["this is a test"]]),
    (["cat sat"], [["the cat sat"]]),  # shorter than 4 tokens
    (["x y z"], [["x y z"]]),  # 3 tokens, all match
    (["a b c d e"], [["a b"], ["a b c d e f g h"], ["a b c d e f"]]),  # refs of many lengths
    (["a b c d e"], [["a b c d"], ["a b c d e f"]]),  # tie in closest length
    (["It's 3.50 $, 1,000 -- ok... (no!)"], [["It's 3.50$, 1,000-- ok.(no !)"]]),
    (["the the the the"], [["the"], ["the the"]]),  # clipping takes the max over refs
    (["a b", "c d"], [["a b", None], [None, "c d"]]),  # variable number of references
]


@pytest.mark.parametrize("smooth_method,smooth_value", SMOOTHINGS)
@pytest.mark.parametrize("effective_order", [False, True])
@pytest.mark.parametrize("case", range(len(DEGENERATE)))
def test_degenerate_cases_agree_with_sacrebleu(
    case: int, effective_order: bool, smooth_method: str, smooth_value: float | None
) -> None:
    hyps, refs = DEGENERATE[case]
    kw = {
        "smooth_method": smooth_method,
        "smooth_value": smooth_value,
        "effective_order": effective_order,
    }
    ours = corpus_bleu(hyps, refs, **kw)  # type: ignore[arg-type]
    assert_agrees(ours, hyps, refs, **kw)


@pytest.mark.parametrize("smooth_method,smooth_value", SMOOTHINGS)
def test_sentence_bleu_matches_sacrebleu_sentence_bleu(
    smooth_method: str, smooth_value: float | None
) -> None:
    for hyp, refs in [("the cat", ["the cat sat"]), ("", ["a"]), ("a b c d e f", ["a b x d e f"])]:
        ours = sentence_bleu(hyp, refs, smooth_method=smooth_method, smooth_value=smooth_value)  # type: ignore[arg-type]
        theirs = sacrebleu.sentence_bleu(
            hyp, refs, smooth_method=smooth_method, smooth_value=smooth_value
        )
        assert ours.score == pytest.approx(theirs.score, abs=1e-8, rel=0)
        assert "eff:yes" in ours.signature  # effective order by default, as sacreBLEU


def test_add_k_counts_are_the_clipped_counts() -> None:
    """Documented deviation: sacreBLEU's add-k returns counts + k for n >= 2."""
    ours = corpus_bleu(["a b c"], [["a b d"]], smooth_method="add-k")
    theirs = sacrebleu.corpus_bleu(["a b c"], [["a b d"]], smooth_method="add-k")
    assert ours.counts == [2, 1, 0, 0]
    assert theirs.counts == [2, 2, 1, 1]
    assert ours.score == pytest.approx(theirs.score, abs=1e-8)


# ------------------------------------------------------------------ compute_bleu property


@st.composite
def statistics(draw: st.DrawFn) -> tuple[list[int], list[int], int, int]:
    sys_len = draw(st.integers(0, 30))
    totals = [max(sys_len - n, 0) for n in range(4)]
    counts = [draw(st.integers(0, t)) for t in totals]
    return counts, totals, sys_len, draw(st.integers(0, 30))


@settings(max_examples=300, deadline=None)
@given(stats=statistics(), smooth=st.sampled_from(SMOOTHINGS), eff=st.booleans())
def test_compute_bleu_equals_sacrebleu_on_any_statistics(
    stats: tuple[list[int], list[int], int, int], smooth: tuple[str, float | None], eff: bool
) -> None:
    counts, totals, c, r = stats
    score, precisions, bp = compute_bleu(
        counts,
        totals,
        c,
        r,
        smooth_method=smooth[0],
        smooth_value=smooth[1],
        effective_order=eff,  # type: ignore[arg-type]
    )
    theirs = SacreBLEU.compute_bleu(
        list(counts),
        list(totals),
        c,
        r,
        smooth_method=smooth[0],
        smooth_value=smooth[1],
        effective_order=eff,
    )
    assert score == pytest.approx(theirs.score, abs=1e-8, rel=0)
    assert precisions == pytest.approx(theirs.precisions, abs=1e-8, rel=0)
    assert bp == theirs.bp


# --------------------------------------------------------------------- random corpora

WORDS = [
    "a",
    "b",
    "the",
    "The",
    "cat",
    "3",
    "4.5",
    "x-y",
    "1,000",
    ".",
    ",",
    "-",
    "(",
    "&amp;",
    "Σ",
    "é",
    "...",
]


@st.composite
def corpora(draw: st.DrawFn, max_sentences: int = 12) -> tuple[list[str], list[list[str]]]:
    n = draw(st.integers(1, max_sentences))
    k = draw(st.integers(1, 3))
    sentence = st.lists(st.sampled_from(WORDS), max_size=9).map(" ".join)
    hyps = draw(st.lists(sentence, min_size=n, max_size=n))
    refs = [draw(st.lists(sentence, min_size=n, max_size=n)) for _ in range(k)]
    return hyps, refs


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    corpus=corpora(),
    smooth=st.sampled_from(SMOOTHINGS),
    tok=st.sampled_from(TOKENIZERS),
    lowercase=st.booleans(),
    eff=st.booleans(),
)
def test_random_corpora_agree_with_sacrebleu(
    corpus: tuple[list[str], list[list[str]]],
    smooth: tuple[str, float | None],
    tok: str,
    lowercase: bool,
    eff: bool,
) -> None:
    hyps, refs = corpus
    kw = {
        "smooth_method": smooth[0],
        "smooth_value": smooth[1],
        "tokenize": tok,
        "lowercase": lowercase,
        "effective_order": eff,
    }
    assert_agrees(corpus_bleu(hyps, refs, **kw), hyps, refs, **kw)  # type: ignore[arg-type]


@settings(max_examples=80, deadline=None)
@given(corpus=corpora(max_sentences=1), smooth=st.sampled_from(SMOOTHINGS))
def test_random_sentences_agree_with_sacrebleu_sentence_bleu(
    corpus: tuple[list[str], list[list[str]]], smooth: tuple[str, float | None]
) -> None:
    hyp, refs = corpus[0][0], [r[0] for r in corpus[1]]
    ours = sentence_bleu(hyp, refs, smooth_method=smooth[0], smooth_value=smooth[1])  # type: ignore[arg-type]
    theirs = sacrebleu.sentence_bleu(hyp, refs, smooth_method=smooth[0], smooth_value=smooth[1])
    assert ours.score == pytest.approx(theirs.score, abs=1e-8, rel=0)
    assert (ours.sys_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)


@settings(max_examples=40, deadline=None)
@given(corpus=corpora(max_sentences=40), order=st.integers(1, 5))
def test_numpy_and_python_counting_agree(
    corpus: tuple[list[str], list[list[str]]], order: int
) -> None:
    """The vectorised counter (large corpora) equals the Counter one (small inputs)."""
    hyps, refs = corpus
    hyp = _tokenize_prepared(_prepare(hyps, False), "13a")
    ref_streams = [_tokenize_prepared(_prepare(r, False), "13a") for r in refs]
    assert count_numpy(hyp, ref_streams, order) == _count_python(hyp, ref_streams, order)


def test_large_random_corpus_agrees_with_sacrebleu() -> None:
    """Several hundred sentences, two references: the numpy path at a realistic size."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)] + [".", ",", "3.5", "1-2", "(", ")"]

    def sentence() -> str:
        return " ".join(rng.choice(words, size=int(rng.integers(0, 25))).tolist())

    hyps = [sentence() for _ in range(400)]
    refs = [[sentence() for _ in range(400)] for _ in range(2)]
    for eff in (False, True):
        assert_agrees(corpus_bleu(hyps, refs, effective_order=eff), hyps, refs, effective_order=eff)  # type: ignore[arg-type]
    # sentence by sentence from the same (vectorised) statistics: the same lists as sacreBLEU
    metric = SacreBLEU(effective_order=True)
    for s, ours in enumerate(bleu_statistics(hyps, refs).sentence_scores()[:60]):  # type: ignore[arg-type]
        theirs = metric.sentence_score(hyps[s], [r[s] for r in refs])
        assert (ours.counts, ours.totals) == (theirs.counts, theirs.totals)
        assert ours.score == pytest.approx(theirs.score, abs=1e-8, rel=0)


@pytest.mark.parametrize(
    "hyps,refs",
    [
        ([""] * 100, [[""] * 100]),  # nothing at all
        (["a"] * 100, [[""] * 100, ["a b"] * 100]),  # empty and longer references; no 2-grams
        (["a b c d e"] * 50 + [""] * 50, [["a b c d e"] * 50 + ["x"] * 50]),
    ],
)
def test_degenerate_corpora_on_the_vectorised_path(
    hyps: list[str], refs: list[list[str | None]]
) -> None:
    assert len(hyps) * (len(refs) + 1) >= 64  # large enough for the numpy counter
    hyp = _tokenize_prepared(_prepare(hyps, False), "13a")
    streams = [_tokenize_prepared(_prepare(r, False), "13a") for r in refs]  # type: ignore[arg-type]
    assert count_numpy(hyp, streams, 4) == _count_python(hyp, streams, 4)
    for eff in (False, True):
        assert_agrees(corpus_bleu(hyps, refs, effective_order=eff), hyps, refs, effective_order=eff)


def test_the_vectorised_counter_takes_over_for_large_corpora(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With NumPy imported (as here), from 64 sentences x streams; the scores agree anyway."""
    import seqlab.metrics._bleu_numpy as vectorised

    calls: list[int] = []

    def counting(*args: object) -> object:
        calls.append(len(args[0][1]))  # type: ignore[index]
        return count_numpy(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(vectorised, "count_numpy", counting)
    small = corpus_bleu(["a b c"] * 31, [["a b d"] * 31])  # 31 x 2 = 62 < 64: Python
    assert calls == []
    large = corpus_bleu(["a b c"] * 32, [["a b d"] * 32])  # 32 x 2 = 64: vectorised
    assert calls == [32]
    assert (small.counts, small.score) == ([31 * 2, 31, 0, 0], large.score)
    assert large.counts == [32 * 2, 32, 0, 0]


# ------------------------------------------------------------------------ tokenizers

TOK_ALPHABET = "ab Z09.,-&;<>quotampltg\"'()$/:!?{}[]_`~@#%^*+=|\\\n\r\t…«»€½²—¿¡。、，！Σéß中٣"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=TOK_ALPHABET, max_size=40))
def test_13a_tokenizer_equals_sacrebleu(text: str) -> None:
    for lowercase in (False, True):
        metric = SacreBLEU(tokenize="13a", lowercase=lowercase)
        expected = metric._preprocess_segment(text).split()
        assert seqlab_tokenize(text, "13a", lowercase=lowercase) == expected


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(st.text(alphabet=TOK_ALPHABET + "<skipped>", max_size=25), max_size=12))
def test_13a_corpus_at_once_equals_line_by_line(lines: list[str]) -> None:
    """The fast path tokenizes the corpus as one string; lines must not leak into each other."""
    metric = SacreBLEU(tokenize="13a")
    flat, lens = _tokenize_prepared(_prepare(lines, False), "13a")
    expected = [metric._preprocess_segment(line).split() for line in lines]
    assert lens == [len(e) for e in expected]
    assert flat == [t for e in expected for t in e]


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(st.text(alphabet=TOK_ALPHABET, max_size=25), min_size=1, max_size=8))
def test_intl_and_char_tokenizers_equal_sacrebleu(lines: list[str]) -> None:
    for method in ("intl", "char", "none"):
        metric = SacreBLEU(tokenize=method)
        flat, lens = _tokenize_prepared(_prepare(lines, False), method)
        expected = [metric._preprocess_segment(line).split() for line in lines]
        assert lens == [len(e) for e in expected], method
        assert flat == [t for e in expected for t in e], method


def test_tokenizer_golden_examples() -> None:
    assert seqlab_tokenize("It costs $3.50-4, i.e. 1,000.") == [
        "It", "costs", "$", "3.50", "-", "4", ",", "i", ".", "e", ".", "1,000", ".",
    ]  # fmt: skip
    assert seqlab_tokenize("&quot;hi&quot; <skipped>you") == ['"', "hi", '"', "you"]
    assert seqlab_tokenize("«Hallo», sagte er.", "intl") == [
        "«",
        "Hallo",
        "»",
        ",",
        "sagte",
        "er",
        ".",
    ]
    assert seqlab_tokenize("ab c", "char") == ["a", "b", "c"]
    assert seqlab_tokenize("a.b  c", "none") == ["a.b", "c"]


# ------------------------------------------------------------------------ signature


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"lowercase": True},
        {"tokenize": "char", "smooth_method": "floor"},
        {"tokenize": "intl", "smooth_method": "add-k", "smooth_value": 2.0},
        {"smooth_method": "none", "effective_order": True},
    ],
)
def test_signature_matches_sacrebleu_format(kw: dict[str, object]) -> None:
    hyps, refs = ["a b c"], [["a b c"], ["a b d"]]
    ours = corpus_bleu(hyps, refs, **kw)  # type: ignore[arg-type]
    metric, _ = sacre_corpus(hyps, refs, **kw)
    theirs = metric.get_signature().format()
    assert ours.signature == theirs.replace(
        f"version:{sacrebleu.__version__}", f"version:seqlab-{seqlab.__version__}"
    )
    short = BLEUConfig(**kw).signature(2, short=True)  # type: ignore[arg-type]
    assert short == metric.get_signature().format(short=True).replace(
        f"v:{sacrebleu.__version__}", f"v:seqlab-{seqlab.__version__}"
    )


def test_signature_default_and_variable_refs() -> None:
    assert (
        corpus_bleu(["a"], [["a"]]).signature
        == f"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:seqlab-{seqlab.__version__}"
    )
    assert "nrefs:var" in corpus_bleu(["a", "b"], [["a", None], ["a", "b"]]).signature


def test_format_matches_sacrebleu_and_to_dict() -> None:
    hyps, refs = ["the cat sat on a mat", "dogs run"], [["the cat sat on the mat", "a dog runs"]]
    ours = corpus_bleu(hyps, refs)
    theirs = sacrebleu.corpus_bleu(hyps, refs)
    assert ours.format(signature=False) == theirs.format()
    assert ours.format().startswith(f"BLEU|{ours.signature} = ")
    d = ours.to_dict()
    assert d["tok"] == "13a" and d["nrefs"] == "1" and d["counts"] == ours.counts
    json.dumps(d)


# --------------------------------------------------------------------------- errors


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="2 segments but there are 1"):
        corpus_bleu(["a"], [["a", "b"]])
    with pytest.raises(ValueError, match="no hypotheses"):
        corpus_bleu([], [[]])
    with pytest.raises(ValueError, match="13a, intl, char, none"):
        corpus_bleu(["a"], [["a"]], tokenize="zh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exp, floor, add-k or none"):
        corpus_bleu(["a"], [["a"]], smooth_method="plus-one")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no reference"):
        corpus_bleu(["a"], [[None]])
    with pytest.raises(TypeError):
        sentence_bleu("a", "a")  # a string is not a list of references


# ------------------------------------------------------------------------------ CLI

HYPS = ["the the the the the the the", "A cat sat on the mat.", ""]
REF1 = ["The cat is on the mat.", "The cat sat on the mat.", "something here"]
REF2 = ["There is a cat on the mat.", "a cat sat on a mat", "nothing"]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, lines in {"hyp": HYPS, "ref1": REF1, "ref2": REF2}.items():
        out[name] = tmp_path / f"{name}.txt"
        out[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_stdin_several_references_equals_api(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(HYPS) + "\n"))
    code, out, _ = run_cli(["bleu", str(files["ref1"]), str(files["ref2"])], capsys)
    assert code == 0
    assert out.strip() == corpus_bleu(HYPS, [REF1, REF2]).format()
    assert "nrefs:2" in out


def test_cli_input_file_json(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        [
            "bleu",
            str(files["ref1"]),
            "-i",
            str(files["hyp"]),
            "--json",
            "--tokenize",
            "intl",
            "--smooth-method",
            "floor",
            "--smooth-value",
            "0.2",
            "--lowercase",
        ],
        capsys,
    )
    assert code == 0
    d = json.loads(out)
    expected = corpus_bleu(
        HYPS, [REF1], tokenize="intl", smooth_method="floor", smooth_value=0.2, lowercase=True
    )
    assert d["score"] == pytest.approx(expected.score, abs=1e-12)
    assert d["counts"] == expected.counts and d["ref_len"] == expected.ref_len
    assert (d["tok"], d["case"], d["smooth"]) == ("intl", "lc", "floor[0.20]")


def test_cli_sentence_level(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        ["bleu", str(files["ref1"]), "-i", str(files["hyp"]), "--sentence-level", "--json"], capsys
    )
    assert code == 0
    scores = json.loads(out)
    assert len(scores) == len(HYPS)
    for d, hyp, ref in zip(scores, HYPS, REF1, strict=True):
        assert d["score"] == pytest.approx(sacrebleu.sentence_bleu(hyp, [ref]).score, abs=1e-8)
    code, out, _ = run_cli(
        ["bleu", str(files["ref1"]), "-i", str(files["hyp"]), "--sentence-level"], capsys
    )
    assert len(out.strip().splitlines()) == len(HYPS)
    assert "eff:yes" in out


def test_cli_explain_shows_counts_precisions_and_bp(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        ["bleu", str(files["ref1"]), "-i", str(files["hyp"]), "--explain", "--lowercase"], capsys
    )
    assert code == 0
    first = out.split("sentence 2:")[0]
    assert "sentence 1: BLEU = 7.81" in first  # sacreBLEU's sentence BLEU, rounded
    assert "2/7" in first and "28.57" in first  # the clipped unigram precision
    assert "0/6" in first and "exp smoothing" in first
    assert "BP = 1 (hyp_len 7 >= closest ref_len 7)" in first  # "mat." is 2 tokens
    third = out.split("sentence 3:")[1]
    assert "BP = 0 (empty hypothesis" in third
    assert out.strip().splitlines()[-1] == corpus_bleu(HYPS, [REF1], lowercase=True).format()
    code, out, _ = run_cli(
        ["bleu", str(files["ref1"]), "-i", str(files["hyp"]), "--explain", "--json"], capsys
    )
    d = json.loads(out)
    assert d["sentences"][0]["counts"][0] == 1 and d["sentences"][0]["ref_lens"] == [7]
    assert d["corpus"]["score"] == pytest.approx(corpus_bleu(HYPS, [REF1]).score)


def test_cli_shorter_reference_file_exits_2_naming_file_and_counts(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = tmp_path / "short.txt"
    short.write_text("one\ntwo\n", encoding="utf-8")
    code, out, err = run_cli(
        ["bleu", str(files["ref1"]), str(short), "-i", str(files["hyp"])], capsys
    )
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert str(short) in err and "2 reference lines" in err and "3 hypothesis lines" in err


def test_cli_bad_input_exits_2(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run_cli(["bleu", str(tmp_path / "missing.txt"), "-i", str(files["hyp"])], capsys)
    assert code == 2 and "missing.txt: no such file" in err and "Traceback" not in err
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("ok\ncaf\xe9\nx\n".encode("latin-1"))
    code, _, err = run_cli(["bleu", str(latin), "-i", str(files["hyp"])], capsys)
    assert code == 2 and f"{latin}:2: not UTF-8" in err
    code, _, err = run_cli(
        ["bleu", str(files["ref1"]), "-i", str(files["hyp"]), "--tokenize", "zh"], capsys
    )
    assert code == 2 and "unknown tokenizer 'zh'" in err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run_cli(["bleu", str(files["ref1"])], capsys)
    assert code == 2 and "<stdin>: no hypotheses" in err


def test_subprocess_python_m_seqlab_bleu(files: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "seqlab", "bleu", str(files["ref1"]), str(files["ref2"]), "--json"],
        input=files["hyp"].read_bytes(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["score"] == pytest.approx(
        sacrebleu.corpus_bleu(HYPS, [REF1, REF2]).score, abs=1e-8
    )
