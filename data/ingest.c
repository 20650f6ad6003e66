/* data ingest: audit, then decode, resample and featurise every admitted recording and
 * write the shards (troupe.shard/1), the shard index, the dataset card, the quarantine
 * report and the audit report.
 *
 * Incremental: a batch's shards are keyed by the manifest's hash, the admitted ids and the
 * front end's version; when the key and the shard files are unchanged the batch is not
 * processed again, and reports are rewritten only when their bytes change. */
#include "data/internal.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FRONTEND_VERSION "whisper-logmel/1 (80 mels, n_fft 400, hop 160, 16 kHz)"
#define SHARD_UTTERANCES 256

static const char *const span_labels[] = {"laughter", "hesitation", "filler", "breath",
                                          "sigh",     "cough",      "crying", "whisper",
                                          "shout",    "singing",    "pause"};
enum { N_SPANS = sizeof span_labels / sizeof *span_labels };
static const char *const dim_names[] = {"emotion", "speed", "pitch", "gender", "language"};
static const char *const dim_values[][11] = {
    {"neutral", "calm", "happy", "excited", "sad", "angry", "fearful", "surprised", "tender",
     "serious", NULL},
    {"slow", "normal", "fast", NULL},
    {"low", "mid", "high", NULL},
    {"female", "male", "unspecified", NULL},
    {"en", "zh", "ja", "ko", "es", "fr", "de", NULL},
};
enum { N_DIMS = 5 };

/* One admitted recording, featurised. */
typedef struct utt {
    const core_yaml_node *rec;
    char audio_path[4096];
    float *mel;
    size_t frames;
    double seconds;
    int32_t dims[N_DIMS];
    uint8_t spans[N_SPANS];
    core_status st;
    char err[512];
} utt;

static int value_index(int dim, const char *v)
{
    for (int i = 0; dim_values[dim][i]; i++)
        if (!strcmp(dim_values[dim][i], v))
            return i;
    return -1;
}

static void labels_of(utt *u)
{
    for (int d = 0; d < N_DIMS; d++)
        u->dims[d] = -1;
    memset(u->spans, 0, sizeof u->spans);
    const core_yaml_node *labels = core_yaml_get(u->rec, "labels");
    for (size_t i = 0; labels && i < labels->n; i++) {
        const char *l = data__str(labels->items[i], "label");
        const char *colon = strchr(l, ':');
        if (colon) {
            for (int d = 0; d < 4; d++)
                if (!strncmp(l, dim_names[d], (size_t)(colon - l)) &&
                    strlen(dim_names[d]) == (size_t)(colon - l))
                    u->dims[d] = value_index(d, colon + 1);
        } else {
            for (int s = 0; s < N_SPANS; s++)
                if (!strcmp(l, span_labels[s]))
                    u->spans[s] = 1;
        }
    }
    char primary[8];
    const char *lang = data__str(u->rec, "language");
    snprintf(primary, sizeof primary, "%.*s", (int)strcspn(lang, "-"), lang);
    u->dims[4] = value_index(4, primary);
}

typedef struct feat_job {
    utt *u;
    data_logmel **lm; /* one per thread */
} feat_job;

static void featurise(utt *u, data_logmel *lm)
{
    data_audio_info info;
    float *mono = NULL, *x16 = NULL;
    size_t n = 0, n16 = 0;
    u->st = data_audio_load_mono(u->audio_path, &info, &mono, &n);
    if (u->st == CORE_OK)
        u->st = data_resample(mono, n, info.rate, DATA_SAMPLE_RATE, &x16, &n16);
    if (u->st == CORE_OK) {
        u->frames = data_logmel_frames(n16);
        u->mel = core_alloc(u->frames ? u->frames : 1, DATA_N_MELS * sizeof(float), "log-mel");
        u->st = u->mel ? data_logmel_compute(lm, x16, n16, u->mel) : CORE_ERR_NOMEM;
        u->seconds = (double)n16 / DATA_SAMPLE_RATE;
    }
    if (u->st != CORE_OK)
        snprintf(u->err, sizeof u->err, "%s", core_error_message());
    free(mono);
    free(x16);
    labels_of(u);
}

static void feat_range(void *ctx, size_t begin, size_t end, int tid)
{
    feat_job *j = ctx;
    for (size_t i = begin; i < end; i++)
        featurise(&j->u[i], j->lm[tid]);
}

/* Appends the UTF-8 bytes of `text` as token ids. */
static size_t put_bytes(int32_t *dst, const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++)
        dst[n++] = *p;
    return n;
}

static core_status write_token_column(hid_t f, const char *name, utt *u, size_t n,
                                      const char *(*get)(const utt *))
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(get(&u[i]) ? get(&u[i]) : "");
    int32_t *tok = core_alloc(total ? total : 1, sizeof *tok, name);
    uint64_t *off = core_alloc(n + 1, sizeof *off, name);
    core_status st = CORE_OK;
    if (!tok || !off) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    off[0] = 0;
    for (size_t i = 0; i < n; i++)
        off[i + 1] = off[i] + put_bytes(tok + off[i], get(&u[i]));
    char path[128];
    hsize_t dim = total, odim = n + 1;
    snprintf(path, sizeof path, "/tokens/%s", name);
    CORE_TRY(core_h5_write(f, path, CORE_H5_I32, 1, &dim, tok));
    snprintf(path, sizeof path, "/tokens/%s_offsets", name);
    CORE_TRY(core_h5_write(f, path, CORE_H5_U64, 1, &odim, off));
done:
    free(tok);
    free(off);
    return st;
}

static const char *get_transcript(const utt *u)
{
    return data__str(core_yaml_get(u->rec, "transcript"), "text");
}
static const char *get_response(const utt *u)
{
    return data__str(core_yaml_get(u->rec, "dialogue"), "response");
}
static const char *get_history(const utt *u)
{
    return data__str(core_yaml_get(u->rec, "dialogue"), "history");
}

static core_status write_str_column(hid_t f, const char *name, utt *u, size_t n,
                                    const core_yaml_node *(*node)(const utt *), const char *key,
                                    const char *fixed)
{
    const char **col = core_alloc(n ? n : 1, sizeof *col, name);
    if (!col)
        return CORE_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *v = fixed ? fixed : data__str(node(&u[i]), key);
        col[i] = v ? v : "";
    }
    core_status st = core_h5_write_strs(f, name, col, n);
    free(col);
    return st;
}

static const core_yaml_node *self(const utt *u) { return u->rec; }
static const core_yaml_node *dlg(const utt *u) { return core_yaml_get(u->rec, "dialogue"); }

/* Writes one shard of n utterances atomically; returns its sha256 in hex. */
static core_status write_shard(const char *path, utt *u, size_t n, const char *manifest_sha,
                               const char *config_yaml, char hex[CORE_SHA256_HEX])
{
    core_h5_out out;
    core_status st = core_h5_create(&out, path);
    if (st != CORE_OK)
        return st;
    float *mel = NULL;
    uint64_t *off = NULL;
    int32_t *ints = NULL;
    uint8_t *spans = NULL;
    char *input = core_sprintf("sha256:%s manifest.yaml", manifest_sha);
    const char *inputs[] = {input};
    CORE_TRY(core_h5_write_header(out.file, "troupe.shard/1", config_yaml, inputs, 1));
    CORE_TRY(core_h5_attr_set_str(out.file, "frontend", FRONTEND_VERSION));
    size_t frames = 0;
    for (size_t i = 0; i < n; i++)
        frames += u[i].frames;
    mel = core_alloc(frames ? frames : 1, DATA_N_MELS * sizeof *mel, "shard");
    off = core_alloc(n + 1, sizeof *off, "shard");
    ints = core_alloc(n ? n : 1, sizeof *ints, "shard");
    spans = core_alloc(n ? n : 1, N_SPANS, "shard");
    if (!mel || !off || !ints || !spans) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(mel + off[i] * DATA_N_MELS, u[i].mel, u[i].frames * DATA_N_MELS * sizeof *mel);
        off[i + 1] = off[i] + u[i].frames;
    }
    hsize_t mdims[2] = {frames, DATA_N_MELS}, odim = n + 1, ndim = n;
    hsize_t sdims[2] = {n, N_SPANS};
    CORE_TRY(core_h5_write(out.file, "/mel", CORE_H5_F32, 2, mdims, mel));
    CORE_TRY(core_h5_write(out.file, "/mel_offsets", CORE_H5_U64, 1, &odim, off));
    CORE_TRY(write_token_column(out.file, "transcript", u, n, get_transcript));
    CORE_TRY(write_token_column(out.file, "response", u, n, get_response));
    CORE_TRY(write_token_column(out.file, "history", u, n, get_history));
    for (int d = 0; d < N_DIMS; d++) {
        for (size_t i = 0; i < n; i++)
            ints[i] = u[i].dims[d];
        char name[64];
        snprintf(name, sizeof name, "/labels/%s", dim_names[d]);
        CORE_TRY(core_h5_write(out.file, name, CORE_H5_I32, 1, &ndim, ints));
        hid_t ds = H5Dopen2(out.file, name, H5P_DEFAULT);
        size_t nv = 0;
        while (dim_values[d][nv])
            nv++;
        st = core_h5_attr_set_strs(ds, "values", dim_values[d], nv);
        H5Dclose(ds);
        if (st != CORE_OK)
            goto done;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(spans + i * N_SPANS, u[i].spans, N_SPANS);
    CORE_TRY(core_h5_write(out.file, "/labels/spans", CORE_H5_U8, 2, sdims, spans));
    hid_t ds = H5Dopen2(out.file, "/labels/spans", H5P_DEFAULT);
    st = core_h5_attr_set_strs(ds, "names", span_labels, N_SPANS);
    H5Dclose(ds);
    if (st != CORE_OK)
        goto done;
    for (size_t i = 0; i < n; i++)
        ints[i] = (int32_t)data__int(dlg(&u[i]), "turn", -1);
    CORE_TRY(core_h5_write(out.file, "/turn", CORE_H5_I32, 1, &ndim, ints));
    CORE_TRY(write_str_column(out.file, "/dialogue_id", u, n, dlg, "dialogue_id", NULL));
    CORE_TRY(write_str_column(out.file, "/persona_id", u, n, dlg, "persona_id", NULL));
    CORE_TRY(write_str_column(out.file, "/provenance/recording_id", u, n, self, "recording_id",
                              NULL));
    CORE_TRY(write_str_column(out.file, "/provenance/consent_id", u, n, self, "consent_id", NULL));
    CORE_TRY(write_str_column(out.file, "/provenance/speaker_id", u, n, self, "speaker_id", NULL));
    CORE_TRY(write_str_column(out.file, "/provenance/audio_sha256", u, n, self, "sha256", NULL));
    CORE_TRY(write_str_column(out.file, "/provenance/manifest_sha256", u, n, self, NULL,
                              manifest_sha));
    CORE_TRY(write_str_column(out.file, "/provenance/licence", u, n, self, "licence", NULL));
done:
    free(input);
    free(mel);
    free(off);
    free(ints);
    free(spans);
    if (st != CORE_OK) {
        core_h5_abort(&out);
        return st;
    }
    CORE_TRY(core_h5_commit(&out));
    uint8_t h[32];
    CORE_TRY(core_sha256_file(path, h, NULL));
    core_hex(hex, h, 32);
    return CORE_OK;
}

/* Writes `text` to `path` unless the file already holds exactly these bytes. */
static core_status write_if_changed(const char *path, const char *text)
{
    char *old = NULL;
    size_t n;
    if (core_file_read(path, 0, &old, &n) == CORE_OK && n == strlen(text) &&
        !memcmp(old, text, n)) {
        free(old);
        return CORE_OK;
    }
    free(old);
    return core_file_write_atomic(path, text, strlen(text));
}

static core_status write_json_if_changed(const char *path, json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!s)
        return CORE_ERR(CORE_ERR_NOMEM, "%s: cannot encode JSON", path);
    char *t = core_sprintf("%s\n", s);
    free(s);
    if (!t)
        return CORE_ERR_NOMEM;
    core_status st = write_if_changed(path, t);
    free(t);
    return st;
}

/* The key of a batch's shards: what they depend on. */
static void batch_key(const char *manifest_sha, const char *const *ids, size_t n,
                      char hex[CORE_SHA256_HEX])
{
    size_t len = 256;
    for (size_t i = 0; i < n; i++)
        len += strlen(ids[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s) {
        hex[0] = '\0';
        return;
    }
    p += sprintf(p, "troupe %s\n%s\n%s\n", TROUPE_VERSION, FRONTEND_VERSION, manifest_sha);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s\n", ids[i]);
    uint8_t h[32];
    core_sha256(h, s, (size_t)(p - s));
    core_hex(hex, h, 32);
    free(s);
}

static bool shards_intact(json_t *state)
{
    json_t *shards = json_object_get(state, "shards"), *s;
    size_t i;
    if (!json_is_array(shards))
        return false;
    json_array_foreach(shards, i, s)
    {
        const char *p = json_string_value(json_object_get(s, "file"));
        const char *h = json_string_value(json_object_get(s, "sha256"));
        uint8_t d[32];
        char hex[CORE_SHA256_HEX];
        if (!p || !h || core_sha256_file(p, d, NULL) != CORE_OK)
            return false;
        core_hex(hex, d, 32);
        if (strcmp(hex, h))
            return false;
    }
    return true;
}

static char *use_yaml(const data_options *o)
{
    core_yw *w = core_yw_new();
    if (!w)
        return NULL;
    char t[32];
    core_yw_map_begin(w, false);
    core_yw_key(w, "purposes");
    core_yw_seq_begin(w, true);
    for (int p = 0; p < DATA_N_PURPOSES; p++)
        if ((o->use.purposes >> p) & 1)
            core_yw_str(w, data_purposes[p]);
    core_yw_seq_end(w);
    core_yw_key(w, "territory");
    core_yw_str(w, o->use.territory);
    core_yw_key(w, "commercial");
    core_yw_bool(w, o->use.commercial);
    core_yw_key(w, "allow_synthetic");
    core_yw_bool(w, o->use.allow_synthetic);
    data_time_format(o->use.at, t);
    core_yw_key(w, "evaluated_at");
    core_yw_str(w, t);
    core_yw_key(w, "frontend");
    core_yw_str(w, FRONTEND_VERSION);
    core_yw_map_end(w);
    return core_yw_finish(w);
}

/* Processes one batch's admitted recordings into shards; fills `state` (a JSON object). */
static core_status ingest_batch(const char *dir, const data_audit *a, size_t first, size_t count,
                                const char *out_dir, int threads,
                                const char *config_yaml, json_t *state_all,
                                data_ingest_stats *stats)
{
    core_status st = CORE_OK;
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/manifest.yaml", dir);
    core_yaml_doc *doc = NULL;
    utt *u = NULL;
    data_logmel **lm = NULL;
    const char **ids = NULL;
    json_t *shards = NULL;
    if (core_yaml_load(mpath, NULL, &doc) != CORE_OK)
        return CORE_OK; /* unreadable: all its recordings are already excluded */
    uint8_t h[32];
    char msha[CORE_SHA256_HEX];
    CORE_TRY(core_sha256_file(mpath, h, NULL));
    core_hex(msha, h, 32);
    const core_yaml_node *root = core_yaml_root(doc), *recs = core_yaml_get(root, "recordings");
    const char *mid = data__str(root, "manifest_id");
    size_t nadm = 0;
    for (size_t i = 0; i < count; i++)
        nadm += a->rec[first + i].admitted;
    if (nadm == 0 || !mid || !recs || recs->n != count)
        goto done;
    u = core_zalloc(nadm, sizeof *u, "utterances");
    ids = core_zalloc(nadm, sizeof *ids, "utterances");
    if (!u || !ids) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        if (!a->rec[first + i].admitted)
            continue;
        u[k].rec = recs->items[i];
        ids[k] = a->rec[first + i].recording_id;
        snprintf(u[k].audio_path, sizeof u[k].audio_path, "%s/%s", dir,
                 data__str(recs->items[i], "path"));
        k++;
    }
    char key[CORE_SHA256_HEX];
    batch_key(msha, ids, nadm, key);
    json_t *prev = json_object_get(state_all, mid);
    const char *prev_key = json_string_value(json_object_get(prev, "key"));
    if (prev_key && !strcmp(prev_key, key) && shards_intact(prev)) {
        stats->skipped_unchanged += nadm;
        stats->admitted += 0;
        goto done;
    }
    lm = core_zalloc((size_t)threads, sizeof *lm, "log-mel");
    for (int t = 0; lm && t < threads; t++)
        if (!(lm[t] = data_logmel_create())) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
    shards = json_array();
    size_t shard_no = 0;
    for (size_t s0 = 0; s0 < nadm; s0 += SHARD_UTTERANCES, shard_no++) {
        size_t ns = nadm - s0 < SHARD_UTTERANCES ? nadm - s0 : SHARD_UTTERANCES;
        feat_job job = {u + s0, lm};
        CORE_TRY(core_parallel_for(ns, threads, feat_range, &job));
        for (size_t i = 0; i < ns; i++)
            if (u[s0 + i].st != CORE_OK) {
                /* Admitted but undecodable (AUD-001 passed on the header): an error for the
                 * whole run, never a silent drop. */
                st = CORE_ERR(CORE_ERR_CHECK, "%s", u[s0 + i].err);
                goto done;
            }
        char path[4096], hex[CORE_SHA256_HEX];
        snprintf(path, sizeof path, "%s/shards/%s-%05zu.h5", out_dir, mid, shard_no);
        CORE_TRY(write_shard(path, u + s0, ns, msha, config_yaml, hex));
        size_t frames = 0;
        double secs = 0;
        for (size_t i = 0; i < ns; i++) {
            frames += u[s0 + i].frames;
            secs += u[s0 + i].seconds;
            free(u[s0 + i].mel);
            u[s0 + i].mel = NULL;
        }
        stats->audio_seconds += secs;
        stats->written += ns;
        json_array_append_new(shards, json_pack("{s:s, s:s, s:I, s:I, s:f}", "file", path,
                                                "sha256", hex, "utterances", (json_int_t)ns,
                                                "frames", (json_int_t)frames, "seconds", secs));
    }
    /* Shards left from an earlier, larger version of this batch go. */
    json_t *old = json_object_get(prev, "shards"), *s;
    size_t i;
    json_array_foreach(old, i, s)
    {
        const char *p = json_string_value(json_object_get(s, "file"));
        bool keep = false;
        json_t *t;
        size_t j;
        json_array_foreach(shards, j, t) keep |= p && !strcmp(p, json_string_value(json_object_get(t, "file")));
        if (p && !keep)
            unlink(p);
    }
    json_object_set_new(state_all, mid,
                        json_pack("{s:s, s:s, s:s, s:o}", "key", key, "manifest_sha256", msha,
                                  "batch", dir, "shards", shards));
    shards = NULL;
done:
    json_decref(shards);
    for (size_t q = 0; u && q < nadm; q++)
        free(u[q].mel);
    free(u);
    free(ids);
    for (int t = 0; lm && t < threads; t++)
        data_logmel_free(lm[t]);
    free(lm);
    core_yaml_free(doc);
    return st;
}

static char *quarantine_yaml(const data_audit *a)
{
    core_yw *w = core_yw_new();
    if (!w)
        return NULL;
    char num[32];
    core_yw_map_begin(w, false);
    core_yw_key(w, "schema");
    core_yw_str(w, "troupe.quarantine/1");
    core_yw_key(w, "recordings_total");
    snprintf(num, sizeof num, "%zu", a->n_rec);
    core_yw_str(w, num);
    core_yw_key(w, "admitted");
    snprintf(num, sizeof num, "%zu", a->admitted);
    core_yw_str(w, num);
    core_yw_key(w, "excluded");
    snprintf(num, sizeof num, "%zu", a->excluded);
    core_yw_str(w, num);
    core_yw_key(w, "recordings");
    core_yw_seq_begin(w, false);
    for (size_t i = 0; i < a->n_rec; i++) {
        const data_recording_outcome *r = &a->rec[i];
        if (r->admitted)
            continue;
        core_yw_map_begin(w, false);
        core_yw_key(w, "batch");
        core_yw_str(w, r->batch);
        core_yw_key(w, "recording_id");
        core_yw_str(w, r->recording_id);
        core_yw_key(w, "codes");
        core_yw_seq_begin(w, true);
        for (const char *p = r->codes; *p;) {
            size_t len = strcspn(p, ",");
            char code[16];
            snprintf(code, sizeof code, "%.*s", (int)len, p);
            core_yw_str(w, code);
            p += len + (p[len] == ',');
        }
        core_yw_seq_end(w);
        core_yw_key(w, "explanation");
        core_yw_str(w, r->explanation);
        core_yw_map_end(w);
    }
    core_yw_seq_end(w);
    core_yw_map_end(w);
    return core_yw_finish(w);
}

static json_t *card_json(const data_audit *a, const data_options *o)
{
    json_t *card = json_object(), *lic = json_array(), *purposes = json_array(),
           *manifests = json_array(), *dims = json_object();
    json_object_set_new(card, "@context", json_string("troupe.dataset-card/1 (Croissant-RAI-like)"));
    json_object_set_new(card, "name", json_string("troupe ingest"));
    json_object_set_new(card, "tool", json_string("troupe " TROUPE_VERSION));
    for (size_t i = 0; i < a->n_licences; i++)
        json_array_append_new(lic, json_string(a->licences[i]));
    for (int p = 0; p < DATA_N_PURPOSES; p++)
        if ((o->use.purposes >> p) & 1)
            json_array_append_new(purposes, json_string(data_purposes[p]));
    for (size_t i = 0; i < a->n_inputs; i++)
        json_array_append_new(manifests, json_string(a->inputs[i]));
    size_t synthetic = 0;
    double syn_s = 0;
    for (size_t i = 0; i < a->n_rec; i++)
        if (a->rec[i].admitted && a->rec[i].synthetic) {
            synthetic++;
            syn_s += a->rec[i].seconds;
        }
    json_object_set_new(card, "rai:dataCollection",
                        json_string("licensed batches with signed manifests and per-recording "
                                    "consent records (troupe.manifest/1, troupe.consent/1)"));
    json_object_set_new(card, "rai:dataUseCases", purposes);
    json_object_set_new(card, "territory", json_string(o->use.territory));
    json_object_set_new(card, "commercial", json_boolean(o->use.commercial));
    json_object_set_new(card, "license", lic);
    json_object_set_new(card, "provenance", manifests);
    json_object_set_new(
        card, "consent_summary",
        json_pack("{s:I, s:I, s:I, s:I, s:s}", "recordings_total", (json_int_t)a->n_rec,
                  "admitted", (json_int_t)a->admitted, "excluded", (json_int_t)a->excluded,
                  "speakers", (json_int_t)a->speakers, "admitted_recording_ids_sha256",
                  a->admitted_ids_sha256));
    json_object_set_new(card, "synthetic_speech",
                        json_pack("{s:I, s:f, s:s}", "utterances", (json_int_t)synthetic, "hours",
                                  syn_s / 3600, "note",
                                  "never counted as consented human speech (SYN-001)"));
    json_object_set_new(card, "hours_admitted", json_real(a->hours_admitted));
    for (int d = 0; d < N_DIMS; d++) {
        json_t *v = json_array();
        for (int i = 0; dim_values[d][i]; i++)
            json_array_append_new(v, json_string(dim_values[d][i]));
        json_object_set_new(dims, dim_names[d], v);
    }
    json_t *sp = json_array();
    for (int s = 0; s < N_SPANS; s++)
        json_array_append_new(sp, json_string(span_labels[s]));
    json_object_set_new(dims, "spans", sp);
    json_object_set_new(card, "label_taxonomy",
                        json_pack("{s:s, s:o}", "id", "troupe.paralinguistic/1", "labels", dims));
    json_object_set_new(card, "frontend", json_string(FRONTEND_VERSION));
    return card;
}

core_status data_ingest(const char *const *batches, size_t n, const data_options *o_in,
                        const char *out_dir, int threads, data_ingest_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    double t0 = core_now();
    core_status st = CORE_OK;
    data_options o = *o_in;
    char *state_dir = core_sprintf("%s/.state", out_dir), *shard_dir = core_sprintf("%s/shards", out_dir);
    char *state_path = core_sprintf("%s/state.json", state_dir ? state_dir : "");
    char *rev_state = core_sprintf("%s/revocations", state_dir ? state_dir : "");
    char *cfg = NULL, *y = NULL;
    json_t *state = NULL;
    data_audit a;
    memset(&a, 0, sizeof a);
    if (!state_dir || !shard_dir || !state_path || !rev_state)
        return CORE_ERR_NOMEM;
    if (threads <= 0)
        threads = core_threads_default();
    CORE_TRY(core_mkdir_p(shard_dir));
    CORE_TRY(core_mkdir_p(rev_state));
    o.state_dir = state_dir;
    CORE_TRY(data_audit_run(batches, n, &o, &a));
    char *text = NULL;
    size_t tl;
    json_error_t jerr;
    if (core_file_read(state_path, 0, &text, &tl) == CORE_OK)
        state = json_loads(text, 0, &jerr);
    free(text);
    if (!json_is_object(state)) {
        json_decref(state);
        state = json_object();
    }
    json_t *batches_state = json_object_get(state, "batches");
    if (!json_is_object(batches_state)) {
        batches_state = json_object();
        json_object_set_new(state, "batches", batches_state);
    }
    cfg = use_yaml(&o);
    size_t first = 0;
    for (size_t b = 0; b < n; b++) {
        size_t count = 0;
        size_t blen = strlen(batches[b]);
        while (blen > 1 && batches[b][blen - 1] == '/')
            blen--;
        while (first + count < a.n_rec && strlen(a.rec[first + count].batch) == blen &&
               !strncmp(a.rec[first + count].batch, batches[b], blen))
            count++;
        CORE_TRY(ingest_batch(a.rec && count ? a.rec[first].batch : batches[b], &a, first, count,
                              out_dir, threads, cfg, batches_state, stats));
        first += count;
    }
    stats->admitted = a.admitted;
    stats->excluded = a.excluded;
    stats->batches_unreadable = a.batches_unreadable;
    /* Exclusions per check code, codes in sorted order. */
    {
        char codes[64][12];
        size_t counts[64] = {0}, nc = 0;
        for (size_t i = 0; i < a.n_rec; i++)
            for (const char *q = a.rec[i].codes; *q;) {
                size_t len = strcspn(q, ",");
                char code[12];
                snprintf(code, sizeof code, "%.*s", (int)len, q);
                size_t k = 0;
                while (k < nc && strcmp(codes[k], code))
                    k++;
                if (k == nc && nc < 64)
                    snprintf(codes[nc++], sizeof codes[0], "%s", code);
                if (k < 64)
                    counts[k]++;
                q += len + (q[len] == ',');
            }
        for (size_t i = 1; i < nc; i++)
            for (size_t j = i; j > 0 && strcmp(codes[j - 1], codes[j]) > 0; j--) {
                char t[12];
                size_t tc = counts[j];
                memcpy(t, codes[j], sizeof t);
                memcpy(codes[j], codes[j - 1], sizeof t);
                memcpy(codes[j - 1], t, sizeof t);
                counts[j] = counts[j - 1];
                counts[j - 1] = tc;
            }
        for (size_t i = 0; i < nc; i++) {
            size_t l = strlen(stats->excluded_by_check);
            snprintf(stats->excluded_by_check + l, sizeof stats->excluded_by_check - l, "%s%s %zu",
                     i ? ", " : "", codes[i], counts[i]);
        }
    }

    /* The shard index over every batch in the output. */
    json_t *index = json_object(), *list = json_array();
    json_int_t utts = 0, frames = 0;
    double secs = 0;
    const char *mid;
    json_t *bs;
    json_object_foreach(batches_state, mid, bs)
    {
        json_t *s;
        size_t i;
        json_array_foreach(json_object_get(bs, "shards"), i, s)
        {
            const char *file = json_string_value(json_object_get(s, "file"));
            const char *base = strrchr(file, '/');
            json_array_append_new(
                list, json_pack("{s:s, s:s, s:O, s:O, s:O, s:s}", "path", base ? base + 1 : file,
                                "sha256", json_string_value(json_object_get(s, "sha256")),
                                "utterances", json_object_get(s, "utterances"), "frames",
                                json_object_get(s, "frames"), "seconds",
                                json_object_get(s, "seconds"), "manifest", mid));
            utts += json_integer_value(json_object_get(s, "utterances"));
            frames += json_integer_value(json_object_get(s, "frames"));
            secs += json_real_value(json_object_get(s, "seconds"));
        }
    }
    json_object_set_new(index, "format", json_string("troupe.shard-index/1"));
    json_object_set_new(index, "frontend", json_string(FRONTEND_VERSION));
    json_object_set_new(index, "utterances", json_integer(utts));
    json_object_set_new(index, "frames", json_integer(frames));
    json_object_set_new(index, "hours", json_real(secs / 3600));
    json_object_set_new(index, "admitted_recording_ids_sha256", json_string(a.admitted_ids_sha256));
    json_object_set_new(index, "shards", list);
    char p[4096];
    snprintf(p, sizeof p, "%s/index.json", out_dir);
    st = write_json_if_changed(p, index);
    json_decref(index);
    if (st != CORE_OK)
        goto done;
    json_t *card = card_json(&a, &o);
    snprintf(p, sizeof p, "%s/dataset-card.json", out_dir);
    st = write_json_if_changed(p, card);
    json_decref(card);
    if (st != CORE_OK)
        goto done;
    y = quarantine_yaml(&a);
    snprintf(p, sizeof p, "%s/quarantine.yaml", out_dir);
    if (!y || (st = write_if_changed(p, y)) != CORE_OK)
        goto done;
    free(y);
    y = data_audit_yaml(&a, &o);
    snprintf(p, sizeof p, "%s/audit.yaml", out_dir);
    if (!y || (st = write_if_changed(p, y)) != CORE_OK)
        goto done;
    free(y);
    y = data_audit_markdown(&a, &o);
    snprintf(p, sizeof p, "%s/audit.md", out_dir);
    if (!y || (st = write_if_changed(p, y)) != CORE_OK)
        goto done;
    /* Keep the revocation lists accepted this time, for the chain check next time. */
    if (o.revocations) {
        DIR *d = opendir(o.revocations);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".yaml"))
                continue;
            bool ok = false;
            char target[300];
            snprintf(target, sizeof target, "revocations:%s", e->d_name);
            for (size_t i = 0; i < a.results.n; i++)
                if (!strcmp(a.results.items[i].code, "REV-001") &&
                    !strcmp(a.results.items[i].target, target))
                    ok = a.results.items[i].sev == DATA_PASS;
            if (!ok)
                continue;
            char src[4096], dst[4096], *body;
            size_t bl;
            snprintf(src, sizeof src, "%s/%s", o.revocations, e->d_name);
            snprintf(dst, sizeof dst, "%s/%s", rev_state, e->d_name);
            if (core_file_read(src, 0, &body, &bl) == CORE_OK) {
                st = write_if_changed(dst, body);
                free(body);
            }
        }
        if (d)
            closedir(d);
    }
    char *stext = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
    if (stext) {
        char *t2 = core_sprintf("%s\n", stext);
        if (t2)
            st = write_if_changed(state_path, t2);
        free(t2);
    }
    free(stext);
done:
    if (st == CORE_OK && strcmp(data_audit_state(&a), "fail") == 0 && a.admitted == 0 &&
        a.n_rec == 0)
        st = CORE_ERR(CORE_ERR_CHECK, "no recordings found in the batches");
    stats->wall_seconds = core_now() - t0;
    json_decref(state);
    free(cfg);
    free(y);
    free(state_dir);
    free(shard_dir);
    free(state_path);
    free(rev_state);
    data_audit_free(&a);
    return st;
}
