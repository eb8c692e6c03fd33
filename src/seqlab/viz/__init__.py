"""Matplotlib figures, drawn with the Agg backend on their own canvas.

Figures never touch pyplot's global state or the user's chosen backend: each one is a
``matplotlib.figure.Figure`` with a ``FigureCanvasAgg``, written atomically to a file.

* :func:`plot_loss_curve` — training and validation loss against the step;
  :class:`LossCurve` — the trainer callback that keeps ``loss_curve.png`` up to date.
* :func:`plot_attention` — an attention heatmap, source tokens against output tokens
  (:func:`attention_figure` gives the figure unsaved).
* :func:`plot_embeddings` — a labelled t-SNE/PCA map of word vectors with analogy arrows.
* :func:`plot_gradient_flow` — vanishing gradients: ‖∂L/∂a<t>‖ and ‖∂a<T>/∂a<t>‖ per model.
* :func:`plot_confusion` — a confusion-matrix heatmap with counts and row percentages
  (:func:`confusion_figure` gives the figure unsaved).
"""

from seqlab.viz.attention import attention_figure, plot_attention
from seqlab.viz.confusion import confusion_figure, plot_confusion
from seqlab.viz.curves import LossCurve, plot_loss_curve
from seqlab.viz.embeddings import plot_embeddings
from seqlab.viz.gradient_flow import plot_gradient_flow

__all__ = [
    "LossCurve",
    "attention_figure",
    "confusion_figure",
    "plot_attention",
    "plot_confusion",
    "plot_embeddings",
    "plot_gradient_flow",
    "plot_loss_curve",
]
