/* Checkpoints (troupe.checkpoint/1, docs/checkpoints.md) and their safetensors export.
 *
 * Layout of a checkpoint (HDF5, written under a temporary name and renamed into place by
 * core_h5_create/core_h5_commit, with no modification times, so the same inputs give the
 * same bytes):
 *   /                 attributes format, troupe_version, config, inputs (the datasets
 *                     list), step (int64)
 *   /params/<name>    float32, the view's shape, for every view (names keep their dots)
 *   /optim            attribute step (int64); /optim/m/<name>, /optim/v/<name> float32
 *                     (absent when saved without an optimizer)
 *   /rng              uint64 [9]: key0 key1 substream position avail buf0 buf1 buf2 buf3
 *                     (core_rng, so that a resumed run draws the exact same stream)
 *   /cursor           uint64 [4]: the data loader's position
 *   /best_val_loss    float64 [1]
 *   /reward_norm      float64 [2]: mean and std of a reward model's scores (reward models only)
 *   /lineage          attributes parent_sha256 ("" for none), datasets and manifests
 *                     (string arrays), recordings_sha256 ("" for none); dataset
 *                     /lineage/audio_sha256 uint8 [n, 32]: the sorted SHA-256 of every audio
 *                     file trained on, the parent checkpoint's included (absent when none) */
#include "train/train.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CKPT_FORMAT "troupe.checkpoint/1"
#define CKPT_RNG_WORDS 9

void train_ckpt_meta_free(train_ckpt_meta *m)
{
    if (!m)
        return;
    free(m->config_yaml);
    free(m->parent_sha256);
    core_strs_free(m->datasets, m->n_datasets);
    core_strs_free(m->manifests, m->n_manifests);
    free(m->recordings_sha256);
    free(m->audio_sha256);
    memset(m, 0, sizeof *m);
}

static int cmp_hash(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

size_t train_hashes_unique(uint8_t *h, size_t n)
{
    if (n < 2)
        return n;
    qsort(h, n, 32, cmp_hash);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (memcmp(h + i * 32, h + (k - 1) * 32, 32) != 0)
            memmove(h + (k++) * 32, h + i * 32, 32);
    return k;
}

bool train_hashes_contain(const uint8_t *h, size_t n, const uint8_t key[32])
{
    return n && h && bsearch(key, h, n, 32, cmp_hash) != NULL;
}

/* ---------------------------------------------------------------- save */

/* Writes every view of `block` as `<group>/<name>` with the view's shape. */
static core_status write_block(hid_t file, const char *group, const train_params *block)
{
    core_status st = CORE_OK;
    for (size_t k = 0; k < block->n_views; k++) {
        const train_param_view *v = &block->views[k];
        /* '/' would nest groups and '.' alone names the group itself: neither reads back
         * as one tensor. */
        if (strchr(v->name, '/') || strcmp(v->name, ".") == 0)
            return CORE_ERR(CORE_ERR_SCHEMA, "tensor '%s': a name cannot contain '/'", v->name);
        hsize_t dims[TRAIN_MAX_RANK];
        for (int d = 0; d < v->rank; d++)
            dims[d] = v->shape[d];
        char *name = core_sprintf("%s/%s", group, v->name);
        if (!name)
            return CORE_ERR_NOMEM;
        st = core_h5_write(file, name, CORE_H5_F32, v->rank, dims, block->data + v->offset);
        free(name);
        if (st != CORE_OK)
            return st;
    }
    return st;
}

static void rng_pack(uint64_t w[CKPT_RNG_WORDS], const core_rng *r)
{
    w[0] = r->key[0];
    w[1] = r->key[1];
    w[2] = r->substream;
    w[3] = r->position;
    w[4] = (uint64_t)(int64_t)r->avail;
    for (int i = 0; i < 4; i++)
        w[5 + i] = r->buf[i];
}

static bool rng_unpack(core_rng *r, const uint64_t w[CKPT_RNG_WORDS])
{
    if (w[0] > UINT32_MAX || w[1] > UINT32_MAX || w[4] > 4)
        return false;
    for (int i = 0; i < 4; i++)
        if (w[5 + i] > UINT32_MAX)
            return false;
    memset(r, 0, sizeof *r);
    r->key[0] = (uint32_t)w[0];
    r->key[1] = (uint32_t)w[1];
    r->substream = w[2];
    r->position = w[3];
    r->avail = (int)w[4];
    for (int i = 0; i < 4; i++)
        r->buf[i] = (uint32_t)w[5 + i];
    return true;
}

core_status train_ckpt_save(const char *path, const train_params *params, const train_adamw *opt,
                            const train_ckpt_meta *meta)
{
    core_status st = CORE_OK;
    core_h5_out out = {0};
    hid_t g = H5I_INVALID_HID;
    CORE_TRY(core_h5_create(&out, path));
    CORE_TRY(core_h5_write_header(out.file, CKPT_FORMAT, meta->config_yaml,
                                  (const char *const *)meta->datasets, meta->n_datasets));
    CORE_TRY(core_h5_attr_set_i64(out.file, "step", meta->step));

    CORE_TRY(write_block(out.file, "params", params));
    if (opt) {
        CORE_ASSERT(opt->m.count == params->count && opt->v.count == params->count);
        CORE_TRY(write_block(out.file, "optim/m", &opt->m));
        CORE_TRY(write_block(out.file, "optim/v", &opt->v));
        hid_t og = H5Gopen2(out.file, "optim", H5P_DEFAULT);
        if (og < 0) {
            st = CORE_ERR(CORE_ERR_INTERNAL, "%s: cannot open group 'optim'", path);
            goto done;
        }
        st = core_h5_attr_set_i64(og, "step", opt->step);
        H5Gclose(og);
        if (st != CORE_OK)
            goto done;
    }

    uint64_t rng[CKPT_RNG_WORDS];
    rng_pack(rng, &meta->rng);
    hsize_t n_rng = CKPT_RNG_WORDS, n_cursor = 4, one = 1;
    CORE_TRY(core_h5_write(out.file, "rng", CORE_H5_U64, 1, &n_rng, rng));
    CORE_TRY(core_h5_write(out.file, "cursor", CORE_H5_U64, 1, &n_cursor, meta->cursor));
    CORE_TRY(core_h5_write(out.file, "best_val_loss", CORE_H5_F64, 1, &one, &meta->best_val_loss));
    if (meta->has_reward_norm) {
        double mv[2] = {meta->reward_mean, meta->reward_std};
        hsize_t two = 2;
        CORE_TRY(core_h5_write(out.file, "reward_norm", CORE_H5_F64, 1, &two, mv));
    }

    CORE_TRY(core_h5_group(out.file, "lineage", &g));
    CORE_TRY(
        core_h5_attr_set_str(g, "parent_sha256", meta->parent_sha256 ? meta->parent_sha256 : ""));
    CORE_TRY(core_h5_attr_set_strs(g, "datasets", (const char *const *)meta->datasets,
                                   meta->n_datasets));
    CORE_TRY(core_h5_attr_set_strs(g, "manifests", (const char *const *)meta->manifests,
                                   meta->n_manifests));
    CORE_TRY(core_h5_attr_set_str(g, "recordings_sha256",
                                  meta->recordings_sha256 ? meta->recordings_sha256 : ""));
    if (meta->n_audio) {
        hsize_t ad[2] = {meta->n_audio, 32};
        CORE_TRY(core_h5_write(g, "audio_sha256", CORE_H5_U8, 2, ad, meta->audio_sha256));
    }
    H5Gclose(g);
    g = H5I_INVALID_HID;
    CORE_TRY(core_h5_commit(&out));
done:
    if (g >= 0)
        H5Gclose(g);
    if (st != CORE_OK) {
        core_h5_abort(&out);
        core_error_prefix("checkpoint %s", path);
    }
    return st;
}

/* ---------------------------------------------------------------- load */

static void shape_text(char *buf, size_t n, int rank, const hsize_t *dims)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < rank && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, "%s%llu", d ? ", " : "",
                                 (unsigned long long)dims[d]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
}

/* Reads `<group>/<name>` for every view of `block`, requiring the view's exact shape, and
 * that the group holds nothing else. */
/* Tensors whose names start with `may_miss` (NULL: none) keep their values when the file
 * does not have them: a reward model starting from an SFT checkpoint. */
static core_status read_block_from(hid_t file, const char *path, const char *group,
                                   train_params *block, const char *may_miss);

static core_status read_block(hid_t file, const char *path, const char *group, train_params *block)
{
    return read_block_from(file, path, group, block, NULL);
}

core_status train_ckpt_load_init(const char *path, train_params *params, const char *may_miss)
{
    hid_t f;
    core_status st = core_h5_open(path, &f);
    if (st != CORE_OK)
        return st;
    st = core_h5_check_format(f, path, CKPT_FORMAT);
    if (st == CORE_OK)
        st = read_block_from(f, path, "params", params, may_miss);
    core_h5_close(f);
    return st;
}

static core_status read_block_from(hid_t file, const char *path, const char *group,
                                   train_params *block, const char *may_miss)
{
    core_status st = CORE_OK;
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0)
        return CORE_ERR(CORE_ERR_FORMAT, "%s: no group '/%s'", path, group);
    for (size_t k = 0; k < block->n_views; k++) {
        const train_param_view *v = &block->views[k];
        int rank = 0;
        hsize_t dims[8];
        hid_t d = H5I_INVALID_HID;
        if (H5Lexists(g, v->name, H5P_DEFAULT) <= 0) {
            if (may_miss && !strncmp(v->name, may_miss, strlen(may_miss)))
                continue;
            st = CORE_ERR(CORE_ERR_SCHEMA, "%s: tensor '%s' is missing from '/%s'", path, v->name,
                          group);
            goto done;
        }
        CORE_TRY(core_h5_shape(g, v->name, &rank, dims));
        bool same = rank == v->rank;
        for (int i = 0; same && i < rank; i++)
            same = dims[i] == (hsize_t)v->shape[i];
        if (!same) {
            hsize_t want[TRAIN_MAX_RANK];
            for (int i = 0; i < v->rank; i++)
                want[i] = v->shape[i];
            char got_s[160], want_s[160];
            shape_text(got_s, sizeof got_s, rank, dims);
            shape_text(want_s, sizeof want_s, v->rank, want);
            st = CORE_ERR(CORE_ERR_SCHEMA,
                          "%s: tensor '%s' has shape %s in '/%s', the model expects %s", path,
                          v->name, got_s, group, want_s);
            goto done;
        }
        d = H5Dopen2(g, v->name, H5P_DEFAULT);
        if (d < 0) {
            st = CORE_ERR(CORE_ERR_FORMAT, "%s: cannot open '/%s/%s'", path, group, v->name);
            goto done;
        }
        st = core_h5_read_rows(d, CORE_H5_F32, 0, rank ? dims[0] : 1, block->data + v->offset);
        H5Dclose(d);
        if (st != CORE_OK) {
            core_error_prefix("%s: tensor '%s'", path, v->name);
            goto done;
        }
    }
    H5G_info_t info;
    if (H5Gget_info(g, &info) < 0) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: cannot list '/%s'", path, group);
        goto done;
    }
    for (hsize_t i = 0; info.nlinks != block->n_views && i < info.nlinks; i++) {
        char name[512];
        if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                               H5P_DEFAULT) < 0)
            break;
        if (!train_params_find(block, name)) {
            st = CORE_ERR(CORE_ERR_SCHEMA, "%s: tensor '%s' in '/%s' is not in the model", path,
                          name, group);
            goto done;
        }
    }
done:
    H5Gclose(g);
    return st;
}

/* Reads a 1-D dataset of exactly `n` elements of type `t` into `out`. */
static core_status read_fixed(hid_t file, const char *path, const char *name, core_h5_type t,
                              size_t n, void *out)
{
    int rank = 0;
    hsize_t dims[8];
    void *data = NULL;
    core_status st = core_h5_read(file, name, t, &rank, dims, &data);
    if (st != CORE_OK) {
        core_error_prefix("%s", path);
        return st;
    }
    if (rank != 1 || dims[0] != n)
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: '/%s' should hold %zu values", path, name, n);
    else
        memcpy(out, data, n * core_h5_type_size(t));
    free(data);
    return st;
}

/* A string attribute, NULL when it is empty. */
static core_status get_opt_str(hid_t loc, const char *name, char **out)
{
    core_status st = core_h5_attr_get_str(loc, name, out);
    if (st == CORE_OK && !**out) {
        free(*out);
        *out = NULL;
    }
    return st;
}

core_status train_ckpt_load(const char *path, train_params *params, train_adamw *opt,
                            train_ckpt_meta *meta)
{
    core_status st = CORE_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    train_ckpt_meta got = {0};
    CORE_TRY(core_h5_open(path, &f));
    CORE_TRY(core_h5_check_format(f, path, CKPT_FORMAT));
    if (params)
        CORE_TRY(read_block(f, path, "params", params));
    if (opt) {
        if (H5Lexists(f, "optim", H5P_DEFAULT) <= 0) {
            st = CORE_ERR(CORE_ERR_FORMAT, "%s: holds no optimizer state ('/optim')", path);
            goto done;
        }
        CORE_TRY(read_block(f, path, "optim/m", &opt->m));
        CORE_TRY(read_block(f, path, "optim/v", &opt->v));
        g = H5Gopen2(f, "optim", H5P_DEFAULT);
        if (g < 0 || core_h5_attr_get_i64(g, "step", &opt->step) != CORE_OK) {
            st = CORE_ERR(CORE_ERR_FORMAT, "%s: '/optim' has no step attribute", path);
            goto done;
        }
        H5Gclose(g);
        g = H5I_INVALID_HID;
    }
    if (!meta)
        goto done;

    if (core_h5_attr_get_i64(f, "step", &got.step) != CORE_OK) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: no 'step' attribute", path);
        goto done;
    }
    uint64_t rng[CKPT_RNG_WORDS];
    CORE_TRY(read_fixed(f, path, "rng", CORE_H5_U64, CKPT_RNG_WORDS, rng));
    if (!rng_unpack(&got.rng, rng)) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: '/rng' holds an invalid generator state", path);
        goto done;
    }
    CORE_TRY(read_fixed(f, path, "cursor", CORE_H5_U64, 4, got.cursor));
    CORE_TRY(read_fixed(f, path, "best_val_loss", CORE_H5_F64, 1, &got.best_val_loss));
    if (H5Lexists(f, "reward_norm", H5P_DEFAULT) > 0) {
        double mv[2];
        CORE_TRY(read_fixed(f, path, "reward_norm", CORE_H5_F64, 2, mv));
        got.has_reward_norm = true;
        got.reward_mean = mv[0];
        got.reward_std = mv[1];
    }
    if (H5Aexists(f, "config") > 0)
        CORE_TRY(core_h5_attr_get_str(f, "config", &got.config_yaml));

    g = H5Gopen2(f, "lineage", H5P_DEFAULT);
    if (g < 0) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: no group '/lineage'", path);
        goto done;
    }
    CORE_TRY(get_opt_str(g, "parent_sha256", &got.parent_sha256));
    CORE_TRY(core_h5_attr_get_strs(g, "datasets", &got.datasets, &got.n_datasets));
    CORE_TRY(core_h5_attr_get_strs(g, "manifests", &got.manifests, &got.n_manifests));
    CORE_TRY(get_opt_str(g, "recordings_sha256", &got.recordings_sha256));
    if (H5Lexists(g, "audio_sha256", H5P_DEFAULT) > 0) {
        int rank;
        hsize_t ad[8];
        CORE_TRY(core_h5_read(g, "audio_sha256", CORE_H5_U8, &rank, ad, (void **)&got.audio_sha256));
        if (rank != 2 || ad[1] != 32) {
            st = CORE_ERR(CORE_ERR_FORMAT, "%s: /lineage/audio_sha256 is not (n, 32)", path);
            goto done;
        }
        got.n_audio = ad[0];
    }
    *meta = got;
    memset(&got, 0, sizeof got);
done:
    if (g >= 0)
        H5Gclose(g);
    core_h5_close(f);
    train_ckpt_meta_free(&got);
    if (st != CORE_OK && meta)
        memset(meta, 0, sizeof *meta);
    return st;
}

void train_ckpt_step_path(char *buf, size_t n, const char *dir, int64_t step)
{
    snprintf(buf, n, "%s/step-%08lld.h5", dir, (long long)step);
}

/* Keeps the newest `keep` step checkpoints. */
void train_ckpt_prune(const char *dir, int64_t keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "step-", 5) && strstr(e->d_name, ".h5") &&
            !strstr(e->d_name, ".tmp.")) {
            char **nn = realloc(names, (n + 1) * sizeof *nn);
            if (!nn)
                break;
            names = nn;
            names[n++] = strdup(e->d_name);
        }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* names sort by step: zero-padded */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; i + (size_t)keep < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    core_strs_free(names, n);
}

/* ---------------------------------------------------------------- safetensors export */

/* One tensor of /params: its name (from the group listing), rank and shape. */
typedef struct st_tensor {
    char *name;
    int rank;
    hsize_t dims[8];
    size_t bytes;
} st_tensor;

typedef struct st_list {
    st_tensor *items;
    size_t n;
} st_list;

/* Lists `/params` in HDF5's name order with every tensor's shape. */
static core_status st_list_params(hid_t g, const char *path, st_list *l)
{
    H5G_info_t info;
    if (H5Gget_info(g, &info) < 0)
        return CORE_ERR(CORE_ERR_FORMAT, "%s: cannot list '/params'", path);
    l->items = core_zalloc(info.nlinks ? (size_t)info.nlinks : 1, sizeof *l->items,
                           "safetensors tensor list");
    if (!l->items)
        return CORE_ERR_NOMEM;
    for (hsize_t i = 0; i < info.nlinks; i++) {
        st_tensor *t = &l->items[l->n];
        ssize_t len =
            H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
        if (len < 0)
            return CORE_ERR(CORE_ERR_FORMAT, "%s: cannot list '/params'", path);
        if (!(t->name = core_alloc((size_t)len + 1, 1, "tensor name")))
            return CORE_ERR_NOMEM;
        l->n++;
        H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, t->name, (size_t)len + 1,
                           H5P_DEFAULT);
        core_status st = core_h5_shape(g, t->name, &t->rank, t->dims);
        if (st != CORE_OK)
            return st;
        size_t count = 1;
        for (int d = 0; d < t->rank; d++)
            if (core_mul_overflows(count, (size_t)t->dims[d], &count))
                count = SIZE_MAX;
        if (t->rank < 1 || count == SIZE_MAX || core_mul_overflows(count, sizeof(float), &t->bytes))
            return CORE_ERR(CORE_ERR_LIMIT, "%s: tensor '%s' has an unsupported shape", path,
                            t->name);
    }
    return CORE_OK;
}

/* The header: {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [...],
 * "data_offsets": [begin, end]}, ...} in the order of `l` (HDF5's name order), compact,
 * padded with spaces to a multiple of 8 bytes. */
static char *st_header(const st_list *l, const char *step, const char *sha, size_t *len)
{
    json_t *root = json_object(), *md = json_object();
    char *text = NULL, *padded = NULL;
    if (!root || !md)
        goto done;
    json_object_set_new(md, "format", json_string("troupe"));
    json_object_set_new(md, "source_format", json_string(CKPT_FORMAT));
    json_object_set_new(md, "troupe_version", json_string(TROUPE_VERSION));
    json_object_set_new(md, "step", json_string(step));
    json_object_set_new(md, "source_sha256", json_string(sha));
    json_object_set_new(root, "__metadata__", md);
    md = NULL;
    size_t off = 0;
    for (size_t i = 0; i < l->n; i++) {
        const st_tensor *t = &l->items[i];
        json_t *shape = json_array(), *offs = json_array(), *e = json_object();
        for (int d = 0; d < t->rank; d++)
            json_array_append_new(shape, json_integer((json_int_t)t->dims[d]));
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + t->bytes)));
        json_object_set_new(e, "dtype", json_string("F32"));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        json_object_set_new(root, t->name, e);
        off += t->bytes;
    }
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (!text)
        goto done;
    size_t n = strlen(text), padn = (n + 7) / 8 * 8;
    padded = malloc(padn + 1);
    if (padded) {
        memcpy(padded, text, n);
        memset(padded + n, ' ', padn - n);
        padded[padn] = '\0';
        *len = padn;
    }
done:
    json_decref(md);
    json_decref(root);
    free(text);
    if (!padded)
        CORE_ERR(CORE_ERR_NOMEM, "safetensors header: out of memory");
    return padded;
}

static core_status fwrite_all(FILE *fp, const void *p, size_t n, const char *path)
{
    if (n && fwrite(p, 1, n, fp) != n)
        return CORE_ERR(CORE_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return CORE_OK;
}

core_status train_export_safetensors(const char *ckpt_path, const char *out_path)
{
    core_status st = CORE_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    st_list l = {0};
    char *header = NULL, *tmp = NULL;
    FILE *fp = NULL;
    float *buf = NULL;
    int64_t step = 0;
    uint8_t digest[CORE_SHA256_BYTES];
    char sha[CORE_SHA256_HEX], step_s[32];

    /* safetensors stores little-endian data; the raw float32 bytes are written as they are. */
    const uint32_t probe = 1;
    CORE_ASSERT(*(const uint8_t *)&probe == 1);

    CORE_TRY(core_h5_open(ckpt_path, &f));
    CORE_TRY(core_h5_check_format(f, ckpt_path, CKPT_FORMAT));
    if (core_h5_attr_get_i64(f, "step", &step) != CORE_OK) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: no 'step' attribute", ckpt_path);
        goto done;
    }
    snprintf(step_s, sizeof step_s, "%lld", (long long)step);
    CORE_TRY(core_sha256_file(ckpt_path, digest, NULL));
    core_hex(sha, digest, sizeof digest);
    g = H5Gopen2(f, "params", H5P_DEFAULT);
    if (g < 0) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: no group '/params'", ckpt_path);
        goto done;
    }
    CORE_TRY(st_list_params(g, ckpt_path, &l));
    size_t hlen = 0;
    if (!(header = st_header(&l, step_s, sha, &hlen))) {
        st = CORE_ERR_NOMEM;
        goto done;
    }

    if (!(tmp = core_tmp_path(out_path))) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    if (!(fp = fopen(tmp, "wbx"))) {
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot create: %s", out_path, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto done;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    CORE_TRY(fwrite_all(fp, len8, 8, out_path));
    CORE_TRY(fwrite_all(fp, header, hlen, out_path));
    for (size_t i = 0; i < l.n; i++) {
        hid_t d = H5Dopen2(g, l.items[i].name, H5P_DEFAULT);
        if (d < 0) {
            st = CORE_ERR(CORE_ERR_FORMAT, "%s: cannot open tensor '%s'", ckpt_path,
                          l.items[i].name);
            goto done;
        }
        free(buf);
        buf = core_alloc(l.items[i].bytes ? l.items[i].bytes : 1, 1, l.items[i].name);
        if (!buf) {
            H5Dclose(d);
            st = CORE_ERR_NOMEM;
            goto done;
        }
        st = l.items[i].bytes ? core_h5_read_rows(d, CORE_H5_F32, 0, l.items[i].dims[0], buf)
                              : CORE_OK;
        H5Dclose(d);
        if (st != CORE_OK) {
            core_error_prefix("%s: tensor '%s'", ckpt_path, l.items[i].name);
            goto done;
        }
        CORE_TRY(fwrite_all(fp, buf, l.items[i].bytes, out_path));
    }
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot write: %s", out_path, strerror(errno));
        goto done;
    }
    int rc = fclose(fp);
    fp = NULL;
    if (rc != 0) {
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot write: %s", out_path, strerror(errno));
        goto done;
    }
    if (rename(tmp, out_path) != 0) {
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot rename into place: %s", out_path, strerror(errno));
        goto done;
    }
    free(tmp);
    tmp = NULL;
done:
    if (fp)
        fclose(fp);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(buf);
    free(header);
    for (size_t i = 0; i < l.n; i++)
        free(l.items[i].name);
    free(l.items);
    if (g >= 0)
        H5Gclose(g);
    core_h5_close(f);
    return st;
}
