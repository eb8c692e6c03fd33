"""Matplotlib figures, drawn with the Agg backend on their own canvas.

Figures never touch pyplot's global state or the user's chosen backend: each one is a
``matplotlib.figure.Figure`` with a ``FigureCanvasAgg``, written atomically to a file.

* :func:`plot_loss_curve` — training and validation loss against the step.
"""

from seqlab.viz.curves import plot_loss_curve

__all__ = ["plot_loss_curve"]
