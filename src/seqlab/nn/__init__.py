"""torch-compatible modules: cells, deep/bidirectional RNNs, generic wrappers, attention."""

from seqlab.nn.attention import BahdanauAttention, LuongAttention
from seqlab.nn.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell
from seqlab.nn.generic import Bidirectional, Recurrent, Stacked
from seqlab.nn.recurrent import GRU, LSTM, RNN, RNNBase

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "BahdanauAttention",
    "Bidirectional",
    "GRUCell",
    "LSTMCell",
    "LuongAttention",
    "RNNBase",
    "RNNCell",
    "Recurrent",
    "RecurrentCell",
    "Stacked",
]
