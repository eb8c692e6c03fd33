"""Training sentences for word embeddings, streamed from a file or held in memory.

A :class:`SentenceCorpus` is a *restartable* iterable of sentences (lists of word strings): every
``iter(corpus)`` starts again from the beginning, so a trainer can make several passes
(epochs). From a file it reads one sentence per line, words separated by whitespace, like
gensim's ``LineSentence``; a line longer than ``max_sentence_length`` words is cut into chunks
of that many words (the last one shorter), like ``LineSentence`` and ``Text8Corpus``. The file
(plain or gzip) is streamed in blocks and never held whole in memory; text8, one 100-million-
character line, is read block by block too, without ever holding the whole line.

:func:`build_vocab` orders words exactly as gensim's ``Word2Vec.build_vocab`` does: by count,
descending; words with equal counts in **reverse** order of first appearance (gensim sorts with
``np.lexsort((-indices, -counts))``). The tests check the order against gensim.

Tokenisation (``tokenize=``): ``"whitespace"`` (the default, as above: words are what
``str.split()`` gives, so raw prose keeps ``"Meanwhile,"`` as one word); ``"simple"``, gensim's
``simple_preprocess``: lower-case, words are runs of letters (digits and punctuation split
them: ``"don't"`` gives ``don``, its ``t`` being too short), 2 to 15 characters, none starting
with ``_``;
``"text8"``, word2vec's ``wikifil.pl`` normalisation that made text8: ASCII letters lower-cased,
each digit spelled out (``1969`` -> ``one nine six nine``), everything but ``a``-``z`` a space
(``"café"`` -> ``caf``); ``"words"``, the word tokenizer of seqlab's classifiers and language
models (:func:`seqlab.data.text.tokenize_words`: words and punctuation marks, ``"Don't"`` ->
``Don``, ``'t``), so that vectors trained here match the tokens those tasks look up. text8
itself reads the same under all four but ``simple``, which drops its one-letter words (and
the few over 15 letters).
"""

from __future__ import annotations

import gzip
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Literal, get_args

import numpy as np

from seqlab._io import DataError, PathLike
from seqlab.data.text import _UTF8_HINT, _line_of, os_errors, tokenize_words

__all__ = [
    "SentenceCorpus",
    "Tokenization",
    "build_vocab",
    "count_words",
    "simple_preprocess",
    "text8_normalize",
]

Tokenization = Literal["whitespace", "simple", "text8", "words"]

_BLOCK = 1 << 20  # bytes read from a file at a time (1 MiB)
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
# ASCII whitespace bytes: a cut after one never splits a UTF-8 character or a word.
_SPACE_BYTES = b" \t\n\r\x0b\x0c"


def _cut(data: bytes) -> int:
    """The length of ``data`` up to and including its last ASCII whitespace byte (0 if none)."""
    return max(data.rfind(bytes([b])) for b in _SPACE_BYTES) + 1


# gensim.utils.PAT_ALPHABETIC: runs of word characters that are not digits (letters and "_")
_ALPHABETIC = re.compile(r"(?:(?!\d)\w)+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_DIGIT_NAMES = str.maketrans(
    {
        str(d): f" {name} "
        for d, name in enumerate("zero one two three four five six seven eight nine".split())
    }
)
_NOT_A_TO_Z = re.compile(r"[^a-z]+")


def simple_preprocess(text: str, *, min_len: int = 2, max_len: int = 15) -> list[str]:
    """gensim's ``simple_preprocess(text)``: lower-cased runs of letters, 2 to 15 long.

    ``text`` is lower-cased first, then split into maximal runs of Unicode word characters
    that are not digits (letters, accented ones included, and ``_``); punctuation, digits and
    spaces separate words. Words shorter than ``min_len`` or longer than ``max_len`` and words
    starting with ``_`` are dropped. (gensim's ``deacc=True``, stripping accents, is not
    offered.)

    >>> simple_preprocess("Meanwhile, the cat's 3 toys -- naïve!")
    ['meanwhile', 'the', 'cat', 'toys', 'naïve']
    """
    return [
        w
        for w in _ALPHABETIC.findall(text.lower())
        if min_len <= len(w) <= max_len and not w.startswith("_")
    ]


def text8_normalize(text: str) -> list[str]:
    """word2vec's ``wikifil.pl`` normalisation (how text8 was made), as words.

    ASCII capitals lower-cased, each digit spelled out (``"1969"`` -> ``one nine six nine``),
    every character other than ``a``-``z`` a separator (so ``"café"`` -> ``caf``, ``"don't"``
    -> ``don``, ``t``).

    >>> text8_normalize("In 1969, Apollo-11 landed.")
    ['in', 'one', 'nine', 'six', 'nine', 'apollo', 'one', 'one', 'landed']
    """
    return _NOT_A_TO_Z.sub(" ", text.translate(_ASCII_LOWER).translate(_DIGIT_NAMES)).split()


def _open_checked(file: Path) -> IO[bytes]:
    """A binary handle on ``file`` (gunzipping it when it is gzip) or a :class:`DataError`."""
    with os_errors(file):
        with open(file, "rb") as probe:
            magic = probe.read(2)
        return gzip.open(file, "rb") if magic == _GZIP_MAGIC else open(file, "rb")


class SentenceCorpus:
    """Sentences (``list[str]``) from a text file (plain or ``.gz``) or an in-memory iterable.

    ``SentenceCorpus(path)`` streams the file: one sentence per line, whitespace-separated
    words (any Unicode whitespace, as ``str.split()``), empty lines skipped.
    ``SentenceCorpus(sentences)`` wraps lists of tokens (a one-shot iterator is materialised
    into a list so it can be restarted).
    Either way a sentence longer than ``max_sentence_length`` words is cut into chunks of that
    length, and ``lowercase=True`` lower-cases every word.

    ``tokenize`` says what a word is: ``"whitespace"`` (default: ``str.split()``, the
    behaviour of gensim's ``LineSentence``; right for text8 and pre-tokenised text),
    ``"simple"`` (gensim's ``simple_preprocess``: lower-case, letters only, 2-15 characters,
    see :func:`simple_preprocess`) or ``"text8"`` (word2vec's text8 normalisation, see
    :func:`text8_normalize`) or ``"words"`` (:func:`seqlab.data.text.tokenize_words`, the
    classifiers' word tokens). An in-memory sentence is tokenised word by word.

    A missing, empty (no words), binary (NUL byte) or non-UTF-8 file raises
    :class:`~seqlab._io.DataError` naming the file and line: at construction when the problem
    is in the first block, otherwise during iteration.

    >>> [s for s in SentenceCorpus([["a", "b", "c"]], max_sentence_length=2)]
    [['a', 'b'], ['c']]
    >>> list(SentenceCorpus([["Meanwhile,", "the", "Cat"]], tokenize="simple"))
    [['meanwhile', 'the', 'cat']]
    """

    def __init__(
        self,
        source: PathLike | Iterable[Sequence[str]],
        *,
        max_sentence_length: int = 10000,
        lowercase: bool = False,
        tokenize: Tokenization = "whitespace",
    ) -> None:
        if max_sentence_length < 1:
            raise ValueError(f"max_sentence_length must be >= 1, got {max_sentence_length}")
        if tokenize not in get_args(Tokenization):
            raise ValueError(
                f"tokenize must be one of {', '.join(get_args(Tokenization))}, got {tokenize!r}"
            )
        self.max_sentence_length = max_sentence_length  # longest sentence yielded, in words
        self.lowercase = lowercase  # lower-case every word
        self.tokenize: Tokenization = tokenize  # what a word is
        self.path: Path | None = None  # the file read, or None for in-memory sentences
        self._sentences: Iterable[Sequence[str]] | None = None
        if isinstance(source, (str, Path)) or hasattr(source, "__fspath__"):
            self.path = Path(source)  # type: ignore[arg-type]
            self._check_start()
        else:
            if iter(source) is source:  # a one-shot iterator: keep its items for later passes
                source = list(source)
            self._sentences = source

    def __repr__(self) -> str:
        what = str(self.path) if self.path is not None else "in-memory sentences"
        return (
            f"SentenceCorpus({what!r}, max_sentence_length={self.max_sentence_length}, "
            f"lowercase={self.lowercase}, tokenize={self.tokenize!r})"
        )

    def _words(self, text: str) -> list[str]:
        """The words of a line (or of one in-memory token), tokenised and cased as asked."""
        if self.tokenize == "simple":
            words = simple_preprocess(text)
        elif self.tokenize == "text8":
            words = text8_normalize(text)
        elif self.tokenize == "words":  # lower-cased first, as the classifiers' tokenizer
            words = tokenize_words(text.lower() if self.lowercase else text)
        else:
            words = text.split()
        if self.lowercase:
            words = [w.lower() for w in words]
        return words

    # ------------------------------------------------------------------------------ reading

    def _check_start(self) -> None:
        """Fail early on a missing, empty, binary or non-UTF-8 file (first block only)."""
        assert self.path is not None
        with _open_checked(self.path) as fin:
            try:
                head = fin.read(_BLOCK)
            except (OSError, EOFError) as err:
                raise DataError(
                    self.path, f"cannot read it ({err})", hint="check the file"
                ) from None
        if not head.strip():
            problem = "file is empty" if not head else "file holds only whitespace"
            raise DataError(self.path, problem, hint="give a file with some text in it")
        self._check_bytes(head[: _cut(head)] if len(head) == _BLOCK else head, 0, 0)

    def _check_bytes(self, data: bytes, base_line: int, offset: int) -> None:
        """Raise for a NUL byte or bytes that are not UTF-8 in ``data``."""
        assert self.path is not None
        nul = data.find(b"\0")
        if nul >= 0:
            line, col = _line_of(data, nul)
            raise DataError(
                self.path,
                f"binary file (NUL byte at byte offset {offset + nul}, column {col + 1})",
                hint="give a plain UTF-8 text file",
                line=base_line + line,
            )
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as err:
            self._raise_utf8(data, err.start, base_line, offset)

    def _raise_utf8(self, data: bytes, at: int, base_line: int, offset: int) -> None:
        """The :class:`DataError` for a byte that is not UTF-8 at ``data[at]``."""
        assert self.path is not None
        line, col = _line_of(data, at)
        raise DataError(
            self.path,
            f"not valid UTF-8 (byte 0x{data[at]:02X} at byte offset {offset + at}, "
            f"column {col + 1})",
            hint=_UTF8_HINT.format(name=self.path.name),
            line=base_line + line,
        )

    def _decode(self, data: bytes, base_line: int, offset: int) -> str:
        """``data`` as text, or a :class:`DataError` naming the line of a NUL or bad byte."""
        if b"\0" in data:
            self._check_bytes(data, base_line, offset)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            self._raise_utf8(data, err.start, base_line, offset)
            raise  # unreachable: _raise_utf8 raises

    def _file_sentences(self) -> Iterator[list[str]]:
        """Stream the file: whole lines as sentences, cutting long lines without holding them."""
        assert self.path is not None
        size = self.max_sentence_length
        pending: list[str] = []  # words of the current (unfinished) line
        tail = b""  # bytes after the last whitespace of the previous block
        line_no = 0  # lines (newlines) consumed before ``tail``
        offset = 0  # byte offset of ``tail`` in the (uncompressed) file
        any_words = False
        with _open_checked(self.path) as fin:
            first = True
            while True:
                try:
                    block = fin.read(_BLOCK)
                except (OSError, EOFError) as err:
                    raise DataError(
                        self.path,
                        f"cannot read it ({err})",
                        hint="check the file",
                        line=line_no + 1,
                    ) from None
                if first:
                    if block.startswith(_BOM):
                        block = block[len(_BOM) :]
                        offset = len(_BOM)
                    first = False
                data = tail + block
                cut = _cut(data) if block else len(data)
                complete, tail = data[:cut], data[cut:]
                if complete:
                    lines = self._decode(complete, line_no, offset).split("\n")
                    for k, line in enumerate(lines):
                        words = self._words(line)
                        if words:
                            pending.extend(words)
                        last = k == len(lines) - 1
                        if not last or not block:
                            # a complete line (or the end of the file): emit everything
                            while pending:
                                any_words = True
                                yield pending[:size]
                                pending = pending[size:]
                        else:
                            while len(pending) >= size:
                                any_words = True
                                yield pending[:size]
                                pending = pending[size:]
                    line_no += len(lines) - 1
                    offset += len(complete)
                if not block:
                    break
        if not any_words:
            raise DataError(
                self.path, "file holds no words", hint="give a file with some text in it"
            )

    def _memory_sentences(self) -> Iterator[list[str]]:
        """The in-memory sentences, checked, lower-cased and cut as asked."""
        assert self._sentences is not None
        size = self.max_sentence_length
        for sentence in self._sentences:
            if isinstance(sentence, str):
                raise TypeError("a sentence must be a list of words, got a string; split it first")
            if self.tokenize == "whitespace":
                words = list(sentence)
                if self.lowercase:
                    words = [w.lower() for w in words]
            else:
                words = [w for token in sentence for w in self._words(token)]
            for i in range(0, len(words), size):
                yield words[i : i + size]

    def __iter__(self) -> Iterator[list[str]]:
        """A fresh pass over the sentences (non-empty lists of words)."""
        if self.path is not None:
            return self._file_sentences()
        return self._memory_sentences()

    def encode(self, key_to_index: Mapping[str, int]) -> Iterator[np.ndarray]:
        """Each sentence as int32 word ids (words missing from ``key_to_index`` dropped).

        Sentences left with no known word are skipped.
        """
        get = key_to_index.get
        for sentence in self:
            ids = np.fromiter(
                map(get, sentence, itertools.repeat(-1)), dtype=np.int64, count=len(sentence)
            )  # (T,)
            ids = ids[ids >= 0]
            if ids.size:
                yield ids.astype(np.int32)  # (T',)


def count_words(corpus: Iterable[Sequence[str]]) -> Counter[str]:
    """How often each word occurs (a ``Counter``, in first-appearance order)."""
    counts: Counter[str] = Counter()
    for sentence in corpus:
        counts.update(sentence)
    return counts


def build_vocab(
    corpus: Iterable[Sequence[str]], *, min_count: int = 5, max_vocab_size: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Words seen at least ``min_count`` times and their counts, most frequent first.

    Equal counts are ordered as gensim's ``Word2Vec.build_vocab`` orders them: the word that
    first appeared *later* comes first. ``max_vocab_size=N`` keeps the first N of that order
    (unlike gensim's ``max_vocab_size``, a memory cap that prunes while counting). Returns
    ``(words, counts)`` with int64 counts; ``ValueError`` when no word survives.
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if max_vocab_size is not None and max_vocab_size < 1:
        raise ValueError(f"max_vocab_size must be >= 1, got {max_vocab_size}")
    counter = count_words(corpus)
    kept = [(w, n) for w, n in counter.items() if n >= min_count]
    if not kept:
        most = max(counter.values(), default=0)
        raise ValueError(
            f"no word occurs at least min_count={min_count} times "
            f"({len(counter)} distinct words, the most frequent {most} times); "
            "lower min_count or give a larger corpus"
        )
    counts = np.array([n for _, n in kept], dtype=np.int64)  # (V,)
    order = np.lexsort((-np.arange(len(kept)), -counts))  # count desc, then later-first
    if max_vocab_size is not None:
        order = order[:max_vocab_size]
    return [kept[i][0] for i in order], counts[order]
