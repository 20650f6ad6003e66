/* Eval sets from the held-out split of a `data ingest` corpus (docs/eval.md). */
#include "eval/internal.h"
#include "persona/persona.h"

#include <hdf5.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void eval_set_free(eval_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        eval_item *it = &s->items[i];
        free(it->id);
        free(it->dialogue_id);
        free(it->history);
        free(it->mel);
        free(it->reply);
        free(it->transcript);
        free(it->task);
    }
    free(s->items);
    free(s->source);
    core_strs_free(s->skipped_tasks, s->n_skipped_tasks);
    memset(s, 0, sizeof *s);
}

eval_item *eval_set_add(eval_set *s, size_t *cap)
{
    if (s->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        eval_item *ni = core_realloc(s->items, nc, sizeof *ni, "eval set");
        if (!ni)
            return NULL;
        s->items = ni;
        *cap = nc;
    }
    eval_item *it = &s->items[s->n++];
    memset(it, 0, sizeof *it);
    it->turn = -1;
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
        it->labels[k] = -1;
    it->dialogue_id = core_strdup("");
    it->cue.speed = 1;
    return it;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void eval_set_rehash(eval_set *s)
{
    char **lines = core_alloc(s->n ? s->n : 1, sizeof(char *), "eval set hash");
    size_t total = 0, n = 0;
    for (size_t i = 0; lines && i < s->n; i++) {
        lines[n] = core_sprintf("%s %s", s->items[i].id ? s->items[i].id : "",
                                s->items[i].audio_sha256);
        if (!lines[n])
            break;
        total += strlen(lines[n++]) + 1;
    }
    if (n)
        qsort(lines, n, sizeof *lines, cmp_str);
    char *buf = core_alloc(total + 1, 1, "eval set hash");
    size_t off = 0;
    for (size_t i = 0; buf && i < n; i++) {
        size_t l = strlen(lines[i]);
        memcpy(buf + off, lines[i], l);
        off += l;
        if (i + 1 < n)
            buf[off++] = '\n';
    }
    uint8_t h[CORE_SHA256_BYTES];
    core_sha256(h, buf ? buf : "", buf ? off : 0);
    core_hex(s->sha256, h, CORE_SHA256_BYTES);
    free(buf);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

void eval_set_truncate(eval_set *s, size_t n)
{
    if (n >= s->n)
        return;
    for (size_t i = n; i < s->n; i++) {
        eval_item *it = &s->items[i];
        free(it->id);
        free(it->dialogue_id);
        free(it->history);
        free(it->mel);
        free(it->reply);
        free(it->transcript);
        free(it->task);
    }
    s->n = n;
    eval_set_rehash(s);
}

/* The columns of one shard that an eval item needs. */
typedef struct cols {
    float *mel;
    uint64_t *moff, *hoff, *roff;
    int32_t *hist, *resp, *tr, *lab[5], *turn;
    uint64_t *toff;
    uint8_t *spans;
    hsize_t span_w;
    char **dialogue, **persona, **recording, **audio_sha;
    size_t n, n_str[4];
} cols;

static void cols_free(cols *c)
{
    free(c->mel);
    free(c->moff);
    free(c->hoff);
    free(c->roff);
    free(c->hist);
    free(c->resp);
    free(c->tr);
    free(c->toff);
    for (int k = 0; k < 5; k++)
        free(c->lab[k]);
    free(c->turn);
    free(c->spans);
    core_strs_free(c->dialogue, c->n_str[0]);
    core_strs_free(c->persona, c->n_str[1]);
    core_strs_free(c->recording, c->n_str[2]);
    core_strs_free(c->audio_sha, c->n_str[3]);
    memset(c, 0, sizeof *c);
}

static core_status cols_read(const char *path, cols *c)
{
    memset(c, 0, sizeof *c);
    hid_t f;
    core_status st = core_h5_open(path, &f);
    if (st != CORE_OK)
        return st;
    int rank;
    hsize_t d[8];
    static const char *const labn[5] = {"/labels/emotion", "/labels/speed", "/labels/pitch",
                                        "/labels/gender", "/labels/language"};
    CORE_TRY(core_h5_check_format(f, path, "troupe.shard/1"));
    CORE_TRY(core_h5_read_strs(f, "/dialogue_id", &c->dialogue, &c->n_str[0]));
    c->n = c->n_str[0];
    CORE_TRY(core_h5_read(f, "/turn", CORE_H5_I32, &rank, d, (void **)&c->turn));
    if (d[0] != c->n)
        goto bad;
    CORE_TRY(core_h5_read(f, "/mel_offsets", CORE_H5_U64, &rank, d, (void **)&c->moff));
    if (d[0] != c->n + 1)
        goto bad;
    CORE_TRY(core_h5_read(f, "/mel", CORE_H5_F32, &rank, d, (void **)&c->mel));
    if (rank != 2 || d[1] != TRAIN_N_MELS || d[0] != c->moff[c->n])
        goto bad;
    CORE_TRY(core_h5_read(f, "/tokens/history", CORE_H5_I32, &rank, d, (void **)&c->hist));
    CORE_TRY(core_h5_read(f, "/tokens/history_offsets", CORE_H5_U64, &rank, d, (void **)&c->hoff));
    if (d[0] != c->n + 1)
        goto bad;
    CORE_TRY(core_h5_read(f, "/tokens/response", CORE_H5_I32, &rank, d, (void **)&c->resp));
    CORE_TRY(core_h5_read(f, "/tokens/response_offsets", CORE_H5_U64, &rank, d, (void **)&c->roff));
    if (d[0] != c->n + 1)
        goto bad;
    CORE_TRY(core_h5_read(f, "/tokens/transcript", CORE_H5_I32, &rank, d, (void **)&c->tr));
    CORE_TRY(core_h5_read(f, "/tokens/transcript_offsets", CORE_H5_U64, &rank, d, (void **)&c->toff));
    if (d[0] != c->n + 1)
        goto bad;
    for (int k = 0; k < 5; k++) {
        CORE_TRY(core_h5_read(f, labn[k], CORE_H5_I32, &rank, d, (void **)&c->lab[k]));
        if (d[0] != c->n)
            goto bad;
    }
    CORE_TRY(core_h5_read(f, "/labels/spans", CORE_H5_U8, &rank, d, (void **)&c->spans));
    if (rank != 2 || d[0] != c->n || d[1] < 2)
        goto bad;
    c->span_w = d[1];
    CORE_TRY(core_h5_read_strs(f, "/persona_id", &c->persona, &c->n_str[1]));
    CORE_TRY(core_h5_read_strs(f, "/provenance/recording_id", &c->recording, &c->n_str[2]));
    CORE_TRY(core_h5_read_strs(f, "/provenance/audio_sha256", &c->audio_sha, &c->n_str[3]));
    if (c->n_str[1] != c->n || c->n_str[2] != c->n || c->n_str[3] != c->n)
        goto bad;
    goto done;
bad:
    st = CORE_ERR(CORE_ERR_FORMAT, "%s: columns disagree on the number of utterances", path);
done:
    core_h5_close(f);
    if (st != CORE_OK)
        cols_free(c);
    return st;
}

static int32_t *copy_tokens(const int32_t *src, size_t n)
{
    int32_t *t = core_alloc(n ? n : 1, sizeof *t, "eval set");
    if (t && n)
        memcpy(t, src, n * sizeof *t);
    return t;
}

core_status eval_set_from_corpus(const char *corpus_dir, const char *split, const char *personas_h5,
                                 eval_set *out)
{
    memset(out, 0, sizeof *out);
    core_status st = CORE_OK;
    persona_matrix pm = {0};
    char path[4096];
    size_t cap = 0;
    snprintf(path, sizeof path, "%s/index.json", corpus_dir);
    json_error_t jerr;
    json_t *index = json_load_file(path, 0, &jerr);
    if (!index)
        return CORE_ERR(CORE_ERR_IO, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    hid_t pf = H5I_INVALID_HID;
    CORE_TRY(persona_matrix_load(personas_h5, false, &pm));
    CORE_TRY(core_h5_open(personas_h5, &pf));
    json_t *shards = json_object_get(index, "shards"), *js;
    if (!json_is_array(shards)) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: no \"shards\" list", path);
        goto done;
    }
    size_t si;
    /* turns per dialogue, over the whole split, for the turn kinds */
    json_array_foreach(shards, si, js)
    {
        const char *p = json_string_value(json_object_get(js, "path"));
        const char *m = json_string_value(json_object_get(js, "manifest"));
        if (!p || !m || (split && !strstr(m, split)))
            continue;
        snprintf(path, sizeof path, "%s/shards/%s", corpus_dir, p);
        cols c;
        CORE_TRY(cols_read(path, &c));
        for (size_t i = 0; i < c.n; i++) {
            eval_item *it = eval_set_add(out, &cap);
            if (!it) {
                cols_free(&c);
                st = CORE_ERR_NOMEM;
                goto done;
            }
            it->id = core_strdup(c.recording[i]);
            free(it->dialogue_id);
            it->dialogue_id = core_strdup(c.dialogue[i]);
            it->turn = c.turn[i];
            snprintf(it->audio_sha256, sizeof it->audio_sha256, "%s", c.audio_sha[i]);
            it->frames = c.moff[i + 1] - c.moff[i];
            it->mel = core_alloc(it->frames ? it->frames : 1, TRAIN_N_MELS * sizeof(float),
                                 "eval set");
            it->n_history = c.hoff[i + 1] - c.hoff[i];
            it->history = copy_tokens(c.hist + c.hoff[i], it->n_history);
            it->n_reply = c.roff[i + 1] - c.roff[i];
            it->reply = copy_tokens(c.resp + c.roff[i], it->n_reply);
            it->n_transcript = c.toff[i + 1] - c.toff[i];
            it->transcript = copy_tokens(c.tr + c.toff[i], it->n_transcript);
            if (!it->id || !it->dialogue_id || !it->mel || !it->history || !it->reply ||
                !it->transcript) {
                cols_free(&c);
                st = CORE_ERR_NOMEM;
                goto done;
            }
            memcpy(it->mel, c.mel + c.moff[i] * TRAIN_N_MELS,
                   it->frames * TRAIN_N_MELS * sizeof(float));
            /* labels in the heads' order: emotion, laughter, hesitation, speed, pitch,
             * gender, language (as train/loader.c) */
            it->labels[0] = c.lab[0][i];
            it->labels[1] = c.spans[i * c.span_w + 0];
            it->labels[2] = c.spans[i * c.span_w + 1];
            it->labels[3] = c.lab[1][i];
            it->labels[4] = c.lab[2][i];
            it->labels[5] = c.lab[3][i];
            it->labels[6] = c.lab[4][i];
            for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
                if (it->labels[k] >= train_para_classes[k])
                    it->labels[k] = -1;
            it->cue = (data_cue){it->labels[0] >= 0 ? it->labels[0] : 0, it->labels[1] == 1,
                                 it->labels[2] == 1, it->labels[3] >= 0 ? it->labels[3] : 1};
            it->lang = c.lab[4][i] == 1 ? DATA_LANG_ZH : DATA_LANG_EN;
            char *end;
            unsigned long long id = strtoull(c.persona[i], &end, 10);
            long row = *c.persona[i] && !*end ? persona_matrix_find(&pm, id) : -1;
            if (row >= 0) {
                hid_t ds = H5Dopen2(pf, "/features", H5P_DEFAULT);
                st = ds < 0 ? CORE_ERR(CORE_ERR_FORMAT, "%s: no /features", personas_h5)
                            : core_h5_read_rows(ds, CORE_H5_F32, (hsize_t)row, 1, it->persona);
                if (ds >= 0)
                    H5Dclose(ds);
                if (st != CORE_OK) {
                    cols_free(&c);
                    goto done;
                }
                it->has_persona = true;
                it->persona_id = id;
            }
        }
        cols_free(&c);
    }
    /* turn kinds: a dialogue's last turn is its closing */
    for (size_t i = 0; i < out->n; i++) {
        eval_item *it = &out->items[i];
        int turns = it->turn + 1;
        for (size_t j = 0; j < out->n; j++)
            if (*it->dialogue_id && !strcmp(out->items[j].dialogue_id, it->dialogue_id) &&
                out->items[j].turn + 1 > turns)
                turns = out->items[j].turn + 1;
        it->turn_kind = data_dialogue_turn_kind(it->turn < 0 ? 0 : it->turn, turns < 1 ? 1 : turns);
    }
    if (out->n == 0) {
        st = CORE_ERR(CORE_ERR_SCHEMA, "%s/index.json: no utterances in shards whose manifest "
                                       "contains \"%s\"",
                      corpus_dir, split ? split : "");
        goto done;
    }
    out->source = core_sprintf("corpus %s split %s", corpus_dir, split ? split : "(all)");
    eval_set_rehash(out);
done:
    json_decref(index);
    core_h5_close(pf);
    persona_matrix_free(&pm);
    if (st != CORE_OK)
        eval_set_free(out);
    return st;
}
