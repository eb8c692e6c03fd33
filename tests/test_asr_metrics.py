"""WER, CER and their alignment (seqlab.metrics.asr) equal jiwer's: rates, counts and the
chunks of the alignment, on random strings, real sentences and empty edge cases."""

from __future__ import annotations

import random

import jiwer
import pytest

from seqlab.metrics.asr import align, cer, char_errors, format_alignment, wer, word_errors


def _chunks(alignment: list) -> list[tuple]:  # type: ignore[type-arg]
    return [
        (getattr(c, "type", None) or c.kind,
         *(getattr(c, k) for k in ("ref_start_idx", "ref_end_idx", "hyp_start_idx", "hyp_end_idx"))
         ) if hasattr(c, "type") else (c.kind, c.ref_start, c.ref_end, c.hyp_start, c.hyp_end)
        for c in alignment
    ]  # fmt: skip


def _assert_same(ours, theirs) -> None:  # type: ignore[no-untyped-def]
    assert (ours.hits, ours.substitutions, ours.deletions, ours.insertions) == (
        theirs.hits, theirs.substitutions, theirs.deletions, theirs.insertions
    )  # fmt: skip
    assert [_chunks(a) for a in ours.alignments] == [_chunks(a) for a in theirs.alignments]


def _random_text(rng: random.Random, alphabet: str) -> str:
    words = [rng.choice(alphabet) * rng.randint(1, 2) for _ in range(rng.randint(0, 9))]
    gaps = [rng.choice([" ", " ", "  ", " \t ", "\t"]) for _ in words]  # a lone tab: in a word
    return rng.choice(["", " "]) + "".join(w + g for w, g in zip(words, gaps, strict=True))


@pytest.mark.parametrize("alphabet", ["ab", "abc", "abcdefg"])
def test_random_strings_equal_jiwer(alphabet: str) -> None:
    rng = random.Random(len(alphabet))
    for _ in range(600):
        ref, hyp = _random_text(rng, alphabet), _random_text(rng, alphabet)
        if not ref.strip():
            ref = "a"  # jiwer raises on an empty reference among several; see below
        _assert_same(word_errors(ref, hyp), jiwer.process_words(ref, hyp))
        _assert_same(char_errors(ref, hyp), jiwer.process_characters(ref, hyp))
        assert wer(ref, hyp) == pytest.approx(jiwer.wer(ref, hyp), abs=1e-12)
        assert cer(ref, hyp) == pytest.approx(jiwer.cer(ref, hyp), abs=1e-12)


REAL = [
    ("the quick brown fox jumps over the lazy dog", "the quick brown fox jumped over a lazy dog"),
    ("seven three nine", "seven tree nine nine"),
    ("oh two five", "two five"),
    ("speech recognition with connectionist temporal classification",
     "speech wreck a nation with connection is temporal classification"),
]  # fmt: skip


def test_real_sentences_and_a_corpus_equal_jiwer() -> None:
    refs, hyps = [r for r, _ in REAL], [h for _, h in REAL]
    for ref, hyp in REAL:
        _assert_same(word_errors(ref, hyp), jiwer.process_words(ref, hyp))
    _assert_same(word_errors(refs, hyps), jiwer.process_words(refs, hyps))
    _assert_same(char_errors(refs, hyps), jiwer.process_characters(refs, hyps))
    assert wer(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps))  # counts summed, then divided
    assert cer(refs, hyps) == pytest.approx(jiwer.cer(refs, hyps))


@pytest.mark.parametrize(
    ("ref", "hyp"), [("", ""), ("", "a b"), ("a b", ""), ("  ", "x"), (" a ", "a"), ("a", "  ")]
)
def test_empty_edge_cases_equal_jiwer(ref: str, hyp: str) -> None:
    assert wer(ref, hyp) == jiwer.wer(ref, hyp)  # an empty reference: the insertions
    assert cer(ref, hyp) == jiwer.cer(ref, hyp)
    _assert_same(word_errors(ref, hyp), jiwer.process_words(ref, hyp))


def test_alignment_positions_and_the_printed_table() -> None:
    chunks = align("a b c d".split(), "a x c d e".split())
    assert [(c.kind, c.ref_start, c.hyp_start) for c in chunks] == [
        ("equal", 0, 0), ("substitute", 1, 1), ("equal", 2, 2), ("insert", 4, 4)
    ]  # fmt: skip
    ref, hyp = "a bb c d".split(), "a c d e".split()
    table = format_alignment(ref, hyp, align(ref, hyp))
    assert table.splitlines() == ["REF: a bb c d *", "HYP: a *  c d e", "     . D  . . I"]


def test_mismatched_sentence_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        wer(["a", "b"], ["a"])
