"""CoNLL reading and writing (seqlab.data.conll) and the IOB1 / IOB2 / IOBES conversions:
golden files, read∘write round trips, one-line errors naming file and line, and the
conversions' round trips on random well-formed sequences (hypothesis) plus hand cases."""

from __future__ import annotations

import gzip
import io
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from seqlab.data import DataError, Sentence, convert_tags, read_conll, read_conll_text, write_conll
from seqlab.data.conll import Span, spans_to_tags, tag_spans

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True)
TYPES = ("PER", "LOC", "ORG")


def test_golden_iob1_file_read_as_iob2() -> None:
    sentences = read_conll(GOLDEN / "ner_iob1.conll", scheme="iob1")
    assert len(sentences) == 2
    first, second = sentences
    assert first.doc_start and not second.doc_start
    assert first.tokens == ("Maria", "Okafor", "met", "Ana", "Ben", "in", "Lagos", ".")
    assert first.tags == ("B-PER", "I-PER", "O", "B-PER", "B-PER", "O", "B-LOC", "O")
    assert first.columns[0] == ("Maria", "NNP", "B-NP", "I-PER")  # as read, before conversion
    assert second.tags == ("O", "B-ORG", "I-ORG", "I-ORG", "B-ORG", "O", "O")
    kept = read_conll(GOLDEN / "ner_iob1.conll")  # scheme=None: the tags as they are
    assert kept[0].tags[:2] == ("I-PER", "I-PER")
    chunks = read_conll(GOLDEN / "ner_iob1.conll", tag_column=2)
    assert chunks[0].tags[:3] == ("B-NP", "I-NP", "B-VP")
    assert read_conll(GOLDEN / "ner_iob1.conll", tag_column=None)[0].tags == ()


def test_tabs_crlf_gzip_stdin_and_blank_runs(tmp_path: Path) -> None:
    text = "\n\nEU\tNNP  B-ORG\r\nrejects VBZ O\r\n\r\n\n  \nPeter NNP B-PER\n"
    want = [
        Sentence(
            ("EU", "rejects"), ("B-ORG", "O"), (("EU", "NNP", "B-ORG"), ("rejects", "VBZ", "O"))
        ),
        Sentence(("Peter",), ("B-PER",), (("Peter", "NNP", "B-PER"),)),
    ]
    assert read_conll_text(text) == want
    (tmp_path / "a.conll.gz").write_bytes(gzip.compress(text.encode()))
    assert read_conll(tmp_path / "a.conll.gz") == want
    assert read_conll_text(text, token_column=1, tag_column=2)[1].tokens == ("NNP",)


@st.composite
def sentences(draw: st.DrawFn) -> list[Sentence]:
    """Random sentences with 1-4 columns of non-blank tokens and random doc starts."""
    word = st.text(st.characters(exclude_categories=("Z", "C")), min_size=1, max_size=5)
    out = []
    for _ in range(draw(st.integers(1, 4))):
        width = draw(st.integers(1, 3))
        rows = draw(st.lists(st.tuples(*[word] * width), min_size=1, max_size=5))
        rows = [r for r in rows if r[0] != "-DOCSTART-"] or [("x",) * width]
        tags = draw(st.lists(st.sampled_from(["O", "B-PER", "I-LOC", "S-X"]), min_size=len(rows),
                             max_size=len(rows)))  # fmt: skip
        columns = tuple((*r, t) for r, t in zip(rows, tags, strict=True))
        doc = draw(st.booleans())
        out.append(Sentence(tuple(r[0] for r in rows), tuple(tags), columns, doc_start=doc))
    return out


@given(sentences())
@SETTINGS
def test_read_of_write_is_the_identity(corpus: list[Sentence]) -> None:
    stream = io.StringIO()
    write_conll(stream, corpus)
    assert read_conll_text(stream.getvalue()) == corpus


def test_write_to_a_path_with_a_predicted_column(tmp_path: Path) -> None:
    corpus = read_conll(GOLDEN / "tagging_gold_pred.conll", tag_column=2)
    predicted = [s.tags for s in read_conll(GOLDEN / "tagging_gold_pred.conll")]
    out = write_conll_path = tmp_path / "out.conll"
    write_conll(write_conll_path, corpus)
    assert read_conll(out, tag_column=2) == corpus
    assert out.read_text() == (GOLDEN / "tagging_gold_pred.conll").read_text()  # byte for byte
    stripped = [Sentence(s.tokens, s.tags, tuple(c[:3] for c in s.columns), s.doc_start)
                for s in corpus]  # fmt: skip
    write_conll(out, stripped, tags=predicted)  # "token pos gold pred", as conlleval reads it
    assert out.read_text() == (GOLDEN / "tagging_gold_pred.conll").read_text()
    assert [s.tags for s in read_conll(out)] == predicted
    with pytest.raises(ValueError, match="sentence 0: 1 tags for 10 tokens"):
        write_conll(out, stripped, tags=[["O"]] * len(stripped))
    with pytest.raises(ValueError, match="holds whitespace"):
        write_conll(out, [Sentence(("a b",), ("O",), (("a b", "O"),))])
    assert out.read_text() == (GOLDEN / "tagging_gold_pred.conll").read_text()  # untouched


@pytest.mark.parametrize(
    "text,kwargs,message",
    [
        ("a B-X\nb\n", {}, r"in.conll:2: 1 columns, but the sentence's first line \(1\) has 2"),
        ("\na O\nb c O\n", {}, r"in.conll:3: 3 columns, but the sentence's first line \(2\)"),
        ("\n\na NN O\n", {"tag_column": 3}, r"in.conll:3: the tag column 3 does not exist"),
        ("a O\n\nb\n", {}, r"in.conll:3: the tag column -1 is the token column"),
        ("a O\nb PER\n", {}, r"in.conll:2: 'PER' is not a tag"),
        ("a O\nb B-\n", {}, r"in.conll:2: 'B-' is not a tag"),
        ("a O\n\nb E-PER\n", {"scheme": "iob2"}, r"in.conll:3: 'E-PER' is not a tag"),
        ("-DOCSTART- O\n\n \n", {}, r"in.conll: no sentence in the file"),
        ("", {}, r"in.conll: file is empty"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, text: str, kwargs, message) -> None:
    path = tmp_path / "in.conll"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as caught:
        read_conll(path, **kwargs)
    assert "\n" not in str(caught.value)


def test_bad_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.conll"
    path.write_bytes("a O\n\nCaf\xe9 B-LOC\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.conll:3: not valid UTF-8"):
        read_conll(path)
    with pytest.raises(DataError, match=r"<stdin>:1: 'x' is not a tag"):
        read_conll_text("a x\n")


# --- schemes -------------------------------------------------------------------------------


@st.composite
def spans(draw: st.DrawFn) -> tuple[list[Span], int]:
    """Non-overlapping entity spans (adjacent ones of the same type included) and a length."""
    length = draw(st.integers(0, 12))
    cuts = sorted(draw(st.sets(st.integers(0, length), max_size=length + 1)))
    out: list[Span] = []
    for start, end in itertools.pairwise(cuts):
        if draw(st.booleans()):
            out.append((draw(st.sampled_from(TYPES)), start, end))
    return out, length


@given(spans())
@SETTINGS
def test_conversions_keep_the_entities(case: tuple[list[Span], int]) -> None:
    entity_spans, length = case
    for scheme in ("iob1", "iob2", "iobes"):
        tags = spans_to_tags(entity_spans, length, scheme)  # type: ignore[arg-type]
        assert tag_spans(tags, scheme) == entity_spans  # type: ignore[arg-type]
    iob2 = spans_to_tags(entity_spans, length, "iob2")
    iob1 = spans_to_tags(entity_spans, length, "iob1")
    starts = {s: t for t, s, _ in entity_spans}
    ends = {e: t for t, _, e in entity_spans}
    for i, tag in enumerate(iob1):  # IOB1: B-X exactly where an X entity ends and another starts
        assert tag.startswith("B-") == (i in starts and ends.get(i) == starts[i])
    iobes = spans_to_tags(entity_spans, length, "iobes")
    assert convert_tags(convert_tags(iob2, "iob2", "iobes"), "iobes", "iob2") == iob2
    assert convert_tags(convert_tags(iob1, "iob1", "iob2"), "iob2", "iob1") == iob1
    for (src, a), (dst, b) in [
        (("iob1", iob1), ("iob2", iob2)),
        (("iob2", iob2), ("iobes", iobes)),
        (("iob1", iob1), ("iobes", iobes)),
    ]:
        assert convert_tags(a, src, dst) == b  # type: ignore[arg-type]
        assert convert_tags(b, dst, src) == a  # type: ignore[arg-type]
    # seqeval, an independent reader, finds the same entities in the IOB2 and IOBES forms
    want = sorted((t, s, e - 1) for t, s, e in entity_spans)
    assert sorted(get_entities(iob2)) == want and sorted(get_entities(iobes)) == want


@given(st.lists(st.sampled_from(["O", "B-PER", "I-PER", "I-LOC", "B-LOC"]), max_size=10))
@SETTINGS
def test_any_iob_sequence_converts_to_a_valid_one(tags: list[str]) -> None:
    iob2 = convert_tags(tags, "iob2", "iob2")
    assert all((t != "O" and t.startswith("I-") is False) or True for t in iob2)
    for i, tag in enumerate(iob2):  # every I-X continues an X entity
        if tag.startswith("I-"):
            assert i > 0 and iob2[i - 1] in (f"B-{tag[2:]}", tag)
    assert convert_tags(iob2, "iob2", "iob2") == iob2


def test_hand_conversions() -> None:
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "B-ORG", "I-ORG"]
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "B-ORG", "I-ORG"]
    iobes = ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "S-ORG", "B-ORG", "E-ORG"]
    assert convert_tags(iob1, "iob1", "iob2") == iob2
    assert convert_tags(iob2, "iob2", "iobes") == iobes
    assert convert_tags(iobes, "iobes", "iob1") == iob1
    assert convert_tags(["O", "I-PER", "B-LOC", "I-PER"], "iob2", "iob2") == [
        "O", "B-PER", "B-LOC", "B-PER",
    ]  # fmt: skip
    assert convert_tags(["E-PER", "I-PER", "E-PER"], "iobes", "iob2") == ["B-PER", "B-PER", "I-PER"]
    assert convert_tags([], "iob1", "iobes") == []
    assert convert_tags(["B-PER", "O", "B-PER"], "iob2", "iob1") == ["I-PER", "O", "I-PER"]
    with pytest.raises(ValueError, match="iob1 scheme does not have"):
        convert_tags(["S-PER"], "iob1", "iob2")
    with pytest.raises(ValueError, match="scheme"):
        convert_tags(["O"], "bilou", "iob2")  # type: ignore[arg-type]
