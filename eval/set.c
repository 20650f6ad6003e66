/* Eval sets from the held-out split of a `data ingest` corpus (docs/eval.md). */
#include "data/data.h"
#include "eval/internal.h"
#include "persona/persona.h"

#include <hdf5.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void item_free(eval_item *it)
{
    free(it->id);
    free(it->dialogue_id);
    free(it->history);
    free(it->mel);
    free(it->reply);
    free(it->transcript);
    free(it->task);
}

void eval_set_free(eval_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        item_free(&s->items[i]);
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
    for (size_t i = n; i < s->n; i++)
        item_free(&s->items[i]);
    s->n = n;
    eval_set_rehash(s);
}

/* qsort has no context argument: the items being grouped, for cmp_dialogue */
static _Thread_local const eval_item *sort_items;

static int cmp_dialogue(const void *a, const void *b)
{
    return strcmp(sort_items[*(const size_t *)a].dialogue_id,
                  sort_items[*(const size_t *)b].dialogue_id);
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
    hid_t pf = H5I_INVALID_HID, feats = H5I_INVALID_HID;
    CORE_TRY(persona_matrix_load(personas_h5, false, &pm));
    CORE_TRY(core_h5_open(personas_h5, &pf));
    feats = H5Dopen2(pf, "/features", H5P_DEFAULT);
    if (feats < 0) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: no /features", personas_h5);
        goto done;
    }
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
        data_shard c;
        CORE_TRY(data_shard_read(path, true, &c));
        for (size_t i = 0; i < c.n; i++) {
            eval_item *it = eval_set_add(out, &cap);
            if (!it) {
                data_shard_free(&c);
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
            it->transcript = copy_tokens(c.trans + c.toff[i], it->n_transcript);
            if (!it->id || !it->dialogue_id || !it->mel || !it->history || !it->reply ||
                !it->transcript) {
                data_shard_free(&c);
                st = CORE_ERR_NOMEM;
                goto done;
            }
            memcpy(it->mel, c.mel + c.moff[i] * TRAIN_N_MELS,
                   it->frames * TRAIN_N_MELS * sizeof(float));
            /* labels in the heads' order: emotion, laughter, hesitation, speed, pitch,
             * gender, language (as train/loader.c) */
            it->labels[0] = c.emotion[i];
            it->labels[1] = c.spans[i * c.span_w + 0];
            it->labels[2] = c.spans[i * c.span_w + 1];
            it->labels[3] = c.speed[i];
            it->labels[4] = c.pitch[i];
            it->labels[5] = c.gender[i];
            it->labels[6] = c.language[i];
            for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
                if (it->labels[k] >= train_para_classes[k])
                    it->labels[k] = -1;
            it->cue = (data_cue){it->labels[0] >= 0 ? it->labels[0] : 0, it->labels[1] == 1,
                                 it->labels[2] == 1, it->labels[3] >= 0 ? it->labels[3] : 1};
            it->lang = c.language[i] == 1 ? DATA_LANG_ZH : DATA_LANG_EN;
            char *end;
            unsigned long long id = strtoull(c.persona[i], &end, 10);
            long row = *c.persona[i] && !*end ? persona_matrix_find(&pm, id) : -1;
            if (row >= 0) {
                st = core_h5_read_rows(feats, CORE_H5_F32, (hsize_t)row, 1, it->persona);
                if (st != CORE_OK) {
                    data_shard_free(&c);
                    goto done;
                }
                it->has_persona = true;
                it->persona_id = id;
            }
        }
        data_shard_free(&c);
    }
    /* turn kinds: a dialogue's last turn is its closing (items grouped by dialogue id) */
    if (out->n) {
        size_t *ord = core_alloc(out->n, sizeof *ord, "eval set");
        if (!ord) {
            st = CORE_ERR_NOMEM;
            goto done;
        }
        for (size_t i = 0; i < out->n; i++)
            ord[i] = i;
        sort_items = out->items;
        qsort(ord, out->n, sizeof *ord, cmp_dialogue);
        for (size_t a = 0, b; a < out->n; a = b) {
            const char *id = out->items[ord[a]].dialogue_id;
            int turns = 0;
            for (b = a; b < out->n && (b == a || (*id && !strcmp(out->items[ord[b]].dialogue_id, id)));
                 b++)
                turns = out->items[ord[b]].turn + 1 > turns ? out->items[ord[b]].turn + 1 : turns;
            for (size_t k = a; k < b; k++) {
                eval_item *it = &out->items[ord[k]];
                it->turn_kind = data_dialogue_turn_kind(it->turn < 0 ? 0 : it->turn,
                                                        turns < 1 ? 1 : turns);
            }
        }
        free(ord);
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
    if (feats >= 0)
        H5Dclose(feats);
    core_h5_close(pf);
    persona_matrix_free(&pm);
    if (st != CORE_OK)
        eval_set_free(out);
    return st;
}
