"""Pure tensor functions: recurrent cell steps and the fast backward-through-time kernels."""

from seqlab.functional.recurrent import gru_cell, lstm_cell, rnn_cell

__all__ = ["gru_cell", "lstm_cell", "rnn_cell"]
