/* Reading a troupe.shard/1 file whole (docs/data.md): the RLHF preference synthesis and the
 * eval sets read shards through this one function. */
#include "data/data.h"

#include <stdlib.h>
#include <string.h>

void data_shard_free(data_shard *s)
{
    if (!s)
        return;
    free(s->mel);
    free(s->moff);
    free(s->hist);
    free(s->resp);
    free(s->trans);
    free(s->hoff);
    free(s->roff);
    free(s->toff);
    free(s->emotion);
    free(s->speed);
    free(s->pitch);
    free(s->gender);
    free(s->language);
    free(s->spans);
    free(s->turn);
    char **cols[6] = {s->dialogue, s->persona, s->recording, s->audio_sha, s->consent, s->licence};
    for (int k = 0; k < 6; k++)
        core_strs_free(cols[k], cols[k] ? s->n : 0);
    memset(s, 0, sizeof *s);
}

/* A string column of exactly n entries into *out. */
static core_status read_strs(hid_t f, const char *path, const char *name, size_t n, char ***out)
{
    size_t got = 0;
    core_status st = core_h5_read_strs(f, name, out, &got);
    if (st != CORE_OK)
        return st;
    if (got != n) {
        core_strs_free(*out, got);
        *out = NULL;
        return CORE_ERR(CORE_ERR_FORMAT, "%s: %s has %zu entries, /dialogue_id %zu", path, name,
                        got, n);
    }
    return CORE_OK;
}

/* An int32 or uint64 column of exactly `want` rows. */
static core_status read_col(hid_t f, const char *path, const char *name, core_h5_type t,
                            size_t want, void **out)
{
    int rank;
    hsize_t d[8];
    core_status st = core_h5_read(f, name, t, &rank, d, out);
    if (st != CORE_OK)
        return st;
    if (rank != 1 || d[0] != want)
        return CORE_ERR(CORE_ERR_FORMAT, "%s: %s has %llu rows, expected %zu", path, name,
                        (unsigned long long)d[0], want);
    return CORE_OK;
}

/* Token column `name` and its offsets (n + 1 of them, ending at the column's length). */
static core_status read_tokens(hid_t f, const char *path, const char *name, size_t n,
                               int32_t **tok, uint64_t **off)
{
    char buf[96];
    int rank;
    hsize_t d[8];
    snprintf(buf, sizeof buf, "/tokens/%s", name);
    core_status st = core_h5_read(f, buf, CORE_H5_I32, &rank, d, (void **)tok);
    if (st != CORE_OK)
        return st;
    const size_t len = d[0];
    snprintf(buf, sizeof buf, "/tokens/%s_offsets", name);
    st = read_col(f, path, buf, CORE_H5_U64, n + 1, (void **)off);
    if (st == CORE_OK && (*off)[n] != len)
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: %s ends at %llu, /tokens/%s has %zu", path, buf,
                      (unsigned long long)(*off)[n], name, len);
    return st;
}

core_status data_shard_read(const char *path, bool with_mel, data_shard *s)
{
    memset(s, 0, sizeof *s);
    hid_t f;
    core_status st = core_h5_open(path, &f);
    if (st != CORE_OK)
        return st;
    int rank;
    hsize_t d[8];
    CORE_TRY(core_h5_check_format(f, path, "troupe.shard/1"));
    CORE_TRY(core_h5_read_strs(f, "/dialogue_id", &s->dialogue, &s->n));
    const size_t n = s->n;
    CORE_TRY(read_col(f, path, "/turn", CORE_H5_I32, n, (void **)&s->turn));
    if (!with_mel)
        goto done;
    CORE_TRY(read_col(f, path, "/mel_offsets", CORE_H5_U64, n + 1, (void **)&s->moff));
    CORE_TRY(core_h5_read(f, "/mel", CORE_H5_F32, &rank, d, (void **)&s->mel));
    if (rank != 2 || d[1] != DATA_N_MELS || d[0] != s->moff[n]) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: /mel is not (%llu, %d)", path,
                      (unsigned long long)s->moff[n], DATA_N_MELS);
        goto done;
    }
    CORE_TRY(read_tokens(f, path, "history", n, &s->hist, &s->hoff));
    CORE_TRY(read_tokens(f, path, "response", n, &s->resp, &s->roff));
    CORE_TRY(read_tokens(f, path, "transcript", n, &s->trans, &s->toff));
    CORE_TRY(read_col(f, path, "/labels/emotion", CORE_H5_I32, n, (void **)&s->emotion));
    CORE_TRY(read_col(f, path, "/labels/speed", CORE_H5_I32, n, (void **)&s->speed));
    CORE_TRY(read_col(f, path, "/labels/pitch", CORE_H5_I32, n, (void **)&s->pitch));
    CORE_TRY(read_col(f, path, "/labels/gender", CORE_H5_I32, n, (void **)&s->gender));
    CORE_TRY(read_col(f, path, "/labels/language", CORE_H5_I32, n, (void **)&s->language));
    CORE_TRY(core_h5_read(f, "/labels/spans", CORE_H5_U8, &rank, d, (void **)&s->spans));
    if (rank != 2 || d[0] != n || d[1] < 2) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: /labels/spans is not (%zu, 11)", path, n);
        goto done;
    }
    s->span_w = d[1];
    CORE_TRY(read_strs(f, path, "/persona_id", n, &s->persona));
    CORE_TRY(read_strs(f, path, "/provenance/recording_id", n, &s->recording));
    CORE_TRY(read_strs(f, path, "/provenance/audio_sha256", n, &s->audio_sha));
    CORE_TRY(read_strs(f, path, "/provenance/consent_id", n, &s->consent));
    CORE_TRY(read_strs(f, path, "/provenance/licence", n, &s->licence));
done:
    core_h5_close(f);
    if (st != CORE_OK)
        data_shard_free(s);
    return st;
}
