/* The data loader: utterances from the shards of `data ingest` (and their personas from
 * personas.h5) laid out as model sequences, in length-bucketed batches whose order is a pure
 * function of (seed, epoch), so that a saved cursor resumes with the exact next batch.
 *
 * A sequence is [persona] [history tokens] [user audio, `stack` frames per position] [BOS]
 * reply [EOS] (docs/model.md). Targets are the next token at BOS and every reply position.
 * When a sequence is longer than max_seq, the history is cut from its start first, then the
 * audio from its end, then the reply from its end. */
#include "train/train.h"
#include "persona/persona.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct utt {
    float persona[TRAIN_PERSONA_DIM];
    size_t mel_off, frames;                 /* rows of its shard's /mel */
    uint32_t shard;                         /* index into the loader's open shards */
    size_t hist_off, reply_off;             /* into the loader's token block */
    size_t n_history, n_reply;
    int32_t labels[TRAIN_N_HEADS_PARA];
    int len; /* sequence length after truncation */
} utt;

struct train_loader {
    train_loader_cfg cfg;
    utt *u;
    size_t n;
    hid_t *shard_files, *shard_mel; /* open shards and their /mel, read batch by batch */
    size_t n_shards;
    float *mel;                     /* scratch: one utterance's frames */
    size_t mel_cap;
    uint64_t read_errors; /* frames that could not be read after opening */
    int32_t *tokens;
    size_t *order; /* this epoch's utterance order, batches contiguous */
    size_t n_batches;
    uint64_t epoch, next; /* the cursor */
    char **manifests;
    size_t n_manifests;
    char recordings_sha256[CORE_SHA256_HEX];
    uint8_t *audio; /* [n_audio][32] sorted distinct audio hashes, for the lineage */
    size_t n_audio;
    /* the batch handed out */
    train_batch b;
};

int train_sequence_length(size_t n_history, size_t frames, size_t n_reply, int max_seq, int stack,
                          size_t *hist, size_t *pos_audio, size_t *reply)
{
    size_t h = n_history, a = (frames + (size_t)stack - 1) / (size_t)stack, r = n_reply;
    size_t max = (size_t)max_seq;
    /* persona + BOS + EOS are always there */
    while (1 + h + a + 1 + r + 1 > max && h > 0)
        h--;
    while (1 + h + a + 1 + r + 1 > max && a > 1)
        a--;
    while (1 + h + a + 1 + r + 1 > max && r > 0)
        r--;
    *hist = h;
    *pos_audio = a;
    *reply = r;
    return (int)(1 + h + a + 1 + r + 1);
}

static int len_of(const train_loader_cfg *c, const utt *x, size_t *hist, size_t *pos_audio,
                  size_t *reply)
{
    return train_sequence_length(x->n_history, x->frames, x->n_reply, c->max_seq, c->stack, hist,
                                 pos_audio, reply);
}

void train_sequence_layout(train_batch *b, int row, const float *persona, const int32_t *history,
                           size_t n_history, const float *mel, size_t frames, const int32_t *reply,
                           size_t n_reply, int max_seq, int stack)
{
    size_t h, a, r;
    int len = train_sequence_length(n_history, frames, n_reply, max_seq, stack, &h, &a, &r);
    const int T = b->T;
    CORE_ASSERT(len <= T && row < b->B);
    const size_t F = (size_t)stack * TRAIN_N_MELS, i = (size_t)row;
    uint8_t *kind = b->kind + i * (size_t)T;
    int32_t *tok = b->tokens + i * (size_t)T, *tgt = b->targets + i * (size_t)T;
    float *fr = b->frames + i * (size_t)T * F;
    memset(kind, 0, (size_t)T);
    memset(tok, 0, (size_t)T * sizeof *tok);
    memset(fr, 0, (size_t)T * F * sizeof *fr);
    for (int t = 0; t < T; t++)
        tgt[t] = -1;
    memcpy(b->persona + i * TRAIN_PERSONA_DIM, persona, TRAIN_PERSONA_DIM * sizeof(float));
    size_t t = 0;
    kind[t++] = TRAIN_POS_PERSONA;
    for (size_t k = n_history - h; k < n_history; k++) {
        kind[t] = TRAIN_POS_TOKEN;
        tok[t++] = history[k];
    }
    for (size_t k = 0; k < a; k++) {
        kind[t] = TRAIN_POS_AUDIO;
        for (size_t s = 0; s < (size_t)stack; s++) {
            size_t frame = k * (size_t)stack + s;
            if (frame < frames)
                memcpy(fr + t * F + s * TRAIN_N_MELS, mel + frame * TRAIN_N_MELS,
                       TRAIN_N_MELS * sizeof(float));
        }
        t++;
    }
    kind[t] = TRAIN_POS_TOKEN;
    tok[t] = 256; /* BOS */
    tgt[t] = r ? reply[0] : 257;
    t++;
    for (size_t k = 0; k < r; k++) {
        kind[t] = TRAIN_POS_TOKEN;
        tok[t] = reply[k];
        tgt[t] = k + 1 < r ? reply[k + 1] : 257; /* EOS */
        t++;
    }
    kind[t] = TRAIN_POS_TOKEN;
    tok[t] = 257; /* EOS: nothing to predict after it */
    t++;
    CORE_ASSERT((int)t == len);
}

void train_loader_free(train_loader *l)
{
    if (!l)
        return;
    free(l->u);
    for (size_t i = 0; i < l->n_shards; i++) {
        if (l->shard_mel[i] >= 0)
            H5Dclose(l->shard_mel[i]);
        core_h5_close(l->shard_files[i]);
    }
    free(l->shard_files);
    free(l->shard_mel);
    free(l->mel);
    free(l->tokens);
    free(l->order);
    core_strs_free(l->manifests, l->n_manifests);
    free(l->audio);
    train_batch_free(&l->b);
    free(l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads one shard's utterances, appending to the loader's arrays, and keeps the shard open:
 * the log-mel frames, nearly all of its bytes, are read batch by batch, so that with data
 * parallelism each rank reads only the utterances of its own micro-batches. */
static core_status read_shard(train_loader *l, const char *path, const persona_matrix *pm,
                              hid_t pf, char ***ids, size_t *n_ids)
{
    hid_t f;
    core_status st = core_h5_open(path, &f);
    if (st != CORE_OK)
        return st;
    uint64_t *moff = NULL, *hoff = NULL, *roff = NULL;
    int32_t *hist = NULL, *resp = NULL, *lab[6] = {NULL};
    uint8_t *spans = NULL;
    char **persona = NULL, **rec = NULL, **ash = NULL;
    size_t np = 0, nr = 0, na = 0;
    int rank;
    hsize_t dims[8], sdims[8];
    CORE_TRY(core_h5_check_format(f, path, "troupe.shard/1"));
    hid_t *nf = core_realloc(l->shard_files, l->n_shards + 1, sizeof(hid_t), path);
    if (nf)
        l->shard_files = nf;
    hid_t *nd = nf ? core_realloc(l->shard_mel, l->n_shards + 1, sizeof(hid_t), path) : NULL;
    if (!nd) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    l->shard_mel = nd;
    const uint32_t shard = (uint32_t)l->n_shards;
    l->shard_files[shard] = f;
    l->shard_mel[shard] = H5Dopen2(f, "/mel", H5P_DEFAULT);
    l->n_shards++;
    f = H5I_INVALID_HID; /* the loader closes it */
    if (l->shard_mel[shard] < 0) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: no /mel dataset", path);
        goto done;
    }
    {
        hid_t sp = H5Dget_space(l->shard_mel[shard]);
        int r = H5Sget_simple_extent_ndims(sp);
        if (r == 2)
            H5Sget_simple_extent_dims(sp, dims, NULL);
        H5Sclose(sp);
        if (r != 2 || dims[1] != TRAIN_N_MELS) {
            st = CORE_ERR(CORE_ERR_FORMAT, "%s: /mel is not (frames, %d)", path, TRAIN_N_MELS);
            goto done;
        }
    }
    size_t total_frames = dims[0];
    hid_t fh = l->shard_files[shard];
    CORE_TRY(core_h5_read(fh, "/mel_offsets", CORE_H5_U64, &rank, dims, (void **)&moff));
    size_t n = dims[0] - 1;
    CORE_TRY(core_h5_read(fh, "/tokens/history", CORE_H5_I32, &rank, dims, (void **)&hist));
    size_t nh = dims[0];
    CORE_TRY(core_h5_read(fh, "/tokens/history_offsets", CORE_H5_U64, &rank, dims, (void **)&hoff));
    CORE_TRY(core_h5_read(fh, "/tokens/response", CORE_H5_I32, &rank, dims, (void **)&resp));
    size_t nresp = dims[0];
    CORE_TRY(core_h5_read(fh, "/tokens/response_offsets", CORE_H5_U64, &rank, dims, (void **)&roff));
    static const char *const dimnames[5] = {"/labels/emotion", "/labels/speed", "/labels/pitch",
                                            "/labels/gender", "/labels/language"};
    for (int k = 0; k < 5; k++)
        CORE_TRY(core_h5_read(fh, dimnames[k], CORE_H5_I32, &rank, dims, (void **)&lab[k]));
    CORE_TRY(core_h5_read(fh, "/labels/spans", CORE_H5_U8, &rank, sdims, (void **)&spans));
    CORE_TRY(core_h5_read_strs(fh, "/persona_id", &persona, &np));
    CORE_TRY(core_h5_read_strs(fh, "/provenance/recording_id", &rec, &nr));
    CORE_TRY(core_h5_read_strs(fh, "/provenance/audio_sha256", &ash, &na));
    if (np != n || nr != n || na != n || sdims[0] != n || sdims[1] < 2) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: columns disagree on the number of utterances", path);
        goto done;
    }
    if (moff[n] != total_frames) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: /mel_offsets ends at %llu, /mel has %zu frames", path,
                      (unsigned long long)moff[n], total_frames);
        goto done;
    }
    size_t old_tokens = 0;
    for (size_t i = 0; i < l->n; i++)
        old_tokens += l->u[i].n_history + l->u[i].n_reply;
    int32_t *nt = core_realloc(l->tokens, old_tokens + nh + nresp + 1, sizeof(int32_t), path);
    utt *nu = core_realloc(l->u, l->n + n, sizeof(utt), path);
    char **ni = core_realloc(*ids, *n_ids + n, sizeof(char *), path);
    if (nt)
        l->tokens = nt;
    if (nu)
        l->u = nu;
    if (ni)
        *ids = ni;
    uint8_t *naud = core_realloc(l->audio, l->n_audio + n, 32, path);
    if (naud)
        l->audio = naud;
    if (!nt || !nu || !ni || !naud) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    /* Offsets, not pointers: the blocks may move when the next shard is appended. */
    for (size_t i = 0; i < n; i++) {
        utt *x = &l->u[l->n + i];
        memset(x, 0, sizeof *x);
        x->frames = moff[i + 1] - moff[i];
        x->mel_off = moff[i];
        x->shard = shard;
        if (x->frames > l->mel_cap)
            l->mel_cap = x->frames;
        x->n_history = hoff[i + 1] - hoff[i];
        x->n_reply = roff[i + 1] - roff[i];
        x->hist_off = old_tokens;
        x->reply_off = old_tokens + x->n_history;
        memcpy(l->tokens + x->hist_off, hist + hoff[i], x->n_history * sizeof(int32_t));
        memcpy(l->tokens + x->reply_off, resp + roff[i], x->n_reply * sizeof(int32_t));
        old_tokens += x->n_history + x->n_reply;
        /* labels: emotion, laughter, hesitation, speed, pitch, gender, language */
        x->labels[0] = lab[0][i];
        x->labels[1] = spans[i * sdims[1] + 0];
        x->labels[2] = spans[i * sdims[1] + 1];
        x->labels[3] = lab[1][i];
        x->labels[4] = lab[2][i];
        x->labels[5] = lab[3][i];
        x->labels[6] = lab[4][i];
        /* the persona row */
        char *end;
        unsigned long long id = strtoull(persona[i], &end, 10);
        long row = *persona[i] && !*end ? persona_matrix_find(pm, id) : -1;
        if (row >= 0) {
            hid_t ds = H5Dopen2(pf, "/features", H5P_DEFAULT);
            st = core_h5_read_rows(ds, CORE_H5_F32, (hsize_t)row, 1, x->persona);
            H5Dclose(ds);
            if (st != CORE_OK)
                goto done;
        }
        (*ids)[(*n_ids)++] = rec[i];
        rec[i] = NULL;
        if (!core_unhex(l->audio + l->n_audio * 32, 32, ash[i])) {
            st = CORE_ERR(CORE_ERR_FORMAT, "%s: /provenance/audio_sha256[%zu] is not a SHA-256",
                          path, i);
            goto done;
        }
        l->n_audio++;
    }
    l->n += n;
done:
    free(moff);
    free(hoff);
    free(roff);
    free(hist);
    free(resp);
    for (int k = 0; k < 5; k++)
        free(lab[k]);
    free(spans);
    core_strs_free(persona, np);
    core_strs_free(ash, na);
    if (rec)
        for (size_t i = 0; i < nr; i++)
            free(rec[i]);
    free(rec);
    core_h5_close(f);
    return st;
}

/* This epoch's order: a seeded shuffle, then buckets of 16 batches sorted by length (so a
 * batch pads little), then the batches shuffled. */
static void plan_epoch(train_loader *l)
{
    core_rng r;
    core_rng_init(&r, l->cfg.seed, "train.shuffle");
    r = core_rng_fork(&r, l->epoch);
    size_t n = l->n;
    for (size_t i = 0; i < n; i++)
        l->order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)core_rng_below(&r, i);
        size_t t = l->order[i - 1];
        l->order[i - 1] = l->order[j];
        l->order[j] = t;
    }
    size_t B = (size_t)l->cfg.batch, bucket = B * 16;
    for (size_t s = 0; s < n; s += bucket) {
        size_t e = s + bucket < n ? s + bucket : n;
        for (size_t i = s + 1; i < e; i++) /* insertion sort by length, stable */
            for (size_t j = i; j > s && l->u[l->order[j - 1]].len > l->u[l->order[j]].len; j--) {
                size_t t = l->order[j];
                l->order[j] = l->order[j - 1];
                l->order[j - 1] = t;
            }
    }
    l->n_batches = (n + B - 1) / B;
    /* shuffle whole batches (the last, short one included) */
    for (size_t i = l->n_batches; i > 1; i--) {
        size_t j = (size_t)core_rng_below(&r, i);
        if (j == i - 1)
            continue;
        for (size_t k = 0; k < B; k++) {
            size_t a = (i - 1) * B + k, c = j * B + k;
            if (a < n && c < n) {
                size_t t = l->order[a];
                l->order[a] = l->order[c];
                l->order[c] = t;
            }
        }
    }
}

core_status train_loader_open(const train_loader_cfg *cfg, train_loader **out)
{
    *out = NULL;
    train_loader *l = calloc(1, sizeof *l);
    if (!l)
        return CORE_ERR(CORE_ERR_NOMEM, "loader: out of memory");
    l->cfg = *cfg;
    core_status st = CORE_OK;
    persona_matrix pm = {0};
    hid_t pf = H5I_INVALID_HID;
    char **ids = NULL;
    size_t n_ids = 0;
    json_t *index = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/index.json", cfg->corpus);
    json_error_t jerr;
    index = json_load_file(path, 0, &jerr);
    if (!index) {
        st = CORE_ERR(CORE_ERR_IO, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        goto done;
    }
    CORE_TRY(persona_matrix_load(cfg->personas, false, &pm));
    CORE_TRY(core_h5_open(cfg->personas, &pf));
    json_t *shards = json_object_get(index, "shards"), *s;
    size_t i;
    json_array_foreach(shards, i, s)
    {
        const char *p = json_string_value(json_object_get(s, "path"));
        const char *m = json_string_value(json_object_get(s, "manifest"));
        if (!p || !m || (cfg->split && !strstr(m, cfg->split)))
            continue;
        snprintf(path, sizeof path, "%s/shards/%s", cfg->corpus, p);
        CORE_TRY(read_shard(l, path, &pm, pf, &ids, &n_ids));
        bool seen = false;
        for (size_t k = 0; k < l->n_manifests && !seen; k++)
            seen = !strcmp(l->manifests[k], m);
        if (!seen) {
            char **nm = realloc(l->manifests, (l->n_manifests + 1) * sizeof *nm);
            if (!nm) {
                st = CORE_ERR(CORE_ERR_NOMEM, "loader: out of memory");
                goto done;
            }
            l->manifests = nm;
            l->manifests[l->n_manifests++] = core_strdup(m);
        }
    }
    if (l->n == 0) {
        st = CORE_ERR(CORE_ERR_CHECK, "%s: no utterances%s%s%s", cfg->corpus,
                      cfg->split ? " in manifests matching '" : "", cfg->split ? cfg->split : "",
                      cfg->split ? "'" : "");
        goto done;
    }
    for (size_t k = 0; k < l->n; k++) {
        size_t h, a, r;
        l->u[k].len = len_of(cfg, &l->u[k], &h, &a, &r);
    }
    /* The recordings used, for lineage: sha256 of the sorted LF-joined ids. */
    qsort(ids, n_ids, sizeof *ids, cmp_str);
    size_t len = 0;
    for (size_t k = 0; k < n_ids; k++)
        len += strlen(ids[k]) + 1;
    char *joined = calloc(len + 1, 1), *p = joined;
    for (size_t k = 0; joined && k < n_ids; k++)
        p += sprintf(p, "%s%s", k ? "\n" : "", ids[k]);
    uint8_t h[32];
    core_sha256(h, joined ? joined : "", joined ? strlen(joined) : 0);
    core_hex(l->recordings_sha256, h, 32);
    free(joined);
    l->n_audio = train_hashes_unique(l->audio, l->n_audio);
    l->order = core_alloc(l->n, sizeof *l->order, "loader");
    size_t B = (size_t)cfg->batch, T = (size_t)cfg->max_seq;
    bool batch_ok = train_batch_alloc(&l->b, (int)B, (int)T, cfg->stack);
    l->mel = core_zalloc(l->mel_cap ? l->mel_cap : 1, TRAIN_N_MELS * sizeof(float), "loader");
    if (!l->order || !batch_ok || !l->mel) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    plan_epoch(l);
done:
    json_decref(index);
    persona_matrix_free(&pm);
    core_h5_close(pf);
    core_strs_free(ids, n_ids);
    if (st != CORE_OK) {
        train_loader_free(l);
        return st;
    }
    *out = l;
    return CORE_OK;
}

size_t train_loader_size(const train_loader *l) { return l->n; }
uint64_t train_loader_read_errors(const train_loader *l) { return l->read_errors; }
size_t train_loader_batches(const train_loader *l) { return l->n_batches; }
const char *train_loader_recordings_sha256(const train_loader *l) { return l->recordings_sha256; }
const uint8_t *train_loader_audio_hashes(const train_loader *l, size_t *n)
{
    *n = l->n_audio;
    return l->audio;
}
const char *const *train_loader_manifests(const train_loader *l, size_t *n)
{
    *n = l->n_manifests;
    return (const char *const *)l->manifests;
}

void train_loader_cursor(const train_loader *l, uint64_t cursor[4])
{
    cursor[0] = l->epoch;
    cursor[1] = l->next;
    cursor[2] = l->n;
    cursor[3] = 0;
}

core_status train_loader_seek(train_loader *l, const uint64_t cursor[4])
{
    if (cursor[2] != l->n)
        return CORE_ERR(CORE_ERR_CHECK,
                        "the checkpoint's data cursor is for %llu utterances, the corpus has "
                        "%zu: not the same data",
                        (unsigned long long)cursor[2], l->n);
    l->epoch = cursor[0];
    l->next = cursor[1];
    plan_epoch(l);
    return CORE_OK;
}

bool train_batch_alloc(train_batch *b, int rows, int T, int stack)
{
    const size_t F = (size_t)stack * TRAIN_N_MELS, N = (size_t)rows * (size_t)T;
    b->B = rows;
    b->T = T;
    b->persona = core_zalloc((size_t)rows, TRAIN_PERSONA_DIM * sizeof(float), "batch");
    b->kind = core_zalloc(N, 1, "batch");
    b->tokens = core_zalloc(N, sizeof(int32_t), "batch");
    b->frames = core_zalloc(N, F * sizeof(float), "batch");
    b->targets = core_zalloc(N, sizeof(int32_t), "batch");
    b->labels = core_zalloc((size_t)rows, TRAIN_N_HEADS_PARA * sizeof(int32_t), "batch");
    return b->persona && b->kind && b->tokens && b->frames && b->targets && b->labels;
}

void train_batch_free(train_batch *b)
{
    free(b->persona);
    free(b->kind);
    free(b->tokens);
    free(b->frames);
    free(b->targets);
    free(b->labels);
    memset(b, 0, sizeof *b);
}

/* Moves the cursor over the next batch: its first position in the order, and its size. */
static size_t advance(train_loader *l, size_t *nb)
{
    if (l->next >= l->n_batches) {
        l->epoch++;
        l->next = 0;
        plan_epoch(l);
    }
    size_t B = (size_t)l->cfg.batch, first = (size_t)l->next * B;
    *nb = l->n - first < B ? l->n - first : B;
    l->next++;
    return first;
}

void train_loader_skip(train_loader *l)
{
    size_t nb;
    advance(l, &nb);
}

const train_batch *train_loader_next(train_loader *l)
{
    const train_loader_cfg *c = &l->cfg;
    size_t nb, first = advance(l, &nb);
    train_batch *b = &l->b;
    int T = 0;
    for (size_t i = 0; i < nb; i++)
        if (l->u[l->order[first + i]].len > T)
            T = l->u[l->order[first + i]].len;
    b->B = (int)nb;
    b->T = T;
    for (size_t i = 0; i < nb; i++) {
        const utt *x = &l->u[l->order[first + i]];
        if (x->frames && core_h5_read_rows(l->shard_mel[x->shard], CORE_H5_F32, x->mel_off,
                                           x->frames, l->mel) != CORE_OK) {
            /* the shard was readable when opened: a vanished or damaged file; the batch
             * goes on without this utterance's audio and the error is kept for the caller */
            l->read_errors++;
            memset(l->mel, 0, x->frames * TRAIN_N_MELS * sizeof(float));
        }
        train_sequence_layout(b, (int)i, x->persona, l->tokens + x->hist_off, x->n_history, l->mel,
                              x->frames, l->tokens + x->reply_off, x->n_reply, c->max_seq,
                              c->stack);
        memcpy(b->labels + i * TRAIN_N_HEADS_PARA, x->labels, sizeof x->labels);
    }
    return b;
}
