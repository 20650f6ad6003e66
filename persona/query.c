/* Queries on a persona matrix: loading, lookup by id, and cosine top-k through blocked
 * cblas_sgemm (rows are unit norm, so a dot product is the cosine). */
#include "persona/persona.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void persona_matrix_free(persona_matrix *m)
{
    if (!m)
        return;
    free(m->features);
    free(m->ids);
    free(m->role);
    for (int a = 0; a < 5; a++)
        free(m->axis[a]);
    core_strs_free(m->role_id, m->n_roles);
    core_strs_free(m->role_name_en, m->n_roles);
    core_strs_free(m->role_name_zh, m->n_roles);
    core_strs_free(m->role_archetype, m->n_roles);
    core_strs_free(m->role_occupation, m->n_roles);
    core_strs_free(m->role_parent, m->n_roles);
    memset(m, 0, sizeof *m);
}

/* Reads a 1-D dataset of n elements of type t. */
static core_status read_column(hid_t f, const char *path, const char *name, core_h5_type t,
                               uint64_t n, void **out)
{
    int rank;
    hsize_t dims[8];
    core_status st = core_h5_read(f, name, t, &rank, dims, out);
    if (st == CORE_OK && (rank != 1 || dims[0] != n)) {
        free(*out);
        *out = NULL;
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: %s has %llu rows, expected %llu", path, name,
                      (unsigned long long)dims[0], (unsigned long long)n);
    }
    return st;
}

static core_status read_role_column(hid_t f, const char *name, size_t n_expected, char ***out,
                                    size_t *n)
{
    core_status st = core_h5_read_strs(f, name, out, n);
    if (st == CORE_OK && n_expected && *n != n_expected)
        st = CORE_ERR(CORE_ERR_FORMAT, "%s has %zu roles, expected %zu", name, *n, n_expected);
    return st;
}

core_status persona_matrix_load(const char *path, bool with_features, persona_matrix *m)
{
    memset(m, 0, sizeof *m);
    hid_t f;
    core_status st = core_h5_open(path, &f);
    if (st != CORE_OK)
        return st;
    int rank;
    hsize_t dims[8];
    CORE_TRY(core_h5_check_format(f, path, "troupe.personas/1"));
    CORE_TRY(core_h5_shape(f, "/features", &rank, dims));
    if (rank != 2 || dims[1] != PERSONA_D) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: /features is not [N, %d]", path, PERSONA_D);
        goto done;
    }
    m->n = dims[0];
    m->d = (int)dims[1];
    if (with_features)
        CORE_TRY(core_h5_read(f, "/features", CORE_H5_F32, &rank, dims, (void **)&m->features));
    CORE_TRY(read_column(f, path, "/id", CORE_H5_U64, m->n, (void **)&m->ids));
    CORE_TRY(read_column(f, path, "/role", CORE_H5_I32, m->n, (void **)&m->role));
    for (int a = 0; a < 5; a++) {
        char name[64];
        snprintf(name, sizeof name, "/axis/%s", persona_axis_names[a]);
        CORE_TRY(read_column(f, path, name, CORE_H5_U8, m->n, (void **)&m->axis[a]));
    }
    CORE_TRY(read_role_column(f, "/roles/id", 0, &m->role_id, &m->n_roles));
    size_t n;
    CORE_TRY(read_role_column(f, "/roles/name_en", m->n_roles, &m->role_name_en, &n));
    CORE_TRY(read_role_column(f, "/roles/name_zh", m->n_roles, &m->role_name_zh, &n));
    CORE_TRY(read_role_column(f, "/roles/archetype", m->n_roles, &m->role_archetype, &n));
    CORE_TRY(read_role_column(f, "/roles/occupation", m->n_roles, &m->role_occupation, &n));
    CORE_TRY(read_role_column(f, "/roles/parent", m->n_roles, &m->role_parent, &n));
    for (uint64_t i = 0; i < m->n; i++)
        if (m->role[i] < 0 || (size_t)m->role[i] >= m->n_roles) {
            st = CORE_ERR(CORE_ERR_FORMAT, "%s: /role[%llu] = %d is not a row of /roles", path,
                          (unsigned long long)i, m->role[i]);
            goto done;
        }
done:
    core_h5_close(f);
    if (st != CORE_OK) {
        if (core_error_message()[0] && !strstr(core_error_message(), path))
            core_error_prefix("%s", path);
        persona_matrix_free(m);
    }
    return st;
}

long persona_matrix_find(const persona_matrix *m, uint64_t id)
{
    for (uint64_t i = 0; i < m->n; i++)
        if (m->ids[i] == id)
            return (long)i;
    return -1;
}

/* Inserts (idx, sim) into the best-first list of length k if it belongs there. Equal
 * similarities keep the lower row index first. */
static void topk_push(uint64_t *idx, float *sim, int k, int *len, uint64_t i, float s)
{
    if (*len == k && !(s > sim[k - 1] || (s == sim[k - 1] && i < idx[k - 1])))
        return;
    int p = *len < k ? (*len)++ : k - 1;
    while (p > 0 && (s > sim[p - 1] || (s == sim[p - 1] && i < idx[p - 1]))) {
        sim[p] = sim[p - 1];
        idx[p] = idx[p - 1];
        p--;
    }
    sim[p] = s;
    idx[p] = i;
}

core_status persona_similar(const persona_matrix *m, const uint64_t *q, size_t nq, int k,
                            uint64_t *out_idx, float *out_sim)
{
    if (k < 1 || (uint64_t)k >= m->n)
        return CORE_ERR(CORE_ERR_RANGE, "k is %d; it must be between 1 and %llu", k,
                        (unsigned long long)(m->n ? m->n - 1 : 0));
    const size_t block = 32768;
    const int d = m->d;
    float *queries = core_alloc(nq, (size_t)d * sizeof(float), "queries");
    float *scores = core_alloc(nq, block * sizeof(float), "scores");
    int *len = core_zalloc(nq, sizeof *len, "queries");
    if (!queries || !scores || !len) {
        free(queries);
        free(scores);
        free(len);
        return CORE_ERR_NOMEM;
    }
    for (size_t i = 0; i < nq; i++) {
        CORE_ASSERT(q[i] < m->n);
        memcpy(queries + i * (size_t)d, m->features + q[i] * (size_t)d, (size_t)d * sizeof(float));
    }
    for (uint64_t r0 = 0; r0 < m->n; r0 += block) {
        size_t nb = m->n - r0 < block ? (size_t)(m->n - r0) : block;
        /* scores (nq, nb) = queries (nq, d) @ features[r0 : r0 + nb] (nb, d)^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nb, d, 1.0f, queries, d,
                    m->features + r0 * (size_t)d, d, 0.0f, scores, (int)nb);
        for (size_t i = 0; i < nq; i++) {
            const float *s = scores + i * nb;
            uint64_t *idx = out_idx + i * (size_t)k;
            float *sim = out_sim + i * (size_t)k;
            /* Most rows lose to the current k-th: test against it before inserting. */
            float floor = len[i] == k ? sim[k - 1] : -2.0f;
            for (size_t j = 0; j < nb; j++) {
                if (s[j] < floor || r0 + j == q[i])
                    continue;
                topk_push(idx, sim, k, &len[i], r0 + j, s[j]);
                floor = len[i] == k ? sim[k - 1] : -2.0f;
            }
        }
    }
    free(queries);
    free(scores);
    free(len);
    return CORE_OK;
}

void persona_similar_reference(const persona_matrix *m, uint64_t q, int k, uint64_t *out_idx,
                               float *out_sim)
{
    int len = 0;
    const float *x = m->features + q * (size_t)m->d;
    for (uint64_t i = 0; i < m->n; i++) {
        if (i == q)
            continue;
        const float *y = m->features + i * (size_t)m->d;
        float s = 0;
        for (int j = 0; j < m->d; j++)
            s += x[j] * y[j];
        topk_push(out_idx, out_sim, k, &len, i, s);
    }
}

core_status persona_matrix_read_row(const char *path, uint64_t row, float *out, int d)
{
    hid_t f;
    core_status st = core_h5_open(path, &f);
    if (st != CORE_OK)
        return st;
    hid_t ds = H5Dopen2(f, "/features", H5P_DEFAULT);
    if (ds < 0)
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: no /features", path);
    else
        st = core_h5_read_rows(ds, CORE_H5_F32, row, 1, out);
    (void)d;
    if (ds >= 0)
        H5Dclose(ds);
    core_h5_close(f);
    return st;
}

core_status persona_stats_compute(const char *path, persona_stats *s)
{
    memset(s, 0, sizeof *s);
    persona_matrix m;
    core_status st = persona_matrix_load(path, false, &m);
    if (st != CORE_OK)
        return st;
    hid_t f = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    float *buf = NULL;
    double *sum = NULL, *sum2 = NULL;
    s->rows = m.n;
    s->roles = m.n_roles;
    s->d = m.d;
    for (uint64_t i = 0; i < m.n; i++) {
        for (int a = 0; a < 5; a++)
            s->axis_counts[a][m.axis[a][i] & 15]++;
        for (int k = 0; k < PERSONA_N_ARCHETYPES; k++)
            if (!strcmp(m.role_archetype[m.role[i]], persona_archetypes[k]))
                s->archetype_rows[k]++;
    }
    CORE_TRY(core_h5_open(path, &f));
    int64_t v;
    if (core_h5_attr_get_i64(f, "rows_expanded", &v) == CORE_OK)
        s->rows_expanded = (uint64_t)v;
    if (core_h5_attr_get_i64(f, "rows_removed", &v) == CORE_OK)
        s->rows_removed = (uint64_t)v;
    if (core_h5_attr_get_i64(f, "families", &v) == CORE_OK)
        s->families = (uint64_t)v;
    ds = H5Dopen2(f, "/features", H5P_DEFAULT);
    const size_t block = 65536;
    buf = core_alloc(block, PERSONA_D * sizeof *buf, "stats");
    sum = core_zalloc(PERSONA_D, sizeof *sum, "stats");
    sum2 = core_zalloc(PERSONA_D, sizeof *sum2, "stats");
    if (!buf || !sum || !sum2 || ds < 0) {
        st = ds < 0 ? CORE_ERR(CORE_ERR_FORMAT, "%s: no /features", path) : CORE_ERR_NOMEM;
        goto done;
    }
    for (int j = 0; j < PERSONA_D; j++) {
        s->min[j] = 1e30;
        s->max[j] = -1e30;
    }
    for (uint64_t r0 = 0; r0 < m.n; r0 += block) {
        size_t nb = m.n - r0 < block ? (size_t)(m.n - r0) : block;
        CORE_TRY(core_h5_read_rows(ds, CORE_H5_F32, r0, nb, buf));
        for (size_t i = 0; i < nb; i++)
            for (int j = 0; j < PERSONA_D; j++) {
                double x = buf[i * PERSONA_D + j];
                sum[j] += x;
                sum2[j] += x * x;
                if (x < s->min[j])
                    s->min[j] = x;
                if (x > s->max[j])
                    s->max[j] = x;
            }
    }
    for (int j = 0; j < PERSONA_D; j++) {
        double n = m.n ? (double)m.n : 1;
        s->mean[j] = sum[j] / n;
        double var = sum2[j] / n - s->mean[j] * s->mean[j];
        s->std[j] = var > 0 ? sqrt(var) : 0;
    }
done:
    free(buf);
    free(sum);
    free(sum2);
    if (ds >= 0)
        H5Dclose(ds);
    core_h5_close(f);
    persona_matrix_free(&m);
    return st;
}
