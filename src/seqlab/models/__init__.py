"""Modules composed for a task, built on :mod:`seqlab.nn`.

:mod:`seqlab.models.rnn_architectures` holds the course's basic architectures: many-to-one,
many-to-many (Tx = Ty) and one-to-many; :mod:`seqlab.models.rnn_lm` the recurrent language
model; :mod:`seqlab.models.seq2seq` the encoder–decoder with attention.
"""

from seqlab.models.captioner import CaptionModel, CaptionModelConfig, CaptionState
from seqlab.models.classifier import AverageClassifier, ClassifierConfig, RNNClassifier
from seqlab.models.las import LASConfig, LASState, ListenAttendSpell
from seqlab.models.rnn_architectures import ManyToMany, ManyToOne, OneToMany, RNNConfig, make_rnn
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig, Seq2SeqState
from seqlab.models.speech import SpeechCTC, SpeechCTCConfig
from seqlab.models.tagger import TaggerModel, TaggerModelConfig
from seqlab.models.transformer import (
    SlidingWindowLM,
    TransformerConfig,
    TransformerLanguageModel,
    TransformerLMConfig,
    TransformerSeq2Seq,
)
from seqlab.models.wake import StreamingWakeModel, WakeModel, WakeModelConfig

__all__ = [
    "AverageClassifier",
    "CaptionModel",
    "CaptionModelConfig",
    "CaptionState",
    "ClassifierConfig",
    "LASConfig",
    "LASState",
    "ListenAttendSpell",
    "ManyToMany",
    "ManyToOne",
    "OneToMany",
    "RNNClassifier",
    "RNNConfig",
    "Seq2Seq",
    "Seq2SeqConfig",
    "Seq2SeqState",
    "SlidingWindowLM",
    "SpeechCTC",
    "SpeechCTCConfig",
    "StreamingWakeModel",
    "TaggerModel",
    "TaggerModelConfig",
    "TransformerConfig",
    "TransformerLMConfig",
    "TransformerLanguageModel",
    "TransformerSeq2Seq",
    "WakeModel",
    "WakeModelConfig",
    "make_rnn",
]
