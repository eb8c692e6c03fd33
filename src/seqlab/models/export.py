"""Export-friendly graphs of the speech recognizer and the wake-word detector, for ONNX.

Each wraps a trained network with the plain tensor code a deployment runs, so that
``torch.onnx.export`` records one graph, from raw audio on, and onnxruntime gives the
PyTorch outputs:

* :class:`LogMel` — ``ln(max(mel(|STFT|²), 1e-10))`` with a real-valued ``torch.stft``
  (ONNX's STFT operator, opset 17; a complex STFT does not export), the mel filterbank a
  constant; centred frames (the speech recognizer's) or not (the wake-word detector's).
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
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.audio import mel_filterbank
from seqlab.models.speech import SpeechCTC
from seqlab.models.wake import StreamingWakeModel

__all__ = ["LogMel", "SpeechGraph", "WakeStreamGraph", "WakeWindowGraph", "power_spectrogram"]


def power_spectrogram(waveform: Tensor, window: Tensor, hop: int, *, center: bool) -> Tensor:
    """``|STFT|²`` with a real-valued ``torch.stft`` (exported as ONNX's STFT, opset 17).

    Equal to :func:`seqlab.audio.spectrogram` (``power=2``): centred frames read the signal
    padded by ``n_fft // 2`` reflected samples on both sides.

    Shape:
        waveform: (B, N), window: (n_fft,) -> (B, Fq, T), Fq = n_fft // 2 + 1
    """
    n_fft = window.shape[0]
    if center:
        pad = n_fft // 2
        waveform = F.pad(waveform[:, None], (pad, pad), mode="reflect")[:, 0]  # (B, N + 2p)
    spec = torch.stft(waveform, n_fft, hop_length=hop, window=window, center=False,
                      return_complex=False)  # (B, Fq, T, 2): real, imaginary  # fmt: skip
    return spec.pow(2).sum(-1)  # (B, Fq, T)


class LogMel(nn.Module):
    """``ln(max(mel(|STFT|²), 1e-10))``: :func:`seqlab.audio.log_mel`'s frames (centred) or
    the wake-word task's (``center=False``), HTK mel scale, periodic Hann window.

    Shape:
        waveform: (B, N) -> (B, T, M)
    """

    def __init__(
        self, *, sample_rate: int, n_mels: int, n_fft: int, hop_length: int, center: bool
    ) -> None:
        super().__init__()
        self.hop_length, self.center = hop_length, center
        fb = mel_filterbank(n_mels, n_fft, sample_rate)  # (Fq, M)
        self.register_buffer("filterbank", fb, persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)  # (n_fft,)

    def forward(self, waveform: Tensor) -> Tensor:
        power = power_spectrogram(waveform, self.window, self.hop_length, center=self.center)
        return (power.transpose(1, 2) @ self.filterbank).clamp_min(1e-10).log()  # (B, T, M)


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
        n_fft, k, s = self.log_mel.window.shape[0], m.config.kernel_size, m.config.stride
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
