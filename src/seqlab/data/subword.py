"""How a text becomes tokens for a model that reads whole texts: :class:`TextTokenizer`.

Three kinds of tokens:

* ``"word"``: words and punctuation marks (:func:`seqlab.data.text.tokenize_words`);
* ``"char"``: characters (whitespace kept), for DNA or protein strings and for names;
* ``"subword"``: byte-pair-encoding pieces learned from the training texts (Sennrich et al.
  2016), so that a rare word is read as known pieces (``"▁un", "believ", "able"``) instead
  of ``<UNK>``. The pieces come from `sentencepiece <https://github.com/google/sentencepiece>`_
  (its BPE trainer; the optional extra ``seqlab[subword]``): one small dependency-free wheel.

``lowercase`` lower-cases the text first. A tokenizer is saved beside a model as
``tokenizer.json`` (the BPE model inside it, base64-encoded) and loaded back equal.

With ``byte_fallback=True`` (what translation and language models train) a character never
seen in training is spelled as UTF-8 byte pieces (``<0xC3>``), so no text has an unknown
token; :meth:`TextTokenizer.detokenize` turns pieces back into plain text
(sentencepiece's decoder: ``"▁new", "ton"`` -> ``"newton"``) and :meth:`TextTokenizer.vocab`
is a :class:`~seqlab.data.vocab.Vocab` of every piece, byte pieces included.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from seqlab._io import DataError, PathLike, atomic_write_json
from seqlab.data.text import tokenize_words
from seqlab.data.vocab import Vocab

__all__ = ["TextTokenizer", "TokenKind"]

TokenKind = Literal["word", "char", "subword"]
FORMAT = "seqlab.tokenizer"
_HINT = "the model directory is damaged: train the model again"
_MAX_LINES = 200_000  # lines a BPE model is learned from (the first ones)
_BYTE_PIECE = re.compile(r"<0x([0-9A-F]{2})>")  # sentencepiece's byte-fallback pieces
_INSTALL = "subword tokens need sentencepiece: pip install 'seqlab[subword]'"


def _sentencepiece() -> Any:
    try:
        import sentencepiece
    except ImportError:  # the optional extra is not installed
        raise ImportError(_INSTALL) from None
    return sentencepiece


def _train_bpe(
    spm: Any, lines: list[str], model: io.BytesIO, vocab_size: int, byte_fallback: bool
) -> None:
    """sentencepiece's BPE trainer on ``lines``, writing the model into ``model``."""
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        hard_vocab_limit=False,  # a small corpus gets fewer pieces, not an error
        normalization_rule_name="identity",  # the text as given (lowercase is ours)
        character_coverage=1.0,
        minloglevel=2,  # quiet
        num_threads=1,
        max_sentence_length=1 << 20,
        input_sentence_size=_MAX_LINES,
        shuffle_input_sentence=False,  # deterministic: the first 200,000 lines
        byte_fallback=byte_fallback,  # unseen characters as UTF-8 byte pieces
    )


class TextTokenizer:
    """Cuts texts into word, character or subword tokens (see the module docstring)."""

    def __init__(self, kind: TokenKind, *, lowercase: bool = False, bpe: bytes | None = None):
        if kind not in get_args(TokenKind):
            raise ValueError(f"tokens must be one of {get_args(TokenKind)}, got {kind!r}")
        if (kind == "subword") != (bpe is not None):
            raise ValueError("a subword tokenizer needs its BPE model, and only it has one")
        self.kind: TokenKind = kind
        self.lowercase = lowercase
        self.bpe = bpe  # the sentencepiece model (serialized protobuf), subword only
        self._processor: Any = None

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        kind: TokenKind,
        *,
        lowercase: bool = False,
        vocab_size: int = 8000,
        byte_fallback: bool = False,
    ) -> TextTokenizer:
        """A tokenizer for ``texts``: for ``"subword"`` a BPE model of at most
        ``vocab_size`` pieces learned from them (fewer when the texts hold fewer);
        ``byte_fallback`` adds the 256 byte pieces that spell any unseen character."""
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        if kind != "subword":
            return cls(kind, lowercase=lowercase)
        spm = _sentencepiece()
        # sentencepiece reads the first _MAX_LINES lines (no shuffling): a longer corpus is
        # not held in memory
        cased = (t.lower() if lowercase else t for t in texts)
        lines = list(
            itertools.islice((" ".join(t.split()) for t in cased if t.strip()), _MAX_LINES)
        )
        if not lines:
            raise ValueError("no text to learn subword pieces from")
        model = io.BytesIO()
        try:
            _train_bpe(spm, lines, model, vocab_size, byte_fallback)
        except RuntimeError as err:  # sentencepiece's: "... smaller than required_chars. 40 vs 276"
            need = re.search(r"required_chars\. \d+ vs (\d+)", str(err))
            if need is None:
                raise
            what = "characters and 256 byte pieces" if byte_fallback else "characters"
            raise ValueError(
                f"vocab_size {vocab_size} is below the {need[1]} {what} the text needs: "
                f"give a vocab_size of at least {need[1]}"
            ) from None
        return cls(kind, lowercase=lowercase, bpe=model.getvalue())

    def __call__(self, text: str) -> list[str]:
        """The tokens of ``text`` (none for an empty or blank text)."""
        if self.lowercase:
            text = text.lower()
        if self.kind == "word":
            return tokenize_words(text)
        if self.kind == "char":
            return list(text.strip())
        return [p for p in self._spm.encode(" ".join(text.split()), out_type=str) if p]

    @property
    def _spm(self) -> Any:
        if self._processor is None:
            self._processor = _sentencepiece().SentencePieceProcessor(model_proto=self.bpe)
        return self._processor

    def pieces(self) -> list[str]:
        """Every subword piece of the BPE model in id order (sentencepiece's own ``<unk>``,
        ``<s>``, ``</s>`` left out); ``ValueError`` for a word or char tokenizer."""
        if self.bpe is None:
            raise ValueError(f"a {self.kind} tokenizer has no pieces")
        sp = self._spm
        return [
            sp.id_to_piece(i)
            for i in range(sp.get_piece_size())
            if not (sp.is_unknown(i) or sp.is_control(i))
        ]

    def vocab(self, specials: Sequence[str]) -> Vocab:
        """The word-level :class:`Vocab` of ``specials`` then every piece (:meth:`pieces`):
        a piece the training text never held (a byte piece) still has an id."""
        return Vocab([*specials, *(p for p in self.pieces() if p not in specials)], level="word")

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Pieces back to plain text (sentencepiece's decoder: ``"▁" `` is a space, byte
        pieces become their characters); word tokens are joined with spaces, characters
        concatenated."""
        if self.kind == "char":
            return "".join(tokens)
        if self.kind == "word":
            return " ".join(tokens)
        return str(self._spm.decode_pieces(list(tokens)))

    def joiner(self) -> Callable[[str], str]:
        """:meth:`detokenize` one piece at a time, to stream text: each call returns the
        text its piece adds, so ``"".join(map(tok.joiner(), pieces)) == tok.detokenize(
        pieces)`` (a byte piece's text comes once its character is complete)."""
        if self.kind != "subword":
            joined: list[str] = []

            def glue(token: str) -> str:
                text = token if self.kind == "char" or not joined else " " + token
                joined.append(token)
                return text

            return glue
        pending = bytearray()  # byte pieces of a character not complete yet
        first = [True]  # the first text drops sentencepiece's dummy-prefix space

        def add(piece: str) -> str:
            byte = _BYTE_PIECE.fullmatch(piece)
            if byte is not None:
                pending.append(int(byte[1], 16))
                try:
                    text = pending.decode("utf-8")
                except UnicodeDecodeError:
                    if len(pending) < 4:
                        return ""
                    text = pending.decode("utf-8", errors="replace")
                pending.clear()
            else:
                text = pending.decode("utf-8", errors="replace") + piece.replace("\u2581", " ")
                pending.clear()
            if first[0] and text:
                first[0] = False
                text = text.removeprefix(" ")
            return text

        return add

    def key(self) -> str:
        """A hash of everything that decides the tokens (kind, lowercasing, the BPE model):
        part of the cache keys of encoded corpora."""
        return hashlib.sha256(json.dumps(self.to_dict()).encode("utf-8")).hexdigest()[:32]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TextTokenizer):
            return NotImplemented
        return (self.kind, self.lowercase, self.bpe) == (other.kind, other.lowercase, other.bpe)

    def __hash__(self) -> int:
        return hash((self.kind, self.lowercase, self.bpe))

    def __repr__(self) -> str:
        return f"TextTokenizer({self.kind!r}, lowercase={self.lowercase})"

    def to_dict(self) -> dict[str, Any]:
        bpe = base64.b64encode(self.bpe).decode("ascii") if self.bpe is not None else None
        return {"format": FORMAT, "kind": self.kind, "lowercase": self.lowercase, "bpe": bpe}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextTokenizer:
        if d.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file (format {d.get('format')!r})")
        bpe = base64.b64decode(d["bpe"]) if d.get("bpe") is not None else None
        return cls(d["kind"], lowercase=bool(d["lowercase"]), bpe=bpe)

    def save(self, path: PathLike) -> Path:
        """Write ``tokenizer.json`` atomically; returns the path."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: PathLike) -> TextTokenizer:
        """Read a file :meth:`save` wrote (a one-line :class:`DataError` if it is not one)."""
        file = Path(path)
        try:
            return cls.from_dict(json.loads(file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(file, f"cannot read the tokenizer ({exc})", hint=_HINT) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(file, f"not a seqlab tokenizer file ({exc})", hint=_HINT) from None
