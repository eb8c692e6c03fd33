"""User-facing tasks: train / predict / evaluate / save / load."""

from seqlab.tasks.language_model import LanguageModel, LMTaskConfig, SentenceScore

__all__ = ["LMTaskConfig", "LanguageModel", "SentenceScore"]
