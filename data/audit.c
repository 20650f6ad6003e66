/* The admission checks of GOVERNANCE.md over one or more licensed batches: every
 * recording ends up admitted or excluded with the codes that excluded it, and every check
 * outcome is a result in the audit report.
 *
 * Failures come at three levels. Corpus level (the keyring, the revocation lists: REV-001)
 * and batch level (the manifest's schema, signatures, Merkle root) exclude every recording
 * they cover; recording level (everything else) excludes that recording. Recordings are
 * checked in parallel, each into its own result list, merged in manifest order. */
#include "data/internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const data_purposes[DATA_N_PURPOSES] = {
    "training",          "generative_training",       "inference_input",
    "data_mining",       "evaluation",                "voice_cloning",
    "speaker_identification", "emotion_inference",    "paralinguistic_modelling",
    "synthetic_data_generation", "redistribution_raw", "redistribution_derived",
    "research_only",     "commercial"};

core_status data_purposes_parse(const char *list, uint32_t *mask)
{
    *mask = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        bool found = false;
        for (int i = 0; i < DATA_N_PURPOSES && !found; i++)
            if (strlen(data_purposes[i]) == len && !strncmp(data_purposes[i], p, len)) {
                *mask |= 1u << i;
                found = true;
            }
        if (!found) {
            char word[64];
            snprintf(word, sizeof word, "%.*s", (int)len, p);
            const char *s = core_suggest(word, data_purposes, DATA_N_PURPOSES);
            return CORE_ERR(CORE_ERR_USAGE, "unknown purpose '%s'%s%s%s", word,
                            s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
        }
        p += len + (p[len] == ',');
    }
    if (!*mask)
        return CORE_ERR(CORE_ERR_USAGE, "no purpose given");
    return CORE_OK;
}

static bool has_purpose(const data_use *u, const char *name)
{
    for (int i = 0; i < DATA_N_PURPOSES; i++)
        if (!strcmp(data_purposes[i], name))
            return (u->purposes >> i) & 1;
    return false;
}

/* ---------------------------------------------------------------- loaded documents */

typedef struct consent_doc {
    const char *id;
    char *path;
    core_yaml_doc *doc;
    const core_yaml_node *root;
    char codes[96];   /* failures of the record itself (schema, integrity, signature) */
    char why[768];
} consent_doc;

typedef struct rev_entry {
    const char *scope, *target, *kind, *entry_id;
    const core_yaml_node *purposes, *actions;
    int64_t effective_at, deadline;
    const char *issuer;
} rev_entry;

typedef struct rev_list {
    core_yaml_doc *doc;
    char *path;
    const char *issuer;
    int64_t sequence;
    char sha256[CORE_SHA256_HEX];
    bool ok;
} rev_list;

typedef struct batch {
    char *dir;
    core_yaml_doc *manifest;
    const core_yaml_node *root, *recs;
    char sha256[CORE_SHA256_HEX];
    const char *id;
    int64_t created_at;
    char codes[96]; /* batch-level failures, applied to each of its recordings */
    char why[768];
    consent_doc *consents;
    size_t n_consents;
    char bad_licences[1024]; /* "|id|id|" of listed licences that failed LIC-001 */
} batch;

typedef struct ctx {
    const data_options *o;
    data_keyring kr;
    batch *b;
    size_t nb;
    rev_list *lists;
    size_t n_lists;
    rev_entry *entries;
    size_t n_entries;
    char corpus_codes[96];
    char corpus_why[768];
    data_results *results; /* the audit's */
} ctx;

static void add_code(char *codes, size_t cap, char *why, size_t wcap, const char *code,
                     const char *explanation)
{
    if (strstr(codes, code))
        return;
    size_t n = strlen(codes);
    snprintf(codes + n, cap - n, "%s%s", n ? "," : "", code);
    if (!why[0])
        snprintf(why, wcap, "%s", explanation);
}

/* A path inside the batch: relative, no "..", not through or to a symlink, existing. On
 * failure writes why into `why` and returns false. */
static bool safe_path(const char *dir, const char *rel, char *full, size_t fcap, char *why,
                      size_t wcap)
{
    if (!rel || !*rel) {
        snprintf(why, wcap, "empty path");
        return false;
    }
    if (rel[0] == '/') {
        snprintf(why, wcap, "path '%s' is absolute", rel);
        return false;
    }
    for (const char *p = rel; *p;) {
        size_t len = strcspn(p, "/");
        if ((len == 2 && !strncmp(p, "..", 2)) || (len == 1 && p[0] == '.') || len == 0) {
            snprintf(why, wcap, "path '%s' has a '%.*s' component", rel, (int)len, p);
            return false;
        }
        p += len + (p[len] == '/');
    }
    snprintf(full, fcap, "%s/%s", dir, rel);
    /* Walk each component with lstat so that no symlink anywhere on the way is followed. */
    char walk[PATH_MAX];
    snprintf(walk, sizeof walk, "%s", dir);
    for (const char *p = rel; *p;) {
        size_t len = strcspn(p, "/");
        size_t wl = strlen(walk);
        snprintf(walk + wl, sizeof walk - wl, "/%.*s", (int)len, p);
        struct stat sb;
        if (lstat(walk, &sb) != 0) {
            snprintf(why, wcap, "'%s' does not exist in the batch", rel);
            return false;
        }
        if (S_ISLNK(sb.st_mode)) {
            snprintf(why, wcap, "'%s' is or passes through a symlink", rel);
            return false;
        }
        p += len + (p[len] == '/');
    }
    return true;
}

static bool hash_matches(const char *path, const char *want_hex, int64_t want_bytes, char *why,
                         size_t wcap)
{
    uint8_t h[CORE_SHA256_BYTES];
    uint64_t bytes = 0;
    if (core_sha256_file(path, h, &bytes) != CORE_OK) {
        snprintf(why, wcap, "%s", core_error_message());
        return false;
    }
    char hex[CORE_SHA256_HEX];
    core_hex(hex, h, sizeof h);
    if (want_bytes >= 0 && (int64_t)bytes != want_bytes) {
        snprintf(why, wcap, "%s is %llu bytes, the manifest says %lld", path,
                 (unsigned long long)bytes, (long long)want_bytes);
        return false;
    }
    if (want_hex && strcmp(hex, want_hex)) {
        snprintf(why, wcap, "%s has sha256 %s, the manifest says %s (tampered or replaced)",
                 path, hex, want_hex);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- revocation lists */

static void load_revocations(ctx *c)
{
    const data_options *o = c->o;
    char why[768] = "";
    if (!o->revocations) {
        add_code(c->corpus_codes, sizeof c->corpus_codes, c->corpus_why, sizeof c->corpus_why,
                 "REV-001", "no revocation lists given (--revocations): failing closed");
        data_results_add(c->results, "REV-001", DATA_FAIL, "revocations",
                         "no revocation lists given (--revocations): failing closed");
        return;
    }
    DIR *d = opendir(o->revocations);
    if (!d) {
        snprintf(why, sizeof why, "%s: cannot open: %s", o->revocations, strerror(errno));
        add_code(c->corpus_codes, sizeof c->corpus_codes, c->corpus_why, sizeof c->corpus_why,
                 "REV-001", why);
        data_results_add(c->results, "REV-001", DATA_FAIL, "revocations", "%s", why);
        return;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".yaml"))
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn)
            break;
        names = nn;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* sort: deterministic order */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    c->lists = calloc(n ? n : 1, sizeof *c->lists);
    for (size_t i = 0; c->lists && i < n; i++) {
        rev_list *l = &c->lists[c->n_lists++];
        l->path = core_sprintf("%s/%s", o->revocations, names[i]);
        char target[300];
        snprintf(target, sizeof target, "revocations:%s", names[i]);
        why[0] = '\0';
        if (core_yaml_load(l->path, NULL, &l->doc) != CORE_OK) {
            data_results_add(c->results, "SCH-001", DATA_FAIL, target, "%s", core_error_message());
            snprintf(why, sizeof why, "%s", core_error_message());
            goto bad;
        }
        const core_yaml_node *root = core_yaml_root(l->doc);
        if (data__schema_check(l->doc, root, data__revocations_schema, l->path, target,
                               c->results)) {
            snprintf(why, sizeof why, "%s: does not match troupe.revocations/1", l->path);
            goto bad;
        }
        l->issuer = data__str(root, "issuer");
        l->sequence = data__int(root, "sequence", -1);
        uint8_t h[32];
        core_sha256_file(l->path, h, NULL);
        core_hex(l->sha256, h, 32);
        char env[PATH_MAX];
        snprintf(env, sizeof env, "%s.dsse.json", l->path);
        data_sig_report rep;
        int64_t this_update = data__time(root, "this_update", 0);
        if (data_verify_file(l->path, DATA_TYPE_REVOCATIONS, env, &c->kr, this_update, o->use.at,
                             &rep) != CORE_OK) {
            snprintf(why, sizeof why, "%s", rep.problem);
            goto bad;
        }
        if (!(rep.roles_met & DATA_ROLE_CONTROLLER)) {
            snprintf(why, sizeof why, "%s: not signed by a controller key", l->path);
            goto bad;
        }
        int64_t next = data__time(root, "next_update", 0);
        if (o->use.at > next) {
            char t[32];
            data_time_format(next, t);
            snprintf(why, sizeof why, "%s: stale: next_update %s has passed", l->path, t);
            goto bad;
        }
        if (this_update > o->use.at) {
            snprintf(why, sizeof why, "%s: this_update is in the future", l->path);
            goto bad;
        }
        /* The chain against the last list from this issuer that we accepted. */
        if (o->state_dir) {
            char prev_path[PATH_MAX];
            snprintf(prev_path, sizeof prev_path, "%s/revocations/%s", o->state_dir, names[i]);
            core_yaml_doc *prev = NULL;
            if (access(prev_path, F_OK) == 0 && core_yaml_load(prev_path, NULL, &prev) == CORE_OK) {
                const core_yaml_node *pr = core_yaml_root(prev);
                int64_t pseq = data__int(pr, "sequence", -1);
                uint8_t ph[32];
                char phex[CORE_SHA256_HEX];
                core_sha256_file(prev_path, ph, NULL);
                core_hex(phex, ph, 32);
                const char *link = data__str(root, "previous_list_sha256");
                const core_yaml_node *pe = core_yaml_get(pr, "entries"),
                                     *ne = core_yaml_get(root, "entries");
                if (l->sequence < pseq)
                    snprintf(why, sizeof why,
                             "%s: sequence %lld is lower than %lld seen before (rollback)",
                             l->path, (long long)l->sequence, (long long)pseq);
                else if (l->sequence == pseq && strcmp(phex, l->sha256))
                    snprintf(why, sizeof why,
                             "%s: sequence %lld was seen before with other content", l->path,
                             (long long)l->sequence);
                else if (l->sequence == pseq + 1 && (!link || strcmp(link, phex)))
                    snprintf(why, sizeof why,
                             "%s: previous_list_sha256 does not match the list seen before "
                             "(broken hash chain)",
                             l->path);
                else if (l->sequence > pseq && pe && ne && ne->n < pe->n)
                    snprintf(why, sizeof why, "%s: entries were removed (the list is append-only)",
                             l->path);
                else if (l->sequence > pseq && pe && ne)
                    for (size_t k = 0; k < pe->n && !why[0]; k++)
                        if (strcmp(data__str(pe->items[k], "entry_id"),
                                   data__str(ne->items[k], "entry_id")))
                            snprintf(why, sizeof why,
                                     "%s: entry %zu changed (the list is append-only)", l->path,
                                     k);
                core_yaml_free(prev);
                if (why[0])
                    goto bad;
            }
        }
        l->ok = true;
        data_results_add(c->results, "REV-001", DATA_PASS, target,
                         "signed by the controller, sequence %lld, fresh", (long long)l->sequence);
        const core_yaml_node *ents = core_yaml_get(root, "entries");
        rev_entry *ne = realloc(c->entries, (c->n_entries + ents->n + 1) * sizeof *ne);
        if (!ne)
            continue;
        c->entries = ne;
        for (size_t k = 0; k < ents->n; k++) {
            const core_yaml_node *x = ents->items[k];
            c->entries[c->n_entries++] = (rev_entry){
                data__str(x, "scope"),      data__str(x, "target"),
                data__str(x, "kind"),       data__str(x, "entry_id"),
                core_yaml_get(x, "purposes"), core_yaml_get(x, "required_actions"),
                data__time(x, "effective_at", 0), data__time(x, "deadline", INT64_MAX),
                l->issuer};
        }
        continue;
    bad:
        data_results_add(c->results, "REV-001", DATA_FAIL, target, "%s", why);
        add_code(c->corpus_codes, sizeof c->corpus_codes, c->corpus_why, sizeof c->corpus_why,
                 "REV-001", why);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The revocation state of (scope, target) for the declared purposes at `at`: the latest
 * effective entry wins; returns the entry if it excludes, NULL otherwise. */
static const rev_entry *revoked(const ctx *c, const char *scope, const char *target)
{
    if (!target)
        return NULL;
    const rev_entry *latest = NULL;
    for (size_t i = 0; i < c->n_entries; i++) {
        const rev_entry *e = &c->entries[i];
        if (strcmp(e->scope, scope) || strcmp(e->target, target) ||
            e->effective_at > c->o->use.at)
            continue;
        bool applies = data__list_has(e->purposes, "all");
        for (int p = 0; p < DATA_N_PURPOSES && !applies; p++)
            if ((c->o->use.purposes >> p) & 1)
                applies = data__list_has(e->purposes, data_purposes[p]);
        if (!applies)
            continue;
        if (!latest || e->effective_at >= latest->effective_at)
            latest = e;
    }
    return latest && strcmp(latest->kind, "reinstated") ? latest : NULL;
}

/* ---------------------------------------------------------------- batches */

static const char *const spdx_ids[] = {
    "CC0-1.0",      "CC-BY-4.0",    "CC-BY-SA-4.0",  "CC-BY-NC-4.0", "CC-BY-NC-SA-4.0",
    "CC-BY-ND-4.0", "CC-BY-NC-ND-4.0", "CC-BY-3.0",  "CC-BY-SA-3.0", "ODC-By-1.0",
    "PDDL-1.0",     "ODbL-1.0",     "MIT",           "Apache-2.0",   "CDLA-Permissive-2.0",
    "CDLA-Sharing-1.0"};

static const core_yaml_node *find_by(const core_yaml_node *list, const char *key,
                                     const char *value)
{
    if (!list || !value || list->kind != CORE_YAML_SEQ)
        return NULL;
    for (size_t i = 0; i < list->n; i++) {
        const char *v = data__str(list->items[i], key);
        if (v && !strcmp(v, value))
            return list->items[i];
    }
    return NULL;
}

/* A batch-level result; a failure also excludes every recording of the batch. */
static void batch_result(ctx *c, batch *b, data_severity sev, const char *code, const char *fmt,
                         ...) __attribute__((format(printf, 5, 6)));
static void batch_result(ctx *c, batch *b, data_severity sev, const char *code, const char *fmt,
                         ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char target[300];
    snprintf(target, sizeof target, "manifest:%s", b->id ? b->id : b->dir);
    data_results_add(c->results, code, sev, target, "%s", msg);
    if (sev == DATA_FAIL)
        add_code(b->codes, sizeof b->codes, b->why, sizeof b->why, code, msg);
}
#define batch_fail(c, b, code, ...) batch_result(c, b, DATA_FAIL, code, __VA_ARGS__)
#define batch_pass(c, b, code, ...) batch_result(c, b, DATA_PASS, code, __VA_ARGS__)

static void load_consents(ctx *c, batch *b)
{
    const core_yaml_node *list = core_yaml_get(b->root, "consent_records");
    if (!list || list->kind != CORE_YAML_SEQ)
        return;
    b->consents = calloc(list->n ? list->n : 1, sizeof *b->consents);
    if (!b->consents)
        return;
    for (size_t i = 0; i < list->n; i++) {
        consent_doc *cd = &b->consents[b->n_consents++];
        const core_yaml_node *ref = list->items[i];
        cd->id = data__str(ref, "id");
        char full[PATH_MAX], why[768] = "";
        char target[300];
        snprintf(target, sizeof target, "consent:%s", cd->id ? cd->id : "?");
        if (!safe_path(b->dir, data__str(ref, "path"), full, sizeof full, why, sizeof why)) {
            add_code(cd->codes, sizeof cd->codes, cd->why, sizeof cd->why, "INT-001", why);
            data_results_add(c->results, "INT-001", DATA_FAIL, target, "%s", why);
            continue;
        }
        cd->path = strdup(full);
        if (!hash_matches(full, data__str(ref, "sha256"), -1, why, sizeof why)) {
            add_code(cd->codes, sizeof cd->codes, cd->why, sizeof cd->why, "INT-002", why);
            data_results_add(c->results, "INT-002", DATA_FAIL, target, "%s", why);
            continue;
        }
        if (core_yaml_load(full, NULL, &cd->doc) != CORE_OK) {
            add_code(cd->codes, sizeof cd->codes, cd->why, sizeof cd->why, "SCH-001",
                     core_error_message());
            data_results_add(c->results, "SCH-001", DATA_FAIL, target, "%s", core_error_message());
            continue;
        }
        cd->root = core_yaml_root(cd->doc);
        size_t before = c->results->n;
        if (data__schema_check(cd->doc, cd->root, data__consent_schema, full, target,
                               c->results)) {
            const data_result *r = &c->results->items[before];
            add_code(cd->codes, sizeof cd->codes, cd->why, sizeof cd->why, r->code,
                     r->explanation);
            continue;
        }
        if (cd->id && strcmp(cd->id, data__str(cd->root, "consent_id"))) {
            snprintf(why, sizeof why, "%s: consent_id '%s' differs from the manifest's '%s'", full,
                     data__str(cd->root, "consent_id"), cd->id);
            add_code(cd->codes, sizeof cd->codes, cd->why, sizeof cd->why, "SCH-001", why);
            data_results_add(c->results, "SCH-001", DATA_FAIL, target, "%s", why);
            continue;
        }
        char env[PATH_MAX];
        snprintf(env, sizeof env, "%s.dsse.json", full);
        data_sig_report rep;
        if (data_verify_file(full, DATA_TYPE_CONSENT, env, &c->kr,
                             data__time(cd->root, "created_at", 0), c->o->use.at,
                             &rep) != CORE_OK) {
            add_code(cd->codes, sizeof cd->codes, cd->why, sizeof cd->why, rep.code, rep.problem);
            data_results_add(c->results, rep.code, DATA_FAIL, target, "%s", rep.problem);
        } else if (!(rep.roles_met & DATA_ROLE_CONTROLLER)) {
            snprintf(why, sizeof why, "%s: not signed by a controller key", full);
            add_code(cd->codes, sizeof cd->codes, cd->why, sizeof cd->why, "SIG-002", why);
            data_results_add(c->results, "SIG-002", DATA_FAIL, target, "%s", why);
        }
        char canon_why[600];
        char *canon = data_canonical_yaml(cd->doc);
        char *text = NULL;
        size_t tl;
        if (canon && core_file_read(full, 0, &text, &tl) == CORE_OK && strcmp(canon, text)) {
            snprintf(canon_why, sizeof canon_why, "%s is not in canonical form (troupe-cyaml/1)",
                     full);
            data_results_add(c->results, "CAN-001", DATA_WARN, target, "%s", canon_why);
        }
        free(canon);
        free(text);
    }
}

static void load_batch(ctx *c, batch *b)
{
    char path[PATH_MAX], env[PATH_MAX];
    snprintf(path, sizeof path, "%s/manifest.yaml", b->dir);
    snprintf(env, sizeof env, "%s.dsse.json", path);
    if (core_yaml_load(path, NULL, &b->manifest) != CORE_OK) {
        batch_fail(c, b, "SCH-001", "%s", core_error_message());
        return;
    }
    b->root = core_yaml_root(b->manifest);
    uint8_t h[32];
    core_sha256_file(path, h, NULL);
    core_hex(b->sha256, h, 32);
    b->id = data__str(b->root, "manifest_id");
    size_t before = c->results->n;
    char target[300];
    snprintf(target, sizeof target, "manifest:%s", b->id ? b->id : b->dir);
    if (data__schema_check(b->manifest, b->root, data__manifest_schema, path, target,
                           c->results)) {
        const data_result *r = &c->results->items[before];
        add_code(b->codes, sizeof b->codes, b->why, sizeof b->why, r->code, r->explanation);
    }
    b->recs = core_yaml_get(b->root, "recordings");
    if (b->recs && b->recs->kind != CORE_YAML_SEQ)
        b->recs = NULL;
    if (b->codes[0])
        return; /* the header is unusable: its recordings are excluded with its codes */
    b->created_at = data__time(b->root, "created_at", 0);

    /* CAN-001 */
    char *canon = data_canonical_yaml(b->manifest), *text = NULL;
    size_t tl;
    if (canon && core_file_read(path, 0, &text, &tl) == CORE_OK) {
        if (strcmp(canon, text))
            data_results_add(c->results, "CAN-001", DATA_WARN, target,
                             "%s is not in canonical form (troupe-cyaml/1); `troupe data canon` "
                             "writes it",
                             path);
        else
            batch_pass(c, b, "CAN-001", "canonical form");
    }
    free(canon);
    free(text);

    /* SIG-001, SIG-003, SIG-002 */
    data_sig_report rep;
    if (data_verify_file(path, DATA_TYPE_MANIFEST, env, &c->kr, b->created_at, c->o->use.at,
                         &rep) != CORE_OK) {
        batch_fail(c, b, rep.code, "%s", rep.problem);
    } else {
        batch_pass(c, b, "SIG-001", "%d signature%s verify over the exact bytes", rep.n_valid,
                   rep.n_valid == 1 ? "" : "s");
        batch_pass(c, b, "SIG-003", "every signing key is in the keyring, valid and unrevoked");
        bool met = false;
        for (int i = 0; i < rep.n_valid && i < 4; i++)
            for (int j = 0; j < rep.n_valid && j < 4; j++)
                if (i != j && (rep.signer_roles[i] & DATA_ROLE_LICENSOR) &&
                    (rep.signer_roles[j] & DATA_ROLE_CURATOR))
                    met = true;
        if (!met)
            batch_fail(c, b, "SIG-002",
                       "%s: needs signatures by a licensor key and a distinct curator key", path);
        else
            batch_pass(c, b, "SIG-002", "licensor and curator signed with distinct keys");
    }
    for (int i = 0; i < rep.n_valid && i < 4; i++) {
        const rev_entry *e = revoked(c, "key", rep.signers[i]);
        if (e)
            batch_fail(c, b, "SIG-003", "%s: signing key %s is revoked (%s, entry %s)", path,
                       rep.signers[i], e->kind, e->entry_id);
    }

    /* INT-003 */
    size_t n = b->recs ? b->recs->n : 0;
    data_leaf *leaves = calloc(n ? n : 1, sizeof *leaves);
    for (size_t i = 0; leaves && i < n; i++) {
        const core_yaml_node *r = b->recs->items[i];
        leaves[i] = (data_leaf){data__str(r, "recording_id") ? data__str(r, "recording_id") : "",
                                data__str(r, "sha256") ? data__str(r, "sha256") : "",
                                data__str(r, "speaker_id") ? data__str(r, "speaker_id") : "",
                                data__str(r, "consent_id"),
                                data__str(r, "licence") ? data__str(r, "licence") : "",
                                data__int(r, "bytes", -1)};
    }
    uint8_t root[32];
    char hex[CORE_SHA256_HEX];
    data_merkle_root(leaves, n, root);
    core_hex(hex, root, 32);
    free(leaves);
    const core_yaml_node *integ = core_yaml_get(b->root, "integrity");
    int64_t count = data__int(integ, "record_count", -1);
    if (count != (int64_t)n)
        batch_fail(c, b, "INT-003", "%s: record_count is %lld but %zu recordings are listed", path,
                   (long long)count, n);
    else if (strcmp(hex, data__str(integ, "merkle_root")))
        batch_fail(c, b, "INT-003", "%s: merkle_root is %s, recomputed %s", path,
                   data__str(integ, "merkle_root"), hex);
    else
        batch_pass(c, b, "INT-003", "Merkle root and record count match (%zu recordings)", n);

    /* REV-002 at batch scope: the manifest itself */
    const rev_entry *e = revoked(c, "manifest", b->id);
    if (e)
        batch_fail(c, b, "REV-002", "manifest %s is %s by entry %s", b->id, e->kind, e->entry_id);

    /* LIC-001 for each listed licence */
    const core_yaml_node *lics = core_yaml_get(b->root, "licences");
    for (size_t i = 0; lics && i < lics->n; i++) {
        const core_yaml_node *l = lics->items[i];
        const char *id = data__str(l, "id");
        char lt[300], why[768] = "", full[PATH_MAX];
        snprintf(lt, sizeof lt, "licence:%s", id);
        bool ok = false;
        if (!strncmp(id, "LicenseRef-", 11)) {
            if (!data__str(l, "path") || !data__str(l, "sha256"))
                snprintf(why, sizeof why, "%s needs a text path and sha256", id);
            else if (safe_path(b->dir, data__str(l, "path"), full, sizeof full, why, sizeof why) &&
                     hash_matches(full, data__str(l, "sha256"), -1, why, sizeof why))
                ok = true;
        } else {
            for (size_t k = 0; k < sizeof spdx_ids / sizeof *spdx_ids && !ok; k++)
                ok = !strcmp(id, spdx_ids[k]);
            if (!ok)
                snprintf(why, sizeof why, "'%s' is not a known SPDX licence id", id);
        }
        data_results_add(c->results, "LIC-001", ok ? DATA_PASS : DATA_FAIL, lt, "%s",
                         ok ? "valid licence" : why);
        if (!ok) {
            size_t bl = strlen(b->bad_licences);
            snprintf(b->bad_licences + bl, sizeof b->bad_licences - bl, "%s%s|", bl ? "" : "|",
                     id);
        }
    }

    /* INT-004: audio files present but not listed */
    char adir[PATH_MAX];
    snprintf(adir, sizeof adir, "%s/audio", b->dir);
    DIR *d = opendir(adir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char rel[PATH_MAX];
            snprintf(rel, sizeof rel, "audio/%s", de->d_name);
            if (!find_by(b->recs, "path", rel))
                data_results_add(c->results, "INT-004", DATA_WARN, target,
                                 "%s/%s is in the batch but not in the manifest", b->dir, rel);
        }
        closedir(d);
    }
    load_consents(c, b);
}

/* ---------------------------------------------------------------- recordings */

typedef struct rec_job {
    ctx *c;
    batch *b;
    data_results *res; /* one per recording */
    data_recording_outcome *out;
    const char **dup_why; /* INT-005 per recording, NULL if unique */
} rec_job;

typedef struct rctx {
    data_results *res;
    const char *target;
    char codes[160];
    char why[768];
} rctx;

static void fail(rctx *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(rctx *r, const char *code, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    data_results_add(r->res, code, DATA_FAIL, r->target, "%s", msg);
    add_code(r->codes, sizeof r->codes, r->why, sizeof r->why, code, msg);
}

static void warn(rctx *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(rctx *r, const char *code, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    data_results_add(r->res, code, DATA_WARN, r->target, "%s", msg);
}

static void pass(rctx *r, const char *code)
{
    if (!strstr(r->codes, code))
        data_results_add(r->res, code, DATA_PASS, r->target, "passed");
}

static bool territory_in(const core_yaml_node *incl, const core_yaml_node *excl, const char *t)
{
    return (data__list_has(incl, t) || data__list_has(incl, "ZZ")) && !data__list_has(excl, t);
}

static bool looks_like_identifier(const char *s)
{
    /* An e-mail address, or a run of 9 or more digits (a phone number). */
    for (const char *p = s; *p; p++) {
        if (*p == '@' && p > s && strchr(p, '.'))
            return true;
    }
    int digits = 0;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p != ' ' && *p != '-' && *p != '+' && *p != '(' && *p != ')')
            digits = 0;
        if (digits >= 9)
            return true;
    }
    return false;
}

static const consent_doc *find_consent(const batch *b, const char *id)
{
    for (size_t i = 0; id && i < b->n_consents; i++)
        if (b->consents[i].id && !strcmp(b->consents[i].id, id))
            return &b->consents[i];
    return NULL;
}

/* Consent status at time t from the history (latest entry at or before t). */
static const char *status_at(const core_yaml_node *consent, int64_t t, int64_t *first_given)
{
    const core_yaml_node *h = core_yaml_get(consent, "status_history");
    const char *st = NULL;
    int64_t best = INT64_MIN;
    *first_given = INT64_MAX;
    for (size_t i = 0; h && i < h->n; i++) {
        const char *s = data__str(h->items[i], "status");
        int64_t at = data__time(h->items[i], "at", INT64_MAX);
        if (s && (!strcmp(s, "given") || !strcmp(s, "renewed")) && at < *first_given)
            *first_given = at;
        if (at <= t && at >= best) {
            best = at;
            st = s;
        }
    }
    return st;
}

static void check_consent(ctx *c, batch *b, const core_yaml_node *rec, rctx *r)
{
    const data_use *u = &c->o->use;
    const char *cid = data__str(rec, "consent_id");
    const consent_doc *cd = find_consent(b, cid);
    if (!cid || !cd) {
        fail(r, "CON-001", "consent %s is not listed in the manifest's consent_records",
             cid ? cid : "(none)");
        return;
    }
    if (cd->codes[0]) {
        fail(r, "CON-001", "consent record %s is not valid (%s): %s", cid, cd->codes, cd->why);
        return;
    }
    const core_yaml_node *cr = cd->root, *scope = core_yaml_get(cr, "scope");
    if (strcmp(data__str(cr, "subject"), data__str(rec, "speaker_id")))
        fail(r, "CON-001", "consent %s is for subject '%s', the recording's speaker is '%s'", cid,
             data__str(cr, "subject"), data__str(rec, "speaker_id"));
    else
        pass(r, "CON-001");
    int64_t first_given, recorded_at = data__time(rec, "recorded_at", 0);
    const char *st = status_at(cr, u->at, &first_given);
    if (!st || (strcmp(st, "given") && strcmp(st, "renewed")))
        fail(r, "CON-002", "consent %s has status '%s' now", cid, st ? st : "none");
    else if (first_given > recorded_at)
        fail(r, "CON-002", "consent %s was given after the recording was made", cid);
    else if (strcmp(data__str(cr, "status"), st))
        fail(r, "CON-002", "consent %s: status '%s' disagrees with its history ('%s' now)", cid,
             data__str(cr, "status"), st);
    else
        pass(r, "CON-002");
    /* CON-003: the exact form agreed to */
    const core_yaml_node *form = core_yaml_get(cr, "form");
    char full[PATH_MAX], why[768] = "";
    if (!safe_path(b->dir, data__str(form, "path"), full, sizeof full, why, sizeof why) ||
        !hash_matches(full, data__str(form, "sha256"), -1, why, sizeof why))
        fail(r, "CON-003", "consent form of %s: %s", cid, why);
    else
        pass(r, "CON-003");
    /* CON-004: purposes */
    const core_yaml_node *allowed = core_yaml_get(scope, "purposes_allowed"),
                         *prohibited = core_yaml_get(scope, "purposes_prohibited");
    for (int p = 0; p < DATA_N_PURPOSES; p++) {
        if (!((u->purposes >> p) & 1))
            continue;
        if (data__list_has(prohibited, data_purposes[p]))
            fail(r, "CON-004", "consent %s prohibits '%s'", cid, data_purposes[p]);
        else if (!data__list_has(allowed, data_purposes[p]))
            fail(r, "CON-004", "consent %s does not allow '%s'", cid, data_purposes[p]);
    }
    if (u->commercial && !data__bool(scope, "commercial"))
        fail(r, "CON-004", "consent %s does not allow commercial use", cid);
    for (size_t i = 0; allowed && i < allowed->n; i++) {
        bool known = false;
        for (int p = 0; p < DATA_N_PURPOSES && !known; p++)
            known = allowed->items[i]->kind == CORE_YAML_SCALAR &&
                    !strcmp(allowed->items[i]->str, data_purposes[p]);
        if (!known)
            warn(r, "CON-004", "consent %s allows unknown purpose '%s' (ignored: unknown means "
                               "not allowed)",
                 cid, allowed->items[i]->kind == CORE_YAML_SCALAR ? allowed->items[i]->str : "?");
    }
    pass(r, "CON-004");
    if (has_purpose(u, "voice_cloning")) {
        const core_yaml_node *rep = core_yaml_get(scope, "digital_replica");
        const char *desc = data__str(rep, "description");
        if (!data__bool(rep, "allowed") || !desc || strlen(desc) < 20)
            fail(r, "CON-005", "consent %s does not allow a digital replica with a specific "
                               "description",
                 cid);
        else
            pass(r, "CON-005");
    }
    if (has_purpose(u, "speaker_identification")) {
        const core_yaml_node *bio = core_yaml_get(scope, "biometric");
        if (!data__bool(bio, "allowed") || !data__str(bio, "legal_basis"))
            fail(r, "CON-006", "consent %s has no explicit biometric grant with a legal basis",
                 cid);
        else
            pass(r, "CON-006");
    }
    if (has_purpose(u, "emotion_inference") && u->deployment &&
        (!strcmp(u->deployment, "workplace") || !strcmp(u->deployment, "education")))
        warn(r, "CON-007", "emotion inference declared for a %s deployment (restricted in the "
                           "EU AI Act, Art. 5(1)(f))",
             u->deployment);
    if (data__bool(cr, "subject_is_minor")) {
        const char *g = data__str(cr, "guardian_ref");
        const consent_doc *gd = find_consent(b, g);
        if (strcmp(data__str(cr, "signatory"), "guardian") || !g || !gd || gd->codes[0])
            fail(r, "MIN-001", "consent %s is a minor's: needs signatory 'guardian' and a valid "
                               "guardian record in the batch (guardian_ref %s)",
                 cid, g ? g : "null");
        else
            pass(r, "MIN-001");
    }
    int64_t ts = data__time(scope, "term_start", 0), te = data__time(scope, "term_end", 0);
    if (recorded_at < ts || recorded_at > te)
        fail(r, "TMP-001", "recorded_at is outside the term of consent %s", cid);
    else if (u->at < ts || u->at > te)
        fail(r, "TMP-001", "consent %s's term does not cover the evaluation time", cid);
    else
        pass(r, "TMP-001");
    if (te > u->at && te - u->at < (int64_t)u->horizon_days * 86400) {
        char t[32];
        data_time_format(te, t);
        warn(r, "TMP-002", "consent %s expires at %s, within %d days", cid, t, u->horizon_days);
    }
    if (!territory_in(core_yaml_get(scope, "territory_include"),
                      core_yaml_get(scope, "territory_exclude"), u->territory))
        fail(r, "TER-001", "consent %s does not cover territory %s", cid, u->territory);
    else
        pass(r, "TER-001");
    const rev_entry *e = revoked(c, "consent", cid);
    if (!e)
        e = revoked(c, "speaker", data__str(rec, "speaker_id"));
    if (e && !strcmp(e->kind, "suspended"))
        fail(r, "REV-003", "%s %s is suspended by entry %s (until reinstated)", e->scope,
             e->target, e->entry_id);
    else if (e)
        fail(r, "REV-002", "%s %s is %s by entry %s, effective before now", e->scope, e->target,
             e->kind, e->entry_id);
}

static void check_recording(ctx *c, batch *b, size_t i, data_results *res,
                            data_recording_outcome *out, const char *dup_why)
{
    const data_use *u = &c->o->use;
    const core_yaml_node *rec = b->recs->items[i];
    const char *rid = rec->kind == CORE_YAML_MAP ? data__str(rec, "recording_id") : NULL;
    char target[300];
    if (rid)
        snprintf(target, sizeof target, "recording:%s", rid);
    else
        snprintf(target, sizeof target, "recording:%s#%zu", b->id ? b->id : b->dir, i);
    rctx r = {res, target, "", ""};
    out->batch = strdup(b->dir);
    out->recording_id = strdup(rid ? rid : target + 10);
    if (c->corpus_codes[0])
        add_code(r.codes, sizeof r.codes, r.why, sizeof r.why, c->corpus_codes, c->corpus_why);
    if (b->codes[0])
        add_code(r.codes, sizeof r.codes, r.why, sizeof r.why, b->codes, b->why);
    char mpath[PATH_MAX];
    snprintf(mpath, sizeof mpath, "%s/manifest.yaml", b->dir);
    size_t before = res->n;
    if (data__schema_check(b->manifest, rec, data__recording_schema, mpath, target, res)) {
        for (size_t k = before; k < res->n; k++)
            add_code(r.codes, sizeof r.codes, r.why, sizeof r.why, res->items[k].code,
                     res->items[k].explanation);
        goto done; /* the rest needs a well-formed entry */
    }
    pass(&r, "SCH-001");
    pass(&r, "SCH-002");
    int64_t rate = data__int(rec, "sample_rate", 0), dur = data__int(rec, "duration_samples", 0);
    out->seconds = rate > 0 ? (double)dur / (double)rate : 0;
    if (dup_why)
        fail(&r, "INT-005", "%s", dup_why);
    else
        pass(&r, "INT-005");

    /* INT-001, INT-002, AUD-001 */
    char full[PATH_MAX], why[768] = "";
    if (!safe_path(b->dir, data__str(rec, "path"), full, sizeof full, why, sizeof why)) {
        fail(&r, "INT-001", "%s", why);
    } else {
        pass(&r, "INT-001");
        if (!hash_matches(full, data__str(rec, "sha256"), data__int(rec, "bytes", -1), why,
                          sizeof why)) {
            fail(&r, "INT-002", "%s", why);
        } else {
            pass(&r, "INT-002");
            /* Decode it whole: truncation, zero length and NaN samples only show there. */
            data_audio_info info;
            float *pcm = NULL;
            size_t npcm = 0;
            core_status ast = data_audio_load_mono(full, &info, &pcm, &npcm);
            free(pcm);
            if (ast != CORE_OK) {
                fail(&r, "AUD-001", "%s", core_error_message());
            } else if (info.rate != rate || info.channels != data__int(rec, "channels", 0) ||
                       info.frames != dur ||
                       (info.bit_depth && info.bit_depth != data__int(rec, "bit_depth", 0))) {
                fail(&r, "AUD-001",
                     "%s decodes as %d Hz, %d channel(s), %d bit, %lld frames; the manifest "
                     "says %lld Hz, %lld, %lld bit, %lld frames",
                     full, info.rate, info.channels, info.bit_depth, (long long)info.frames,
                     (long long)rate, (long long)data__int(rec, "channels", 0),
                     (long long)data__int(rec, "bit_depth", 0), (long long)dur);
            } else if (dur == 0) {
                fail(&r, "AUD-001", "%s has no samples", full);
            } else {
                pass(&r, "AUD-001");
            }
        }
    }

    /* LIC-001, LIC-002 */
    const char *lic = data__str(rec, "licence");
    const core_yaml_node *l = find_by(core_yaml_get(b->root, "licences"), "id", lic);
    if (!l) {
        fail(&r, "LIC-001", "licence '%s' is not listed in the manifest", lic);
    } else {
        char key[300];
        snprintf(key, sizeof key, "|%s|", lic);
        if (strstr(b->bad_licences, key))
            fail(&r, "LIC-001", "licence '%s' is not valid (see its LIC-001 result)", lic);
        else
            pass(&r, "LIC-001");
        const char *cls = data__str(l, "use_class");
        if (u->commercial && strcmp(cls, "commercial"))
            fail(&r, "LIC-002", "licence '%s' is %s; the declared use is commercial", lic, cls);
        else if (!strcmp(cls, "academic-only") && !has_purpose(u, "research_only"))
            fail(&r, "LIC-002", "licence '%s' is academic-only; declare research_only", lic);
        else
            pass(&r, "LIC-002");
    }
    /* The CAWG training-and-mining default applies to the whole batch. */
    const core_yaml_node *tmd = core_yaml_get(b->root, "training_mining_default");
    static const char *const tmd_map[][2] = {{"training", "ai_training"},
                                             {"generative_training", "ai_generative_training"},
                                             {"inference_input", "ai_inference"},
                                             {"data_mining", "data_mining"}};
    for (size_t k = 0; k < 4; k++)
        if (has_purpose(u, tmd_map[k][0]) && strcmp(data__str(tmd, tmd_map[k][1]), "allowed"))
            fail(&r, "LIC-002", "training_mining_default.%s is '%s' for declared purpose '%s'",
                 tmd_map[k][1], data__str(tmd, tmd_map[k][1]), tmd_map[k][0]);
    const rev_entry *e = revoked(c, "licence", lic);
    if (e)
        fail(&r, "REV-002", "licence %s is %s by entry %s", lic, e->kind, e->entry_id);

    const char *method = data__str(rec, "collection_method");
    bool no_consent_needed = !strcmp(method, "public_domain_corpus") ||
                             !strcmp(method, "open_licensed_corpus") ||
                             !strcmp(method, "synthetic");
    /* LIC-004: the contract (not needed for public-domain, open or synthetic material) */
    const char *cid = data__str(rec, "contract_id");
    const core_yaml_node *ct = find_by(core_yaml_get(b->root, "contracts"), "id", cid);
    if (!cid && !no_consent_needed) {
        fail(&r, "LIC-004", "no contract_id for a %s recording", method);
    } else if (cid && !ct) {
        fail(&r, "LIC-004", "contract '%s' is not listed in the manifest", cid);
    } else if (ct) {
        int64_t ts = data__time(ct, "term_start", 0), te = data__time(ct, "term_end", 0),
                ra = data__time(rec, "recorded_at", 0);
        if (ra < ts || ra > te || u->at < ts || u->at > te)
            fail(&r, "LIC-004", "contract %s's term does not cover the recording and now", cid);
        else if (!territory_in(core_yaml_get(ct, "territory_include"),
                               core_yaml_get(ct, "territory_exclude"), u->territory))
            fail(&r, "LIC-004", "contract %s does not cover territory %s", cid, u->territory);
        else
            pass(&r, "LIC-004");
        if (te > u->at && te - u->at < (int64_t)u->horizon_days * 86400)
            warn(&r, "TMP-002", "contract %s expires within %d days", cid, u->horizon_days);
        if ((e = revoked(c, "contract", cid)))
            fail(&r, "REV-002", "contract %s is %s by entry %s", cid, e->kind, e->entry_id);
    }

    /* SYN-001 */
    bool synthetic = !strcmp(data__str(rec, "digital_source_type"), "trainedAlgorithmicMedia");
    out->synthetic = synthetic;
    if (synthetic != !strcmp(method, "synthetic"))
        fail(&r, "SYN-001", "digital_source_type %s disagrees with collection_method %s",
             data__str(rec, "digital_source_type"), method);
    else if (synthetic && !u->allow_synthetic)
        fail(&r, "SYN-001", "synthetic speech is not allowed by the policy (--allow-synthetic)");
    else if (synthetic)
        pass(&r, "SYN-001");

    /* A referenced consent is checked even where none is needed (synthetic voices with a
     * consenting voice donor, say): if it is there, it must hold. */
    if (!no_consent_needed || data__str(rec, "consent_id"))
        check_consent(c, b, rec, &r);
    if ((e = revoked(c, "recording", rid)))
        fail(&r, e && !strcmp(e->kind, "suspended") ? "REV-003" : "REV-002",
             "recording %s is %s by entry %s", rid, e->kind, e->entry_id);
    if (!strstr(r.codes, "REV-00"))
        pass(&r, "REV-002");

    /* LAB-001, LAB-002 */
    const core_yaml_node *labels = core_yaml_get(rec, "labels");
    bool lab_ok = true;
    for (size_t k = 0; labels && k < labels->n; k++) {
        const core_yaml_node *x = labels->items[k];
        const char *name = data__str(x, "label");
        int64_t s = data__int(x, "start_sample", -1), en = data__int(x, "end_sample", -1);
        if (!data__label_known(name)) {
            fail(&r, "LAB-001", "label '%s' is not in the taxonomy troupe.paralinguistic/1", name);
            lab_ok = false;
        } else if (!(s >= 0 && s < en && en <= dur)) {
            fail(&r, "LAB-001", "label '%s' span [%lld, %lld) is outside [0, %lld]", name,
                 (long long)s, (long long)en, (long long)dur);
            lab_ok = false;
        }
        const char *ann = data__str(x, "annotator");
        if (!ann)
            warn(&r, "LAB-002", "label '%s' names no annotator or tool", name);
        else if (!strcmp(ann, data__str(rec, "speaker_id")))
            warn(&r, "LAB-002", "label '%s' annotator equals the speaker id", name);
    }
    if (lab_ok)
        pass(&r, "LAB-001");

    /* TRN-001 */
    const core_yaml_node *tr = core_yaml_get(rec, "transcript");
    const char *text = data__str(tr, "text");
    uint8_t h[32];
    char hex[CORE_SHA256_HEX];
    core_sha256(h, text, strlen(text));
    core_hex(hex, h, 32);
    const char *lang = data__str(rec, "language");
    char primary[8];
    snprintf(primary, sizeof primary, "%.*s", (int)strcspn(lang, "-"), lang);
    const core_yaml_node *langs = core_yaml_get(core_yaml_get(b->root, "batch"), "languages");
    if (strcmp(hex, data__str(tr, "sha256")))
        fail(&r, "TRN-001", "transcript sha256 does not match its text");
    else if (!data__list_has(langs, lang) && !data__list_has(langs, primary))
        fail(&r, "TRN-001", "language '%s' is not listed in the batch's languages", lang);
    else
        pass(&r, "TRN-001");

    /* PRV-001: direct identifiers in distributable free text */
    const core_yaml_node *dlg = core_yaml_get(rec, "dialogue");
    const char *free_text[] = {text, dlg ? data__str(dlg, "response") : NULL,
                               dlg ? data__str(dlg, "history") : NULL, data__str(rec, "speaker_id")};
    for (size_t k = 0; k < 4; k++)
        if (free_text[k] && looks_like_identifier(free_text[k]))
            warn(&r, "PRV-001", "free text holds what looks like an e-mail address or phone "
                                "number");
done:
    out->admitted = r.codes[0] == '\0';
    out->codes = strdup(r.codes);
    out->explanation = strdup(r.why);
}

static void rec_range(void *vctx, size_t begin, size_t end, int tid)
{
    rec_job *j = vctx;
    for (size_t i = begin; i < end; i++)
        check_recording(j->c, j->b, i, &j->res[i], &j->out[i], j->dup_why[i]);
}

/* ---------------------------------------------------------------- the audit */

typedef struct keyed {
    const char *key;
    size_t index;
} keyed;

static int cmp_keyed(const void *x, const void *y)
{
    const keyed *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

/* For every key seen before (in index order), a message for the later occurrences; sorting
 * keeps this O(n log n) for large corpora. */
static void mark_duplicates(const char **keys, size_t n, char **msgs, const char *what)
{
    keyed *k = malloc((n ? n : 1) * sizeof *k);
    size_t m = 0;
    if (!k)
        return;
    for (size_t i = 0; i < n; i++)
        if (keys[i])
            k[m++] = (keyed){keys[i], i};
    qsort(k, m, sizeof *k, cmp_keyed);
    for (size_t i = 1; i < m; i++)
        if (!strcmp(k[i].key, k[i - 1].key) && !msgs[k[i].index]) {
            char buf[512];
            snprintf(buf, sizeof buf, "%s %s appears twice in the corpus", what, k[i].key);
            msgs[k[i].index] = strdup(buf);
        }
    free(k);
}

void data_audit_free(data_audit *a)
{
    if (!a)
        return;
    data_results_free(&a->results);
    for (size_t i = 0; i < a->n_rec; i++) {
        free(a->rec[i].batch);
        free(a->rec[i].recording_id);
        free(a->rec[i].codes);
        free(a->rec[i].explanation);
    }
    free(a->rec);
    core_strs_free(a->inputs, a->n_inputs);
    core_strs_free(a->licences, a->n_licences);
    memset(a, 0, sizeof *a);
}

const char *data_audit_state(const data_audit *a)
{
    bool warned = false;
    for (size_t i = 0; i < a->results.n; i++) {
        if (a->results.items[i].sev == DATA_FAIL)
            return "fail";
        warned |= a->results.items[i].sev == DATA_WARN;
    }
    return warned ? "pass_with_warnings" : "pass";
}

static int cmp_cstr(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void push_str(char ***list, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*list)[i], s))
            return;
    char **nl = realloc(*list, (*n + 1) * sizeof *nl);
    if (!nl)
        return;
    *list = nl;
    (*list)[(*n)++] = strdup(s);
}

core_status data_audit_run(const char *const *batches, size_t nb, const data_options *o,
                           data_audit *a)
{
    memset(a, 0, sizeof *a);
    ctx c = {.o = o, .results = &a->results};
    core_status st = data_keyring_load(o->keyring, &c.kr);
    if (st != CORE_OK)
        return st;
    load_revocations(&c);
    c.b = calloc(nb ? nb : 1, sizeof *c.b);
    if (!c.b) {
        data_keyring_free(&c.kr);
        return CORE_ERR_NOMEM;
    }
    c.nb = nb;
    size_t total = 0;
    for (size_t i = 0; i < nb; i++) {
        batch *b = &c.b[i];
        size_t len = strlen(batches[i]);
        while (len > 1 && batches[i][len - 1] == '/')
            len--;
        b->dir = core_sprintf("%.*s", (int)len, batches[i]);
        struct stat sb;
        if (stat(b->dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            st = CORE_ERR(CORE_ERR_IO, "%s: not a batch folder", b->dir);
            goto done;
        }
        load_batch(&c, b);
        if (!b->manifest)
            a->batches_unreadable++;
        if (b->manifest && b->codes[0] == '\0') {
            /* REV-001 at batch scope: a valid list from the batch's controller is needed. */
            const char *org = data__str(core_yaml_get(b->root, "controller"), "organisation");
            bool have = false;
            for (size_t k = 0; k < c.n_lists && !have; k++)
                have = c.lists[k].ok && c.lists[k].issuer && !strcmp(c.lists[k].issuer, org);
            if (!have && !c.corpus_codes[0])
                batch_fail(&c, b, "REV-001",
                           "no valid revocation list from the controller '%s': failing closed",
                           org);
        }
        char *in = core_sprintf("manifest %s sha256:%s (%s)", b->id ? b->id : "?", b->sha256,
                                b->dir);
        if (in) {
            push_str(&a->inputs, &a->n_inputs, in);
            free(in);
        }
        total += b->recs ? b->recs->n : 0;
    }
    for (size_t k = 0; k < c.n_lists; k++)
        if (c.lists[k].ok) {
            char *in = core_sprintf("revocations %s sequence %lld sha256:%s", c.lists[k].issuer,
                                    (long long)c.lists[k].sequence, c.lists[k].sha256);
            if (in) {
                push_str(&a->inputs, &a->n_inputs, in);
                free(in);
            }
        }
    a->rec = calloc(total ? total : 1, sizeof *a->rec);
    if (!a->rec) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    /* INT-005 across the corpus: ids and audio hashes seen twice */
    const char **ids = calloc(total ? total : 1, sizeof *ids), **hashes = calloc(total ? total : 1, sizeof *hashes);
    const char **dup = calloc(total ? total : 1, sizeof *dup);
    char **dup_msgs = calloc(total ? total : 1, sizeof *dup_msgs);
    size_t k = 0;
    for (size_t i = 0; i < nb; i++)
        for (size_t j = 0; c.b[i].recs && j < c.b[i].recs->n; j++, k++) {
            ids[k] = data__str(c.b[i].recs->items[j], "recording_id");
            hashes[k] = data__str(c.b[i].recs->items[j], "sha256");
        }
    mark_duplicates(ids, total, dup_msgs, "recording id");
    mark_duplicates(hashes, total, dup_msgs, "audio sha256");
    for (size_t x = 0; x < total; x++)
        dup[x] = dup_msgs[x];
    k = 0;
    for (size_t i = 0; i < nb; i++) {
        batch *b = &c.b[i];
        size_t n = b->recs ? b->recs->n : 0;
        data_results *res = calloc(n ? n : 1, sizeof *res);
        if (!res) {
            st = CORE_ERR_NOMEM;
            break;
        }
        rec_job job = {&c, b, res, a->rec + k, dup + k};
        core_parallel_for(n, 0, rec_range, &job);
        for (size_t j = 0; j < n; j++) {
            for (size_t q = 0; q < res[j].n; q++) {
                const data_result *x = &res[j].items[q];
                data_results_add(&a->results, x->code, x->sev, x->target, "%s", x->explanation);
            }
            data_results_free(&res[j]);
        }
        free(res);
        k += n;
    }
    a->n_rec = k;
    for (size_t x = 0; x < total; x++)
        free(dup_msgs[x]);
    free(dup_msgs);
    free(dup);
    free(ids);
    free(hashes);

    /* Summary */
    char **admitted = calloc(a->n_rec ? a->n_rec : 1, sizeof *admitted), **speakers = NULL;
    size_t na = 0, ns = 0;
    k = 0;
    for (size_t i = 0; i < nb; i++)
        for (size_t j = 0; c.b[i].recs && j < c.b[i].recs->n; j++, k++) {
            data_recording_outcome *r = &a->rec[k];
            if (!r->admitted) {
                a->excluded++;
                continue;
            }
            a->admitted++;
            a->hours_admitted += r->seconds / 3600.0;
            if (admitted)
                admitted[na++] = r->recording_id;
            push_str(&speakers, &ns, data__str(c.b[i].recs->items[j], "speaker_id"));
            push_str(&a->licences, &a->n_licences, data__str(c.b[i].recs->items[j], "licence"));
        }
    a->speakers = ns;
    core_strs_free(speakers, ns);
    if (admitted) {
        qsort(admitted, na, sizeof *admitted, cmp_cstr);
        size_t len = 0;
        for (size_t i = 0; i < na; i++)
            len += strlen(admitted[i]) + 1;
        char *joined = calloc(len + 1, 1), *p = joined;
        for (size_t i = 0; joined && i < na; i++)
            p += sprintf(p, "%s%s", i ? "\n" : "", admitted[i]);
        uint8_t h[32];
        core_sha256(h, joined ? joined : "", joined ? strlen(joined) : 0);
        core_hex(a->admitted_ids_sha256, h, 32);
        free(joined);
        free(admitted);
    }
    if (a->n_licences > 1)
        qsort(a->licences, a->n_licences, sizeof *a->licences, cmp_cstr);
    if (a->n_inputs > 1)
        qsort(a->inputs, a->n_inputs, sizeof *a->inputs, cmp_cstr);
    data_results_add(&a->results, "RPT-001", DATA_INFO, "report",
                     "deterministic: no wall-clock time is recorded; the same inputs and "
                     "evaluation time give byte-identical output");
    data_results_sort(&a->results);
done:
    for (size_t i = 0; i < c.nb; i++) {
        batch *b = &c.b[i];
        for (size_t j = 0; j < b->n_consents; j++) {
            core_yaml_free(b->consents[j].doc);
            free(b->consents[j].path);
        }
        free(b->consents);
        core_yaml_free(b->manifest);
        free(b->dir);
    }
    free(c.b);
    for (size_t i = 0; i < c.n_lists; i++) {
        core_yaml_free(c.lists[i].doc);
        free(c.lists[i].path);
    }
    free(c.lists);
    free(c.entries);
    data_keyring_free(&c.kr);
    if (st != CORE_OK)
        data_audit_free(a);
    return st;
}
