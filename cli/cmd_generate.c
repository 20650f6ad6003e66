/* troupe generate: stream one user turn (persona, history, audio) through a checkpoint with
 * the key/value-cache decoder and sample the reply (docs/inference.md). */
#include "cli/cli.h"
#include "data/audio.h"
#include "persona/persona.h"
#include "train/train.h"

#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* Class names of each paralinguistic head, in train_para_names order. */
static const char *const para_class_names[TRAIN_PARA_CLASSES] = {
    "neutral",   "calm",   "happy",       "excited", "sad", "angry", "fearful",
    "surprised", "tender", "serious",                                      /* emotion */
    "no",        "yes",                                                    /* laughter */
    "no",        "yes",                                                    /* hesitation */
    "slow",      "normal", "fast",                                         /* speed */
    "low",       "mid",    "high",                                         /* pitch */
    "female",    "male",   "unspecified",                                  /* gender */
    "en",        "zh",     "ja",          "ko",      "es",  "fr",    "de", /* language */
};

/* ---------------------------------------------------------------- UTF-8 */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one (Unicode 15 table
 * 3-7: no overlongs, no surrogates, nothing above U+10FFFF). Ids >= 256 are never valid. */
static size_t utf8_valid_len(const int32_t *s, size_t n, size_t *consumed)
{
    const int32_t b = s[0];
    size_t len;
    int lo = 0x80, hi = 0xBF;
    if (b < 0 || b > 0xFF) {
        *consumed = 1;
        return 0;
    }
    if (b < 0x80) {
        *consumed = 1;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF)
        len = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        if (b == 0xE0)
            lo = 0xA0;
        if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        if (b == 0xF0)
            lo = 0x90;
        if (b == 0xF4)
            hi = 0x8F;
    } else {
        *consumed = 1;
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        int c = i < n ? s[i] : -1;
        if (c < lo || c > hi) { /* the maximal invalid subpart ends before byte i */
            *consumed = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    *consumed = len;
    return len;
}

/* The reply as a NUL-terminated UTF-8 string, every invalid sequence (and any special
 * token) replaced by U+FFFD. out must hold 3 n + 1 bytes. Returns the replacement count. */
static size_t utf8_clean(const int32_t *tok, size_t n, char *out)
{
    size_t o = 0, bad = 0;
    for (size_t i = 0; i < n;) {
        size_t used, len = utf8_valid_len(tok + i, n - i, &used);
        if (len) {
            for (size_t k = 0; k < len; k++)
                out[o++] = (char)tok[i + k];
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            bad++;
        }
        i += used;
    }
    out[o] = '\0';
    return bad;
}

/* ---------------------------------------------------------------- helpers */

static bool parse_real(const char *what, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= lo && v <= hi)) {
        cli_usage_error("generate: %s must be a number in [%g, %g], not '%s'", what, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

/* The row of `spec` (an id, or #INDEX) in the persona matrix at `path`, read into out. */
static core_status persona_row(const char *path, const char *spec, float *out, uint64_t *row_out,
                               uint64_t *id_out)
{
    persona_matrix pm = {0};
    core_status st = persona_matrix_load(path, false, &pm);
    if (st != CORE_OK)
        return st;
    char *end;
    unsigned long long v;
    errno = 0;
    const bool by_index = spec[0] == '#';
    const char *num = by_index ? spec + 1 : spec;
    v = strtoull(num, &end, 10);
    long row = -1;
    if (!*num || *end || errno || *num == '-') {
        st = CORE_ERR(CORE_ERR_USAGE, "generate: --persona '%s' is neither an id nor #INDEX", spec);
        goto done;
    }
    if (by_index)
        row = v < pm.n ? (long)v : -1;
    else
        row = persona_matrix_find(&pm, (uint64_t)v);
    if (row < 0) {
        st = CORE_ERR(CORE_ERR_RANGE, "%s: no persona %s (%llu rows)", path, spec,
                      (unsigned long long)pm.n);
        goto done;
    }
    if (pm.d != TRAIN_PERSONA_DIM) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: %d features per row, the model takes %d", path, pm.d,
                      TRAIN_PERSONA_DIM);
        goto done;
    }
    *row_out = (uint64_t)row;
    *id_out = pm.ids[row];
    st = persona_matrix_read_row(path, (uint64_t)row, out, pm.d);
done:
    persona_matrix_free(&pm);
    return st;
}

/* 16 kHz log-mel of the file: *mel [*frames, 80], malloc'd. */
static core_status load_logmel(const char *path, float **mel, size_t *frames, double *seconds)
{
    data_audio_info info;
    float *x = NULL, *y = NULL;
    size_t n = 0, ny = 0;
    data_logmel *lm = NULL;
    *mel = NULL;
    *frames = 0;
    core_status st = CORE_OK;
    CORE_TRY(data_audio_load_mono(path, &info, &x, &n));
    CORE_TRY(data_resample(x, n, info.rate, DATA_SAMPLE_RATE, &y, &ny));
    *seconds = (double)ny / DATA_SAMPLE_RATE;
    *frames = data_logmel_frames(ny);
    if (*frames == 0) {
        st = CORE_ERR(CORE_ERR_CHECK, "%s: too short for one 10 ms frame", path);
        goto done;
    }
    lm = data_logmel_create();
    *mel = core_alloc(*frames, DATA_N_MELS * sizeof(float), path);
    if (!lm || !*mel) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    st = data_logmel_compute(lm, y, ny, *mel);
    if (st != CORE_OK)
        core_error_prefix("%s", path);
done:
    free(x);
    free(y);
    data_logmel_free(lm);
    if (st != CORE_OK) {
        free(*mel);
        *mel = NULL;
        *frames = 0;
    }
    return st;
}

/* ---------------------------------------------------------------- the command */

typedef struct gen_result {
    int32_t *reply; /* sampled tokens, EOS excluded */
    size_t n_reply;
    const char *stop;                                      /* "eos", "max-tokens", "max-seq" */
    size_t hist_used, hist_total, audio_used, audio_total; /* positions */
    double audio_seconds;
    double frontend_ms;                 /* decode, resample and log-mel of the whole file */
    double prefill_ms;                  /* persona and history */
    double chunk_ms_mean, chunk_ms_max; /* per audio position */
    double first_token_ms;              /* end of audio -> first sampled token */
    double decode_s;                    /* end of audio -> last sampled token */
    size_t sampled;                     /* tokens sampled, EOS included */
    int32_t cls[TRAIN_N_HEADS_PARA];
    float probs[TRAIN_PARA_CLASSES];
} gen_result;

typedef struct gen_opts {
    const char *ckpt, *persona, *audio, *history, *model, *personas;
    int64_t max_tokens, top_k, seed;
    double temperature, top_p;
} gen_opts;

static core_status generate(const gen_opts *o, const train_model_cfg *mc, gen_result *r,
                            uint64_t *persona_row_out, uint64_t *persona_id)
{
    train_model *m = NULL;
    train_infer *s = NULL;
    float *mel = NULL, *chunk = NULL;
    size_t frames = 0;
    float persona[TRAIN_PERSONA_DIM], logits[TRAIN_VOCAB];
    core_status st = CORE_OK;
    const size_t S = (size_t)mc->stack, F = S * TRAIN_N_MELS, max_seq = (size_t)mc->max_seq;

    CORE_TRY(train_model_create(mc, 1, &m));
    CORE_TRY(train_ckpt_load(o->ckpt, train_model_params(m), NULL, NULL));
    CORE_TRY(persona_row(o->personas, o->persona, persona, persona_row_out, persona_id));
    double f0 = core_now();
    CORE_TRY(load_logmel(o->audio, &mel, &frames, &r->audio_seconds));
    r->frontend_ms = 1e3 * (core_now() - f0);
    CORE_TRY(train_infer_create(m, &s));
    chunk = core_alloc(F, sizeof *chunk, "audio chunk");
    r->reply = core_alloc((size_t)o->max_tokens, sizeof *r->reply, "reply");
    if (!chunk || !r->reply) {
        st = CORE_ERR_NOMEM;
        goto done;
    }

    /* the loader's truncation order, keeping room for min(--max-tokens, max_seq / 4) reply
     * tokens: history from its start, then audio from its end; the reply may then run on
     * until max_seq */
    const size_t hist = o->history ? strlen(o->history) : 0;
    size_t h = hist, a = (frames + S - 1) / S, want = (size_t)o->max_tokens;
    if (want > max_seq / 4)
        want = max_seq / 4;
    r->hist_total = h;
    r->audio_total = a;
    while (1 + h + a + 1 + want > max_seq && h > 0)
        h--;
    while (1 + h + a + 1 + want > max_seq && a > 1)
        a--;
    r->hist_used = h;
    r->audio_used = a;
    if (1 + h + a + 1 > max_seq) {
        st = CORE_ERR(CORE_ERR_LIMIT, "generate: no room for a reply in max_seq = %zu", max_seq);
        goto done;
    }

    double t0 = core_now();
    CORE_TRY(train_infer_push(s, TRAIN_POS_PERSONA, persona, 0, NULL));
    for (size_t k = hist - h; k < hist; k++)
        CORE_TRY(train_infer_push(s, TRAIN_POS_TOKEN, NULL, (uint8_t)o->history[k], NULL));
    r->prefill_ms = 1e3 * (core_now() - t0);

    /* the audio as it would arrive: one position (`stack` frames, zero-padded at the end as
     * the loader pads) at a time */
    double sum = 0.0;
    for (size_t k = 0; k < a; k++) {
        memset(chunk, 0, F * sizeof *chunk);
        for (size_t j = 0; j < S && k * S + j < frames; j++)
            memcpy(chunk + j * TRAIN_N_MELS, mel + (k * S + j) * TRAIN_N_MELS,
                   TRAIN_N_MELS * sizeof *chunk);
        double c0 = core_now();
        CORE_TRY(train_infer_push(s, TRAIN_POS_AUDIO, chunk, 0, NULL));
        double ms = 1e3 * (core_now() - c0);
        sum += ms;
        if (ms > r->chunk_ms_max)
            r->chunk_ms_max = ms;
    }
    r->chunk_ms_mean = sum / (double)a;
    const double t_audio = core_now(); /* the end of the audio */

    core_rng rng;
    core_rng_init(&rng, (uint64_t)o->seed, "generate");
    CORE_TRY(train_infer_push(s, TRAIN_POS_TOKEN, NULL, 256, logits)); /* BOS */
    r->stop = "max-tokens";
    double t_last = t_audio;
    while (r->n_reply < (size_t)o->max_tokens) {
        int32_t tok =
            train_sample(logits, TRAIN_VOCAB, o->temperature, (int)o->top_k, o->top_p, &rng);
        t_last = core_now();
        if (r->sampled++ == 0)
            r->first_token_ms = 1e3 * (t_last - t_audio);
        if (tok == 257) {
            r->stop = "eos";
            break;
        }
        r->reply[r->n_reply++] = tok;
        if (r->n_reply == (size_t)o->max_tokens)
            break;
        if ((size_t)train_infer_length(s) >= max_seq) {
            r->stop = "max-seq";
            break;
        }
        CORE_TRY(train_infer_push(s, TRAIN_POS_TOKEN, NULL, tok, logits));
    }
    r->decode_s = t_last - t_audio;
    CORE_TRY(train_infer_para(s, r->cls, r->probs));
done:
    train_infer_free(s);
    train_model_free(m);
    free(mel);
    free(chunk);
    return st;
}

static const char *class_name(int k, int c, float *p, const float *probs)
{
    int off = 0;
    for (int i = 0; i < k; i++)
        off += train_para_classes[i];
    *p = probs[off + c];
    return para_class_names[off + c];
}

int cli_generate_main(int argc, char **argv)
{
    gen_opts o = {.model = "model/small.yaml",
                  .personas = "personas.h5",
                  .max_tokens = 200,
                  .top_k = 0,
                  .seed = 0};
    const char *temp_s = "0.8", *top_p_s = "0.95";
    bool json = false;
    const cli_opt opts[] = {
        {"checkpoint", 0, CLI_STR, &o.ckpt, "CKPT", "the checkpoint (train output, .h5)"},
        {"persona", 0, CLI_STR, &o.persona, "ID", "persona row id in --personas, or #INDEX"},
        {"audio", 0, CLI_STR, &o.audio, "IN.wav", "the user's turn (any rate, mono or not)"},
        {"history", 0, CLI_STR, &o.history, "TEXT", "earlier dialogue, as UTF-8 bytes"},
        {"max-tokens", 0, CLI_INT, &o.max_tokens, "N", "longest reply in tokens (default 200)"},
        {"temperature", 0, CLI_STR, &temp_s, "T", "softmax temperature; 0 = greedy (default 0.8)"},
        {"top-k", 0, CLI_INT, &o.top_k, "K", "sample among the K likeliest (default 0: all)"},
        {"top-p", 0, CLI_STR, &top_p_s, "P", "nucleus mass, 1 = no cut (default 0.95)"},
        {"seed", 0, CLI_INT, &o.seed, "S", "sampling seed (default 0)"},
        {"model", 0, CLI_STR, &o.model, "FILE",
         "model config, relative to configs/ (default model/small.yaml)"},
        {"personas", 0, CLI_STR, &o.personas, "FILE", "persona matrix (default personas.h5)"},
        {"json", 0, CLI_FLAG, &json, NULL, "print the result as JSON"},
    };
    const cli_spec spec = {
        "generate",
        "troupe generate --checkpoint CKPT --persona ID --audio IN.wav [options]",
        "Streams one user turn through a checkpoint with the key/value-cache decoder\n"
        "(docs/inference.md): the persona, the history bytes, then the audio `stack` log-mel\n"
        "frames at a time, then BOS; samples the reply until EOS or --max-tokens, and prints it\n"
        "with the paralinguistic predictions, the latency from the end of the audio to the\n"
        "first reply token, and the reply's tokens/s.",
        opts,
        sizeof opts / sizeof *opts,
        0,
        0,
        "Example:\n  troupe generate --checkpoint runs/demo/checkpoints/last.h5 --personas "
        "personas.h5 \\\n      --persona 12959856340457908788 --audio turn.wav --history "
        "\"hello\" --seed 1"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    free(pos);
    if (!o.ckpt || !o.persona || !o.audio)
        return cli_usage_error("generate: --checkpoint, --persona and --audio are required");
    if (o.max_tokens < 1 || o.max_tokens > 65536)
        return cli_usage_error("generate: --max-tokens must be in [1, 65536]");
    if (o.top_k < 0 || o.top_k > TRAIN_VOCAB)
        return cli_usage_error("generate: --top-k must be in [0, %d]", TRAIN_VOCAB);
    if (!parse_real("--temperature", temp_s, 0.0, 100.0, &o.temperature) ||
        !parse_real("--top-p", top_p_s, 0.0, 1.0, &o.top_p))
        return CLI_USAGE;

    train_model_cfg mc;
    core_status st = train_model_cfg_load(o.model, &mc);
    if (st != CORE_OK)
        return cli_fail(st);
    openblas_set_num_threads(1); /* one position at a time: threads cost more than they give */

    gen_result r = {0};
    uint64_t prow = 0, pid = 0;
    st = generate(&o, &mc, &r, &prow, &pid);
    const long long max_seq = (long long)mc.max_seq, stack = (long long)mc.stack;
    core_cfg_free(&train_model_schema, &mc);
    if (st != CORE_OK) {
        free(r.reply);
        return cli_fail(st);
    }
    char *text = core_alloc(3 * r.n_reply + 1, 1, "reply");
    if (!text) {
        free(r.reply);
        return cli_fail(CORE_ERR_NOMEM);
    }
    size_t bad = utf8_clean(r.reply, r.n_reply, text);
    const double tps = r.decode_s > 0 ? (double)r.sampled / r.decode_s : 0.0;
    if (r.hist_used < r.hist_total || r.audio_used < r.audio_total)
        core_log(CORE_LOG_WARN,
                 "generate: max_seq %lld: kept %zu of %zu history bytes, %zu of %zu audio "
                 "positions",
                 max_seq, r.hist_used, r.hist_total, r.audio_used, r.audio_total);

    if (json) {
        json_t *root = json_object(), *para = json_object(), *lat = json_object();
        json_object_set_new(root, "reply", json_string(text));
        json_object_set_new(root, "reply_tokens", json_integer((json_int_t)r.n_reply));
        json_object_set_new(root, "replaced", json_integer((json_int_t)bad));
        json_object_set_new(root, "stop", json_string(r.stop));
        json_object_set_new(root, "persona_row", json_integer((json_int_t)prow));
        char idbuf[32];
        snprintf(idbuf, sizeof idbuf, "%llu", (unsigned long long)pid);
        json_object_set_new(root, "persona_id", json_string(idbuf));
        for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
            float p;
            const char *name = class_name(k, r.cls[k], &p, r.probs);
            json_t *h = json_object();
            json_object_set_new(h, "class", json_string(name));
            json_object_set_new(h, "p", json_real(p));
            json_object_set_new(para, train_para_names[k], h);
        }
        json_object_set_new(root, "paralinguistic", para);
        json_object_set_new(lat, "audio_seconds", json_real(r.audio_seconds));
        json_object_set_new(lat, "audio_positions", json_integer((json_int_t)r.audio_used));
        json_object_set_new(lat, "frontend_ms", json_real(r.frontend_ms));
        json_object_set_new(lat, "prefill_ms", json_real(r.prefill_ms));
        json_object_set_new(lat, "audio_push_ms_mean", json_real(r.chunk_ms_mean));
        json_object_set_new(lat, "audio_push_ms_max", json_real(r.chunk_ms_max));
        json_object_set_new(lat, "first_token_ms", json_real(r.first_token_ms));
        json_object_set_new(lat, "tokens_per_s", json_real(tps));
        json_object_set_new(root, "timing", lat);
        char *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        json_decref(root);
        if (out)
            printf("%s\n", out);
        free(out);
    } else {
        printf("reply: ");
        for (const char *c = text; *c; c++) { /* control bytes escaped for the terminal */
            unsigned char u = (unsigned char)*c;
            if ((u < 0x20 && u != '\n' && u != '\t') || u == 0x7F)
                printf("\\x%02x", u);
            else
                putchar(*c);
        }
        putchar('\n');
        printf("  %zu tokens, stopped at %s%s\n", r.n_reply, r.stop,
               bad ? " (invalid UTF-8 replaced by U+FFFD)" : "");
        printf("paralinguistic:");
        for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
            float p;
            const char *name = class_name(k, r.cls[k], &p, r.probs);
            printf(" %s=%s (%.2f)", train_para_names[k], name, (double)p);
        }
        printf("\naudio: %.2f s, %zu positions of %lld frames (front end %.1f ms for the file); "
               "push %.3f ms per position (max %.3f); persona + history %.3f ms\n",
               r.audio_seconds, r.audio_used, stack, r.frontend_ms, r.chunk_ms_mean, r.chunk_ms_max,
               r.prefill_ms);
        printf("latency: first reply token %.3f ms after the end of the audio; %.0f tokens/s "
               "(%zu sampled)\n",
               r.first_token_ms, tps, r.sampled);
    }
    free(text);
    free(r.reply);
    return CLI_OK;
}
