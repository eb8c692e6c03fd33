"""Data for seqlab: vocabularies, tokenisers, safe text reading, built-in corpora.

* :class:`Vocab` — frozen token <-> id table (char or word level) with ``<PAD>``, ``<UNK>``,
  ``<SOS>``, ``<EOS>``; deterministic ids; JSON save/load.
* :func:`tokenize_words`, :func:`tokenize`, :func:`sequences` — text to token sequences.
* :func:`read_text`, :func:`read_lines` — read a UTF-8 file or fail with a one-line
  :class:`DataError` naming the file and line.
* :func:`load_dataset`, :data:`DATASETS`, :class:`TextCorpus` — the shipped corpora (``dinos``,
  ``sonnets``, ``tinyshakespeare``) with fixed splits, and ``TextCorpus.from_file`` for your own.
"""

from seqlab._io import DataError
from seqlab.data.datasets import DATASETS, TextCorpus, load_dataset
from seqlab.data.text import Unit, read_lines, read_text, sequences, tokenize, tokenize_words
from seqlab.data.vocab import EOS, PAD, SOS, SPECIALS, UNK, Level, Vocab, join_words

__all__ = [
    "DATASETS",
    "EOS",
    "PAD",
    "SOS",
    "SPECIALS",
    "UNK",
    "DataError",
    "Level",
    "TextCorpus",
    "Unit",
    "Vocab",
    "join_words",
    "load_dataset",
    "read_lines",
    "read_text",
    "sequences",
    "tokenize",
    "tokenize_words",
]
