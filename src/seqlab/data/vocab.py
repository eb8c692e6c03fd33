"""A frozen token <-> id table for characters or words, with the course's special tokens.

Ids are assigned once, by :meth:`Vocab.build`, deterministically: the chosen special tokens
first, in the fixed order ``<PAD>, <UNK>, <SOS>, <EOS>`` (so ``<PAD>`` is id 0 when present),
then the other tokens by decreasing count, ties broken by code-point order of the token.
A vocabulary cannot grow after it is built; it is saved as JSON (``vocab.json`` beside a
model's weights) and loaded back with the same ids.
"""

from __future__ import annotations

import json
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from seqlab._io import DataError, PathLike, atomic_write_json

__all__ = ["EOS", "PAD", "SOS", "SPECIALS", "UNK", "Level", "Vocab"]

Level = Literal["char", "word"]

PAD = "<PAD>"
UNK = "<UNK>"
SOS = "<SOS>"
EOS = "<EOS>"
# The order special tokens always take at the start of a vocabulary.
SPECIALS: tuple[str, ...] = (PAD, UNK, SOS, EOS)

FORMAT = "seqlab.vocab"
FORMAT_VERSION = 1

# Word-level detokenisation: tokens glued to the previous one, tokens glued to the next one.
_NO_SPACE_BEFORE = frozenset({".", ",", ";", ":", "!", "?", ")", "]", "}", "...", "--", "%"})
_NO_SPACE_AFTER = frozenset({"(", "[", "{", "--"})
_QUOTES = frozenset({"'", '"'})
_APOSTROPHES = ("'", "’")


def _check_level(level: str) -> None:
    """Raise ``ValueError`` unless ``level`` is ``"char"`` or ``"word"``."""
    if level not in get_args(Level):
        raise ValueError(f"level must be 'char' or 'word', got {level!r}")


def _ordered_specials(specials: Iterable[str]) -> tuple[str, ...]:
    """The chosen specials in the canonical order; ``ValueError`` on unknown or repeated ones."""
    chosen = list(specials)
    unknown = [s for s in chosen if s not in SPECIALS]
    if unknown:
        raise ValueError(f"unknown special token(s) {unknown}; choose from {list(SPECIALS)}")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"special tokens repeated: {chosen}")
    return tuple(s for s in SPECIALS if s in chosen)


def _count_tokens(sequences: Iterable[Sequence[str]], level: Level) -> Counter[str]:
    """Count tokens, checking each is a non-empty string (one character at char level)."""
    counts: Counter[str] = Counter()
    for seq in sequences:
        if isinstance(seq, str) and level == "word":
            raise TypeError(
                "word-level sequences must be lists of words, got a string; "
                "tokenize it first (seqlab.data.tokenize_words)"
            )
        counts.update(seq)
    for token in counts:
        if not isinstance(token, str) or not token:
            raise TypeError(f"tokens must be non-empty strings, got {token!r}")
        if level == "char" and len(token) != 1 and token not in SPECIALS:
            raise ValueError(f"char-level token {token!r} is not a single character")
    return counts


class Vocab:
    """An immutable mapping between tokens and ids.

    Build one with :meth:`Vocab.build` (or load one with :meth:`Vocab.load`); the constructor
    takes the full token list in id order and is what :meth:`from_dict` uses.

    ``vocab[token]`` is the token's id and raises ``KeyError`` for an unknown token;
    :meth:`encode` maps unknown tokens to ``<UNK>`` instead.

    >>> v = Vocab.build([list("aab"), list("ba")], level="char")
    >>> v.tokens
    ('<UNK>', '<EOS>', 'a', 'b')
    >>> v.encode(list("abc"), add_eos=True)
    [2, 3, 0, 1]
    """

    __slots__ = ("_counts", "_itos", "_level", "_specials", "_stoi")

    def __init__(
        self, tokens: Sequence[str], *, level: Level, counts: Mapping[str, int] | None = None
    ) -> None:
        _check_level(level)
        itos = tuple(tokens)
        stoi = {tok: i for i, tok in enumerate(itos)}
        if len(stoi) != len(itos):
            repeated = sorted({t for t in itos if itos.count(t) > 1})
            raise ValueError(f"vocabulary tokens repeated: {repeated[:10]}")
        specials = tuple(t for t in itos if t in SPECIALS)
        if itos[: len(specials)] != specials or specials != _ordered_specials(specials):
            raise ValueError(
                f"special tokens must come first, in the order {list(SPECIALS)}; got {list(itos)}"
            )
        for tok in itos:
            if not isinstance(tok, str) or not tok:
                raise ValueError(f"vocabulary tokens must be non-empty strings, got {tok!r}")
        counts = dict(counts or {})
        stray = set(counts) - set(stoi)
        if stray:
            raise ValueError(f"counts given for tokens not in the vocabulary: {sorted(stray)[:10]}")
        full_counts = {tok: int(counts.get(tok, 0)) for tok in itos}
        object.__setattr__(self, "_itos", itos)
        object.__setattr__(self, "_stoi", MappingProxyType(stoi))
        object.__setattr__(self, "_level", level)
        object.__setattr__(self, "_specials", specials)
        object.__setattr__(self, "_counts", MappingProxyType(full_counts))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Vocab is frozen; cannot set {name!r} (build a new one instead)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Vocab is frozen; cannot delete {name!r}")

    # ----------------------------------------------------------------------------- building

    @classmethod
    def build(
        cls,
        sequences: Iterable[Sequence[str]],
        *,
        level: Level,
        min_count: int = 1,
        max_size: int | None = None,
        specials: Iterable[str] = (UNK, EOS),
    ) -> Vocab:
        """Build a vocabulary from token sequences.

        Args:
            sequences: token sequences (lists of characters or words). Tokens spelled like a
                special token (``"<EOS>"`` from :func:`seqlab.data.sequences`) count as that
                special, which must then be among ``specials``.
            level: ``"char"`` or ``"word"``; recorded, and used by :meth:`join`.
            min_count: tokens seen fewer times are left out (they encode as ``<UNK>``).
            max_size: the most tokens in the vocabulary, specials included; the most frequent
                tokens are kept. ``None`` keeps all.
            specials: which of ``<PAD>``, ``<UNK>``, ``<SOS>``, ``<EOS>`` to include; they
                always take the first ids in that order, whatever order they are given in.

        ``counts`` records how often each token was seen; ``<UNK>``'s count is the number of
        occurrences of the tokens left out.
        """
        _check_level(level)
        chosen = _ordered_specials(specials)
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < max(len(chosen), 1):
            raise ValueError(
                f"max_size={max_size} leaves no room: it counts the {len(chosen)} special tokens"
            )
        counts = _count_tokens(sequences, level)
        missing = [s for s in SPECIALS if s in counts and s not in chosen]
        if missing:
            raise ValueError(
                f"the sequences contain {missing} but specials={list(chosen)} does not; "
                "add them to specials"
            )
        regular = sorted(
            (tok for tok, n in counts.items() if tok not in SPECIALS and n >= min_count),
            key=lambda tok: (-counts[tok], tok),
        )
        if max_size is not None:
            regular = regular[: max_size - len(chosen)]
        kept = {tok: counts[tok] for tok in regular}
        kept.update({s: counts.get(s, 0) for s in chosen})
        if UNK in chosen:
            kept[UNK] += sum(n for tok, n in counts.items() if tok not in kept)
        return cls([*chosen, *regular], level=level, counts=kept)

    # ----------------------------------------------------------------------------- lookup

    @property
    def level(self) -> Level:
        """``"char"`` or ``"word"``."""
        return self._level

    @property
    def tokens(self) -> tuple[str, ...]:
        """All tokens in id order."""
        return self._itos

    @property
    def specials(self) -> tuple[str, ...]:
        """The special tokens present, in id order."""
        return self._specials

    @property
    def counts(self) -> Mapping[str, int]:
        """Read-only token -> count seen at build (0 for a special never seen)."""
        return self._counts

    @property
    def pad_id(self) -> int | None:
        """Id of ``<PAD>`` (0), or ``None`` when absent."""
        return self._stoi.get(PAD)

    @property
    def unk_id(self) -> int | None:
        """Id of ``<UNK>``, or ``None`` when absent."""
        return self._stoi.get(UNK)

    @property
    def sos_id(self) -> int | None:
        """Id of ``<SOS>``, or ``None`` when absent."""
        return self._stoi.get(SOS)

    @property
    def eos_id(self) -> int | None:
        """Id of ``<EOS>``, or ``None`` when absent."""
        return self._stoi.get(EOS)

    def __len__(self) -> int:
        return len(self._itos)

    def __iter__(self) -> Iterator[str]:
        return iter(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __getitem__(self, token: str) -> int:
        """The id of ``token``; ``KeyError`` if it is not in the vocabulary."""
        try:
            return self._stoi[token]
        except KeyError:
            raise KeyError(f"{token!r} is not in the vocabulary") from None

    def token(self, index: int) -> str:
        """The token with id ``index``; ``IndexError`` outside ``0 <= index < len(self)``."""
        i = operator.index(index)
        if not 0 <= i < len(self._itos):
            raise IndexError(f"token id {i} out of range for a vocabulary of {len(self)}")
        return self._itos[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return (self._level, self._itos, dict(self._counts)) == (
            other._level,
            other._itos,
            dict(other._counts),
        )

    def __hash__(self) -> int:
        return hash((self._level, self._itos))

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self._itos[:8])
        more = ", ..." if len(self) > 8 else ""
        return f"Vocab(level={self._level!r}, size={len(self)}, tokens=[{head}{more}])"

    # ----------------------------------------------------------------------------- coding

    def encode(self, tokens: Iterable[str], *, add_eos: bool = False) -> list[int]:
        """Token ids; unknown tokens become ``<UNK>``, ``add_eos`` appends ``<EOS>``.

        Raises ``ValueError`` for an unknown token when the vocabulary has no ``<UNK>``, and
        for ``add_eos=True`` when it has no ``<EOS>``.
        """
        unk = self.unk_id
        ids: list[int] = []
        for tok in tokens:
            i = self._stoi.get(tok, unk)
            if i is None:
                raise ValueError(
                    f"unknown token {tok!r} and the vocabulary has no <UNK>; "
                    "build it with '<UNK>' in specials"
                )
            ids.append(i)
        if add_eos:
            if self.eos_id is None:
                raise ValueError("add_eos=True but the vocabulary has no <EOS>")
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Iterable[int], *, skip_specials: bool = False) -> list[str]:
        """Tokens for ``ids`` (ints, or anything ``operator.index`` accepts).

        ``skip_specials`` drops every special token. ``IndexError`` for an id out of range.
        """
        tokens = [self.token(i) for i in ids]
        if skip_specials:
            tokens = [t for t in tokens if t not in SPECIALS]
        return tokens

    def join(self, tokens: Iterable[str]) -> str:
        """Tokens back to text: concatenated at char level, detokenised at word level.

        At word level no space goes before ``. , ; : ! ? ) ] } ...`` or a clitic such as
        ``'s``/``'t``, nor after ``( [ {``; ``--`` is glued on both sides; bare quotes
        (``'`` and ``"``) alternate between opening (glued to the next token) and closing
        (glued to the previous one). Special tokens are joined like words: decode with
        ``skip_specials=True`` to leave them out.
        """
        if self._level == "char":
            return "".join(tokens)
        return join_words(tokens)

    def joiner(self) -> Callable[[str], str]:
        """:meth:`join` one token at a time, to stream text: each call returns the text its
        token adds, so ``"".join(map(vocab.joiner(), tokens)) == vocab.join(tokens)``."""
        if self._level == "char":
            return str
        return WordJoiner()

    # ----------------------------------------------------------------------------- files

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: format, version, level, tokens in id order, counts."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "level": self._level,
            "tokens": list(self._itos),
            "counts": [self._counts[t] for t in self._itos],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Vocab:
        """Inverse of :meth:`to_dict`; ``ValueError`` naming what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a vocabulary must be a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise ValueError(f"not a seqlab vocabulary (format is {data.get('format')!r})")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"vocabulary format version {data.get('version')!r} is not supported "
                f"(this seqlab reads version {FORMAT_VERSION})"
            )
        tokens, counts = data.get("tokens"), data.get("counts")
        if not isinstance(tokens, list) or not isinstance(counts, list):
            raise ValueError("'tokens' and 'counts' must be lists")
        if len(tokens) != len(counts):
            raise ValueError(f"{len(tokens)} tokens but {len(counts)} counts")
        if not all(isinstance(n, int) and n >= 0 for n in counts):
            raise ValueError("'counts' must be non-negative integers")
        return cls(tokens, level=data.get("level"), counts=dict(zip(tokens, counts, strict=True)))

    def save(self, path: PathLike) -> Path:
        """Write the vocabulary as JSON, atomically; returns the path."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: PathLike) -> Vocab:
        """Read a vocabulary written by :meth:`save`; :class:`DataError` on a bad file."""
        file = Path(path)
        hint = "give the vocab.json written by Vocab.save"
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError(file, "no such file", hint=hint) from None
        except IsADirectoryError:
            raise DataError(file, "is a directory", hint=hint) from None
        except UnicodeDecodeError:
            raise DataError(file, "not UTF-8 text", hint=hint) from None
        except OSError as err:
            raise DataError(file, f"cannot read it ({err.strerror})", hint=hint) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(file, f"invalid JSON ({err.msg})", hint=hint, line=err.lineno) from None
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as err:
            raise DataError(file, str(err), hint=hint) from None


def join_words(tokens: Iterable[str]) -> str:
    """Detokenise words (the inverse of :func:`seqlab.data.tokenize_words` on ordinary text)."""
    return "".join(map(WordJoiner(), tokens))


class WordJoiner:
    """:func:`join_words` one token at a time: a call returns the text the token adds (the
    token, with a space before it unless it is glued to the previous one)."""

    def __init__(self) -> None:
        self._glue_next = True  # no space before the first token
        self._open_quotes: dict[str, bool] = dict.fromkeys(_QUOTES, False)

    def __call__(self, tok: str) -> str:
        if tok in _QUOTES:
            closing = self._open_quotes[tok]
            self._open_quotes[tok] = not closing
            glue_before, glue_after = closing, not closing
        else:
            clitic = tok.startswith(_APOSTROPHES) and len(tok) > 1
            glue_before = tok in _NO_SPACE_BEFORE or clitic
            glue_after = tok in _NO_SPACE_AFTER
        space = not (self._glue_next or glue_before)
        self._glue_next = glue_after
        return " " + tok if space else tok
