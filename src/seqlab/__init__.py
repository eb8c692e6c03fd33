"""seqlab: the classic sequence-models curriculum as faithful, fast, usable software.

Public API so far:

* :mod:`seqlab.nn` — ``RNNCell``, ``GRUCell``, ``LSTMCell``; ``RNN``, ``GRU``, ``LSTM`` (torch.nn's
  contract, the course's variants as options); ``Recurrent``, ``Bidirectional``, ``Stacked``
  to run any cell as a deep or bidirectional RNN.
* :mod:`seqlab.functional` — the cell equations as pure functions, and the BPTT kernels.
* :mod:`seqlab.models` — the course's architectures: many-to-one, many-to-many, one-to-many.
"""

from seqlab import functional, nn

__version__ = "0.1.0"

__all__ = ["__version__", "functional", "nn"]
