#!/bin/sh
# bench: the audio front end, ours beside torchaudio, one thread each, in one run.
#   log-mel: 60 s of 16 kHz audio, 20 repeats, median; real time factor per core
#            (target >= 5,000x; torchaudio MelSpectrogram about 1,900x) and the ratio
#   where the time goes: FFT + power, the mel product sparse vs dense sgemm, the log
#   decode + resample: a 44.1 kHz stereo 16-bit WAV of the same length
# Usage: bench/logmel.sh BUILD_DIR   (make bench runs it)
set -eu
B=${1:-build}
T=${BENCH_DIR:-/tmp/troupe-bench}
SECS=${LOGMEL_SECONDS:-60}
REPS=${LOGMEL_REPEATS:-20}
mkdir -p "$T"

# Both sides run one thread pinned to the same core, so that they see the same machine
# state (on this shared 2-core machine, single-threaded timings move by up to 1.8x between
# runs; side by side on one core, the ratio holds).
PIN=""
command -v taskset >/dev/null 2>&1 && PIN="taskset -c 0"

echo "== log-mel bench on $(nproc) cores (one thread each${PIN:+, both pinned to core 0}), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
OPENBLAS_NUM_THREADS=1 $PIN "$B/bench/logmel_bench" "$T" "$SECS" "$REPS" >"$T/logmel_ours.txt"
# The peer needs Debian's torch and torchaudio; scripts/deps.sh installs them when missing
# (as root). Without them the table shows our figures and says the peer is missing.
TROUPE_EXTRA_PKGS="python3-numpy python3-torch python3-torchaudio" scripts/deps.sh || true
if ! OMP_NUM_THREADS=1 $PIN /usr/bin/python3 bench/logmel_torchaudio.py "$T" "$REPS" \
    >"$T/logmel_peer.txt" 2>"$T/logmel_peer.err"; then
    echo "(torchaudio peer did not run: $(tail -n 1 "$T/logmel_peer.err"))"
    printf '%s n/a\n' torchaudio_ms torchaudio_rtf whisper_torch_ms whisper_torch_rtf \
        torchaudio_1s_us torchaudio_1s_rtf \
        >"$T/logmel_peer.txt"
fi
get() { sed -n "s/^$2 //p" "$1"; }
O="$T/logmel_ours.txt"
P="$T/logmel_peer.txt"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0) printf "%.1fx faster", a / b; else printf "-" }'; }

echo "-- log-mel of $(get "$O" audio_s) s at 16 kHz ($(get "$O" frames) frames), median of $REPS"
printf '%-40s %10s %14s %14s\n' "" "ms" "x real time" "ours is"
printf '%-40s %10s %14s %14s\n' "troupe (FFTW r2c + sparse mel + logf)" "$(get "$O" logmel_ms)" \
    "$(get "$O" logmel_rtf)" ""
printf '%-40s %10s %14s %14s\n' \
    "torchaudio $(get "$P" torchaudio_version) MelSpectrogram + log" \
    "$(get "$P" torchaudio_ms)" "$(get "$P" torchaudio_rtf)" \
    "$(ratio "$(get "$P" torchaudio_ms)" "$(get "$O" logmel_ms)")"
printf '%-40s %10s %14s %14s\n' "whisper's torch code (torch $(get "$P" torch_version))" \
    "$(get "$P" whisper_torch_ms)" "$(get "$P" whisper_torch_rtf)" \
    "$(ratio "$(get "$P" whisper_torch_ms)" "$(get "$O" logmel_ms)")"
echo "troupe per frame: $(get "$O" logmel_us_per_frame) us; object creation (plan, filters): $(get "$O" create_ms) ms"
echo "max |troupe - torchaudio| on this audio: $(get "$P" max_abs_diff_vs_ours)"
echo "-- the same on the first 1 s only (100 frames), median of $((50 * REPS)): per-call costs"
printf '%-40s %10s %14s %14s\n' "" "us" "x real time" "ours is"
printf '%-40s %10s %14s %14s\n' "troupe" "$(get "$O" logmel_1s_us)" "$(get "$O" logmel_1s_rtf)" ""
printf '%-40s %10s %14s %14s\n' "torchaudio MelSpectrogram + log" "$(get "$P" torchaudio_1s_us)" \
    "$(get "$P" torchaudio_1s_rtf)" "$(ratio "$(get "$P" torchaudio_1s_us)" "$(get "$O" logmel_1s_us)")"

echo "-- where the time goes (ms for the whole input, each stage alone)"
echo "FFT r2c 400 + power:  $(get "$O" stage_fft_power_ms) (FFTW_ESTIMATE)  $(get "$O" stage_fft_power_measure_ms) (FFTW_MEASURE)"
echo "                      planning: $(get "$O" plan_estimate_ms) (FFTW_ESTIMATE)  $(get "$O" plan_measure_ms) (FFTW_MEASURE)"
echo "mel product:          $(get "$O" stage_mel_sparse_ms) (sparse, non-zero runs)  $(get "$O" stage_mel_dense_sgemm_ms) (dense cblas_sgemm, one call)"
echo "log (logf):           $(get "$O" stage_log_ms)"

echo "-- decode + resample, 44.1 kHz stereo 16-bit WAV of $(get "$O" audio_s) s"
printf '%-40s %10s %14s\n' "" "ms" "x real time"
printf '%-40s %10s %14s\n' "decode + downmix (libsndfile)" "$(get "$O" decode_wav44k1_stereo_ms)" \
    "$(get "$O" decode_rtf)"
printf '%-40s %10s %14s\n' "resample to 16 kHz (SINC_MEDIUM)" "$(get "$O" resample_44k1_16k_ms)" \
    "$(get "$O" resample_rtf)"
printf '%-40s %10s %14s\n' "decode + resample + log-mel" "$(get "$O" decode_resample_logmel_ms)" \
    "$(get "$O" decode_resample_logmel_rtf)"
echo "libsamplerate converters on the same 44.1 kHz mono: SINC_FASTEST $(get "$O" src_sinc_fastest_ms) ms, SINC_MEDIUM_QUALITY $(get "$O" src_sinc_medium_ms) ms, SINC_BEST_QUALITY $(get "$O" src_sinc_best_ms) ms"
rm -f "$T/logmel_audio.f32" "$T/logmel_ours.f32"
