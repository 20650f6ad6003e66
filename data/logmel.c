/* The Whisper log-mel front end: periodic Hann, centred reflect-padded STFT (FFTW r2c of
 * 400), power, Slaney mel filter bank, log10 with Whisper's dynamic-range clamp.
 * (reference: Whisper, audio.py log_mel_spectrogram; Slaney 1998, Auditory Toolbox,
 * MelFilterBank; librosa.filters.mel). docs/audio.md has the formulas and the timings.
 *
 * Where the time goes (docs/audio.md has the figures): the FFT is most of it; the mel
 * projection uses the filter bank's sparsity (each of the 201 bins feeds at most two
 * adjacent triangles, so 391 of the 16,080 weights are non-zero), which measured about 2x
 * faster than even one dense cblas_sgemm over all frames of the same [frames,201]x[201,80]
 * product; the log is one logf per output value. Everything runs frame by frame in L1. */
#include "data/audio.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { N_BINS = DATA_N_FFT / 2 + 1, PAD = DATA_N_FFT / 2 };

struct data_logmel {
    fftwf_plan plan;     /* r2c of 400, on `frame` -> `spec` */
    float *frame;        /* [400] windowed frame (fftwf_malloc: SIMD-aligned) */
    fftwf_complex *spec; /* [201] */
    float power[N_BINS]; /* |X|^2 of the current frame */
    float window[DATA_N_FFT];
    float filters[DATA_N_MELS * N_BINS]; /* dense [80, 201], for data_logmel_filters */
    /* The same bank, sparse: filter m covers bins [lo[m], lo[m] + len[m]) with weights
     * w[off[m] ...]. */
    int lo[DATA_N_MELS], len[DATA_N_MELS], off[DATA_N_MELS];
    float w[DATA_N_MELS * N_BINS];
};

/* FFTW's planner (plan creation and destruction) is not thread-safe; execution of distinct
 * plans is. One lock serialises the planner for every object in the process. */
static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

/* FFTW_ESTIMATE, not FFTW_MEASURE (bench/logmel.sh, docs/audio.md): MEASURE's plan for an
 * r2c of 400 was at most 5% faster in the FFT stage, at most 3% of the whole, for ~170 ms of
 * planning in the first object of a process (break-even after a day or two of audio); MEASURE
 * picks its algorithm by timing, so two runs could round differently, while ESTIMATE's plan
 * is always the same and outputs stay byte-identical from run to run (DESIGN section 7). */
#define PLAN_FLAGS FFTW_ESTIMATE

/* ---------------------------------------------------------------- Slaney mel scale */

/* Slaney's mel scale (Auditory Toolbox; librosa htk=False; torchaudio mel_scale="slaney"):
 * linear below 1 kHz at 3 mel per 200 Hz, logarithmic above with 27 steps per factor 6.4. */
static const double F_SP = 200.0 / 3.0, MIN_LOG_HZ = 1000.0, MIN_LOG_MEL = 15.0;

static double logstep(void)
{
    return log(6.4) / 27.0;
}

static double hz_to_mel(double f)
{
    return f >= MIN_LOG_HZ ? MIN_LOG_MEL + log(f / MIN_LOG_HZ) / logstep() : f / F_SP;
}

static double mel_to_hz(double m)
{
    return m >= MIN_LOG_MEL ? MIN_LOG_HZ * exp(logstep() * (m - MIN_LOG_MEL)) : m * F_SP;
}

/* The filter bank in double, stored as float (librosa computes in double too): 82 points
 * equally spaced in mel from hz_to_mel(0) to hz_to_mel(8000) give the triangles' edges
 * f[0..81]; filter m rises from f[m] to f[m+1] and falls to f[m+2], evaluated at the bin
 * frequencies 40 k Hz, and is scaled by 2 / (f[m+2] - f[m]) (Slaney area normalisation). */
static void make_filters(data_logmel *lm)
{
    enum { NP = DATA_N_MELS + 2 };
    double fpts[NP];
    const double m_lo = hz_to_mel(0.0), m_hi = hz_to_mel(DATA_SAMPLE_RATE / 2.0);
    for (int i = 0; i < NP; i++)
        fpts[i] = mel_to_hz(m_lo + (m_hi - m_lo) * i / (NP - 1));
    int nnz = 0;
    for (int m = 0; m < DATA_N_MELS; m++) {
        const double enorm = 2.0 / (fpts[m + 2] - fpts[m]);
        int lo = -1, hi = -1;
        for (int k = 0; k < N_BINS; k++) {
            const double fk = (double)DATA_SAMPLE_RATE * k / DATA_N_FFT;
            const double down = (fk - fpts[m]) / (fpts[m + 1] - fpts[m]);
            const double up = (fpts[m + 2] - fk) / (fpts[m + 2] - fpts[m + 1]);
            const double v = fmax(0.0, fmin(down, up)) * enorm;
            lm->filters[m * N_BINS + k] = (float)v;
            if (v > 0) {
                if (lo < 0)
                    lo = k;
                hi = k + 1;
            }
        }
        /* A triangle is convex, so its support is one run of bins (possibly empty). */
        lm->lo[m] = lo < 0 ? 0 : lo;
        lm->len[m] = lo < 0 ? 0 : hi - lo;
        lm->off[m] = nnz;
        for (int k = 0; k < lm->len[m]; k++)
            lm->w[nnz++] = lm->filters[m * N_BINS + lm->lo[m] + k];
    }
}

/* ---------------------------------------------------------------- object */

data_logmel *data_logmel_create(void)
{
    data_logmel *lm = core_zalloc(1, sizeof *lm, "log-mel front end");
    if (!lm)
        return NULL;
    lm->frame = fftwf_malloc(DATA_N_FFT * sizeof *lm->frame);
    lm->spec = fftwf_malloc(N_BINS * sizeof *lm->spec);
    if (!lm->frame || !lm->spec) {
        data_logmel_free(lm);
        CORE_ERR(CORE_ERR_NOMEM, "log-mel front end: out of memory for FFT buffers");
        return NULL;
    }
    pthread_mutex_lock(&planner_lock);
    lm->plan = fftwf_plan_dft_r2c_1d(DATA_N_FFT, lm->frame, lm->spec, PLAN_FLAGS);
    pthread_mutex_unlock(&planner_lock);
    if (!lm->plan) {
        data_logmel_free(lm);
        CORE_ERR(CORE_ERR_NOMEM, "log-mel front end: FFTW could not make an r2c plan of %d",
                 DATA_N_FFT);
        return NULL;
    }
    /* Periodic Hann (torch.hann_window(400), periodic=True): 0.5 - 0.5 cos(2 pi i / N). */
    for (int i = 0; i < DATA_N_FFT; i++)
        lm->window[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / DATA_N_FFT));
    make_filters(lm);
    return lm;
}

void data_logmel_free(data_logmel *lm)
{
    if (!lm)
        return;
    if (lm->plan) {
        pthread_mutex_lock(&planner_lock);
        fftwf_destroy_plan(lm->plan);
        pthread_mutex_unlock(&planner_lock);
    }
    fftwf_free(lm->frame);
    fftwf_free(lm->spec);
    free(lm);
}

const float *data_logmel_filters(const data_logmel *lm)
{
    return lm->filters;
}

size_t data_logmel_frames(size_t n_samples)
{
    return n_samples / DATA_HOP;
}

/* ---------------------------------------------------------------- compute */

/* The sample of x at unpadded position j (padded position j + PAD) under torch's "reflect"
 * padding, which does not repeat the edge sample: x[-j] for j < 0, x[2 (n - 1) - j] for
 * j >= n. One reflection suffices because n > PAD. */
static size_t reflect(ptrdiff_t j, size_t n)
{
    if (j < 0)
        return (size_t)-j;
    if ((size_t)j >= n)
        return 2 * (n - 1) - (size_t)j;
    return (size_t)j;
}

/* fr = x[s ..] * window for a frame inside x (restrict lets the compiler vectorise it). */
static void window_inner(float *restrict fr, const float *restrict xs, const float *restrict win)
{
    for (int i = 0; i < DATA_N_FFT; i++)
        fr[i] = xs[i] * win[i];
}

/* The same for an edge frame, reading through the reflection. */
static void window_edge(float *restrict fr, const float *restrict x, size_t n, ptrdiff_t s,
                        const float *restrict win)
{
    for (int i = 0; i < DATA_N_FFT; i++)
        fr[i] = x[reflect(s + i, n)] * win[i];
}

/* P[k] = |X[k]|^2 from FFTW's (re, im) pairs (fftwf_complex is float[2] or float _Complex
 * depending on <complex.h>; both are laid out as pairs). */
static void power(float *restrict P, const float *restrict X)
{
    for (int k = 0; k < N_BINS; k++)
        P[k] = X[2 * k] * X[2 * k] + X[2 * k + 1] * X[2 * k + 1];
}

core_status data_logmel_compute(data_logmel *lm, const float *x, size_t n, float *out)
{
    if (n < (size_t)PAD + 1)
        return CORE_ERR(CORE_ERR_CHECK,
                        "log-mel: input of %zu samples is shorter than %d (n_fft/2 + 1), the "
                        "least that reflect padding needs",
                        n, PAD + 1);
    const size_t frames = data_logmel_frames(n);
    /* log10(v) = ln(v) / ln(10): glibc's logf is about twice as fast as its log10f, and the
     * extra rounding (< 1e-7 relative) is far below the 1e-4 parity tolerance. */
    const float inv_ln10 = 0.43429448190325176f;
    float vmax = -INFINITY;
    for (size_t t = 0; t < frames; t++) {
        /* Frame t covers padded samples [t*160, t*160 + 400), i.e. x[t*160 - 200 ...). */
        const ptrdiff_t s = (ptrdiff_t)(t * DATA_HOP) - PAD;
        if (s >= 0 && (size_t)s + DATA_N_FFT <= n)
            window_inner(lm->frame, x + s, lm->window);
        else
            window_edge(lm->frame, x, n, s, lm->window);
        fftwf_execute(lm->plan);
        power(lm->power, (const float *)lm->spec);
        /* mel[m] = sum_k F[m, k] P[k] over filter m's non-zero run only. */
        const float *P = lm->power;
        float *o = out + t * DATA_N_MELS;
        for (int m = 0; m < DATA_N_MELS; m++) {
            const float *w = lm->w + lm->off[m], *p = P + lm->lo[m];
            float acc = 0;
            for (int k = 0; k < lm->len[m]; k++)
                acc += w[k] * p[k];
            const float v = logf(acc > 1e-10f ? acc : 1e-10f) * inv_ln10;
            o[m] = v;
            if (v > vmax)
                vmax = v;
        }
    }
    /* Whisper's dynamic-range clamp at max - 8 (80 dB), then (x + 4) / 4. */
    const float floor_v = vmax - 8.0f;
    const size_t total = frames * DATA_N_MELS;
    for (size_t i = 0; i < total; i++) {
        const float v = out[i] > floor_v ? out[i] : floor_v;
        out[i] = (v + 4.0f) * 0.25f;
    }
    return CORE_OK;
}
