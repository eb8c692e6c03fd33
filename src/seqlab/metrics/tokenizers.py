"""BLEU's tokenizers, reimplementing the mteval definitions as sacreBLEU does.

* ``13a`` — mteval-v13a.pl, WMT's default: entities unescaped, ASCII punctuation split off,
  periods and commas split off unless between two digits, a dash after a digit split off;
* ``intl`` — mteval-v14 ``--international-tokenization``: Unicode punctuation (unless next to
  a number) and symbols split off;
* ``char`` — every non-space character a token;
* ``none`` — split on whitespace.

Every segment is first lowercased (optionally) and right-stripped, as sacreBLEU does.

Speed: the corpus is tokenized as one string (``str.replace`` per character that always
splits and three regular expressions with literal replacements; the rare lines whose
punctuation needs the full mteval rules go through them one by one).
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Sequence
from typing import Literal

__all__ = ["TOKENIZERS", "Tokenize", "tokenize"]

Tokenize = Literal["13a", "intl", "char", "none"]

TOKENIZERS: tuple[str, ...] = ("13a", "intl", "char", "none")


def _prepare(lines: Sequence[str], lowercase: bool) -> list[str]:
    """sacreBLEU's preprocessing of every segment: optional lowercasing, then rstrip."""
    if lowercase:
        return [line.lower().rstrip() for line in lines]
    return [line.rstrip() for line in lines]


# mteval-v13a, language-independent part: these entities are unescaped
_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))
# mteval-v13a: these characters always become tokens: s/([\{-\~\[-\` -\&\(-\+\:-\@\/])/ $1 /g
# (the space in that class only adds spaces, so the fast path leaves it out)
_13A_ALWAYS = "{|}~" + "[\\]^_`" + '!"#$%&' + "()*+" + ":;<=>?@" + "/"
# the mteval-v13a rules, applied in this order (the exact, line-by-line path)
_13A_RULES = (
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period/comma unless preceded by a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # period/comma unless followed by a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # dash after a digit
)
# the fast path: an isolated period/comma splits off unless between two digits; a dash after
# a digit splits off. Equal to the rules above for lines without a run of [.,] (tested).
_13A_PERIOD = re.compile(r"\.(?!(?<=[0-9]\.)[0-9])")
_13A_COMMA = re.compile(r",(?!(?<=[0-9],)[0-9])")
_13A_DASH = re.compile(r"(?<=[0-9])-")
_13A_RUN = re.compile(r"[.,]{2,}")


def _tok13a_line(line: str) -> str:
    """mteval-v13a on one prepared line, rule by rule (the reference path)."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        for entity, char in _ENTITIES:
            line = line.replace(entity, char)
    line = f" {line} "
    for pattern, repl in _13A_RULES:
        line = pattern.sub(repl, line)
    return " ".join(line.split())


def _tok13a_corpus(lines: list[str]) -> list[str]:
    """mteval-v13a on every prepared line at once: each line's tokens, space-separated.

    One string for the corpus, lines joined by newlines (no rule matches a newline);
    ``str.replace`` per character that always splits, three literal-replacement regexes.
    """
    text = "\n".join(lines)
    slow: list[int] = []
    if text.count("\n") != len(lines) - 1:  # some lines hold newlines: rule by rule
        slow = [i for i, line in enumerate(lines) if "\n" in line]
        text = "\n".join("" if "\n" in line else line for line in lines)
    text = text.replace("<skipped>", "")
    if "&" in text:
        for entity, char in _ENTITIES:
            text = text.replace(entity, char)
    runs = [m.start() for m in _13A_RUN.finditer(text)]
    if runs:  # lines with runs like "..." or ".," take the rule-by-rule path
        pieces = text.split("\n")
        line, seen = 0, 0
        for at in runs:  # line number of each run: newlines before it
            line += text.count("\n", seen, at)
            seen = at
            pieces[line] = ""
            slow.append(line)
        slow = sorted(set(slow))
        text = "\n".join(pieces)
    for char in _13A_ALWAYS:  # s/([...])/ $1 /g, one character at a time
        if char in text:
            text = text.replace(char, f" {char} ")
    text = _13A_PERIOD.sub(" . ", text)
    text = _13A_COMMA.sub(" , ", text)
    text = _13A_DASH.sub(" - ", text)
    pieces = text.split("\n")
    for i in slow:
        pieces[i] = _tok13a_line(lines[i])
    return pieces


def _class_ranges(codepoints: list[int]) -> str:
    """A regex character class body for sorted code points, as escaped ranges."""
    ranges: list[list[int]] = []
    for cp in codepoints:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


@functools.cache
def _unicode_classes() -> dict[str, frozenset[str]]:
    """Punctuation (P), symbols (S) and numbers (N), from Python's Unicode database."""
    by_class: dict[str, list[str]] = {"P": [], "S": [], "N": []}
    for cp in range(sys.maxunicode + 1):
        char = chr(cp)
        major = unicodedata.category(char)[0]
        if major in by_class:
            by_class[major].append(char)
    return {k: frozenset(v) for k, v in by_class.items()}


def _intl_rules(text: str) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None, list[str]]:
    """mteval-v14's international rules, restricted to the characters ``text`` contains
    (the same matches, and far smaller character classes than all of Unicode's)."""
    classes = _unicode_classes()
    present = set(text)
    punct = _class_ranges(sorted(map(ord, present & classes["P"])))
    number = _class_ranges(sorted(map(ord, present & classes["N"] | {"0"})))
    if not punct:
        return None, None, sorted(present & classes["S"])
    before = re.compile(f"([^{number}])([{punct}])")  # s/(\\P{N})(\\p{P})/$1 $2 /g
    after = re.compile(f"([{punct}])([^{number}])")  # s/(\\p{P})(\\P{N})/ $1 $2/g
    return before, after, sorted(present & classes["S"])  # then s/(\\p{S})/ $1 /g


def _intl_apply(text: str) -> str:
    before, after, symbols = _intl_rules(text)
    if before is not None and after is not None:
        text = after.sub(r" \1 \2", before.sub(r"\1 \2 ", text))
    for char in symbols:
        text = text.replace(char, f" {char} ")
    return text


def _tokintl_corpus(lines: list[str]) -> list[str]:
    """mteval-v14 international tokenization of every prepared line at once.

    Lines are joined by ``0\\n0``: a digit can be neither side of a punctuation rule, so the
    separator never matches and every line is tokenized as if alone.
    """
    slow = [i for i, line in enumerate(lines) if "\n" in line]
    text = _intl_apply("0" + "0\n0".join("" if "\n" in line else line for line in lines) + "0")
    pieces = [piece[1:-1] for piece in text.split("\n")]
    for i in slow:
        pieces[i] = _intl_apply(lines[i])
    return pieces


def _tokenize_prepared(lines: list[str], method: str) -> tuple[list[str], list[int]]:
    """Every token of every line, end to end, and the number of tokens of each line.

    (Flat lists, not a list per line: millions of small lists would wake the garbage
    collector, which then walks the whole heap.)
    """
    if not lines:
        return [], []
    if method == "char":  # " ".join(line).split(): every non-whitespace character
        pieces = ["".join(line.split()) for line in lines]
        return list("".join(pieces)), list(map(len, pieces))
    if method == "13a":
        pieces = _tok13a_corpus(lines)
    elif method == "intl":
        pieces = _tokintl_corpus(lines)
    elif method == "none":
        pieces = lines
    else:
        raise ValueError(f"unknown tokenizer {method!r}; choose one of {', '.join(TOKENIZERS)}")
    return "\n".join(pieces).split(), list(map(len, map(str.split, pieces)))


def tokenize(text: str, method: Tokenize = "13a", *, lowercase: bool = False) -> list[str]:
    """The tokens BLEU sees in one segment (after sacreBLEU's lowercasing and rstrip).

    >>> tokenize("Hello, world! It costs $3.50-4.")
    ['Hello', ',', 'world', '!', 'It', 'costs', '$', '3.50', '-', '4', '.']
    """
    return _tokenize_prepared(_prepare([text], lowercase), method)[0]
