/* Audio decode (libsndfile), mono downmix and resampling (libsamplerate).
 *
 * Decoding trusts nothing in the header for allocation: the sample buffer grows as frames
 * arrive, and only then is the count compared with what the header declared, so a header
 * claiming 2^40 frames costs nothing before it is found to be a lie. libsndfile clamps a
 * WAV/AIFF data chunk that runs past the end of the file to what is present and only notes
 * it in its log ("data : 40000 (should be 19956)"); that note is how a truncated WAV is told
 * from a short one. */
#include "data/audio.h"

#include <limits.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- decode */

/* Bits per sample of a libsndfile subtype; 0 where the coding has none (Vorbis, Opus). */
static int subtype_bits(int format)
{
    switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8:
    case SF_FORMAT_PCM_U8:
    case SF_FORMAT_ULAW:
    case SF_FORMAT_ALAW: return 8;
    case SF_FORMAT_PCM_16:
    case SF_FORMAT_DWVW_16: return 16;
    case SF_FORMAT_PCM_24:
    case SF_FORMAT_DWVW_24: return 24;
    case SF_FORMAT_PCM_32:
    case SF_FORMAT_FLOAT: return 32;
    case SF_FORMAT_DOUBLE: return 64;
    case SF_FORMAT_DWVW_12: return 12;
    case SF_FORMAT_IMA_ADPCM:
    case SF_FORMAT_MS_ADPCM:
    case SF_FORMAT_VOX_ADPCM: return 4;
    default: return 0;
    }
}

/* Fills *info from an open file: the major format's short name is the first word of
 * libsndfile's description ("WAV (Microsoft)" -> "WAV"). */
static void fill_info(SNDFILE *f, const SF_INFO *si, data_audio_info *info)
{
    memset(info, 0, sizeof *info);
    info->frames = si->frames == SF_COUNT_MAX ? INT64_MAX : (int64_t)si->frames;
    info->rate = si->samplerate;
    info->channels = si->channels;
    info->bit_depth = subtype_bits(si->format);
    SF_FORMAT_INFO fi = {.format = si->format & SF_FORMAT_TYPEMASK};
    const char *name = "";
    if (sf_command(f, SFC_GET_FORMAT_INFO, &fi, sizeof fi) == 0 && fi.name)
        name = fi.name;
    size_t len = strcspn(name, " ");
    if (len >= sizeof info->format)
        len = sizeof info->format - 1;
    memcpy(info->format, name, len);
    info->format[len] = '\0';
}

/* sf_strerror(NULL) reads libsndfile's process-wide last error: with several threads
 * opening files at once, the reason (never the path) may come from another thread's open. */
static core_status open_read(const char *path, SNDFILE **f, SF_INFO *si)
{
    memset(si, 0, sizeof *si);
    *f = sf_open(path, SFM_READ, si);
    if (!*f)
        return CORE_ERR(CORE_ERR_CHECK, "%s: cannot decode audio: %s", path, sf_strerror(NULL));
    return CORE_OK;
}

core_status data_audio_probe(const char *path, data_audio_info *info)
{
    SNDFILE *f;
    SF_INFO si;
    core_status st = open_read(path, &f, &si);
    if (st != CORE_OK) {
        memset(info, 0, sizeof *info);
        return st;
    }
    fill_info(f, &si, info);
    sf_close(f);
    return CORE_OK;
}

/* True when libsndfile's open log says the audio data runs past the end of the file;
 * *declared and *present get the two byte counts. libsndfile logs "(should be N)" after a
 * length it had to clamp. The lengths looked at are the data chunk's ("data" in WAV, "SSND"
 * in AIFF) and, for W64 and RF64, whose logs do not check the data chunk, the container's
 * ("riff" in W64, "Riff size" in RF64; WAV's "RIFF" is left out on purpose: writers often
 * get it wrong on files whose data is whole). A declared 0xFFFFFFFF is the "length
 * unknown" marker streaming writers leave and is not taken as truncation. */
static bool data_truncated(SNDFILE *f, long long *declared, long long *present)
{
    static const char *const keys[] = {"data :", "SSND :", "riff :", "Riff size :"};
    char log[4096]; /* libsndfile keeps at most 2 KiB of log */
    log[0] = '\0';
    sf_command(f, SFC_GET_LOG_INFO, log, sizeof log);
    log[sizeof log - 1] = '\0';
    for (const char *line = log; *line;) {
        line += strspn(line, " ");
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            const size_t kl = strlen(keys[i]);
            long long d, p;
            if (strncmp(line, keys[i], kl) == 0 &&
                sscanf(line + kl, "%lld (should be %lld)", &d, &p) == 2 && d > p &&
                d != 0xFFFFFFFFLL) {
                *declared = d;
                *present = p;
                return true;
            }
        }
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return false;
}

core_status data_audio_load_mono(const char *path, data_audio_info *info, float **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    SNDFILE *f = NULL;
    SF_INFO si;
    float *chunk = NULL, *mono = NULL;
    size_t got = 0, cap = 0;
    core_status st = open_read(path, &f, &si);
    if (st != CORE_OK) {
        memset(info, 0, sizeof *info);
        return st;
    }
    fill_info(f, &si, info);
    const bool known = si.frames != SF_COUNT_MAX;
    if (known && si.frames <= 0) {
        st = CORE_ERR(CORE_ERR_CHECK, "%s: no audio (0 frames)", path);
        goto done;
    }
    long long declared, present;
    if (data_truncated(f, &declared, &present)) {
        st = CORE_ERR(CORE_ERR_CHECK,
                      "%s: truncated: the header declares %lld bytes where the file holds %lld",
                      path, declared, present);
        goto done;
    }

    /* Interleaved reads of CHUNK frames, averaged into the growing mono buffer. */
    enum { CHUNK = 4096 };
    const int ch = si.channels;
    const float inv_ch = 1.0f / (float)ch;
    chunk = core_alloc((size_t)CHUNK * (size_t)ch, sizeof *chunk, path);
    if (!chunk) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    sf_count_t k;
    while ((k = sf_readf_float(f, chunk, CHUNK)) > 0) {
        if (got + (size_t)k > cap) {
            size_t want = cap ? cap * 2 : (size_t)1 << 16;
            while (want < got + (size_t)k)
                want *= 2;
            float *p = core_realloc(mono, want, sizeof *mono, path);
            if (!p) {
                st = CORE_ERR_NOMEM;
                goto done;
            }
            mono = p;
            cap = want;
        }
        for (sf_count_t i = 0; i < k; i++) {
            const float *fr = chunk + (size_t)i * (size_t)ch;
            float s;
            if (ch == 1) {
                s = fr[0];
            } else if (ch == 2) {
                s = 0.5f * (fr[0] + fr[1]);
            } else {
                s = 0;
                for (int c = 0; c < ch; c++)
                    s += fr[c];
                s *= inv_ch;
            }
            if (!isfinite(s)) {
                st = CORE_ERR(CORE_ERR_CHECK, "%s: non-finite sample (%g) at frame %zu", path,
                              (double)s, got + (size_t)i);
                goto done;
            }
            mono[got + (size_t)i] = s;
        }
        got += (size_t)k;
    }
    if (sf_error(f) != SF_ERR_NO_ERROR) {
        st = CORE_ERR(CORE_ERR_CHECK, "%s: corrupt audio after %zu frames: %s", path, got,
                      sf_strerror(f));
        goto done;
    }
    if (known && (long long)got < (long long)si.frames) {
        st = CORE_ERR(CORE_ERR_CHECK,
                      "%s: truncated: the header declares %lld frames, %zu could be decoded", path,
                      (long long)si.frames, got);
        goto done;
    }
    if (got == 0) {
        /* An Ogg stream cut short has no final granule position, so libsndfile knows no
         * length and decodes nothing: say so rather than just "empty". */
        st = known ? CORE_ERR(CORE_ERR_CHECK, "%s: no audio (0 frames)", path)
                   : CORE_ERR(CORE_ERR_CHECK,
                              "%s: no audio decoded from a stream of unknown length "
                              "(truncated or corrupt?)",
                              path);
        goto done;
    }
    info->frames = (int64_t)got;
    *out = mono;
    *n = got;
    mono = NULL;
done:
    free(chunk);
    free(mono);
    sf_close(f);
    return st;
}

/* ---------------------------------------------------------------- resample */

/* Converter: SRC_SINC_MEDIUM_QUALITY, measured against SRC_SINC_FASTEST (bench/logmel.sh,
 * docs/audio.md). FASTEST is 2.2x faster (44.1 kHz -> 16 kHz: ~400x against ~180x real
 * time per core) but its passband ends early: -3 dB at 6.4 kHz, -14 dB at 7 kHz, which dims
 * the top 6 of the 80 mel bands for resampled sources only, a difference between sources
 * the model could learn. MEDIUM is flat to 6.8 kHz (-2 dB at 7.2 kHz). Neither reaches the
 * 1,000x ingest target on 44.1/48 kHz input, so speed does not decide it; fidelity does. */
#define DATA_SRC_CONVERTER SRC_SINC_MEDIUM_QUALITY

core_status data_resample(const float *in, size_t n, int rate_in, int rate_out, float **out,
                          size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (rate_in <= 0 || rate_out <= 0)
        return CORE_ERR(CORE_ERR_RANGE, "resample: rates must be positive (%d Hz -> %d Hz)",
                        rate_in, rate_out);
    const double ratio = (double)rate_out / (double)rate_in;
    if (!src_is_valid_ratio(ratio))
        return CORE_ERR(CORE_ERR_RANGE,
                        "resample: %d Hz -> %d Hz is outside libsamplerate's ratio 1/256..256",
                        rate_in, rate_out);
    if (rate_in == rate_out || n == 0) {
        float *p = core_alloc(n ? n : 1, sizeof *p, "resampled audio");
        if (!p)
            return CORE_ERR_NOMEM;
        if (n)
            memcpy(p, in, n * sizeof *p);
        *out = p;
        *n_out = n;
        return CORE_OK;
    }
    if (n > (size_t)LONG_MAX / 256)
        return CORE_ERR(CORE_ERR_LIMIT, "resample: %zu samples is more than libsamplerate takes",
                        n);
    /* src_simple flushes the filter at the end, so it returns about n * ratio samples; a
     * few more slots cover its rounding. */
    const size_t cap = (size_t)ceil((double)n * ratio) + 16;
    float *p = core_alloc(cap, sizeof *p, "resampled audio");
    if (!p)
        return CORE_ERR_NOMEM;
    SRC_DATA d = {
        .data_in = in,
        .data_out = p,
        .input_frames = (long)n,
        .output_frames = (long)cap,
        .src_ratio = ratio,
    };
    int err = src_simple(&d, DATA_SRC_CONVERTER, 1);
    if (err) {
        free(p);
        return CORE_ERR(CORE_ERR_INTERNAL, "resample %d Hz -> %d Hz: %s", rate_in, rate_out,
                        src_strerror(err));
    }
    *out = p;
    *n_out = (size_t)d.output_frames_gen;
    return CORE_OK;
}

/* ---------------------------------------------------------------- file to log-mel */

core_status data_audio_logmel_file(const char *path, data_logmel *lm, float **mel, size_t *frames)
{
    *mel = NULL;
    *frames = 0;
    data_audio_info info;
    float *x = NULL, *y = NULL;
    size_t n, ny;
    core_status st = data_audio_load_mono(path, &info, &x, &n);
    if (st != CORE_OK)
        return st;
    CORE_TRY(data_resample(x, n, info.rate, DATA_SAMPLE_RATE, &y, &ny));
    size_t f = data_logmel_frames(ny);
    *mel = core_alloc(f ? f : 1, DATA_N_MELS * sizeof(float), path);
    if (!*mel) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    CORE_TRY(data_logmel_compute(lm, y, ny, *mel));
    *frames = f;
done:
    if (st != CORE_OK) {
        free(*mel);
        *mel = NULL;
    }
    free(x);
    free(y);
    return st;
}
