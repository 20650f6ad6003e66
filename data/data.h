/* data: licensed recordings with signed consent manifests in, training shards out.
 * Schemas and checks follow ../shared/docs/GOVERNANCE.md; docs/governance.md documents
 * what is implemented and docs/data.md the shards and commands.
 *
 * Dependencies: data -> core. */
#ifndef TROUPE_DATA_H
#define TROUPE_DATA_H

#include "core/core.h"
#include "data/audio.h"

/* ---------------------------------------------------------------- check results */

typedef enum data_severity { DATA_FAIL = 0, DATA_WARN = 1, DATA_INFO = 2, DATA_PASS = 3 } data_severity;

/* One outcome of one check on one target ("recording:rec-0001", "manifest:acme-1"). */
typedef struct data_result {
    char code[12];
    data_severity sev;
    char *target;
    char *explanation;
} data_result;

typedef struct data_results {
    data_result *items;
    size_t n, cap;
} data_results;

/* Appends a result (copies the strings). Returns false only when out of memory. */
bool data_results_add(data_results *r, const char *code, data_severity sev, const char *target,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void data_results_free(data_results *r);
/* Sorts by (severity, code, target, explanation) so reports are deterministic. */
void data_results_sort(data_results *r);

/* ---------------------------------------------------------------- time */

/* Parses RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" into Unix seconds; false if malformed. */
bool data_time_parse(const char *s, int64_t *t);
/* Formats Unix seconds as RFC 3339 UTC into buf (at least 21 bytes). */
void data_time_format(int64_t t, char *buf);

/* ---------------------------------------------------------------- keys and envelopes */

enum { DATA_ROLE_LICENSOR = 1, DATA_ROLE_CURATOR = 2, DATA_ROLE_CONTROLLER = 4 };

typedef struct data_key {
    char keyid[80]; /* "ed25519:" + hex(SHA-256(public key)) */
    uint8_t pk[CORE_ED25519_PK_BYTES];
    char *owner;
    int roles;
    int64_t not_before, not_after;
    int64_t revoked_at; /* INT64_MAX when not revoked */
} data_key;

typedef struct data_keyring {
    data_key *keys;
    size_t n;
    char *path;
} data_keyring;

/* Loads a keyring (schema troupe.keyring/1). Errors name the file, line and column. */
core_status data_keyring_load(const char *path, data_keyring *kr);
void data_keyring_free(data_keyring *kr);

/* "ed25519:" + hex(SHA-256(pk)). */
void data_keyid(const uint8_t pk[CORE_ED25519_PK_BYTES], char out[80]);

/* Payload types of the DSSE envelopes. */
#define DATA_TYPE_MANIFEST "application/vnd.troupe.manifest.v1+yaml"
#define DATA_TYPE_CONSENT "application/vnd.troupe.consent.v1+yaml"
#define DATA_TYPE_REVOCATIONS "application/vnd.troupe.revocations.v1+yaml"
#define DATA_TYPE_LINEAGE "application/vnd.troupe.lineage.v1+yaml"

/* DSSE v1 pre-authentication encoding of (type, body), malloc'd. */
uint8_t *data_dsse_pae(const char *type, const uint8_t *body, size_t n, size_t *out_len);

/* Signs the bytes of `path` with a secret key file and writes (or extends, adding one more
 * signature) the envelope `envelope_path` atomically. */
core_status data_sign_file(const char *path, const char *type, const char *secret_path,
                           const char *envelope_path);

/* What verifying one signed file found. */
typedef struct data_sig_report {
    char code[12];       /* "SIG-001" or "SIG-003" when it failed, "" when it passed */
    int roles_met;       /* union of the roles of keys whose signatures verify */
    int n_valid;         /* distinct keys with a valid signature */
    char signers[4][80]; /* their keyids (first four) */
    int signer_roles[4]; /* and their keyring roles */
    char problem[512];   /* why it failed, empty when all signatures verified */
} data_sig_report;

/* Verifies `envelope_path` against the exact bytes of `path`: payload type `type`, payload
 * equal to the file, every signature valid (SIG-001) and made by a keyring key valid at
 * `signed_at` and not revoked by `now` (SIG-003). Returns CORE_OK if at least one signature
 * verifies and none fails; otherwise CORE_ERR_CRYPTO with rep->code and rep->problem (also
 * the error message). */
core_status data_verify_file(const char *path, const char *type, const char *envelope_path,
                             const data_keyring *kr, int64_t signed_at, int64_t now,
                             data_sig_report *rep);

/* Makes a key pair: `out`.secret (mode 0600, schema troupe.secret-key/1) and `out`.pub.yaml
 * (a keyring entry to paste under `keys:`). */
core_status data_keygen(const char *out, const char *owner, int roles, int64_t not_before,
                        int64_t not_after);
/* The same from a given 32-byte seed (reproducible corpora; never for real keys). */
core_status data_keygen_seeded(const char *out, const char *owner, int roles,
                               int64_t not_before, int64_t not_after, const uint8_t seed[32]);

/* ---------------------------------------------------------------- Merkle root */

/* RFC 6962 Merkle tree hash over the recordings sorted by id; each leaf is
 * "recording_id\nsha256\nbytes\nspeaker_id\nconsent_id\nlicence\n" (docs/governance.md). */
typedef struct data_leaf {
    const char *recording_id, *sha256, *speaker_id, *consent_id, *licence;
    int64_t bytes;
} data_leaf;
void data_merkle_root(const data_leaf *leaves, size_t n, uint8_t out[CORE_SHA256_BYTES]);

/* ---------------------------------------------------------------- canonical YAML */

/* The canonical form (troupe-cyaml/1) of a parsed document: block style, 2-space indent,
 * keys sorted by bytes, every scalar double-quoted except null, final newline. */
char *data_canonical_yaml(const core_yaml_doc *doc);

/* ---------------------------------------------------------------- the declared use */

typedef struct data_use {
    uint32_t purposes; /* bit i: data_purposes[i] */
    char territory[3];
    bool commercial;
    bool allow_synthetic;
    const char *deployment; /* NULL, or e.g. "workplace", "education", "consumer" */
    int64_t at;             /* evaluation time, Unix seconds */
    int horizon_days;       /* TMP-002 */
} data_use;

enum { DATA_N_PURPOSES = 14 };
extern const char *const data_purposes[DATA_N_PURPOSES];
/* Parses "training,generative_training"; unknown names fail with CORE_ERR_USAGE. */
core_status data_purposes_parse(const char *list, uint32_t *mask);

/* ---------------------------------------------------------------- audit and ingest */

typedef struct data_recording_outcome {
    char *batch;         /* batch folder */
    char *recording_id;
    bool admitted;
    char *codes;         /* failing check codes, comma-separated ("" when admitted) */
    char *explanation;   /* the first failure's explanation */
    double seconds;      /* declared duration */
    bool synthetic;
} data_recording_outcome;

typedef struct data_audit {
    data_results results;
    data_recording_outcome *rec;
    size_t n_rec;
    size_t admitted, excluded, speakers;
    size_t batches_unreadable; /* manifests that did not parse: no recordings to list */
    double hours_admitted;
    char admitted_ids_sha256[CORE_SHA256_HEX]; /* of the sorted, LF-joined admitted ids */
    char **inputs;        /* "manifest <id> sha256:<hex>", "revocations <issuer> seq <n>" */
    size_t n_inputs;
    char **licences;      /* licences of admitted recordings */
    size_t n_licences;
} data_audit;

typedef struct data_options {
    const char *keyring;
    const char *revocations; /* folder, may be NULL: then no list is trusted (REV-001 fails) */
    const char *state_dir;   /* where revocation lists seen before are kept (may be NULL) */
    data_use use;
} data_options;

/* Runs every admission check on the batches and fills `a`. Returns CORE_OK when the checks
 * ran (whatever they found); an error only when they could not run (keyring unreadable). */
core_status data_audit_run(const char *const *batches, size_t n, const data_options *o,
                           data_audit *a);
void data_audit_free(data_audit *a);
/* "pass", "pass_with_warnings" or "fail". */
const char *data_audit_state(const data_audit *a);
/* The audit report as YAML and as Markdown (malloc'd), deterministic for the same inputs. */
char *data_audit_yaml(const data_audit *a, const data_options *o);
char *data_audit_markdown(const data_audit *a, const data_options *o);

typedef struct data_ingest_stats {
    size_t admitted, excluded, written, skipped_unchanged, batches_unreadable;
    char excluded_by_check[512]; /* "AUD-001 1, INT-002 2" (a recording counts once per code) */
    double audio_seconds, wall_seconds;
} data_ingest_stats;

/* Audits, then decodes, resamples and featurises every admitted recording and writes the
 * shards, the shard index, the dataset card, the quarantine report and the audit report
 * into `out_dir`. A batch whose manifest hash, revocation state and declared use are
 * unchanged since the last run is not processed again. */
core_status data_ingest(const char *const *batches, size_t n, const data_options *o,
                        const char *out_dir, int threads, data_ingest_stats *stats);

/* ---------------------------------------------------------------- the synthetic corpus */

typedef struct data_synth_cfg {
    int64_t seed, dialogues, turns_min, turns_max;
    double zh_fraction, validation, test;
    bool disjoint_voices;
    double p_laughter, p_hesitation, p_emotional, p_speed;
    int64_t sample_rate;
    bool problems;
    char *evaluated_at;
    int64_t threads;
} data_synth_cfg;
extern const core_cfg_schema data_synth_schema;

typedef struct data_synth_stats {
    size_t dialogues, utterances, speakers, planted;
    size_t per_split[3];
    double seconds[3];
    size_t emotion[10], speed[3], lang[2];
    size_t laughter, hesitation, female;
    double wall_seconds;
} data_synth_stats;

/* Makes the embedded corpus at `out` (which must not exist; built under a temporary name
 * and renamed whole): OUT/{train,validation,test}/ signed batches, OUT/keyring.yaml,
 * OUT/keys/, OUT/revocations/. Personas come from `personas_path` (personas.h5). Needs
 * espeak-ng and sox on the PATH. Deterministic for a config. */
core_status data_synth(const data_synth_cfg *cfg, const char *personas_path, const char *out,
                       data_synth_stats *stats);
/* The check code a planted problem kind (1..6) must fail with, or NULL. */
const char *data_synth_problem_code(int kind);

/* ---------------------------------------------------------------- persona rows and roles */

/* What the text side of the corpus needs from a personas.h5 (troupe.personas/1): every
 * row's id, role index and language axis value, and every role's id, catchphrases and
 * domains (each a " | "-joined list) and style [n_roles, 7] in persona_style order
 * (formality, warmth, energy, verbosity, humour, empathy, assertiveness). data synth and the
 * RLHF judge read personas through this one function. */
typedef struct data_persona_rows {
    uint64_t *ids;   /* [n] */
    int32_t *role;   /* [n], index into the role arrays */
    uint8_t *lang;   /* [n], the language axis value (DATA_LANG_EN / _ZH) */
    uint64_t n;
    char **role_id, **catch, **domains; /* [n_roles] */
    float *style;                       /* [n_roles, 7] */
    size_t n_roles;
} data_persona_rows;
/* Reads `personas_h5` into *out (the caller frees it with data_persona_rows_free). Fails
 * with the path in the message on a missing file, a file of another format or a
 * /roles/style that is not [roles, 7]; *out is then empty. */
core_status data_persona_rows_load(const char *personas_h5, data_persona_rows *out);
void data_persona_rows_free(data_persona_rows *p); /* accepts NULL and empty structs */
/* Splits "a | b | c" into at most `max` pointers into `copy` (a private copy of s of cap
 * bytes, truncated to fit); returns the count (0 for an empty string). */
int data_persona_split_list(const char *s, char *copy, size_t cap, const char **items, int max);

/* Tokens: UTF-8 bytes 0-255 plus these specials. */
enum {
    DATA_TOK_BOS = 256,
    DATA_TOK_EOS = 257,
    DATA_TOK_USER = 258,      /* turn separator before a user turn */
    DATA_TOK_ASSISTANT = 259, /* turn separator before an assistant turn */
    DATA_VOCAB = 260,
};

/* ---------------------------------------------------------------- reading a shard */

/* The columns of one troupe.shard/1 file (docs/data.md), read whole. Token columns are
 * ragged: utterance i is [off[i], off[i+1]). String columns have n entries. */
typedef struct data_shard {
    size_t n;               /* utterances */
    float *mel;             /* [moff[n], 80] (NULL unless read with the frames) */
    uint64_t *moff;         /* [n + 1] (likewise) */
    int32_t *hist, *resp, *trans;   /* history, response, transcript tokens */
    uint64_t *hoff, *roff, *toff;   /* their offsets, [n + 1] each */
    int32_t *emotion, *speed, *pitch, *gender, *language; /* [n], -1 unlabelled */
    uint8_t *spans;         /* [n, span_w] laughter, hesitation, ... */
    size_t span_w;
    int32_t *turn;          /* [n] */
    char **dialogue, **persona, **recording, **audio_sha, **consent, **licence; /* [n] */
} data_shard;
/* Reads the shard at `path` (the frames only when with_mel; without them only the dialogue
 * ids and turns). Errors name the path; on error *s is empty. */
core_status data_shard_read(const char *path, bool with_mel, data_shard *s);
void data_shard_free(data_shard *s); /* accepts empty structs */

#endif
