"""seqlab's version, in a module of its own: importing it imports nothing else of seqlab."""

from __future__ import annotations

__version__ = "0.1.0"
