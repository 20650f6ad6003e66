/* data/audio.h: decode, downmix, resample, and the Whisper-style log-mel front end.
 * docs/audio.md gives the formulas, the frame count rule and the measured speed.
 *
 * Decoding goes through libsndfile, resampling through libsamplerate, the STFT through
 * FFTW (single precision) and the mel projection through a sparse product with the filter
 * bank (measured faster than cblas_sgemm here; docs/audio.md).
 *
 * Dependencies: data -> core. */
#ifndef TROUPE_DATA_AUDIO_H
#define TROUPE_DATA_AUDIO_H

#include "core/core.h"

/* ---------------------------------------------------------------- decode and resample */

typedef struct data_audio_info {
    int64_t frames; /* per channel: the header's count from data_audio_probe (INT64_MAX when
                       it gives none), the decoded count from data_audio_load_mono */
    int rate;       /* Hz */
    int channels;
    int bit_depth;   /* 8/16/24/32 for PCM, 32 for float, 64 double, 0 if the format has none
                        (Vorbis, Opus) */
    char format[32]; /* major format name from libsndfile: "WAV", "FLAC", "OGG", ... */
} data_audio_info;

/* Reads only the header of `path` with libsndfile into *info. Fails with CORE_ERR_CHECK,
 * the message naming the path and giving sf_strerror's reason, on a file libsndfile cannot
 * open. */
core_status data_audio_probe(const char *path, data_audio_info *info);

/* Decodes the whole file (any format libsndfile reads: WAV, FLAC, Ogg/Vorbis, ...) into
 * mono float by averaging the channels; PCM is scaled to [-1, 1). On success *out is
 * malloc'd (the caller frees it), *n its length in samples and *info the header (frames as
 * decoded). Fails with CORE_ERR_CHECK, naming the file, on a file libsndfile cannot open,
 * a corrupt or truncated file (fewer frames than the header declares, or a decoder error),
 * zero frames, or any non-finite sample (NaN/Inf in float WAV); CORE_ERR_NOMEM when the
 * samples do not fit in memory. On failure *out is NULL and *n is 0. */
core_status data_audio_load_mono(const char *path, data_audio_info *info, float **out, size_t *n);

/* Resamples mono `in` (n samples at rate_in Hz) to rate_out Hz with libsamplerate's
 * SRC_SINC_MEDIUM_QUALITY converter (why that one: docs/audio.md). Equal rates give a
 * copy. On success *out is malloc'd (the caller frees it) and *n_out is about
 * n * rate_out / rate_in. Fails with CORE_ERR_RANGE on a rate <= 0 or a ratio outside
 * libsamplerate's 1/256..256, CORE_ERR_LIMIT on more samples than libsamplerate counts,
 * CORE_ERR_NOMEM, or CORE_ERR_INTERNAL when libsamplerate fails; then *out is NULL and
 * *n_out 0. */
core_status data_resample(const float *in, size_t n, int rate_in, int rate_out, float **out,
                          size_t *n_out);

/* ---------------------------------------------------------------- log-mel */

enum { DATA_SAMPLE_RATE = 16000, DATA_N_FFT = 400, DATA_HOP = 160, DATA_N_MELS = 80 };

/* The log-mel front end (reference: Whisper, audio.py log_mel_spectrogram) for 16 kHz mono:
 * periodic Hann window of 400, centred STFT with reflect padding of 200 samples on both
 * sides, power |X|^2 of the 201 bins, Slaney mel filter bank (80 filters over 0..8000 Hz,
 * Slaney mel scale and area normalisation, as librosa.filters.mel(sr=16000, n_fft=400,
 * n_mels=80)), log10 floored at 1e-10, clamped at (max over the whole input) - 8, then
 * (x + 4) / 4. Like Whisper, the last STFT frame is dropped, so an input of n samples gives
 * n / 160 frames (integer division).
 *
 * One object holds the FFTW plan and the scratch buffers: use one object per thread; any
 * number of objects may run at once. */
typedef struct data_logmel data_logmel;

/* A new front end (filter bank and FFT plan made here, once). NULL with CORE_ERR_NOMEM
 * recorded on failure. Free with data_logmel_free. */
data_logmel *data_logmel_create(void);
void data_logmel_free(data_logmel *lm); /* accepts NULL */

/* Number of frames for n_samples input samples: n_samples / 160. */
size_t data_logmel_frames(size_t n_samples);

/* Computes the log-mel of x[0..n) (16 kHz mono) into out, [frames, 80] row-major float
 * (frame-major: one row of 80 mel values per 10 ms frame), frames = data_logmel_frames(n);
 * `out` is caller-allocated. x must be finite (data_audio_load_mono guarantees it). Does not
 * allocate. Inputs shorter than n_fft/2 + 1 = 201 samples (reflect padding impossible) fail
 * with CORE_ERR_CHECK; then `out` is untouched. */
core_status data_logmel_compute(data_logmel *lm, const float *x, size_t n, float *out);

/* The filter bank, [80, 201] row-major (filter m's weight for STFT bin k at m * 201 + k),
 * borrowed from `lm`. */
const float *data_logmel_filters(const data_logmel *lm);

/* ---------------------------------------------------------------- file to log-mel */

/* The data stage's whole front end for one file (data/audio.c): decode and downmix
 * (data_audio_load_mono), resample to 16 kHz (data_resample), log-mel
 * (data_logmel_compute) on `lm`. On success *mel is malloc'd (the caller frees it),
 * [*frames, 80] row-major, *frames = data_logmel_frames(samples after resampling). Fails
 * with the status of the failing step (CORE_ERR_CHECK naming the file for a file
 * libsndfile cannot decode; CORE_ERR_CHECK for fewer than 201 samples after resampling;
 * CORE_ERR_NOMEM); then *mel is NULL and *frames 0. */
core_status data_audio_logmel_file(const char *path, data_logmel *lm, float **mel, size_t *frames);

#endif
