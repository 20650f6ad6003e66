/* bench: the audio front end on one core: log-mel real-time factor, where its time goes,
 * and decode + resample of a 44.1 kHz stereo WAV. Usage:
 *   logmel_bench DIR [SECONDS] [REPEATS]
 * Writes DIR/logmel_audio.f32 (the 16 kHz test signal, float32) and DIR/logmel_ours.f32
 * (our log-mel of it, [frames, 80]) so that bench/logmel_torchaudio.py times its peer on
 * the same samples and checks that the outputs agree; prints one "key value" per line
 * (bench/logmel.sh puts them beside torchaudio's). */
#include "data/audio.h"

#include <cblas.h>
#include <fftw3.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static bool write_f32(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(x, sizeof *x, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* A deterministic speech-band test signal: a chirp, a harmonic tone and white noise. */
static void make_signal(float *x, size_t n, int rate, int channels)
{
    core_rng r;
    core_rng_init(&r, 1, "bench.logmel");
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate, ph = 2 * M_PI * (150 * t + 40 * t * t);
        double s = 0.3 * sin(ph) + 0.1 * sin(2 * M_PI * 220 * t) + 0.05 * sin(2 * M_PI * 660 * t);
        for (int c = 0; c < channels; c++)
            x[i * (size_t)channels + (size_t)c] = (float)(s + 0.02 * core_rng_normal(&r));
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: logmel_bench DIR [SECONDS] [REPEATS]\n");
        return 2;
    }
    const char *dir = argv[1];
    const double secs = argc > 2 ? atof(argv[2]) : 60.0;
    const int reps = argc > 3 ? atoi(argv[3]) : 20;
    if (secs < 1 || reps < 1) {
        fprintf(stderr, "logmel_bench: SECONDS >= 1 and REPEATS >= 1\n");
        return 2;
    }
    openblas_set_num_threads(1);
    const size_t n = (size_t)(secs * DATA_SAMPLE_RATE), frames = data_logmel_frames(n);
    float *x = malloc(n * sizeof *x), *out = malloc(frames * DATA_N_MELS * sizeof *out);
    double *t = malloc((size_t)reps * sizeof *t);
    make_signal(x, n, DATA_SAMPLE_RATE, 1);
    printf("audio_s %.1f\nframes %zu\nrepeats %d\n", secs, frames, reps);

    /* ---- log-mel, whole pipeline */
    double t0 = core_now();
    data_logmel *lm = data_logmel_create();
    if (!lm) {
        fprintf(stderr, "logmel_bench: %s\n", core_error_message());
        return 1;
    }
    printf("create_ms %.3f\n", (core_now() - t0) * 1e3);
    data_logmel_compute(lm, x, n, out); /* warm */
    for (int r = 0; r < reps; r++) {
        t0 = core_now();
        if (data_logmel_compute(lm, x, n, out) != CORE_OK) {
            fprintf(stderr, "logmel_bench: %s\n", core_error_message());
            return 1;
        }
        t[r] = core_now() - t0;
    }
    double med = median(t, reps);
    printf("logmel_ms %.3f\nlogmel_best_ms %.3f\nlogmel_rtf %.0f\nlogmel_us_per_frame %.3f\n",
           med * 1e3, t[0] * 1e3, secs / med, med * 1e6 / (double)frames);

    char *path = core_sprintf("%s/logmel_audio.f32", dir);
    char *opath = core_sprintf("%s/logmel_ours.f32", dir);
    if (!write_f32(path, x, n) || !write_f32(opath, out, frames * DATA_N_MELS)) {
        fprintf(stderr, "logmel_bench: cannot write %s\n", path);
        return 1;
    }
    free(path);
    free(opath);

    /* ---- short clips: the first second, many times (per-call overheads show here) */
    {
        const size_t n1 = DATA_SAMPLE_RATE, f1 = data_logmel_frames(n1);
        const int reps1 = 50 * reps;
        double *t1 = malloc((size_t)reps1 * sizeof *t1);
        for (int r = 0; r < reps1; r++) {
            t0 = core_now();
            data_logmel_compute(lm, x, n1, out);
            t1[r] = core_now() - t0;
        }
        double m1 = median(t1, reps1);
        printf("logmel_1s_us %.1f\nlogmel_1s_rtf %.0f\nlogmel_1s_frames %zu\n", m1 * 1e6, 1.0 / m1,
               f1);
        free(t1);
    }

    /* ---- where the time goes: the same stages, one at a time, outside the library */
    {
        float *fr = fftwf_malloc(DATA_N_FFT * sizeof *fr);
        fftwf_complex *X = fftwf_malloc((DATA_N_FFT / 2 + 1) * sizeof *X);
        float *P = malloc(frames * (DATA_N_FFT / 2 + 1) * sizeof *P);
        float *M = malloc(frames * DATA_N_MELS * sizeof *M);
        float *L = malloc(frames * DATA_N_MELS * sizeof *L);
        const int nb = DATA_N_FFT / 2 + 1;
        float pw[DATA_N_FFT / 2 + 1];
        volatile float sink = 0; /* keeps the power spectra live */
        for (int pass = 0; pass < 2; pass++) {
            double tp = core_now();
            fftwf_plan p =
                fftwf_plan_dft_r2c_1d(DATA_N_FFT, fr, X, pass ? FFTW_MEASURE : FFTW_ESTIMATE);
            printf("%s %.3f\n", pass ? "plan_measure_ms" : "plan_estimate_ms",
                   (core_now() - tp) * 1e3);
            /* As the library runs it: one frame at a time, in L1. */
            for (int r = 0; r < reps; r++) {
                t0 = core_now();
                for (size_t f = 1; f + 3 < frames; f++) {
                    memcpy(fr, x + f * DATA_HOP - DATA_N_FFT / 2, DATA_N_FFT * sizeof *fr);
                    fftwf_execute(p);
                    const float *xf = (const float *)X; /* re, im pairs */
                    for (int k = 0; k < nb; k++)
                        pw[k] = xf[2 * k] * xf[2 * k] + xf[2 * k + 1] * xf[2 * k + 1];
                    sink = sink + pw[f % (size_t)nb];
                }
                t[r] = core_now() - t0;
            }
            printf("%s %.3f\n", pass ? "stage_fft_power_measure_ms" : "stage_fft_power_ms",
                   median(t, reps) * 1e3);
            fftwf_destroy_plan(p);
        }
        /* Every frame's power spectrum, kept, for the two mel products below. */
        {
            fftwf_plan p = fftwf_plan_dft_r2c_1d(DATA_N_FFT, fr, X, FFTW_ESTIMATE);
            memset(P, 0, frames * (size_t)nb * sizeof *P);
            for (size_t f = 1; f + 3 < frames; f++) {
                memcpy(fr, x + f * DATA_HOP - DATA_N_FFT / 2, DATA_N_FFT * sizeof *fr);
                fftwf_execute(p);
                const float *xf = (const float *)X;
                for (int k = 0; k < nb; k++)
                    P[f * (size_t)nb + (size_t)k] =
                        xf[2 * k] * xf[2 * k] + xf[2 * k + 1] * xf[2 * k + 1];
            }
            fftwf_destroy_plan(p);
        }
        /* The mel product as a dense sgemm: M (frames,80) = P (frames,201) @ F(80,201)^T. */
        const float *F = data_logmel_filters(lm);
        for (int r = 0; r < reps; r++) {
            t0 = core_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)frames, DATA_N_MELS, nb, 1.0f,
                        P, nb, F, nb, 0.0f, M, DATA_N_MELS);
            t[r] = core_now() - t0;
        }
        printf("stage_mel_dense_sgemm_ms %.3f\n", median(t, reps) * 1e3);
        /* The same product over each filter's non-zero run only (what the library does). */
        int lo[DATA_N_MELS], hi[DATA_N_MELS];
        for (int m = 0; m < DATA_N_MELS; m++) {
            lo[m] = nb;
            hi[m] = 0;
            for (int k = 0; k < nb; k++)
                if (F[m * nb + k] > 0) {
                    lo[m] = k < lo[m] ? k : lo[m];
                    hi[m] = k + 1;
                }
        }
        for (int r = 0; r < reps; r++) {
            t0 = core_now();
            for (size_t f = 0; f < frames; f++) {
                const float *pp = P + f * (size_t)nb;
                for (int m = 0; m < DATA_N_MELS; m++) {
                    float acc = 0;
                    for (int k = lo[m]; k < hi[m]; k++)
                        acc += F[m * nb + k] * pp[k];
                    M[f * DATA_N_MELS + (size_t)m] = acc;
                }
            }
            t[r] = core_now() - t0;
        }
        printf("stage_mel_sparse_ms %.3f\n", median(t, reps) * 1e3);
        for (int r = 0; r < reps; r++) {
            t0 = core_now();
            for (size_t i = 0; i < frames * DATA_N_MELS; i++)
                L[i] = logf(M[i] > 1e-10f ? M[i] : 1e-10f);
            t[r] = core_now() - t0;
        }
        printf("stage_log_ms %.3f\n", median(t, reps) * 1e3);
        fftwf_free(fr);
        fftwf_free(X);
        free(P);
        free(M);
        free(L);
    }

    /* ---- decode + resample: a 44.1 kHz stereo 16-bit WAV of the same length */
    {
        const int rate = 44100;
        const size_t n44 = (size_t)(secs * rate);
        float *st = malloc(2 * n44 * sizeof *st);
        make_signal(st, n44, rate, 2);
        char *wav = core_sprintf("%s/logmel_bench_44k1.wav", dir);
        SF_INFO si = {
            .samplerate = rate, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
        SNDFILE *f = sf_open(wav, SFM_WRITE, &si);
        if (!f || sf_writef_float(f, st, (sf_count_t)n44) != (sf_count_t)n44) {
            fprintf(stderr, "logmel_bench: cannot write %s\n", wav);
            return 1;
        }
        sf_close(f);
        free(st);
        float *mono = NULL, *y = NULL;
        size_t nm = 0, ny = 0;
        data_audio_info info;
        double td[64], tr[64], te[64];
        int rr = reps < 64 ? reps : 64;
        for (int r = 0; r < rr; r++) {
            t0 = core_now();
            if (data_audio_load_mono(wav, &info, &mono, &nm) != CORE_OK) {
                fprintf(stderr, "logmel_bench: %s\n", core_error_message());
                return 1;
            }
            double t1 = core_now();
            if (data_resample(mono, nm, rate, DATA_SAMPLE_RATE, &y, &ny) != CORE_OK) {
                fprintf(stderr, "logmel_bench: %s\n", core_error_message());
                return 1;
            }
            double t2 = core_now();
            float *o2 = malloc(data_logmel_frames(ny) * DATA_N_MELS * sizeof *o2);
            data_logmel_compute(lm, y, ny, o2);
            double t3 = core_now();
            td[r] = t1 - t0;
            tr[r] = t2 - t1;
            te[r] = t3 - t0;
            free(o2);
            free(mono);
            free(y);
        }
        printf("decode_wav44k1_stereo_ms %.3f\ndecode_rtf %.0f\n", median(td, rr) * 1e3,
               secs / median(td, rr));
        printf("resample_44k1_16k_ms %.3f\nresample_rtf %.0f\n", median(tr, rr) * 1e3,
               secs / median(tr, rr));
        printf("decode_resample_logmel_ms %.3f\ndecode_resample_logmel_rtf %.0f\n",
               median(te, rr) * 1e3, secs / median(te, rr));
        remove(wav);
        free(wav);

        /* The two libsamplerate converters considered, on the same mono 44.1 kHz signal. */
        float *m44 = malloc(n44 * sizeof *m44);
        make_signal(m44, n44, rate, 1);
        size_t cap = (size_t)((double)n44 * DATA_SAMPLE_RATE / rate) + 64;
        float *o = malloc(cap * sizeof *o);
        static const struct {
            int type;
            const char *key;
        } conv[] = {{SRC_SINC_FASTEST, "src_sinc_fastest_ms"},
                    {SRC_SINC_MEDIUM_QUALITY, "src_sinc_medium_ms"},
                    {SRC_SINC_BEST_QUALITY, "src_sinc_best_ms"}};
        for (size_t c = 0; c < sizeof conv / sizeof *conv; c++) {
            int rc = rr < 5 ? rr : 5; /* BEST is slow */
            for (int r = 0; r < rc; r++) {
                SRC_DATA d = {.data_in = m44,
                              .data_out = o,
                              .input_frames = (long)n44,
                              .output_frames = (long)cap,
                              .src_ratio = (double)DATA_SAMPLE_RATE / rate};
                t0 = core_now();
                src_simple(&d, conv[c].type, 1);
                tr[r] = core_now() - t0;
            }
            printf("%s %.3f\n", conv[c].key, median(tr, rc) * 1e3);
        }
        free(m44);
        free(o);
    }
    data_logmel_free(lm);
    free(x);
    free(out);
    free(t);
    return 0;
}
