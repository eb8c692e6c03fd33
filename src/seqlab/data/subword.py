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
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args

from seqlab._io import DataError, PathLike, atomic_write_json
from seqlab.data.text import tokenize_words

__all__ = ["TextTokenizer", "TokenKind"]

TokenKind = Literal["word", "char", "subword"]
FORMAT = "seqlab.tokenizer"
_HINT = "the model directory is damaged: train the model again"
_INSTALL = "subword tokens need sentencepiece: pip install 'seqlab[subword]'"


def _sentencepiece() -> Any:
    try:
        import sentencepiece
    except ImportError:  # the optional extra is not installed
        raise ImportError(_INSTALL) from None
    return sentencepiece


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
    ) -> TextTokenizer:
        """A tokenizer for ``texts``: for ``"subword"`` a BPE model of at most
        ``vocab_size`` pieces learned from them (fewer when the texts hold fewer)."""
        if kind != "subword":
            return cls(kind, lowercase=lowercase)
        spm = _sentencepiece()
        lines = [t.lower() if lowercase else t for t in texts]
        lines = [" ".join(t.split()) for t in lines if t.strip()]
        if not lines:
            raise ValueError("no text to learn subword pieces from")
        model = io.BytesIO()
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
            input_sentence_size=200_000,
            shuffle_input_sentence=False,  # deterministic: the first 200,000 lines
        )
        return cls(kind, lowercase=lowercase, bpe=model.getvalue())

    def __call__(self, text: str) -> list[str]:
        """The tokens of ``text`` (none for an empty or blank text)."""
        if self.lowercase:
            text = text.lower()
        if self.kind == "word":
            return tokenize_words(text)
        if self.kind == "char":
            return list(text.strip())
        if self._processor is None:
            self._processor = _sentencepiece().SentencePieceProcessor(model_proto=self.bpe)
        return [p for p in self._processor.encode(" ".join(text.split()), out_type=str) if p]

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
