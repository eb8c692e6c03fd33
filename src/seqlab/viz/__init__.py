"""Matplotlib figures, drawn with the Agg backend on their own canvas.

Figures never touch pyplot's global state or the user's chosen backend: each one is a
``matplotlib.figure.Figure`` with a ``FigureCanvasAgg``, written atomically to a file.

* :func:`plot_loss_curve` — training and validation loss against the step;
  :class:`LossCurve` — the trainer callback that keeps ``loss_curve.png`` up to date.
* :func:`plot_attention` — an attention heatmap, source tokens against output tokens
  (:func:`attention_figure` gives the figure unsaved); :func:`save_attention_heads` — a
  Transformer's attention, one PNG per layer with a grid of its heads.
* :func:`plot_caption_attention` — where a captioner looked: the image once per word with
  the attention over its regions laid over it (:func:`caption_attention_figure` unsaved).
* :func:`plot_embeddings` — a labelled t-SNE/PCA map of word vectors with analogy arrows.
* :func:`plot_gradient_flow` — vanishing gradients: ‖∂L/∂a<t>‖ and ‖∂a<T>/∂a<t>‖ per model.
* :func:`plot_confusion` — a confusion-matrix heatmap with counts and row percentages
  (:func:`confusion_figure` gives the figure unsaved).
* :func:`plot_pianoroll` — a piano roll of a MIDI piece, notes as bars on pitch × beats
  (:func:`pianoroll_figure` gives the figure unsaved).
* :func:`plot_det` — a trigger-word detector's DET curve, misses against false accepts
  per hour over the threshold (:func:`det_figure` gives the figure unsaved).
* :func:`plot_speech` — a recording's waveform over its log-mel spectrogram or spectrogram,
  seconds and Hz (:func:`speech_figure` gives the figure unsaved); :func:`plot_transcription`
  — how a recognizer read it: CTC posteriors or LAS attention under the spectrogram.
"""

from seqlab.viz.attention import (
    attention_figure,
    attention_heads_figure,
    plot_attention,
    save_attention_heads,
)
from seqlab.viz.caption import caption_attention_figure, plot_caption_attention
from seqlab.viz.confusion import confusion_figure, plot_confusion
from seqlab.viz.curves import LossCurve, plot_loss_curve
from seqlab.viz.det import det_figure, plot_det
from seqlab.viz.embeddings import plot_embeddings
from seqlab.viz.gradient_flow import plot_gradient_flow
from seqlab.viz.pianoroll import pianoroll_figure, plot_pianoroll
from seqlab.viz.spectrogram import (
    plot_speech,
    plot_transcription,
    speech_figure,
    transcription_figure,
)

__all__ = [
    "LossCurve",
    "attention_figure",
    "attention_heads_figure",
    "caption_attention_figure",
    "confusion_figure",
    "det_figure",
    "pianoroll_figure",
    "plot_attention",
    "plot_caption_attention",
    "plot_confusion",
    "plot_det",
    "plot_embeddings",
    "plot_gradient_flow",
    "plot_loss_curve",
    "plot_pianoroll",
    "plot_speech",
    "plot_transcription",
    "save_attention_heads",
    "speech_figure",
    "transcription_figure",
]
