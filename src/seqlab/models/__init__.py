"""Modules composed for a task, built on :mod:`seqlab.nn`.

:mod:`seqlab.models.basic` holds the course's basic architectures: many-to-one,
many-to-many (Tx = Ty) and one-to-many.
"""

from seqlab.models.basic import ManyToMany, ManyToOne, OneToMany, RNNConfig, make_rnn

__all__ = ["ManyToMany", "ManyToOne", "OneToMany", "RNNConfig", "make_rnn"]
