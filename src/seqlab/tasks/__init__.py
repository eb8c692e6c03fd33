"""User-facing tasks: train / predict / evaluate / save / load."""

from seqlab.tasks.language_model import LanguageModel, LMTaskConfig, SentenceScore
from seqlab.tasks.translator import ParallelCorpus, Translator, TranslatorConfig

__all__ = [
    "LMTaskConfig",
    "LanguageModel",
    "ParallelCorpus",
    "SentenceScore",
    "Translator",
    "TranslatorConfig",
]
