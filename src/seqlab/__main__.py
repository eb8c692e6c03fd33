"""``python -m seqlab``: the same CLI as the ``seqlab`` command."""

from seqlab.cli import _entry

if __name__ == "__main__":
    _entry()
