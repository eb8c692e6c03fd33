"""Export-friendly graphs of the speech recognizer and the wake-word detector, for ONNX.

Each wraps a trained network with the plain tensor code a deployment runs, so that
``torch.onnx.export`` records one graph, from raw audio on, and onnxruntime gives the
PyTorch outputs:

* :class:`LogMel` — ``ln(max(mel(|STFT|²), 1e-10))``: :func:`seqlab.audio.log_mel`, the
  function training uses (its real-valued ``torch.stft`` is recorded as ONNX's STFT
  operator, opset 17), the mel filterbank a constant; centred frames (the speech
  recognizer's) or not (the wake-word detector's).
* :class:`SpeechGraph` — waveform → CTC log-probabilities: :class:`LogMel`, each band
  normalised over the recording (as :class:`seqlab.tasks.SpeechRecognizer` does), the
  network. A batch holds recordings of equal length (nothing is padded).
* :class:`WakeStreamGraph` — :class:`~seqlab.models.wake.StreamingWakeModel` run chunk by
  chunk of samples: ``(audio, tail, context, hidden) → (probs, tail', context', hidden')``,
  the explicit form of ``WakeWord.stream_scores``: ``tail`` holds the samples not yet in a
  frame, ``context`` the frames not yet under a whole window (both start empty), ``hidden``
  the GRU state (starts at zeros).
* :class:`WakeWindowGraph` — any wake network's full forward, ``audio → probs`` (the
  course's non-streaming model).

``tests/test_export_onnx.py`` checks each, through onnxruntime, against the task's own
features and network.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.audio import log_mel, mel_filterbank
from seqlab.models.speech import SpeechCTC
from seqlab.models.wake import StreamingWakeModel

__all__ = ["LogMel", "SpeechGraph", "WakeStreamGraph", "WakeWindowGraph"]


class LogMel(nn.Module):
    """``ln(max(mel(|STFT|²), 1e-10))``: :func:`seqlab.audio.log_mel`'s frames (centred) or
    the wake-word task's (``center=False``), HTK mel scale, periodic Hann window: that
    function, the filterbank held as a buffer (a constant of the ONNX graph).

    Shape:
        waveform: (B, N) -> (B, T, M)
    """

    def __init__(
        self, *, sample_rate: int, n_mels: int, n_fft: int, hop_length: int, center: bool
    ) -> None:
        super().__init__()
        self.sample_rate, self.n_fft, self.hop_length = sample_rate, n_fft, hop_length
        self.center = center
        fb = mel_filterbank(n_mels, n_fft, sample_rate)  # (Fq, M)
        self.register_buffer("filterbank", fb, persistent=False)

    def forward(self, waveform: Tensor) -> Tensor:
        mel = log_mel(waveform, self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
                      center=self.center, filterbank=self.filterbank)  # (B, M, T)  # fmt: skip
        return mel.transpose(1, 2)  # (B, T, M)


class SpeechGraph(nn.Module):
    """Waveform → normalised log-mel → :class:`SpeechCTC` → log-probabilities.

    ``x = ln(max(mel(|STFT(w)|²), 1e-10))``, then per band ``(x − mean_t) / (std_t + 1e-5)``
    (population std over the recording's frames), then the network without padding.
    """

    def __init__(self, model: SpeechCTC, log_mel: LogMel) -> None:
        super().__init__()
        self.model, self.log_mel = model, log_mel

    def features(self, waveform: Tensor) -> Tensor:
        """Shape: waveform (B, N) -> (B, T, M), T = 1 + N // hop."""
        x = self.log_mel(waveform)  # (B, T, M)
        mean = x.mean(1, keepdim=True)  # (B, 1, M)
        std = (x - mean).pow(2).mean(1, keepdim=True).sqrt()  # (B, 1, M): population std
        return (x - mean) / (std + 1e-5)  # (B, T, M)

    def forward(self, waveform: Tensor) -> Tensor:
        """Log-probabilities of the classes (blank included) at every output frame.

        Shape:
            waveform: (B, N) -> (B, T', C), T' = the network's output frames of T
        """
        h = self.features(waveform).transpose(1, 2)  # (B, M, T)
        for conv in self.model.convs:
            h = torch.relu(conv(h))  # (B, K, T / s)
        a, _ = self.model.rnn(h.transpose(1, 2))  # (B, T', 2H)
        return self.model.out(a).log_softmax(-1)  # (B, T', C)


class WakeStreamGraph(nn.Module):
    """One chunk of audio through :class:`StreamingWakeModel`, the state in and out as tensors.

    Samples: with ``P = p + a`` samples (``p`` carried in ``tail``, ``a`` new), the chunk
    completes ``t = ⌊(P − n_fft) / hop⌋ + 1`` frames and keeps the samples from ``t·hop`` on.
    Frames: with ``L = r + t`` (``r`` carried in ``context``), it completes
    ``n = ⌊(L − k) / s⌋ + 1`` windows and keeps the frames from ``n·s`` on (fewer than k).
    So the first call needs ``(k − 1)·hop + n_fft`` samples, later ones ``s·hop``.
    """

    def __init__(self, model: StreamingWakeModel, log_mel: LogMel) -> None:
        super().__init__()
        self.model, self.log_mel = model, log_mel

    def forward(
        self, audio: Tensor, tail: Tensor, context: Tensor, hidden: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Shape:
        audio (B, a), tail (B, p), context (B, r, F), hidden (1, B, H)
        -> probs (B, n), tail (B, p'), context (B, r', F), hidden (1, B, H)
        """
        m, hop = self.model, self.log_mel.hop_length
        n_fft, k, s = self.log_mel.n_fft, m.config.kernel_size, m.config.stride
        samples = torch.cat([tail, audio], dim=1)  # (B, P)
        t = (samples.shape[1] - n_fft) // hop + 1
        x = torch.cat([context, self.log_mel(samples)], dim=1)  # (B, L, F): STFT drops the rest
        n = (x.shape[1] - k) // s + 1
        y, h = m.gru(m._front(x), hidden)  # (B, n, H), (1, B, H)
        probs = m.out(y).squeeze(-1).sigmoid()  # (B, n)
        return probs, samples[:, t * hop :], x[:, n * s :], h  # (B, n), (B, p'), (B, r', F), h


class WakeWindowGraph(nn.Module):
    """A wake network's full forward on a recording, as probabilities.

    Shape:
        audio: (B, N) -> (B, Ty)
    """

    def __init__(self, model: nn.Module, log_mel: LogMel) -> None:
        super().__init__()
        self.model, self.log_mel = model, log_mel

    def forward(self, audio: Tensor) -> Tensor:
        return self.model(self.log_mel(audio)).sigmoid()  # (B, T, F) -> (B, Ty)
