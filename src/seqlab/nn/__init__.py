"""torch-compatible recurrent modules: cells, deep/bidirectional RNNs, generic wrappers."""

from seqlab.nn.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell
from seqlab.nn.generic import Bidirectional, Recurrent, Stacked
from seqlab.nn.recurrent import GRU, LSTM, RNN, RNNBase

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Bidirectional",
    "GRUCell",
    "LSTMCell",
    "RNNBase",
    "RNNCell",
    "Recurrent",
    "RecurrentCell",
    "Stacked",
]
