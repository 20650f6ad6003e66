/* persona: authored roles (schema troupe.role/1), the author step that composes ≥10,000
 * roles from archetypes, and the persona matrix (personas.h5): expansion, features,
 * near-duplicate removal, kNN and statistics. docs/persona.md is the user's manual.
 *
 * Dependencies: persona -> core. */
#ifndef TROUPE_PERSONA_H
#define TROUPE_PERSONA_H

#include "core/core.h"

/* ---------------------------------------------------------------- vocabularies */

enum {
    PERSONA_N_ARCHETYPES = 7,
    PERSONA_N_LANGUAGES = 7,
    PERSONA_N_EMOTIONS = 10,
    PERSONA_N_SCENES = 12,
    PERSONA_N_TRAITS = 5,
    PERSONA_N_STYLE = 7,
    PERSONA_N_PROSODY = 5,
    PERSONA_N_PACING = 3,
    PERSONA_N_REGISTERS = 3,
};

extern const char *const persona_archetypes[PERSONA_N_ARCHETYPES];
extern const char *const persona_languages[PERSONA_N_LANGUAGES];
extern const char *const persona_emotions[PERSONA_N_EMOTIONS];
extern const char *const persona_scenes[PERSONA_N_SCENES];
extern const char *const persona_traits[PERSONA_N_TRAITS];
extern const char *const persona_styles[PERSONA_N_STYLE];
extern const char *const persona_prosody[PERSONA_N_PROSODY];
extern const char *const persona_pacing[PERSONA_N_PACING];
extern const char *const persona_registers[PERSONA_N_REGISTERS];
/* Allowed range of each prosody target (units in docs/persona.md). */
extern const float persona_prosody_min[PERSONA_N_PROSODY];
extern const float persona_prosody_max[PERSONA_N_PROSODY];

/* ---------------------------------------------------------------- roles */

typedef struct persona_role {
    char *id;
    char *name_en, *name_zh;
    int archetype; /* index into persona_archetypes */
    char *occupation;
    char *description;
    uint32_t languages; /* bit i: persona_languages[i] */
    float traits[PERSONA_N_TRAITS];
    float style[PERSONA_N_STYLE];
    float prosody[PERSONA_N_PROSODY];
    int emotion_baseline;
    uint32_t emotion_range; /* bit i: persona_emotions[i] */
    uint32_t scenes;        /* bit i: persona_scenes[i] */
    core_strlist catchphrases, taboos, domains;
    char *author, *licence, *created_at;
    char *parent; /* NULL for a root (archetype) */
    /* How `persona author` composed the role; absent (has_derivation false) on archetypes. */
    bool has_derivation;
    char *deriv_method, *deriv_occupation, *deriv_background, *deriv_quirk, *deriv_variation;
    int64_t deriv_seed, deriv_index;
    /* Where it was read from, and the position of its id (for messages). */
    char *path;
    int id_line, id_col;
} persona_role;

void persona_role_free(persona_role *r); /* accepts NULL and zeroed roles */

/* Problems found while checking roles: every one of them, not just the first, each as
 * "path:line:col: message". */
typedef struct persona_problems {
    char **items;
    size_t n, cap;
} persona_problems;
void persona_problems_free(persona_problems *p);

/* Parses and checks one role file. On any problem it returns CORE_ERR_SCHEMA (or the
 * I/O or parse status), appends every problem found to `probs` (may be NULL) and leaves
 * *out zeroed; the last problem is also the current error message. */
core_status persona_role_load(const char *path, persona_role *out, persona_problems *probs);
/* The role as YAML text in the schema's key order (malloc'd), or NULL on failure. */
char *persona_role_emit(const persona_role *r);

/* A set of roles read from one folder, sorted by id. */
typedef struct persona_set {
    persona_role *roles;
    size_t n;
} persona_set;

/* Reads every *.yaml file in `dir` (not recursing) and checks the set: each file on its
 * own, then duplicate ids and parents that do not exist. Returns CORE_OK only if there
 * are no problems; otherwise CORE_ERR_SCHEMA (or CORE_ERR_IO for an unreadable folder)
 * with all problems in `probs` and *set empty. An empty folder is an error. */
core_status persona_set_load(const char *dir, persona_set *set, persona_problems *probs);
void persona_set_free(persona_set *set);
/* Index of the role with this id, or -1 (binary search; the set is sorted by id). */
long persona_set_find(const persona_set *set, const char *id);
/* The root archetype of role i: follows parents up (a chain never loops: checked on load). */
size_t persona_set_root(const persona_set *set, size_t i);

/* ---------------------------------------------------------------- author */

typedef struct persona_author_cfg {
    int64_t seed;
    int64_t count;         /* roles to compose (archetypes are copied in addition) */
    char *vocabulary;      /* YAML of occupations, backgrounds, quirks (relative to configs/) */
    double trait_jitter;   /* standard deviation added to traits and style, then clamped */
    double prosody_jitter; /* fraction of each prosody range used as standard deviation */
    char *author;
    char *licence;
    char *created_at;
} persona_author_cfg;
extern const core_cfg_schema persona_author_schema;

/* Composes cfg->count roles from the archetypes in `archetypes` (a loaded set of roots) and
 * writes them, with copies of the archetypes, as one YAML file per role into `out_dir`.
 * The folder is built under a temporary name and renamed into place at the end, so it
 * either appears whole or not at all; it must not exist yet. Deterministic for a seed. */
core_status persona_author(const persona_author_cfg *cfg, const char *config_yaml,
                           const persona_set *archetypes, const char *out_dir);

/* ---------------------------------------------------------------- the matrix */

/* Feature layout (docs/persona.md lists every name): */
enum {
    PERSONA_D = 128,        /* features per row */
    PERSONA_N_NUMERIC = 24, /* traits, style, row prosody and derived values */
    PERSONA_N_ONEHOT = 52,  /* archetype, baseline emotion and the five axes */
    PERSONA_HASH_DIM = 52,  /* hashed bag of description and catchphrase n-grams */
};

typedef struct persona_expand_cfg {
    int64_t seed;
    core_strlist axes;      /* which axes to expand: scene, language, emotion, pacing, register */
    double dedup_threshold; /* cosine at or above which rows of a family are near-duplicates */
    int64_t max_rows_per_role;
    int64_t chunk_rows;          /* HDF5 chunk height of /features */
    int64_t gzip;                /* 0: none (measured: does not pay for itself, see bench/) */
    int64_t threads;             /* 0: all cores */
    double block_weight_numeric; /* weights of the blocks in the unit-norm row */
    double block_weight_axes;
    double block_weight_text;
    double pacing_rate[PERSONA_N_PACING]; /* speech-rate multiplier per pacing variant */
} persona_expand_cfg;
extern const core_cfg_schema persona_expand_schema;

/* Names of the D features, in column order (static strings). */
const char *persona_feature_name(int j);

typedef struct persona_build_stats {
    uint64_t rows_expanded; /* before near-duplicate removal */
    uint64_t rows_removed;  /* near-duplicates removed */
    uint64_t rows;          /* written */
    uint64_t roles, families;
    double seconds;
} persona_build_stats;

/* Expands every role of `set` into rows and writes personas.h5 at `out_path` (atomically).
 * `config_yaml` is stored in the file; `inputs` names the inputs and their hashes. */
core_status persona_build(const persona_expand_cfg *cfg, const char *config_yaml,
                          const persona_set *set, const char *const *inputs, size_t n_inputs,
                          const char *out_path, persona_build_stats *stats);

/* A persona matrix opened for queries: ids, roles, axis values and the roles table, and
 * the features too when asked for. */
typedef struct persona_matrix {
    uint64_t n;
    int d;
    float *features;  /* [n, d], NULL unless loaded with features */
    uint64_t *ids;    /* [n] */
    int32_t *role;    /* [n] */
    uint8_t *axis[5]; /* [n] per axis: scene, language, emotion, pacing, register */
    char **role_id, **role_name_en, **role_name_zh, **role_archetype, **role_occupation,
        **role_parent;
    size_t n_roles;
} persona_matrix;
core_status persona_matrix_load(const char *path, bool with_features, persona_matrix *m);
/* Reads one row's features from the file into out[d]. */
core_status persona_matrix_read_row(const char *path, uint64_t row, float *out, int d);
/* The names of the axes and of their values. */
extern const char *const persona_axis_names[5];
const char *persona_axis_value(int axis, int value);

/* Digest of a role set: SHA-256 over "sha256(file) file-name" lines in id order, as hex. */
core_status persona_set_digest(const persona_set *set, char hex[CORE_SHA256_HEX]);

/* Statistics of a persona matrix, streamed in blocks. */
typedef struct persona_stats {
    uint64_t rows, rows_expanded, rows_removed, families;
    size_t roles;
    uint64_t axis_counts[5][16];
    uint64_t archetype_rows[PERSONA_N_ARCHETYPES];
    double mean[PERSONA_D], std[PERSONA_D], min[PERSONA_D], max[PERSONA_D];
    int d;
} persona_stats;
core_status persona_stats_compute(const char *path, persona_stats *s);
void persona_matrix_free(persona_matrix *m);
/* Row index of the row with this id, or -1. */
long persona_matrix_find(const persona_matrix *m, uint64_t id);

/* Cosine top-k of each of `nq` query rows (query indices `q`) over all rows, through
 * blocked cblas_sgemm; the query row itself is excluded. out_idx/out_sim are [nq, k],
 * best first; ties broken by lower row index. */
core_status persona_similar(const persona_matrix *m, const uint64_t *q, size_t nq, int k,
                            uint64_t *out_idx, float *out_sim);
/* The same result by brute force (one dot product at a time), for tests. */
void persona_similar_reference(const persona_matrix *m, uint64_t q, int k, uint64_t *out_idx,
                               float *out_sim);

#endif
