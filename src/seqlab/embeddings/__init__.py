"""Word embeddings: frozen vectors, corpora, word2vec/GloVe/NNLM trainers, evaluation, debiasing.

* :class:`KeyedVectors` — frozen word -> vector lookup, cosine similarity, ``most_similar``,
  3CosAdd/3CosMul analogies; word2vec text/binary and GloVe files; TensorBoard projector TSVs;
  ``nn.Embedding`` export. :class:`OOVError` names unknown words.
* :class:`SentenceCorpus`, :func:`build_vocab`, :func:`count_words` — training sentences
  streamed from a (gzip) file or held in memory, and the vocabulary in gensim's word order;
  words split on whitespace (default), by :func:`simple_preprocess` (gensim's) or by
  :func:`text8_normalize` (word2vec's text8 normalisation).
* :func:`evaluate_analogies`, :func:`evaluate_similarity` — the Google analogy set and
  WordSim353 / SimLex-999 Spearman correlation, equal to gensim's evaluations.
* :func:`train_word2vec` (:class:`Word2VecConfig`), :func:`train_glove` (:class:`GloVeConfig`),
  :func:`train_nnlm` (:class:`NNLMConfig`) — the trainers; each returns an
  :class:`EmbeddingResult`. Imported on first use (they compile numba kernels).
* :func:`debias` — Bolukbasi et al.'s hard debiasing with a before/after :class:`DebiasReport`.
"""

from typing import Any

from seqlab.embeddings.corpus import (
    SentenceCorpus,
    build_vocab,
    count_words,
    simple_preprocess,
    text8_normalize,
)
from seqlab.embeddings.evaluate import (
    AnalogyResult,
    SectionScore,
    SimilarityResult,
    evaluate_analogies,
    evaluate_similarity,
)
from seqlab.embeddings.keyed_vectors import KeyedVectors, OOVError
from seqlab.embeddings.result import EmbeddingResult

_LAZY = {
    "Word2VecConfig": "seqlab.embeddings.word2vec",
    "train_word2vec": "seqlab.embeddings.word2vec",
    "GloVeConfig": "seqlab.embeddings.glove",
    "train_glove": "seqlab.embeddings.glove",
    "NNLMConfig": "seqlab.embeddings.nnlm",
    "train_nnlm": "seqlab.embeddings.nnlm",
    "DebiasReport": "seqlab.embeddings.debias",
    "debias": "seqlab.embeddings.debias",
}


def __getattr__(name: str) -> Any:
    """Import the trainers and debiasing on first use (numba compiles kernels on import)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seqlab.embeddings' has no attribute {name!r}")


__all__ = [
    "AnalogyResult",
    "DebiasReport",
    "EmbeddingResult",
    "GloVeConfig",
    "KeyedVectors",
    "NNLMConfig",
    "OOVError",
    "SectionScore",
    "SentenceCorpus",
    "SimilarityResult",
    "Word2VecConfig",
    "build_vocab",
    "count_words",
    "debias",
    "evaluate_analogies",
    "evaluate_similarity",
    "simple_preprocess",
    "text8_normalize",
    "train_glove",
    "train_nnlm",
    "train_word2vec",
]
