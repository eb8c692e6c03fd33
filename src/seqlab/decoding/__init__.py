"""Decoding: sampling with temperature/top-k/top-p (beam search and CTC decoding to come)."""

from seqlab.decoding.sampling import filter_logits, sample_next

__all__ = ["filter_logits", "sample_next"]
