/* core: the shared foundation of Troupe (status codes, allocation, logging and progress,
 * metrics, deterministic RNG, threads, files, hashing and signing, HDF5 and YAML helpers,
 * and the strict config loader).
 *
 * Dependencies: core -> (libc, libsodium, libyaml, jansson, HDF5). No other module.
 *
 * Conventions. Anything the outside world can break returns a core_status; the failing site
 * records a message naming the object (path, YAML line:column, dataset name) with
 * CORE_ERR(), readable with core_error_message() on the same thread until the next error.
 * Library code never prints an error and never exits; only the CLI does. Bugs (broken
 * invariants) hit CORE_ASSERT, which is always on. Every *_free accepts NULL. */
#ifndef TROUPE_CORE_H
#define TROUPE_CORE_H

#include <hdf5.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TROUPE_VERSION "0.1.0"

/* ---------------------------------------------------------------- status and errors */

typedef enum core_status {
    CORE_OK = 0,
    CORE_ERR_USAGE,    /* bad command-line usage */
    CORE_ERR_IO,       /* a file could not be read, written or renamed */
    CORE_ERR_PARSE,    /* malformed input (YAML syntax, JSON, number text) */
    CORE_ERR_SCHEMA,   /* well-formed input that breaks its schema (unknown key, type) */
    CORE_ERR_RANGE,    /* a value outside its allowed range */
    CORE_ERR_LIMIT,    /* input larger or deeper than the configured limit */
    CORE_ERR_FORMAT,   /* a file of the wrong kind or version */
    CORE_ERR_NOMEM,    /* allocation failed or a size overflowed */
    CORE_ERR_CHECK,    /* the work failed: bad data, failed verification */
    CORE_ERR_CRYPTO,   /* signature or hash mismatch */
    CORE_ERR_INTERNAL, /* a third-party library failed unexpectedly */
} core_status;

/* Short upper-case name of a status ("CORE_ERR_SCHEMA" -> "SCHEMA"). Never NULL. */
const char *core_status_name(core_status st);

/* Records `code` and a printf-style message for this thread, with the C source site.
 * Returns `code`, so failing sites read `return CORE_ERR(CORE_ERR_IO, "%s: ...", path);`. */
core_status core__error_set(const char *src_file, int src_line, core_status code, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));
#define CORE_ERR(code, ...) core__error_set(__FILE__, __LINE__, (code), __VA_ARGS__)

/* The last error message recorded on this thread ("" if none). Valid until the next error. */
const char *core_error_message(void);
/* The last error's source site ("core/config.c:120") and code. */
const char *core_error_site(void);
core_status core_error_code(void);
/* Prefixes the current message with "prefix: " (adds context on the way up). */
void core_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void core_error_clear(void);

/* Always-on assertion for bugs (never for bad input): prints the site and aborts. */
#define CORE_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            core__assert_fail(#cond, __FILE__, __LINE__);                                          \
    } while (0)
_Noreturn void core__assert_fail(const char *expr, const char *file, int line);

/* Runs `expr` (a core_status) and jumps to `done` with `st` set when it fails. */
#define CORE_TRY(expr)                                                                             \
    do {                                                                                           \
        st = (expr);                                                                               \
        if (st != CORE_OK)                                                                         \
            goto done;                                                                             \
    } while (0)

/* ---------------------------------------------------------------- checked allocation */

/* malloc/calloc/realloc that record CORE_ERR_NOMEM (naming `what`) and return NULL on
 * failure or when n * size overflows. Free with free(). */
void *core_alloc(size_t n, size_t size, const char *what);
void *core_zalloc(size_t n, size_t size, const char *what);
void *core_realloc(void *p, size_t n, size_t size, const char *what);
char *core_strdup(const char *s);
/* *out = a * b; false (and no store) on overflow. */
bool core_mul_overflows(size_t a, size_t b, size_t *out);
/* malloc'd printf; NULL with CORE_ERR_NOMEM on failure. */
char *core_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------------- logging and progress */

typedef enum core_log_level {
    CORE_LOG_ERROR = 0,
    CORE_LOG_WARN = 1,
    CORE_LOG_INFO = 2,
    CORE_LOG_DEBUG = 3,
} core_log_level;

/* Messages at or below `level` are written to stderr (default CORE_LOG_WARN). */
void core_log_set_level(core_log_level level);
core_log_level core_log_get_level(void);
void core_log(core_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A progress report for long work, drawn on stderr. On a terminal: a bar redrawn at most
 * ten times a second with items/s and ETA; otherwise one plain line every
 * `core_progress_interval` seconds (default 10). Silent below CORE_LOG_INFO. Update it from
 * one thread only. */
typedef struct core_progress core_progress;
core_progress *core_progress_start(const char *label, uint64_t total, const char *unit);
void core_progress_update(core_progress *p, uint64_t done);
/* Prints the final line (count, rate, elapsed) and frees `p`. Accepts NULL. */
void core_progress_finish(core_progress *p);
extern double core_progress_interval;

/* Monotonic seconds since an arbitrary origin. */
double core_now(void);

/* ---------------------------------------------------------------- metrics (JSON lines) */

/* A metrics log: one compact JSON object per line, each written with a single write() and
 * flushed, so a reader following the file never sees half a record (except after a
 * crash, at the end). */
typedef struct core_metrics core_metrics;
/* Creates (truncates) `path`. NULL on failure with the error recorded. */
core_metrics *core_metrics_open(const char *path);
/* Opens `path` for appending (created if missing), e.g. when a run resumes. */
core_metrics *core_metrics_append(const char *path);
/* Appends `record` (borrowed; must be a JSON object). */
core_status core_metrics_write(core_metrics *m, const json_t *record);
/* Closes the file; returns the status of the final flush. Accepts NULL. */
core_status core_metrics_close(core_metrics *m);

/* ---------------------------------------------------------------- deterministic RNG */

/* A counter-based generator (Philox4x32-10, reference: Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC 2011). A stream is named by its purpose; every draw is
 * a pure function of (seed, purpose, substream, position), so work split over threads or
 * ranks draws the same numbers as long as each item forks its own substream by index. */
typedef struct core_rng {
    uint32_t key[2];
    uint64_t substream; /* counter words 2-3 */
    uint64_t position;  /* counter words 0-1: next block */
    uint32_t buf[4];
    int avail; /* unread words left in buf (taken from the end) */
} core_rng;

/* The stream for `purpose` ("persona.expand", "train.dropout") under `seed`. */
void core_rng_init(core_rng *r, uint64_t seed, const char *purpose);
/* An independent substream of `parent`'s stream, e.g. one per row or per example. */
core_rng core_rng_fork(const core_rng *parent, uint64_t index);
uint32_t core_rng_u32(core_rng *r);
uint64_t core_rng_u64(core_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double core_rng_uniform(core_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t core_rng_below(core_rng *r, uint64_t n);
/* Standard normal (Box-Muller over two uniforms). */
double core_rng_normal(core_rng *r);
/* Philox4x32-10 of one counter block under `key`: the raw generator, for tests. */
void core_philox4x32(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]);

/* ---------------------------------------------------------------- threads */

/* Threads to use: $TROUPE_THREADS if set, else the online CPU count. */
int core_threads_default(void);
/* Calls fn(ctx, begin, end, tid) over contiguous, disjoint ranges covering [0, n), on up to
 * `nthreads` threads (<= 0: core_threads_default()), and waits for all. `fn` must not fail;
 * collect per-thread statuses in ctx. Returns CORE_ERR_INTERNAL if a thread cannot start. */
typedef void (*core_range_fn)(void *ctx, size_t begin, size_t end, int tid);
core_status core_parallel_for(size_t n, int nthreads, core_range_fn fn, void *ctx);

/* ---------------------------------------------------------------- files */

/* Reads the whole file into a NUL-terminated buffer the caller frees. Fails with
 * CORE_ERR_LIMIT when it is larger than `max_bytes` (0: no limit). */
core_status core_file_read(const char *path, size_t max_bytes, char **out, size_t *len);
/* Writes `n` bytes to a temporary file beside `path`, fsyncs and renames it into place; on
 * failure nothing exists under `path` that was not there before. */
core_status core_file_write_atomic(const char *path, const void *data, size_t n);
/* A temporary name beside `path` ("dir/.name.tmp.<pid>.<k>"), malloc'd. */
char *core_tmp_path(const char *path);
/* Creates the directory and its parents (mode 0755); fine if it exists. */
core_status core_mkdir_p(const char *path);
/* Removes a file or a folder and everything in it (best effort; for cleaning up our own
 * temporary output after a failure). */
void core_rmtree(const char *path);
/* Directory containing the running executable (malloc'd), or NULL. */
char *core_exe_dir(void);

/* ---------------------------------------------------------------- hashing and signing */

#define CORE_SHA256_BYTES 32
#define CORE_SHA256_HEX 65 /* 64 hex digits and NUL */
#define CORE_ED25519_PK_BYTES 32
#define CORE_ED25519_SK_BYTES 64
#define CORE_ED25519_SEED_BYTES 32
#define CORE_ED25519_SIG_BYTES 64

/* Initialises libsodium (idempotent, thread-safe). */
core_status core_crypto_init(void);
void core_sha256(uint8_t out[CORE_SHA256_BYTES], const void *data, size_t n);
/* Streams the file through SHA-256; also returns its size in *bytes when non-NULL. */
core_status core_sha256_file(const char *path, uint8_t out[CORE_SHA256_BYTES], uint64_t *bytes);
/* Lowercase hex of `n` bytes into `out` (2n + 1 bytes). */
void core_hex(char *out, const uint8_t *in, size_t n);
/* Parses exactly 2n lowercase hex digits; false if `hex` is anything else. */
bool core_unhex(uint8_t *out, size_t n, const char *hex);
/* Key pair from a 32-byte seed, or from the OS's randomness when seed is NULL. */
core_status core_ed25519_keypair(uint8_t pk[CORE_ED25519_PK_BYTES],
                                 uint8_t sk[CORE_ED25519_SK_BYTES], const uint8_t *seed);
void core_ed25519_sign(uint8_t sig[CORE_ED25519_SIG_BYTES], const void *msg, size_t n,
                       const uint8_t sk[CORE_ED25519_SK_BYTES]);
bool core_ed25519_verify(const uint8_t sig[CORE_ED25519_SIG_BYTES], const void *msg, size_t n,
                         const uint8_t pk[CORE_ED25519_PK_BYTES]);
/* Overwrites secret bytes so the compiler cannot skip it (sodium_memzero). */
void core_wipe(void *p, size_t n);
/* Standard base64 with padding; malloc'd NUL-terminated string. */
char *core_base64_encode(const void *data, size_t n);
/* Decodes standard base64; the caller frees *out. CORE_ERR_PARSE on bad input. */
core_status core_base64_decode(const char *b64, uint8_t **out, size_t *n);

/* ---------------------------------------------------------------- HDF5 helpers */

typedef enum core_h5_type {
    CORE_H5_F32,
    CORE_H5_F64,
    CORE_H5_I32,
    CORE_H5_I64,
    CORE_H5_U8,
    CORE_H5_U32,
    CORE_H5_U64,
} core_h5_type;

/* Turns off HDF5's own error printing (idempotent). Every core_h5_* calls it. */
void core_h5_init(void);
/* Size in bytes of one element of `t`. */
size_t core_h5_type_size(core_h5_type t);

/* A file being written: created under a temporary name beside `path` and renamed into
 * place by core_h5_commit, so a crash never leaves a half-written file under `path`.
 * Objects are created without modification times, so the same content gives the same
 * bytes. */
typedef struct core_h5_out {
    hid_t file;
    char *path;
    char *tmp;
} core_h5_out;
core_status core_h5_create(core_h5_out *out, const char *path);
/* Closes and renames into place. On failure the temporary file is removed. */
core_status core_h5_commit(core_h5_out *out);
/* Closes and removes the temporary file. Accepts a zeroed or committed struct. */
void core_h5_abort(core_h5_out *out);

core_status core_h5_open(const char *path, hid_t *file);
void core_h5_close(hid_t file); /* accepts H5I_INVALID_HID and negative ids */

/* Creates group `name` (intermediate groups too) without time tracking. */
core_status core_h5_group(hid_t loc, const char *name, hid_t *group);
/* Writes a whole dataset (contiguous). */
core_status core_h5_write(hid_t loc, const char *name, core_h5_type t, int rank,
                          const hsize_t *dims, const void *data);
/* Creates a chunked dataset of `dims` to be filled by core_h5_write_rows; `gzip` 0-9
 * (0: no compression). */
core_status core_h5_create_dataset(hid_t loc, const char *name, core_h5_type t, int rank,
                                   const hsize_t *dims, const hsize_t *chunk, int gzip,
                                   hid_t *dset);
/* Creates a dataset of 0 rows that grows along its first dimension (rows of shape
 * row_dims[0..rank-2]), chunked by `chunk_rows`; fill it with core_h5_append. */
core_status core_h5_create_appendable(hid_t loc, const char *name, core_h5_type t, int rank,
                                      const hsize_t *row_dims, hsize_t chunk_rows, int gzip,
                                      hid_t *dset);
/* Appends `nrows` rows to a dataset made by core_h5_create_appendable. */
core_status core_h5_append(hid_t dset, core_h5_type t, hsize_t nrows, const void *data);
/* A 1-D dataset of variable-length UTF-8 strings, and its reader (caller frees with
 * core_strs_free). */
core_status core_h5_write_strs(hid_t loc, const char *name, const char *const *values, size_t n);
core_status core_h5_read_strs(hid_t loc, const char *name, char ***values, size_t *n);
/* Writes rows [row0, row0 + nrows) along the first dimension of `dset`. */
core_status core_h5_write_rows(hid_t dset, core_h5_type t, hsize_t row0, hsize_t nrows,
                               const void *data);
/* Reads rows [row0, row0 + nrows) along the first dimension into `data`. */
core_status core_h5_read_rows(hid_t dset, core_h5_type t, hsize_t row0, hsize_t nrows, void *data);
/* Reads a whole dataset converted to `t`. *dims gets up to 8 dims; *data is malloc'd and
 * its size overflow-checked. */
core_status core_h5_read(hid_t loc, const char *name, core_h5_type t, int *rank, hsize_t dims[8],
                         void **data);
/* Shape of a dataset without reading it. */
core_status core_h5_shape(hid_t loc, const char *name, int *rank, hsize_t dims[8]);

/* String attributes (UTF-8, variable length). */
core_status core_h5_attr_set_str(hid_t loc, const char *name, const char *value);
core_status core_h5_attr_get_str(hid_t loc, const char *name, char **value);
/* A 1-D array of strings (e.g. feature names). */
core_status core_h5_attr_set_strs(hid_t loc, const char *name, const char *const *values, size_t n);
core_status core_h5_attr_get_strs(hid_t loc, const char *name, char ***values, size_t *n);
void core_strs_free(char **values, size_t n);
/* Scalar numeric attributes. */
core_status core_h5_attr_set_i64(hid_t loc, const char *name, int64_t v);
core_status core_h5_attr_get_i64(hid_t loc, const char *name, int64_t *v);

/* The self-description every Troupe file carries: attributes `format` ("troupe.shard/1"),
 * `troupe_version`, `config` (the effective config as YAML, may be NULL), and `inputs`
 * (one "sha256:<hex> <name>" string per input, may be empty). */
core_status core_h5_write_header(hid_t file, const char *format, const char *config_yaml,
                                 const char *const *inputs, size_t n_inputs);
/* Fails with CORE_ERR_FORMAT naming `path` unless the file's `format` is `format`. */
core_status core_h5_check_format(hid_t file, const char *path, const char *format);

/* ---------------------------------------------------------------- strict YAML */

/* A YAML document parsed strictly: no anchors, aliases, tags, merge keys or multiple
 * documents; duplicate keys are errors; limits on size, depth and node count. Scalars keep
 * their text; the schema, not YAML, assigns types. Every node knows its line and column. */
typedef enum core_yaml_kind {
    CORE_YAML_NULL,
    CORE_YAML_SCALAR,
    CORE_YAML_SEQ,
    CORE_YAML_MAP,
} core_yaml_kind;

typedef struct core_yaml_node core_yaml_node;
struct core_yaml_node {
    core_yaml_kind kind;
    int line, col;         /* 1-based position of the value */
    int key_line, key_col; /* position of the key, for map members */
    const char *key;       /* map members only */
    const char *str;       /* scalars: the text, NUL-terminated */
    size_t len;            /* scalars: bytes */
    bool quoted;           /* scalars written in quotes */
    size_t n;              /* sequences and maps: number of members */
    core_yaml_node **items;
};

typedef struct core_yaml_limits {
    size_t max_bytes; /* default 16 MiB */
    int max_depth;    /* default 64 */
    size_t max_nodes; /* default 1,000,000 */
} core_yaml_limits;

typedef struct core_yaml_doc core_yaml_doc;
/* Parses a file; NULL limits take the defaults. On failure *doc is NULL and the message
 * reads "path:line:col: what". The caller frees the document with core_yaml_free. */
core_status core_yaml_load(const char *path, const core_yaml_limits *limits, core_yaml_doc **doc);
/* Parses `len` bytes of text; `name` stands for the path in messages. */
core_status core_yaml_parse(const char *name, const char *text, size_t len,
                            const core_yaml_limits *limits, core_yaml_doc **doc);
void core_yaml_free(core_yaml_doc *doc);
const core_yaml_node *core_yaml_root(const core_yaml_doc *doc);
const char *core_yaml_path(const core_yaml_doc *doc);

/* Records an error "path:line:col: message" at node `at` (its key position when `on_key`). */
core_status core_yaml_error(const core_yaml_doc *doc, const core_yaml_node *at, bool on_key,
                            core_status code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Member `key` of a map, or NULL. */
const core_yaml_node *core_yaml_get(const core_yaml_node *map, const char *key);
/* Fails on the first member of `map` whose key is not in `allowed` (NULL-terminated),
 * naming it and suggesting the nearest allowed key. */
core_status core_yaml_check_keys(const core_yaml_doc *doc, const core_yaml_node *map,
                                 const char *const *allowed);
/* Typed reads of a node; errors name the node's position and `what` (usually the key). */
core_status core_yaml_expect(const core_yaml_doc *doc, const core_yaml_node *node,
                             core_yaml_kind kind, const char *what);
core_status core_yaml_int(const core_yaml_doc *doc, const core_yaml_node *node, const char *what,
                          int64_t min, int64_t max, int64_t *out);
core_status core_yaml_real(const core_yaml_doc *doc, const core_yaml_node *node, const char *what,
                           double min, double max, double *out);
core_status core_yaml_bool(const core_yaml_doc *doc, const core_yaml_node *node, const char *what,
                           bool *out);
/* A non-null scalar's text (borrowed from the document). */
core_status core_yaml_str(const core_yaml_doc *doc, const core_yaml_node *node, const char *what,
                          const char **out);

/* Scalar text conversions shared by YAML and --set: whole-string, finite, no junk. */
bool core_parse_i64(const char *s, int64_t *out);
bool core_parse_f64(const char *s, double *out);
bool core_parse_bool(const char *s, bool *out);

/* The candidate nearest to `word` by edit distance, if near enough to be a likely typo;
 * NULL otherwise. */
const char *core_suggest(const char *word, const char *const *candidates, size_t n);

/* A YAML writer (libyaml's emitter): call in document order, then core_yw_finish for the
 * malloc'd text (NULL with the error recorded if anything failed). Strings are always
 * double-quoted; numbers, booleans and null plain; reals in their shortest exact form. */
typedef struct core_yw core_yw;
core_yw *core_yw_new(void);
void core_yw_map_begin(core_yw *w, bool flow);
void core_yw_map_end(core_yw *w);
void core_yw_seq_begin(core_yw *w, bool flow);
void core_yw_seq_end(core_yw *w);
void core_yw_key(core_yw *w, const char *key);
void core_yw_str(core_yw *w, const char *v);
void core_yw_int(core_yw *w, int64_t v);
void core_yw_real(core_yw *w, double v);
void core_yw_bool(core_yw *w, bool v);
void core_yw_null(core_yw *w);
char *core_yw_finish(core_yw *w);
/* The shortest decimal text that reads back as exactly `v`, always with '.' or 'e'. */
void core_format_real(char *buf, size_t n, double v);

/* ---------------------------------------------------------------- typed configs */

/* A config kind is a C struct plus a schema: one field per leaf, named by its dotted path
 * ("optim.learning_rate"); sections are implied by the paths and must be contiguous in
 * the field list. Values are layered: the kind's defaults file under the config directory,
 * then the user's file, then --set overrides; every layer is checked against the schema
 * (unknown keys with a suggestion, types, ranges, choices), and the defaults file must
 * define every field that is not CORE_CFG_REQUIRED. */
typedef enum core_cfg_type {
    CORE_CFG_INT,     /* int64_t */
    CORE_CFG_REAL,    /* double */
    CORE_CFG_BOOL,    /* bool */
    CORE_CFG_STR,     /* char * (owned by the struct; NULL when null) */
    CORE_CFG_ENUM,    /* char *, one of `choices` ("a|b|c") */
    CORE_CFG_STRLIST, /* core_strlist */
} core_cfg_type;

enum {
    CORE_CFG_REQUIRED = 1, /* must come from the user's file or --set */
    CORE_CFG_NULLABLE = 2, /* STR may be null */
};

typedef struct core_strlist {
    char **items;
    size_t n;
} core_strlist;

typedef struct core_cfg_field {
    const char *key;
    core_cfg_type type;
    size_t offset;
    double min, max; /* INT and REAL: inclusive bounds; STRLIST: item count bounds */
    const char *choices;
    int flags;
    const char *help;
} core_cfg_field;

typedef struct core_cfg_schema {
    const char *kind;     /* "persona.expand" */
    const char *defaults; /* defaults file relative to the config directory, or NULL */
    size_t size;          /* sizeof the struct */
    const core_cfg_field *fields;
    size_t n_fields;
    const char *help; /* one line on what the kind configures */
} core_cfg_schema;

/* The directory holding the shipped configs: $TROUPE_CONFIG_DIR, else `configs` next to
 * the executable's tree (build/ or share/troupe/). Borrowed; NULL if none is found. */
const char *core_config_dir(void);

/* Fills `out` (schema->size bytes, caller-allocated) from the defaults, then `user_path`
 * (may be NULL), then each "key=value" in `sets`. On failure the struct is freed and
 * zeroed, and the message names the file, line and column, or the --set argument. */
core_status core_cfg_load(const core_cfg_schema *schema, const char *user_path,
                          const char *const *sets, size_t n_sets, void *out);
/* Applies one YAML document to an already loaded struct (for tests and embedding). */
core_status core_cfg_apply_doc(const core_cfg_schema *schema, const core_yaml_doc *doc, void *out);
/* Applies one "key=value" override. */
core_status core_cfg_set(const core_cfg_schema *schema, const char *assignment, void *out);
/* The effective config as YAML text (malloc'd), keys in schema order. */
char *core_cfg_emit(const core_cfg_schema *schema, const void *cfg);
/* Releases the strings and lists the struct owns and zeroes it. */
void core_cfg_free(const core_cfg_schema *schema, void *cfg);

void core_strlist_free(core_strlist *l);

#endif
