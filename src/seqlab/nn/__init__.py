"""torch-compatible modules: cells, deep/bidirectional RNNs, generic wrappers, attention,
and the gradient-flow diagnostic (:func:`gradient_flow`: vanishing gradients, measured)."""

from seqlab.nn.attention import BahdanauAttention, LuongAttention
from seqlab.nn.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell
from seqlab.nn.crf import CRF
from seqlab.nn.diagnostics import GradientFlow, gradient_flow
from seqlab.nn.generic import Bidirectional, Recurrent, Stacked
from seqlab.nn.recurrent import GRU, LSTM, RNN, RNNBase
from seqlab.nn.transformer import (
    KVCache,
    MultiHeadAttention,
    PositionalEncoding,
    ScaledEmbedding,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
)

__all__ = [
    "CRF",
    "GRU",
    "LSTM",
    "RNN",
    "BahdanauAttention",
    "Bidirectional",
    "GRUCell",
    "GradientFlow",
    "KVCache",
    "LSTMCell",
    "LuongAttention",
    "MultiHeadAttention",
    "PositionalEncoding",
    "RNNBase",
    "RNNCell",
    "Recurrent",
    "RecurrentCell",
    "ScaledEmbedding",
    "Stacked",
    "TransformerDecoderLayer",
    "TransformerEncoderLayer",
    "gradient_flow",
]
