#!/usr/bin/python3
"""bench: the peer of bench/logmel_bench.c, torchaudio's log-mel on one thread.

Usage: logmel_torchaudio.py DIR [REPEATS]
Reads DIR/logmel_audio.f32 (the 16 kHz signal logmel_bench wrote) and times, on the same
samples with torch.set_num_threads(1):
  torchaudio: transforms.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160,
              n_mels=80, norm="slaney", mel_scale="slaney") plus Whisper's log/clamp
  whisper:    Whisper's own torch code (torch.stft, filters @ |X|^2, log/clamp)
  1 s:        torchaudio on the first second only, 50 x REPEATS times
It also compares torchaudio's result (last frame dropped, as Whisper does) with ours from
DIR/logmel_ours.f32. Prints one "key value" per line (bench/logmel.sh reads them).
"""
import os
import sys
import time

import numpy as np
import torch
import torchaudio


def log_clamp(mel):
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def timed(fn, reps):
    fn()  # warm
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), out


def main():
    d = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    torch.set_num_threads(1)
    audio = torch.from_numpy(np.fromfile(os.path.join(d, "logmel_audio.f32"), dtype=np.float32))
    secs = audio.numel() / 16000.0

    mel_tf = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160,
                                                  n_mels=80, norm="slaney", mel_scale="slaney")
    with torch.inference_mode():
        t_ta, ta = timed(lambda: log_clamp(mel_tf(audio)), reps)

        window = torch.hann_window(400)
        filters = torchaudio.functional.melscale_fbanks(201, 0.0, 8000.0, 80, 16000,
                                                        norm="slaney", mel_scale="slaney").T

        def whisper():
            stft = torch.stft(audio, 400, 160, window=window, return_complex=True)
            return log_clamp(filters @ stft[..., :-1].abs() ** 2)

        t_wh, _ = timed(whisper, reps)

        # Short clips: the first second, many times (per-call overheads show here).
        clip = audio[:16000].clone()
        t_1s, _ = timed(lambda: log_clamp(mel_tf(clip)), 50 * reps)

    print(f"torch_version {torch.__version__}")
    print(f"torchaudio_version {torchaudio.__version__}")
    print(f"audio_s {secs:.1f}")
    print(f"torchaudio_ms {t_ta * 1e3:.3f}")
    print(f"torchaudio_rtf {secs / t_ta:.0f}")
    print(f"whisper_torch_ms {t_wh * 1e3:.3f}")
    print(f"whisper_torch_rtf {secs / t_wh:.0f}")
    print(f"torchaudio_1s_us {t_1s * 1e6:.1f}")
    print(f"torchaudio_1s_rtf {1.0 / t_1s:.0f}")

    ours_path = os.path.join(d, "logmel_ours.f32")
    if os.path.exists(ours_path):
        ours = np.fromfile(ours_path, dtype=np.float32).reshape(-1, 80)
        # torchaudio keeps the last frame; Whisper (and we) drop it. The clamp floor is
        # global, so recompute it without the dropped frame.
        ref = log_clamp(mel_tf(audio)[:, :-1]).T.numpy()
        if ref.shape == ours.shape:
            print(f"max_abs_diff_vs_ours {np.abs(ref - ours).max():.2e}")
        else:
            print(f"max_abs_diff_vs_ours shape-mismatch {ref.shape} {ours.shape}")


if __name__ == "__main__":
    main()
