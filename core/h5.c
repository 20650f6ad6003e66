/* HDF5 helpers: typed datasets, string attributes, atomic create-then-rename, and HDF5's
 * error stack translated into one message. */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t h5_once = PTHREAD_ONCE_INIT;

static void h5_init_once(void)
{
    /* HDF5 otherwise prints its whole stack on every failed call, even expected ones. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void core_h5_init(void)
{
    pthread_once(&h5_once, h5_init_once);
}

static hid_t native_type(core_h5_type t)
{
    switch (t) {
    case CORE_H5_F32: return H5T_NATIVE_FLOAT;
    case CORE_H5_F64: return H5T_NATIVE_DOUBLE;
    case CORE_H5_I32: return H5T_NATIVE_INT32;
    case CORE_H5_I64: return H5T_NATIVE_INT64;
    case CORE_H5_U8: return H5T_NATIVE_UINT8;
    case CORE_H5_U32: return H5T_NATIVE_UINT32;
    case CORE_H5_U64: return H5T_NATIVE_UINT64;
    }
    CORE_ASSERT(0);
}

/* The on-disk type: little-endian IEEE / integers, whatever the host. */
static hid_t file_type(core_h5_type t)
{
    switch (t) {
    case CORE_H5_F32: return H5T_IEEE_F32LE;
    case CORE_H5_F64: return H5T_IEEE_F64LE;
    case CORE_H5_I32: return H5T_STD_I32LE;
    case CORE_H5_I64: return H5T_STD_I64LE;
    case CORE_H5_U8: return H5T_STD_U8LE;
    case CORE_H5_U32: return H5T_STD_U32LE;
    case CORE_H5_U64: return H5T_STD_U64LE;
    }
    CORE_ASSERT(0);
}

static hid_t vlen_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

size_t core_h5_type_size(core_h5_type t)
{
    switch (t) {
    case CORE_H5_U8: return 1;
    case CORE_H5_F32:
    case CORE_H5_I32:
    case CORE_H5_U32: return 4;
    case CORE_H5_F64:
    case CORE_H5_I64:
    case CORE_H5_U64: return 8;
    }
    CORE_ASSERT(0);
}

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    /* Walking upward, the first entry is the innermost: the most specific reason. */
    char *buf = data;
    if (buf[0] == '\0' && e->desc)
        snprintf(buf, 512, "%s", e->desc);
    return 0;
}

/* Records CORE_ERR_IO "<what>: <HDF5's innermost reason>" and clears the stack. */
static core_status h5_fail(const char *src, int line, const char *what)
{
    char reason[512] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, reason);
    H5Eclear2(H5E_DEFAULT);
    if (reason[0])
        return core__error_set(src, line, CORE_ERR_IO, "%s: %s", what, reason);
    return core__error_set(src, line, CORE_ERR_IO, "%s", what);
}
#define H5_FAIL(...)                                                                               \
    do {                                                                                           \
        char what_[1024];                                                                          \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                                \
        st = h5_fail(__FILE__, __LINE__, what_);                                                   \
        goto done;                                                                                 \
    } while (0)

core_status core_h5_create(core_h5_out *out, const char *path)
{
    core_h5_init();
    core_status st = CORE_OK;
    memset(out, 0, sizeof *out);
    out->file = H5I_INVALID_HID;
    hid_t fcpl = H5I_INVALID_HID;
    out->path = core_strdup(path);
    out->tmp = core_tmp_path(path);
    if (!out->path || !out->tmp) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_obj_track_times(fcpl, 0);
    out->file = H5Fcreate(out->tmp, H5F_ACC_EXCL, fcpl, H5P_DEFAULT);
    if (out->file < 0)
        H5_FAIL("%s: cannot create HDF5 file", path);
done:
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (st != CORE_OK) {
        free(out->path);
        free(out->tmp);
        memset(out, 0, sizeof *out);
        out->file = H5I_INVALID_HID;
    }
    return st;
}

core_status core_h5_commit(core_h5_out *out)
{
    core_status st = CORE_OK;
    if (H5Fflush(out->file, H5F_SCOPE_GLOBAL) < 0 || H5Fclose(out->file) < 0) {
        out->file = H5I_INVALID_HID;
        H5_FAIL("%s: cannot finish HDF5 file", out->path);
    }
    out->file = H5I_INVALID_HID;
    if (rename(out->tmp, out->path) != 0)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot rename into place: %s", out->path, strerror(errno));
done:
    if (st != CORE_OK)
        unlink(out->tmp);
    free(out->tmp);
    free(out->path);
    out->tmp = out->path = NULL;
    return st;
}

void core_h5_abort(core_h5_out *out)
{
    if (!out)
        return;
    if (out->file > 0)
        H5Fclose(out->file);
    H5Eclear2(H5E_DEFAULT);
    if (out->tmp)
        unlink(out->tmp);
    free(out->tmp);
    free(out->path);
    out->tmp = out->path = NULL;
    out->file = H5I_INVALID_HID;
}

core_status core_h5_open(const char *path, hid_t *file)
{
    core_h5_init();
    core_status st = CORE_OK;
    if (access(path, R_OK) != 0)
        return CORE_ERR(CORE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0)
        H5_FAIL("%s: not a readable HDF5 file", path);
done:
    return st;
}

void core_h5_close(hid_t file)
{
    if (file > 0)
        H5Fclose(file);
}

core_status core_h5_group(hid_t loc, const char *name, hid_t *group)
{
    core_h5_init();
    core_status st = CORE_OK;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_obj_track_times(gcpl, 0);
    *group = H5Gcreate2(loc, name, lcpl, gcpl, H5P_DEFAULT);
    if (*group < 0)
        H5_FAIL("cannot create group '%s'", name);
done:
    H5Pclose(lcpl);
    H5Pclose(gcpl);
    return st;
}

/* Creates a dataset without time tracking; chunk may be NULL (contiguous) and maxdims NULL
 * (fixed size); gzip applies to chunked datasets only. */
static core_status create_dataset(hid_t loc, const char *name, core_h5_type t, int rank,
                                  const hsize_t *dims, const hsize_t *maxdims,
                                  const hsize_t *chunk, int gzip, hid_t *dset)
{
    core_h5_init();
    core_status st = CORE_OK;
    hid_t space = H5Screate_simple(rank, dims, maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_obj_track_times(dcpl, 0);
    if (chunk) {
        H5Pset_chunk(dcpl, rank, chunk);
        if (gzip > 0) {
            H5Pset_shuffle(dcpl);
            H5Pset_deflate(dcpl, (unsigned)gzip);
        }
    }
    *dset = H5Dcreate2(loc, name, file_type(t), space, lcpl, dcpl, H5P_DEFAULT);
    if (*dset < 0)
        H5_FAIL("cannot create dataset '%s'", name);
done:
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    return st;
}

core_status core_h5_create_dataset(hid_t loc, const char *name, core_h5_type t, int rank,
                                   const hsize_t *dims, const hsize_t *chunk, int gzip,
                                   hid_t *dset)
{
    return create_dataset(loc, name, t, rank, dims, NULL, chunk, gzip, dset);
}

core_status core_h5_create_appendable(hid_t loc, const char *name, core_h5_type t, int rank,
                                      const hsize_t *row_dims, hsize_t chunk_rows, int gzip,
                                      hid_t *dset)
{
    CORE_ASSERT(rank >= 1 && rank <= 8 && chunk_rows > 0);
    hsize_t dims[8] = {0}, maxdims[8] = {H5S_UNLIMITED}, chunk[8] = {chunk_rows};
    for (int i = 1; i < rank; i++)
        dims[i] = maxdims[i] = chunk[i] = row_dims[i - 1];
    return create_dataset(loc, name, t, rank, dims, maxdims, chunk, gzip, dset);
}

core_status core_h5_append(hid_t dset, core_h5_type t, hsize_t nrows, const void *data)
{
    core_status st = CORE_OK;
    hsize_t dims[8];
    hid_t space = H5Dget_space(dset);
    int rank = H5Sget_simple_extent_ndims(space);
    H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    hsize_t row0 = dims[0];
    dims[0] += nrows;
    if (rank < 1 || H5Dset_extent(dset, dims) < 0)
        H5_FAIL("cannot grow dataset to %llu rows", (unsigned long long)dims[0]);
    if (nrows)
        st = core_h5_write_rows(dset, t, row0, nrows, data);
done:
    return st;
}

core_status core_h5_write_strs(hid_t loc, const char *name, const char *const *values, size_t n)
{
    core_h5_init();
    core_status st = CORE_OK;
    hsize_t dim = n;
    hid_t t = vlen_str_type(), space = H5Screate_simple(1, &dim, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_obj_track_times(dcpl, 0);
    hid_t d = H5Dcreate2(loc, name, t, space, lcpl, dcpl, H5P_DEFAULT);
    if (d < 0)
        H5_FAIL("cannot create dataset '%s'", name);
    if (n && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0)
        H5_FAIL("cannot write dataset '%s'", name);
done:
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(space);
    H5Tclose(t);
    return st;
}

core_status core_h5_read_strs(hid_t loc, const char *name, char ***values, size_t *n)
{
    core_h5_init();
    core_status st = CORE_OK;
    *values = NULL;
    *n = 0;
    hid_t t = vlen_str_type(), space = H5I_INVALID_HID;
    char **raw = NULL, **out = NULL;
    hssize_t count = 0;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        H5_FAIL("no dataset '%s'", name);
    space = H5Dget_space(d);
    count = H5Sget_simple_extent_npoints(space);
    raw = core_zalloc(count > 0 ? (size_t)count : 1, sizeof *raw, name);
    out = core_zalloc(count > 0 ? (size_t)count : 1, sizeof *out, name);
    if (!raw || !out) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    if (count > 0 && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0)
        H5_FAIL("cannot read dataset '%s' as strings", name);
    for (hssize_t i = 0; i < count; i++)
        if (!(out[i] = strdup(raw[i] ? raw[i] : ""))) {
            st = CORE_ERR(CORE_ERR_NOMEM, "dataset '%s': out of memory", name);
            break;
        }
    if (count > 0)
        H5Dvlen_reclaim(t, space, H5P_DEFAULT, raw);
    if (st == CORE_OK) {
        *values = out;
        *n = (size_t)count;
        out = NULL;
    }
done:
    if (out)
        core_strs_free(out, count > 0 ? (size_t)count : 0);
    free(raw);
    if (space >= 0)
        H5Sclose(space);
    if (d >= 0)
        H5Dclose(d);
    H5Tclose(t);
    return st;
}

core_status core_h5_write(hid_t loc, const char *name, core_h5_type t, int rank,
                          const hsize_t *dims, const void *data)
{
    hid_t dset;
    core_status st = core_h5_create_dataset(loc, name, t, rank, dims, NULL, 0, &dset);
    if (st != CORE_OK)
        return st;
    if (H5Dwrite(dset, native_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        H5_FAIL("cannot write dataset '%s'", name);
done:
    H5Dclose(dset);
    return st;
}

static core_status rows_io(hid_t dset, core_h5_type t, hsize_t row0, hsize_t nrows, void *data,
                           bool write)
{
    core_status st = CORE_OK;
    hid_t fspace = H5Dget_space(dset), mspace = H5I_INVALID_HID;
    hsize_t dims[8], start[8] = {0}, count[8];
    int rank = H5Sget_simple_extent_ndims(fspace);
    if (rank < 1 || rank > 8)
        H5_FAIL("dataset has rank %d", rank);
    H5Sget_simple_extent_dims(fspace, dims, NULL);
    if (row0 + nrows > dims[0]) {
        st = CORE_ERR(CORE_ERR_RANGE, "rows %llu..%llu outside dataset of %llu rows",
                      (unsigned long long)row0, (unsigned long long)(row0 + nrows),
                      (unsigned long long)dims[0]);
        goto done;
    }
    memcpy(count, dims, sizeof count);
    start[0] = row0;
    count[0] = nrows;
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    mspace = H5Screate_simple(rank, count, NULL);
    herr_t rc = write ? H5Dwrite(dset, native_type(t), mspace, fspace, H5P_DEFAULT, data)
                      : H5Dread(dset, native_type(t), mspace, fspace, H5P_DEFAULT, data);
    if (rc < 0)
        H5_FAIL("cannot %s rows %llu..%llu", write ? "write" : "read", (unsigned long long)row0,
                (unsigned long long)(row0 + nrows));
done:
    H5Sclose(fspace);
    if (mspace >= 0)
        H5Sclose(mspace);
    return st;
}

core_status core_h5_write_rows(hid_t dset, core_h5_type t, hsize_t row0, hsize_t nrows,
                               const void *data)
{
    return rows_io(dset, t, row0, nrows, (void *)(uintptr_t)data, true);
}

core_status core_h5_read_rows(hid_t dset, core_h5_type t, hsize_t row0, hsize_t nrows, void *data)
{
    return rows_io(dset, t, row0, nrows, data, false);
}

core_status core_h5_shape(hid_t loc, const char *name, int *rank, hsize_t dims[8])
{
    core_h5_init();
    core_status st = CORE_OK;
    hid_t space = H5I_INVALID_HID;
    hid_t dset = H5Dopen2(loc, name, H5P_DEFAULT);
    if (dset < 0)
        H5_FAIL("no dataset '%s'", name);
    space = H5Dget_space(dset);
    *rank = H5Sget_simple_extent_ndims(space);
    if (*rank < 0 || *rank > 8)
        H5_FAIL("dataset '%s' has unsupported rank %d", name, *rank);
    H5Sget_simple_extent_dims(space, dims, NULL);
done:
    if (space >= 0)
        H5Sclose(space);
    if (dset >= 0)
        H5Dclose(dset);
    return st;
}

core_status core_h5_read(hid_t loc, const char *name, core_h5_type t, int *rank, hsize_t dims[8],
                         void **data)
{
    *data = NULL;
    core_status st = core_h5_shape(loc, name, rank, dims);
    if (st != CORE_OK)
        return st;
    size_t n = 1;
    for (int i = 0; i < *rank; i++)
        if (core_mul_overflows(n, (size_t)dims[i], &n))
            return CORE_ERR(CORE_ERR_LIMIT, "dataset '%s' is too large to read", name);
    void *buf = core_alloc(n, core_h5_type_size(t), name);
    if (!buf)
        return CORE_ERR_NOMEM;
    hid_t dset = H5Dopen2(loc, name, H5P_DEFAULT);
    if (H5Dread(dset, native_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(buf);
        buf = NULL;
        H5_FAIL("cannot read dataset '%s'", name);
    }
    *data = buf;
done:
    H5Dclose(dset);
    return st;
}

static core_status attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hid_t space,
                              const void *buf)
{
    core_h5_init();
    core_status st = CORE_OK;
    if (H5Aexists(loc, name) > 0)
        H5Adelete(loc, name);
    hid_t a = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        H5_FAIL("cannot create attribute '%s'", name);
    if (H5Awrite(a, mtype, buf) < 0)
        H5_FAIL("cannot write attribute '%s'", name);
done:
    if (a >= 0)
        H5Aclose(a);
    return st;
}

core_status core_h5_attr_set_str(hid_t loc, const char *name, const char *value)
{
    hid_t t = vlen_str_type(), space = H5Screate(H5S_SCALAR);
    core_status st = attr_write(loc, name, t, t, space, &value);
    H5Tclose(t);
    H5Sclose(space);
    return st;
}

core_status core_h5_attr_set_strs(hid_t loc, const char *name, const char *const *values, size_t n)
{
    hsize_t dim = n;
    hid_t t = vlen_str_type(), space = H5Screate_simple(1, &dim, NULL);
    static const char *const none[1] = {""};
    core_status st = attr_write(loc, name, t, t, space, n ? (const void *)values : none);
    H5Tclose(t);
    H5Sclose(space);
    return st;
}

core_status core_h5_attr_set_i64(hid_t loc, const char *name, int64_t v)
{
    hid_t space = H5Screate(H5S_SCALAR);
    core_status st = attr_write(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, space, &v);
    H5Sclose(space);
    return st;
}

core_status core_h5_attr_get_i64(hid_t loc, const char *name, int64_t *v)
{
    core_h5_init();
    core_status st = CORE_OK;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        H5_FAIL("no attribute '%s'", name);
    if (H5Aread(a, H5T_NATIVE_INT64, v) < 0)
        H5_FAIL("cannot read attribute '%s' as an integer", name);
done:
    if (a >= 0)
        H5Aclose(a);
    return st;
}

core_status core_h5_attr_get_strs(hid_t loc, const char *name, char ***values, size_t *n)
{
    core_h5_init();
    core_status st = CORE_OK;
    *values = NULL;
    *n = 0;
    hid_t t = vlen_str_type(), space = H5I_INVALID_HID, atype = H5I_INVALID_HID;
    char **raw = NULL;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        H5_FAIL("no attribute '%s'", name);
    atype = H5Aget_type(a);
    if (H5Tget_class(atype) != H5T_STRING || !H5Tis_variable_str(atype)) {
        st = CORE_ERR(CORE_ERR_FORMAT, "attribute '%s' is not a variable-length string", name);
        goto done;
    }
    space = H5Aget_space(a);
    hssize_t count = H5Sget_simple_extent_npoints(space);
    if (count < 0)
        H5_FAIL("attribute '%s' has no extent", name);
    raw = core_zalloc((size_t)count ? (size_t)count : 1, sizeof *raw, name);
    if (!raw) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    if (H5Aread(a, t, raw) < 0)
        H5_FAIL("cannot read attribute '%s'", name);
    char **out = core_zalloc((size_t)count ? (size_t)count : 1, sizeof *out, name);
    for (hssize_t i = 0; out && i < count; i++) {
        out[i] = strdup(raw[i] ? raw[i] : "");
        if (!out[i]) {
            core_strs_free(out, (size_t)i);
            out = NULL;
        }
    }
    H5Dvlen_reclaim(t, space, H5P_DEFAULT, raw);
    if (!out) {
        st = CORE_ERR(CORE_ERR_NOMEM, "attribute '%s': out of memory", name);
        goto done;
    }
    *values = out;
    *n = (size_t)count;
done:
    free(raw);
    if (space >= 0)
        H5Sclose(space);
    if (atype >= 0)
        H5Tclose(atype);
    if (a >= 0)
        H5Aclose(a);
    H5Tclose(t);
    return st;
}

core_status core_h5_attr_get_str(hid_t loc, const char *name, char **value)
{
    char **v;
    size_t n;
    *value = NULL;
    core_status st = core_h5_attr_get_strs(loc, name, &v, &n);
    if (st != CORE_OK)
        return st;
    if (n != 1) {
        core_strs_free(v, n);
        return CORE_ERR(CORE_ERR_FORMAT, "attribute '%s' holds %zu strings, expected one", name, n);
    }
    *value = v[0];
    free(v);
    return CORE_OK;
}

void core_strs_free(char **values, size_t n)
{
    if (!values)
        return;
    for (size_t i = 0; i < n; i++)
        free(values[i]);
    free(values);
}

core_status core_h5_write_header(hid_t file, const char *format, const char *config_yaml,
                                 const char *const *inputs, size_t n_inputs)
{
    core_status st = CORE_OK;
    CORE_TRY(core_h5_attr_set_str(file, "format", format));
    CORE_TRY(core_h5_attr_set_str(file, "troupe_version", TROUPE_VERSION));
    if (config_yaml)
        CORE_TRY(core_h5_attr_set_str(file, "config", config_yaml));
    CORE_TRY(core_h5_attr_set_strs(file, "inputs", inputs, n_inputs));
done:
    return st;
}

core_status core_h5_check_format(hid_t file, const char *path, const char *format)
{
    char *got = NULL;
    if (core_h5_attr_get_str(file, "format", &got) != CORE_OK)
        return CORE_ERR(CORE_ERR_FORMAT, "%s: not a Troupe file (no 'format' attribute)", path);
    core_status st = CORE_OK;
    if (strcmp(got, format) != 0)
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: format is '%s', expected '%s'", path, got, format);
    free(got);
    return st;
}
