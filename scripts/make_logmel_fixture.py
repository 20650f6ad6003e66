#!/usr/bin/python3
"""Writes the log-mel parity fixtures for tests/test_data_audio.c.

Each fixture is tests/fixtures/logmel/<name>.h5 with
  /audio    float32 [n]         a deterministic 16 kHz test signal
  /logmel   float32 [frames, 80] Whisper's log-mel of /audio, frame-major, frames = n // 160
  /filters  float32 [80, 201]    the Slaney mel filter bank (torchaudio melscale_fbanks)
and attributes naming this script and the torch/torchaudio versions.

The log-mel is computed exactly as Whisper's audio.py log_mel_spectrogram does (periodic
Hann window, centred STFT with reflect padding, |X|^2 without the last frame, Slaney mel
filters, log10 floored at 1e-10, clamped at max - 8, (x + 4) / 4), but in float64, so that
the fixture is the exact function and the C code's difference from it is its own float32
error alone. The same pipeline in float32 (what Whisper runs) is also computed, and its
largest difference from the float64 result is stored as the attribute
`float32_vs_float64_max_abs`, for scale.

Run with Debian's packages (never pip):
  apt-get install -y --no-install-recommends python3-torch python3-torchaudio \
      python3-h5py python3-numpy
  /usr/bin/python3 scripts/make_logmel_fixture.py [OUT_DIR]
"""
import os
import sys

import h5py
import numpy as np
import torch
import torchaudio

SR, N_FFT, HOP, N_MELS = 16000, 400, 160, 80


def whisper_log_mel(audio, dtype):
    """Whisper audio.py log_mel_spectrogram, in `dtype`: returns (logmel [80, frames], filters)."""
    x = torch.from_numpy(audio).to(dtype)
    window = torch.hann_window(N_FFT, dtype=dtype)
    stft = torch.stft(x, N_FFT, HOP, window=window, center=True, pad_mode="reflect",
                      return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # melscale_fbanks builds its grid in the default dtype
    try:
        filters = torchaudio.functional.melscale_fbanks(
            N_FFT // 2 + 1, 0.0, SR / 2.0, N_MELS, SR, norm="slaney", mel_scale="slaney").T
    finally:
        torch.set_default_dtype(old)
    mel_spec = filters @ magnitudes
    log_spec = torch.clamp(mel_spec, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    log_spec = (log_spec + 4.0) / 4.0
    return log_spec, filters


def signals():
    """Deterministic 16 kHz test signals; lengths chosen not to be multiples of the hop."""
    rng = np.random.default_rng(20240611)
    out = {}

    # A linear chirp 100 Hz -> 7 kHz plus white noise (2 s): sweeps every mel band.
    n = 2 * SR + 77
    t = np.arange(n) / SR
    f0, f1, dur = 100.0, 7000.0, n / SR
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * dur))
    out["chirp_noise"] = 0.5 * np.sin(phase) + 0.01 * rng.standard_normal(n)

    # Speech-like: a harmonic source with a gliding pitch, two moving formant-ish peaks,
    # a 4 Hz syllable envelope and a little breath noise (1.3 s).
    n = int(1.3 * SR) + 17
    t = np.arange(n) / SR
    f_pitch = 140 + 60 * np.sin(2 * np.pi * 1.5 * t)
    ph = 2 * np.pi * np.cumsum(f_pitch) / SR
    src = np.zeros(n)
    for h in range(1, 30):
        fh = h * f_pitch
        formant = (np.exp(-((fh - 700 - 200 * np.sin(2 * np.pi * 2 * t)) / 250) ** 2)
                   + 0.5 * np.exp(-((fh - 1800) / 400) ** 2) + 0.05)
        src += np.where(fh < SR / 2, formant * np.sin(h * ph) / h ** 0.5, 0.0)
    env = 0.5 * (1 - np.cos(2 * np.pi * 4 * t)) ** 2
    out["speech_am"] = 0.2 * env * src + 0.003 * rng.standard_normal(n)

    # Silence with one click (0.5 s): exact zeros exercise the 1e-10 floor and the
    # max - 8 clamp, the click a flat spectrum in a few frames.
    n = SR // 2 + 37
    x = np.zeros(n)
    c = SR // 4
    x[c:c + 4] = [0.9, -0.6, 0.3, -0.1]
    out["silence_click"] = x
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(here), "tests",
                                                                "fixtures", "logmel")
    os.makedirs(out_dir, exist_ok=True)
    for name, audio in signals().items():
        audio = audio.astype(np.float32)  # the C code reads float32; reference from these values
        ref64, filt64 = whisper_log_mel(audio, torch.float64)
        ref32, _ = whisper_log_mel(audio, torch.float32)
        frames = len(audio) // HOP
        assert ref64.shape == (N_MELS, frames), ref64.shape
        diff32 = float((ref32.double() - ref64).abs().max())
        path = os.path.join(out_dir, name + ".h5")
        with h5py.File(path, "w", track_order=False) as f:
            f.create_dataset("audio", data=audio, track_times=False)
            f.create_dataset("logmel", data=ref64.T.contiguous().numpy().astype(np.float32),
                             track_times=False)
            f.create_dataset("filters", data=filt64.numpy().astype(np.float32), track_times=False)
            f.attrs["script"] = "scripts/make_logmel_fixture.py"
            f.attrs["torch_version"] = str(torch.__version__)
            f.attrs["torchaudio_version"] = str(torchaudio.__version__)
            f.attrs["precision"] = "float64 (stored as float32)"
            f.attrs["reference"] = "Whisper audio.py log_mel_spectrogram"
            f.attrs["float32_vs_float64_max_abs"] = diff32
        print(f"{path}: {len(audio)} samples -> {frames} frames; "
              f"float32 Whisper vs float64 max abs {diff32:.2e}")


if __name__ == "__main__":
    main()
