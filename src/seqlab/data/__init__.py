"""Data for seqlab: vocabularies, tokenisers, safe text reading, built-in corpora.

* :class:`Vocab` — frozen token <-> id table (char or word level) with ``<PAD>``, ``<UNK>``,
  ``<SOS>``, ``<EOS>``; deterministic ids; JSON save/load.
* :func:`tokenize_words`, :func:`tokenize`, :func:`sequences` — text to token sequences.
* :func:`read_text`, :func:`read_lines` — read a UTF-8 file or fail with a one-line
  :class:`DataError` naming the file and line.
* :func:`load_dataset`, :data:`DATASETS`, :class:`TextCorpus` — the shipped corpora (``dinos``,
  ``sonnets``, ``tinyshakespeare``) with fixed splits, and ``TextCorpus.from_file`` for your own;
  :class:`TextFile` for files of any size (encoded into memory-mapped token files,
  :mod:`seqlab.data.tokens`).
* :func:`read_conll`, :func:`write_conll`, :class:`Sentence`, :func:`convert_tags` — CoNLL
  tagging files and the IOB1 / IOB2 / IOBES schemes.
* :func:`read_labelled`, :class:`Example` — labelled texts (CSV, TSV, tab-separated lines);
  :func:`read_sequences`, :func:`write_sequences_npz`, :class:`SequenceExample` — labelled
  sequences of feature vectors (.npz, long-format CSV); :func:`read_emojify`, :data:`EMOJI` —
  the course's Emojify set from your copy.
* :func:`make_scenes`, :func:`scene_split`, :class:`CaptionData`, :func:`read_captions`,
  :func:`read_image_folder`, :func:`caption_meaning` — images with captions: generated scenes
  and a folder of your images with a captions file (:mod:`seqlab.data.scenes`).
* :func:`dna_motif`, :func:`activity` — generated classification sets where order matters.
"""

from seqlab._io import DataError
from seqlab.data.conll import (
    Sentence,
    convert_tags,
    read_conll,
    read_conll_text,
    write_conll,
)
from seqlab.data.datasets import DATASETS, TextCorpus, TextFile, load_dataset
from seqlab.data.labelled import (
    EMOJI,
    Example,
    SequenceExample,
    read_emojify,
    read_labelled,
    read_sequences,
    write_sequences_npz,
)
from seqlab.data.scenes import (
    CaptionData,
    caption_meaning,
    make_scenes,
    read_captions,
    read_image_folder,
    scene_split,
)
from seqlab.data.synthetic import activity, dna_motif
from seqlab.data.text import Unit, read_lines, read_text, sequences, tokenize, tokenize_words
from seqlab.data.vocab import EOS, PAD, SOS, SPECIALS, UNK, Level, Vocab, join_words

__all__ = [
    "DATASETS",
    "EMOJI",
    "EOS",
    "PAD",
    "SOS",
    "SPECIALS",
    "UNK",
    "CaptionData",
    "DataError",
    "Example",
    "Level",
    "Sentence",
    "SequenceExample",
    "TextCorpus",
    "TextFile",
    "Unit",
    "Vocab",
    "activity",
    "caption_meaning",
    "convert_tags",
    "dna_motif",
    "join_words",
    "load_dataset",
    "make_scenes",
    "read_captions",
    "read_conll",
    "read_conll_text",
    "read_emojify",
    "read_image_folder",
    "read_labelled",
    "read_lines",
    "read_sequences",
    "read_text",
    "scene_split",
    "sequences",
    "tokenize",
    "tokenize_words",
    "write_conll",
    "write_sequences_npz",
]
