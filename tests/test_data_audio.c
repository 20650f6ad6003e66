/* Tests of the audio front end: log-mel parity with PyTorch/torchaudio fixtures
 * (scripts/make_logmel_fixture.py), the filter bank, the frame count, decoding of files this
 * test writes with libsndfile, resampling, and the error paths. */
#include "data/audio.h"
#include "tests/runner.h"

#include <sndfile.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];

static char *tmp_path(const char *name)
{
    return core_sprintf("%s/%s", tmpdir, name);
}

/* A committed fixture (tests/fixtures/logmel/). */
static char *fixture_path(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "logmel/%s.h5", name);
    return test_fixture_path(rel);
}

typedef struct fixture {
    float *audio, *logmel, *filters;
    size_t n, frames;
} fixture;

static bool fixture_load(const char *name, fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    char *path = fixture_path(name);
    if (!path) {
        printf("    fixture %s.h5 not found under tests/fixtures/logmel\n", name);
        return false;
    }
    hid_t f;
    bool ok = core_h5_open(path, &f) == CORE_OK;
    free(path);
    if (!ok)
        return false;
    int rank;
    hsize_t da[8], dl[8], df[8];
    ok = core_h5_read(f, "audio", CORE_H5_F32, &rank, da, (void **)&fx->audio) == CORE_OK &&
         rank == 1 &&
         core_h5_read(f, "logmel", CORE_H5_F32, &rank, dl, (void **)&fx->logmel) == CORE_OK &&
         rank == 2 && dl[1] == DATA_N_MELS &&
         core_h5_read(f, "filters", CORE_H5_F32, &rank, df, (void **)&fx->filters) == CORE_OK &&
         rank == 2 && df[0] == DATA_N_MELS && df[1] == DATA_N_FFT / 2 + 1;
    core_h5_close(f);
    if (ok) {
        fx->n = (size_t)da[0];
        fx->frames = (size_t)dl[0];
    }
    return ok;
}

static void fixture_free(fixture *fx)
{
    free(fx->audio);
    free(fx->logmel);
    free(fx->filters);
}

static const char *const fixtures[] = {"chirp_noise", "speech_am", "silence_click"};
enum { N_FIXTURES = sizeof fixtures / sizeof *fixtures };

/* Writes `frames` interleaved frames of `ch` channels with libsndfile. */
static bool write_audio(const char *path, int format, int ch, int rate, const float *x,
                        size_t frames)
{
    SF_INFO si = {.samplerate = rate, .channels = ch, .format = format};
    SNDFILE *f = sf_open(path, SFM_WRITE, &si);
    if (!f) {
        printf("    cannot write %s: %s\n", path, sf_strerror(NULL));
        return false;
    }
    bool ok = sf_writef_float(f, x, (sf_count_t)frames) == (sf_count_t)frames;
    return sf_close(f) == 0 && ok;
}

/* Amplitude of the component of x at `hz` (sampling rate `rate`), by projection onto sin
 * and cos over x[from, to). */
static double tone_amplitude(const float *x, size_t from, size_t to, double hz, int rate)
{
    double s = 0, c = 0;
    for (size_t i = from; i < to; i++) {
        double ph = 2 * M_PI * hz * (double)i / rate;
        s += x[i] * sin(ph);
        c += x[i] * cos(ph);
    }
    return 2.0 * sqrt(s * s + c * c) / (double)(to - from);
}

/* ---------------------------------------------------------------- log-mel */

static void test_logmel_matches_torch_reference(void)
{
    data_logmel *lm = data_logmel_create();
    CHECK(lm != NULL);
    for (int i = 0; i < N_FIXTURES && lm; i++) {
        fixture fx;
        bool ok = fixture_load(fixtures[i], &fx);
        CHECK(ok);
        if (ok) {
            float *out = malloc(fx.frames * DATA_N_MELS * sizeof *out);
            CHECK_EQ_INT(data_logmel_frames(fx.n), fx.frames);
            CHECK_EQ_INT(data_logmel_compute(lm, fx.audio, fx.n, out), CORE_OK);
            double worst = 0;
            for (size_t j = 0; j < fx.frames * DATA_N_MELS; j++)
                worst = fmax(worst, fabs((double)out[j] - fx.logmel[j]));
            printf("    %-13s %5zu frames, max |ours - torch float64| = %.2e\n", fixtures[i],
                   fx.frames, worst);
            CHECK(worst <= 1e-4);
            free(out);
        }
        fixture_free(&fx);
    }
    data_logmel_free(lm);
}

static void test_filter_bank_matches_torchaudio_slaney(void)
{
    data_logmel *lm = data_logmel_create();
    fixture fx;
    bool ok = lm && fixture_load("speech_am", &fx);
    CHECK(ok);
    if (ok) {
        const float *fb = data_logmel_filters(lm);
        double worst = 0, ref_max = 0;
        for (size_t j = 0; j < (size_t)DATA_N_MELS * (DATA_N_FFT / 2 + 1); j++) {
            worst = fmax(worst, fabs((double)fb[j] - fx.filters[j]));
            ref_max = fmax(ref_max, fx.filters[j]);
        }
        printf("    max |ours - torchaudio| = %.2e (largest weight %.4f)\n", worst, ref_max);
        CHECK(worst <= 1e-6);
        /* Every filter has weight somewhere (none is empty at 80 mels, n_fft 400). */
        for (int m = 0; m < DATA_N_MELS; m++) {
            double row = 0;
            for (int k = 0; k < DATA_N_FFT / 2 + 1; k++)
                row += fb[m * (DATA_N_FFT / 2 + 1) + k];
            CHECK(row > 0);
        }
        fixture_free(&fx);
    }
    data_logmel_free(lm);
}

static void test_logmel_frame_count_is_samples_over_hop_without_last_frame(void)
{
    CHECK_EQ_INT(data_logmel_frames(0), 0);
    CHECK_EQ_INT(data_logmel_frames(159), 0);
    CHECK_EQ_INT(data_logmel_frames(160), 1);
    CHECK_EQ_INT(data_logmel_frames(16000), 100);
    CHECK_EQ_INT(data_logmel_frames(16159), 100);
    /* The shortest inputs write exactly frames * 80 values: a sentinel after them survives. */
    data_logmel *lm = data_logmel_create();
    CHECK(lm != NULL);
    static const size_t lens[] = {201, 319, 320, 479, 16159};
    for (size_t i = 0; i < sizeof lens / sizeof *lens && lm; i++) {
        size_t n = lens[i], frames = data_logmel_frames(n);
        float *x = malloc(n * sizeof *x), *out = malloc((frames * DATA_N_MELS + 1) * sizeof *out);
        for (size_t j = 0; j < n; j++)
            x[j] = (float)sin(0.05 * (double)j) + 0.01f * (float)(j % 7);
        out[frames * DATA_N_MELS] = 12345.0f;
        CHECK_EQ_INT(data_logmel_compute(lm, x, n, out), CORE_OK);
        CHECK(out[frames * DATA_N_MELS] == 12345.0f);
        for (size_t j = 0; j < frames * DATA_N_MELS; j++)
            if (!isfinite(out[j])) {
                CHECK(isfinite(out[j]));
                break;
            }
        free(x);
        free(out);
    }
    data_logmel_free(lm);
}

static void test_logmel_rejects_input_shorter_than_reflect_padding(void)
{
    data_logmel *lm = data_logmel_create();
    CHECK(lm != NULL);
    float x[200] = {0}, out[DATA_N_MELS];
    out[0] = 7.0f;
    CHECK_EQ_INT(data_logmel_compute(lm, x, 200, out), CORE_ERR_CHECK);
    CHECK_CONTAINS(core_error_message(), "200 samples");
    CHECK(out[0] == 7.0f);
    CHECK_EQ_INT(data_logmel_compute(lm, x, 0, out), CORE_ERR_CHECK);
    data_logmel_free(lm);
    data_logmel_free(NULL);
}

static void test_logmel_object_reused_gives_identical_output(void)
{
    data_logmel *lm = data_logmel_create();
    fixture a, b;
    bool ok = lm && fixture_load("chirp_noise", &a) && fixture_load("speech_am", &b);
    CHECK(ok);
    if (ok) {
        float *o1 = malloc(a.frames * DATA_N_MELS * sizeof *o1);
        float *o2 = malloc(a.frames * DATA_N_MELS * sizeof *o2);
        float *ob = malloc(b.frames * DATA_N_MELS * sizeof *ob);
        CHECK_EQ_INT(data_logmel_compute(lm, a.audio, a.n, o1), CORE_OK);
        CHECK_EQ_INT(data_logmel_compute(lm, b.audio, b.n, ob), CORE_OK);
        CHECK_EQ_INT(data_logmel_compute(lm, a.audio, a.n, o2), CORE_OK);
        CHECK(memcmp(o1, o2, a.frames * DATA_N_MELS * sizeof *o1) == 0);
        free(o1);
        free(o2);
        free(ob);
        fixture_free(&a);
        fixture_free(&b);
    }
    data_logmel_free(lm);
}

typedef struct par_ctx {
    const fixture *fx;
    float *out[2];
    core_status st[2];
} par_ctx;

static void par_worker(void *ctx, size_t begin, size_t end, int tid)
{
    par_ctx *c = ctx;
    for (size_t i = begin; i < end; i++) {
        /* Created inside the thread: plan creation runs concurrently and must be serialised. */
        data_logmel *lm = data_logmel_create();
        c->st[i] = lm ? data_logmel_compute(lm, c->fx->audio, c->fx->n, c->out[i]) : CORE_ERR_NOMEM;
        data_logmel_free(lm);
    }
}

static void test_logmel_objects_on_two_threads_match_one_thread(void)
{
    fixture fx;
    bool ok = fixture_load("chirp_noise", &fx);
    CHECK(ok);
    if (!ok)
        return;
    size_t vals = fx.frames * DATA_N_MELS;
    par_ctx c = {.fx = &fx};
    float *ref = malloc(vals * sizeof *ref);
    for (int i = 0; i < 2; i++)
        c.out[i] = malloc(vals * sizeof *c.out[i]);
    data_logmel *lm = data_logmel_create();
    CHECK(lm && data_logmel_compute(lm, fx.audio, fx.n, ref) == CORE_OK);
    data_logmel_free(lm);
    CHECK_EQ_INT(core_parallel_for(2, 2, par_worker, &c), CORE_OK);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(c.st[i], CORE_OK);
        CHECK(memcmp(ref, c.out[i], vals * sizeof *ref) == 0);
        free(c.out[i]);
    }
    free(ref);
    fixture_free(&fx);
}

/* ---------------------------------------------------------------- decode */

/* One format written and read back: stereo L = 0.5 sin(440 Hz), R = 0.3 sin(1000 Hz) + 0.1,
 * so the mono average is known sample by sample. */
static void check_decode(const char *name, int format, int bits, const char *major, double tol_max,
                         double tol_rms)
{
    enum { RATE = 22050, FRAMES = 22050 / 2 };
    float *st = malloc(2 * FRAMES * sizeof *st);
    for (int i = 0; i < FRAMES; i++) {
        st[2 * i] = (float)(0.5 * sin(2 * M_PI * 440.0 * i / RATE));
        st[2 * i + 1] = (float)(0.3 * sin(2 * M_PI * 1000.0 * i / RATE) + 0.1);
    }
    char *path = tmp_path(name);
    CHECK(write_audio(path, format, 2, RATE, st, FRAMES));

    data_audio_info pi, li;
    CHECK_EQ_INT(data_audio_probe(path, &pi), CORE_OK);
    CHECK_EQ_INT(pi.rate, RATE);
    CHECK_EQ_INT(pi.channels, 2);
    CHECK_EQ_INT(pi.frames, FRAMES);
    CHECK_EQ_INT(pi.bit_depth, bits);
    CHECK_STR(pi.format, major);

    float *mono = NULL;
    size_t n = 0;
    CHECK_EQ_INT(data_audio_load_mono(path, &li, &mono, &n), CORE_OK);
    CHECK_EQ_INT(n, FRAMES);
    CHECK_EQ_INT(li.frames, FRAMES);
    CHECK_STR(li.format, major);
    if (mono && n == FRAMES) {
        double worst = 0, sq = 0;
        for (int i = 0; i < FRAMES; i++) {
            double want = 0.5 * ((double)st[2 * i] + (double)st[2 * i + 1]);
            double d = fabs(mono[i] - want);
            worst = fmax(worst, d);
            sq += d * d;
        }
        double rms = sqrt(sq / FRAMES);
        if (worst > tol_max || rms > tol_rms)
            printf("    %s: max |err| %.3g, rms %.3g\n", name, worst, rms);
        CHECK(worst <= tol_max);
        CHECK(rms <= tol_rms);
    }
    free(mono);
    free(path);
    free(st);
}

static void test_load_decodes_wav16_and_averages_stereo(void)
{
    /* 16-bit quantisation: half a step per channel. */
    check_decode("pcm16.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16, "WAV", 1.0 / 32768, 1e-4);
}

static void test_load_decodes_float_wav_exactly(void)
{
    check_decode("float.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 32, "WAV", 1e-7, 1e-7);
}

static void test_load_decodes_flac(void)
{
    check_decode("pcm16.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16, "FLAC", 1.0 / 32768, 1e-4);
}

static void test_load_decodes_ogg_vorbis(void)
{
    /* Lossy: the decoded signal is close to the average, not equal to it. */
    check_decode("vorbis.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0, "OGG", 0.05, 0.01);
}

/* ---------------------------------------------------------------- resample */

static void check_resample(int rate_in, double hz)
{
    const size_t n = (size_t)rate_in; /* 1 s */
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(0.5 * sin(2 * M_PI * hz * (double)i / rate_in));
    float *y = NULL;
    size_t m = 0;
    CHECK_EQ_INT(data_resample(x, n, rate_in, DATA_SAMPLE_RATE, &y, &m), CORE_OK);
    double want = (double)n * DATA_SAMPLE_RATE / rate_in;
    CHECK(fabs((double)m - want) <= 2);
    if (y && m > 4000) {
        /* Away from the edges, where the filter starts and stops. */
        double amp = tone_amplitude(y, 1000, m - 1000, hz, DATA_SAMPLE_RATE);
        double off = tone_amplitude(y, 1000, m - 1000, hz * 1.25, DATA_SAMPLE_RATE);
        CHECK_NEAR(amp, 0.5, 0.005);
        CHECK(off < 0.005);
        /* The phase is kept too: sample i of the output is time i / 16000 s. */
        double err = 0;
        for (size_t i = 1000; i < m - 1000; i++)
            err = fmax(err, fabs(y[i] - 0.5 * sin(2 * M_PI * hz * (double)i / DATA_SAMPLE_RATE)));
        CHECK(err < 0.01);
    }
    free(x);
    free(y);
}

static void test_resample_44k1_to_16k_keeps_frequency_amplitude_and_length(void)
{
    check_resample(44100, 1000.0);
    check_resample(44100, 3100.0);
    /* Still flat at 6 kHz: SINC_MEDIUM_QUALITY (SINC_FASTEST is -0.5 dB here). */
    check_resample(44100, 6000.0);
}

static void test_resample_8k_to_16k_keeps_frequency_amplitude_and_length(void)
{
    check_resample(8000, 1000.0);
    check_resample(8000, 2500.0);
}

static void test_resample_equal_rates_copies_and_bad_rates_fail(void)
{
    float x[5] = {1, 2, 3, 4, 5}, *y = NULL;
    size_t m = 0;
    CHECK_EQ_INT(data_resample(x, 5, 16000, 16000, &y, &m), CORE_OK);
    CHECK_EQ_INT(m, 5);
    CHECK(y && memcmp(x, y, sizeof x) == 0);
    free(y);
    CHECK_EQ_INT(data_resample(x, 5, 0, 16000, &y, &m), CORE_ERR_RANGE);
    CHECK(y == NULL && m == 0);
    CHECK_EQ_INT(data_resample(x, 5, 16000, 16000 * 300, &y, &m), CORE_ERR_RANGE);
}

/* ---------------------------------------------------------------- errors */

/* The load failed with CORE_ERR_CHECK, named the file, and left nothing behind. */
static void check_load_fails(const char *path, const char *why)
{
    data_audio_info info;
    float dummy, *out = &dummy; /* must be reset to NULL */
    size_t n = 99;
    CHECK_EQ_INT(data_audio_load_mono(path, &info, &out, &n), CORE_ERR_CHECK);
    CHECK_CONTAINS(core_error_message(), path);
    CHECK_CONTAINS(core_error_message(), why);
    CHECK(out == NULL && n == 0);
}

static void test_load_rejects_random_bytes_naming_the_file(void)
{
    char *path = tmp_path("noise.wav");
    core_rng r;
    core_rng_init(&r, 7, "test.audio.corrupt");
    uint8_t bytes[4096];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)core_rng_u32(&r);
    CHECK_EQ_INT(core_file_write_atomic(path, bytes, sizeof bytes), CORE_OK);
    check_load_fails(path, "cannot decode");
    data_audio_info info;
    CHECK_EQ_INT(data_audio_probe(path, &info), CORE_ERR_CHECK);
    CHECK_CONTAINS(core_error_message(), path);
    free(path);
}

static void test_load_rejects_truncated_wav_naming_the_file(void)
{
    char *path = tmp_path("truncated.wav");
    enum { FRAMES = 8000 };
    float x[FRAMES];
    for (int i = 0; i < FRAMES; i++)
        x[i] = (float)sin(0.01 * i);
    CHECK(write_audio(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1, 16000, x, FRAMES));
    /* Cut the data chunk in half: the header still declares 8000 frames. */
    CHECK(truncate(path, 44 + FRAMES) == 0);
    check_load_fails(path, "truncated");
    free(path);
}

/* Writes `frames` of noise in `format` and cuts the file to `keep` bytes. */
static char *write_cut(const char *name, int format, int frames, long keep)
{
    char *path = tmp_path(name);
    float *x = malloc((size_t)frames * sizeof *x);
    core_rng r;
    core_rng_init(&r, 3, "test.audio.truncated");
    for (int i = 0; i < frames; i++)
        x[i] = (float)(1.6 * (core_rng_uniform(&r) - 0.5)); /* noise: codecs cannot shrink it */
    CHECK(write_audio(path, format, 1, 16000, x, (size_t)frames));
    CHECK(truncate(path, keep) == 0);
    free(x);
    return path;
}

static void test_load_rejects_truncated_flac_and_ogg_naming_the_file(void)
{
    char *flac = write_cut("truncated.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 12000);
    check_load_fails(flac, "corrupt");
    char *ogg = write_cut("truncated.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 32000, 6000);
    check_load_fails(ogg, "truncated or corrupt");
    free(flac);
    free(ogg);
}

static void test_load_rejects_zero_length_audio(void)
{
    char *path = tmp_path("empty.wav");
    CHECK(write_audio(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1, 16000, NULL, 0));
    check_load_fails(path, "no audio");
    free(path);
}

static void test_load_rejects_nan_in_float_wav(void)
{
    char *path = tmp_path("nan.wav");
    float x[1000];
    for (int i = 0; i < 1000; i++)
        x[i] = 0.1f;
    x[617] = NAN;
    CHECK(write_audio(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 16000, x, 1000));
    check_load_fails(path, "non-finite sample");
    CHECK_CONTAINS(core_error_message(), "frame 617");
    x[617] = INFINITY;
    CHECK(write_audio(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 16000, x, 1000));
    check_load_fails(path, "non-finite sample");
    free(path);
}

static void test_load_of_missing_file_names_it(void)
{
    char *path = tmp_path("missing.flac");
    check_load_fails(path, "cannot decode");
    free(path);
}

int main(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "audio")) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_logmel_matches_torch_reference);
    RUN(test_filter_bank_matches_torchaudio_slaney);
    RUN(test_logmel_frame_count_is_samples_over_hop_without_last_frame);
    RUN(test_logmel_rejects_input_shorter_than_reflect_padding);
    RUN(test_logmel_object_reused_gives_identical_output);
    RUN(test_logmel_objects_on_two_threads_match_one_thread);
    RUN(test_load_decodes_wav16_and_averages_stereo);
    RUN(test_load_decodes_float_wav_exactly);
    RUN(test_load_decodes_flac);
    RUN(test_load_decodes_ogg_vorbis);
    RUN(test_resample_44k1_to_16k_keeps_frequency_amplitude_and_length);
    RUN(test_resample_8k_to_16k_keeps_frequency_amplitude_and_length);
    RUN(test_resample_equal_rates_copies_and_bad_rates_fail);
    RUN(test_load_rejects_random_bytes_naming_the_file);
    RUN(test_load_rejects_truncated_wav_naming_the_file);
    RUN(test_load_rejects_truncated_flac_and_ogg_naming_the_file);
    RUN(test_load_rejects_zero_length_audio);
    RUN(test_load_rejects_nan_in_float_wav);
    RUN(test_load_of_missing_file_names_it);
    core_rmtree(tmpdir);
    return TEST_SUMMARY();
}
