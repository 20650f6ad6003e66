/* troupe data: ingest, audit, keygen, sign, verify, canon, merkle. */
#include "cli/cli.h"
#include "data/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Options shared by ingest and audit. */
typedef struct use_opts {
    const char *keyring, *revocations, *purpose, *territory, *deployment, *at;
    bool commercial, allow_synthetic;
    int64_t horizon, threads;
} use_opts;

#define USE_OPTS(u)                                                                        \
    {"keyring", 'k', CLI_STR, &(u).keyring, "FILE", "trusted keys (troupe.keyring/1)"},      \
        {"revocations", 'r', CLI_STR, &(u).revocations, "DIR",                             \
         "signed revocation lists (troupe.revocations/1)"},                                 \
        {"purpose", 'p', CLI_STR, &(u).purpose, "LIST",                                     \
         "declared purposes, e.g. training,paralinguistic_modelling"},                     \
        {"territory", 't', CLI_STR, &(u).territory, "XX", "territory of use (ISO 3166-1)"}, \
        {"commercial", 0, CLI_FLAG, &(u).commercial, NULL, "the use is commercial"},       \
        {"allow-synthetic", 0, CLI_FLAG, &(u).allow_synthetic, NULL,                       \
         "admit synthetic speech (never counted as consented human speech)"},              \
        {"deployment", 0, CLI_STR, &(u).deployment, "CONTEXT",                             \
         "deployment context (workplace, education, consumer, ...) for CON-007"},          \
        {"at", 0, CLI_STR, &(u).at, "TIME",                                                \
         "evaluation time, RFC 3339 UTC (default: now); fix it for reproducible reports"}, \
        {"horizon-days", 0, CLI_INT, &(u).horizon, "N", "expiry warning horizon (default 90)"}

static int make_options(const char *cmd, const use_opts *u, data_options *o)
{
    memset(o, 0, sizeof *o);
    if (!u->keyring || !u->purpose || !u->territory)
        return cli_usage_error("%s: --keyring, --purpose and --territory are required", cmd);
    o->keyring = u->keyring;
    o->revocations = u->revocations;
    core_status st = data_purposes_parse(u->purpose, &o->use.purposes);
    if (st != CORE_OK)
        return cli_usage_error("%s: --purpose: %s", cmd, core_error_message());
    if (strlen(u->territory) != 2 || u->territory[0] < 'A' || u->territory[0] > 'Z' ||
        u->territory[1] < 'A' || u->territory[1] > 'Z')
        return cli_usage_error("%s: --territory '%s' is not an ISO 3166-1 alpha-2 code (e.g. GB)",
                               cmd, u->territory);
    memcpy(o->use.territory, u->territory, 3);
    o->use.commercial = u->commercial;
    o->use.allow_synthetic = u->allow_synthetic;
    o->use.deployment = u->deployment;
    o->use.horizon_days = u->horizon > 0 ? (int)u->horizon : 90;
    if (u->at) {
        if (!data_time_parse(u->at, &o->use.at))
            return cli_usage_error("%s: --at '%s' is not YYYY-MM-DDTHH:MM:SSZ", cmd, u->at);
    } else {
        o->use.at = (int64_t)time(NULL);
    }
    return CLI_OK;
}

static int cmd_ingest(int argc, char **argv)
{
    use_opts u = {0};
    const char *out = NULL;
    const cli_opt opts[] = {
        USE_OPTS(u),
        {"threads", 'j', CLI_INT, &u.threads, "N", "threads (default: all cores)"},
        {"output", 'o', CLI_STR, &out, "DIR", "output folder (shards, index, reports)"},
    };
    const cli_spec spec = {
        "data ingest",
        "troupe data ingest BATCH... --keyring K --revocations DIR --purpose LIST --territory XX "
        "-o OUT",
        "Verifies every batch (signatures, consent, licences, integrity, revocations: "
        "docs/governance.md),\nthen decodes, resamples to 16 kHz and computes the log-mel of "
        "every admitted recording and\nwrites shards, a shard index, a dataset card, a "
        "quarantine report and the audit report into\nOUT. Re-running on unchanged inputs "
        "writes nothing new. Batches are never modified.",
        opts, sizeof opts / sizeof *opts, 1, 256,
        "Example:\n  troupe data ingest batches/acme-01 --keyring keyring.yaml --revocations "
        "revocations \\\n      --purpose training,paralinguistic_modelling --territory GB -o "
        "corpus"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    data_options o;
    if ((rc = make_options(spec.name, &u, &o)) != CLI_OK || !out) {
        free(pos);
        return rc != CLI_OK ? rc : cli_usage_error("%s: -o OUT is required", spec.name);
    }
    data_ingest_stats s;
    core_status st = data_ingest(pos, np, &o, out, (int)u.threads, &s);
    free(pos);
    if (st != CORE_OK)
        return cli_fail(st);
    printf("data ingest: %zu recordings admitted, %zu excluded (see %s/quarantine.yaml)\n",
           s.admitted, s.excluded, out);
    if (s.excluded)
        printf("data ingest: excluded by check: %s\n", s.excluded_by_check);
    if (s.written)
        printf("data ingest: featurised %zu utterances, %.1f s of audio, in %.2f s (%.0fx real "
               "time)\n",
               s.written, s.audio_seconds, s.wall_seconds,
               s.wall_seconds > 0 ? s.audio_seconds / s.wall_seconds : 0);
    if (s.skipped_unchanged)
        printf("data ingest: %zu utterances unchanged since the last run, not processed again\n",
               s.skipped_unchanged);
    printf("data ingest: %s/index.json, %s/dataset-card.json, %s/audit.yaml, %s/audit.md\n", out,
           out, out, out);
    if (s.batches_unreadable) {
        fprintf(stderr, "troupe: %zu batch%s could not be read at all (see %s/audit.md)\n",
                s.batches_unreadable, s.batches_unreadable == 1 ? "" : "es", out);
        return CLI_FAILED;
    }
    return CLI_OK;
}

static int cmd_audit(int argc, char **argv)
{
    use_opts u = {0};
    const char *out = NULL;
    const cli_opt opts[] = {
        USE_OPTS(u),
        {"output", 'o', CLI_STR, &out, "PREFIX", "write PREFIX.yaml and PREFIX.md (default: YAML "
                                                 "on stdout)"},
    };
    const cli_spec spec = {"data audit",
                           "troupe data audit BATCH... --keyring K --revocations DIR --purpose "
                           "LIST --territory XX [-o PREFIX]",
                           "Runs the same checks as ingest without extracting features and "
                           "writes the audit report.\nExit 0 when the state is pass or "
                           "pass_with_warnings, 1 when it is fail.",
                           opts, sizeof opts / sizeof *opts, 1, 256, NULL};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    data_options o;
    if ((rc = make_options(spec.name, &u, &o)) != CLI_OK) {
        free(pos);
        return rc;
    }
    data_audit a;
    core_status st = data_audit_run(pos, np, &o, &a);
    free(pos);
    if (st != CORE_OK)
        return cli_fail(st);
    char *y = data_audit_yaml(&a, &o), *md = data_audit_markdown(&a, &o);
    if (!y || !md) {
        rc = cli_fail(CORE_ERR_NOMEM);
    } else if (out) {
        char *py = core_sprintf("%s.yaml", out), *pm = core_sprintf("%s.md", out);
        st = core_file_write_atomic(py, y, strlen(y));
        if (st == CORE_OK)
            st = core_file_write_atomic(pm, md, strlen(md));
        if (st != CORE_OK)
            rc = cli_fail(st);
        else
            fprintf(stderr, "data audit: %s: %zu recordings, %zu admitted, %zu excluded -> %s, %s\n",
                    data_audit_state(&a), a.n_rec, a.admitted, a.excluded, py, pm);
        free(py);
        free(pm);
    } else {
        fputs(y, stdout);
    }
    if (rc == CLI_OK && a.batches_unreadable)
        fprintf(stderr, "troupe: %zu batch%s could not be read at all (see the report)\n",
                a.batches_unreadable, a.batches_unreadable == 1 ? "" : "es");
    if (rc == CLI_OK && !strcmp(data_audit_state(&a), "fail"))
        rc = CLI_FAILED;
    free(y);
    free(md);
    data_audit_free(&a);
    return rc;
}

static int parse_roles(const char *s, int *roles)
{
    *roles = 0;
    for (const char *p = s; *p;) {
        size_t len = strcspn(p, ",");
        if (len == 8 && !strncmp(p, "licensor", 8))
            *roles |= DATA_ROLE_LICENSOR;
        else if (len == 7 && !strncmp(p, "curator", 7))
            *roles |= DATA_ROLE_CURATOR;
        else if (len == 10 && !strncmp(p, "controller", 10))
            *roles |= DATA_ROLE_CONTROLLER;
        else
            return -1;
        p += len + (p[len] == ',');
    }
    return *roles ? 0 : -1;
}

static int cmd_keygen(int argc, char **argv)
{
    const char *owner = NULL, *roles_s = NULL, *out = NULL, *from = NULL, *until = NULL;
    const cli_opt opts[] = {
        {"owner", 0, CLI_STR, &owner, "NAME", "organisation or person that holds the key"},
        {"roles", 0, CLI_STR, &roles_s, "LIST", "licensor, curator and/or controller"},
        {"valid-from", 0, CLI_STR, &from, "TIME", "start of validity (default: now)"},
        {"valid-until", 0, CLI_STR, &until, "TIME", "end of validity (default: two years on)"},
        {"output", 'o', CLI_STR, &out, "NAME", "writes NAME.secret (0600) and NAME.pub.yaml"},
    };
    const cli_spec spec = {"data keygen",
                           "troupe data keygen --owner NAME --roles LIST -o NAME",
                           "Makes an Ed25519 key pair: NAME.secret (keep it private) and "
                           "NAME.pub.yaml, a keyring\nentry to add under 'keys:' of the "
                           "keyring that verifiers trust.",
                           opts, sizeof opts / sizeof *opts, 0, 0, NULL};
    const char **pos;
    size_t np;
    int rc, roles;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    free(pos);
    if (!owner || !roles_s || !out)
        return cli_usage_error("%s: --owner, --roles and -o are required", spec.name);
    if (parse_roles(roles_s, &roles) != 0)
        return cli_usage_error("%s: --roles '%s': use licensor, curator, controller", spec.name,
                               roles_s);
    int64_t nb = (int64_t)time(NULL), na;
    if (from && !data_time_parse(from, &nb))
        return cli_usage_error("%s: --valid-from '%s' is not YYYY-MM-DDTHH:MM:SSZ", spec.name,
                               from);
    na = nb + 2 * 366 * 86400;
    if (until && !data_time_parse(until, &na))
        return cli_usage_error("%s: --valid-until '%s' is not YYYY-MM-DDTHH:MM:SSZ", spec.name,
                               until);
    core_status st = data_keygen(out, owner, roles, nb, na);
    if (st != CORE_OK)
        return cli_fail(st);
    printf("data keygen: wrote %s.secret (private, mode 0600) and %s.pub.yaml (keyring entry)\n",
           out, out);
    return CLI_OK;
}

/* The payload type from --type or from the file's `schema` key. */
static const char *payload_type(const char *cmd, const char *type, const char *file)
{
    static const char *const map[][3] = {
        {"manifest", "troupe.manifest/1", DATA_TYPE_MANIFEST},
        {"consent", "troupe.consent/1", DATA_TYPE_CONSENT},
        {"revocations", "troupe.revocations/1", DATA_TYPE_REVOCATIONS},
        {"lineage", "troupe.lineage/1", DATA_TYPE_LINEAGE}};
    if (type) {
        for (int i = 0; i < 4; i++)
            if (!strcmp(type, map[i][0]))
                return map[i][2];
        cli_usage_error("%s: --type '%s': use manifest, consent, revocations or lineage", cmd,
                        type);
        return NULL;
    }
    core_yaml_doc *doc;
    if (core_yaml_load(file, NULL, &doc) != CORE_OK) {
        cli_fail(core_error_code());
        return NULL;
    }
    const core_yaml_node *s = core_yaml_get(core_yaml_root(doc), "schema");
    const char *found = NULL;
    for (int i = 0; s && s->kind == CORE_YAML_SCALAR && i < 4; i++)
        if (!strcmp(s->str, map[i][1]))
            found = map[i][2];
    core_yaml_free(doc);
    if (!found)
        cli_usage_error("%s: %s: no known 'schema' key; give --type", cmd, file);
    return found;
}

/* Parses a command on one signed FILE whose option `*required` (named `what`) must be
 * given, and finds the payload type (--type or the file's schema). *file is NULL when the
 * command is done (--help) or failed (the error printed); returns the exit code so far. */
static int parse_signed_file(const cli_spec *spec, int argc, char **argv,
                             const char *const *required, const char *what, const char *type,
                             const char **file, const char **pt)
{
    const char **pos;
    size_t np;
    int rc;
    *file = NULL;
    if (!cli_parse(spec, argc, argv, &pos, &np, &rc))
        return rc;
    const char *f = pos[0];
    free(pos);
    if (!*required)
        return cli_usage_error("%s: %s is required", spec->name, what);
    if (!(*pt = payload_type(spec->name, type, f)))
        return CLI_USAGE;
    *file = f;
    return CLI_OK;
}

static int cmd_sign(int argc, char **argv)
{
    const char *key = NULL, *type = NULL, *env = NULL;
    const cli_opt opts[] = {
        {"key", 0, CLI_STR, &key, "FILE", "secret key from data keygen"},
        {"type", 0, CLI_STR, &type, "TYPE", "manifest, consent, revocations or lineage (default: "
                                            "from the file's schema key)"},
        {"output", 'o', CLI_STR, &env, "FILE", "envelope (default: FILE.dsse.json)"},
    };
    const cli_spec spec = {"data sign", "troupe data sign FILE --key NAME.secret",
                           "Signs the exact bytes of FILE (DSSE v1, Ed25519). If the envelope "
                           "exists and is for the\nsame bytes, the signature is added to it "
                           "(co-signing: licensor and curator).",
                           opts, sizeof opts / sizeof *opts, 1, 1, NULL};
    const char *file, *pt;
    int rc = parse_signed_file(&spec, argc, argv, &key, "--key", type, &file, &pt);
    if (rc != CLI_OK || !file)
        return rc;
    char *def = env ? NULL : core_sprintf("%s.dsse.json", file);
    core_status st = data_sign_file(file, pt, key, env ? env : def);
    if (st == CORE_OK)
        printf("data sign: signed %s -> %s\n", file, env ? env : def);
    free(def);
    return cli_fail(st);
}

static int cmd_verify(int argc, char **argv)
{
    const char *keyring = NULL, *type = NULL, *env = NULL, *at = NULL;
    const cli_opt opts[] = {
        {"keyring", 'k', CLI_STR, &keyring, "FILE", "trusted keys"},
        {"type", 0, CLI_STR, &type, "TYPE", "payload type (default: from the file's schema)"},
        {"envelope", 'e', CLI_STR, &env, "FILE", "envelope (default: FILE.dsse.json)"},
        {"at", 0, CLI_STR, &at, "TIME", "time the keys must be valid at (default: now)"},
    };
    const cli_spec spec = {"data verify", "troupe data verify FILE --keyring K",
                           "Checks the envelope of FILE against its exact bytes and the keyring; "
                           "prints who signed\nand with which roles. Exit 1 if any signature "
                           "fails.",
                           opts, sizeof opts / sizeof *opts, 1, 1, NULL};
    const char *file, *pt;
    int rc = parse_signed_file(&spec, argc, argv, &keyring, "--keyring", type, &file, &pt);
    if (rc != CLI_OK || !file)
        return rc;
    int64_t t = (int64_t)time(NULL);
    if (at && !data_time_parse(at, &t))
        return cli_usage_error("%s: --at '%s' is not YYYY-MM-DDTHH:MM:SSZ", spec.name, at);
    data_keyring kr;
    core_status st = data_keyring_load(keyring, &kr);
    if (st != CORE_OK)
        return cli_fail(st);
    char *def = env ? NULL : core_sprintf("%s.dsse.json", file);
    data_sig_report rep;
    st = data_verify_file(file, pt, env ? env : def, &kr, t, t, &rep);
    free(def);
    if (st == CORE_OK) {
        printf("%s: %d valid signature%s\n", file, rep.n_valid, rep.n_valid == 1 ? "" : "s");
        for (int i = 0; i < rep.n_valid && i < 4; i++) {
            const char *owner = "?";
            for (size_t k = 0; k < kr.n; k++)
                if (!strcmp(kr.keys[k].keyid, rep.signers[i]))
                    owner = kr.keys[k].owner;
            printf("  %s  %s  [%s%s%s]\n", rep.signers[i], owner,
                   rep.signer_roles[i] & DATA_ROLE_LICENSOR ? " licensor" : "",
                   rep.signer_roles[i] & DATA_ROLE_CURATOR ? " curator" : "",
                   rep.signer_roles[i] & DATA_ROLE_CONTROLLER ? " controller" : "");
        }
        rc = CLI_OK;
    } else {
        fprintf(stderr, "troupe: %s: %s\n", rep.code, rep.problem);
        rc = CLI_FAILED;
    }
    data_keyring_free(&kr);
    return rc;
}

/* Parses a command whose one argument is a YAML file and loads it; *doc is NULL when the
 * command is done (--help) or failed (the error is printed). Returns the exit code so far. */
static int parse_yaml_arg(const cli_spec *spec, int argc, char **argv, core_yaml_doc **doc)
{
    const char **pos;
    size_t np;
    int rc;
    *doc = NULL;
    if (!cli_parse(spec, argc, argv, &pos, &np, &rc))
        return rc;
    core_status st = core_yaml_load(pos[0], NULL, doc);
    free(pos);
    return st == CORE_OK ? CLI_OK : cli_fail(st);
}

static int cmd_canon(int argc, char **argv)
{
    const char *out = NULL;
    const cli_opt opts[] = {{"output", 'o', CLI_STR, &out, "FILE", "write here (default: stdout)"}};
    const cli_spec spec = {"data canon", "troupe data canon FILE [-o OUT]",
                           "Prints FILE in the canonical YAML profile troupe-cyaml/1 (sorted "
                           "keys, quoted scalars,\nblock style), the form CAN-001 expects. Sign "
                           "the canonical bytes.",
                           opts, 1, 1, 1, NULL};
    core_yaml_doc *doc;
    int rc = parse_yaml_arg(&spec, argc, argv, &doc);
    if (rc != CLI_OK || !doc)
        return rc;
    core_status st = CORE_OK;
    char *y = data_canonical_yaml(doc);
    core_yaml_free(doc);
    if (!y)
        return cli_fail(core_error_code());
    if (out)
        st = core_file_write_atomic(out, y, strlen(y));
    else
        fputs(y, stdout);
    free(y);
    return cli_fail(st);
}

/* A member's scalar text, or "" (the Merkle leaves of an unchecked manifest). */
static const char *scalar_of(const core_yaml_node *map, const char *key)
{
    const core_yaml_node *v = core_yaml_get(map, key);
    return v && v->kind == CORE_YAML_SCALAR ? v->str : "";
}

static int cmd_merkle(int argc, char **argv)
{
    const cli_spec spec = {"data merkle", "troupe data merkle MANIFEST",
                           "Prints the record count and Merkle root of the recordings of a "
                           "manifest, the values its\n'integrity' map must hold "
                           "(docs/governance.md defines the leaves).",
                           NULL, 0, 1, 1, NULL};
    core_yaml_doc *doc;
    int rc = parse_yaml_arg(&spec, argc, argv, &doc);
    if (rc != CLI_OK || !doc)
        return rc;
    const core_yaml_node *recs = core_yaml_get(core_yaml_root(doc), "recordings");
    size_t n = recs && recs->kind == CORE_YAML_SEQ ? recs->n : 0;
    data_leaf *l = calloc(n ? n : 1, sizeof *l);
    for (size_t i = 0; l && i < n; i++) {
        const core_yaml_node *r = recs->items[i];
        int64_t bytes = -1;
        const char *b = scalar_of(r, "bytes");
        if (*b)
            core_parse_i64(b, &bytes);
        const char *cid = scalar_of(r, "consent_id");
        l[i] = (data_leaf){scalar_of(r, "recording_id"), scalar_of(r, "sha256"),
                           scalar_of(r, "speaker_id"), *cid ? cid : NULL, scalar_of(r, "licence"),
                           bytes};
    }
    uint8_t root[32];
    char hex[CORE_SHA256_HEX];
    data_merkle_root(l, n, root);
    core_hex(hex, root, 32);
    printf("record_count: \"%zu\"\nmerkle_root: \"%s\"\n", n, hex);
    free(l);
    core_yaml_free(doc);
    return CLI_OK;
}

static int cmd_hash(int argc, char **argv)
{
    const cli_spec spec = {"data hash", "troupe data hash FILE...",
                           "Prints the SHA-256 and byte length of each file, as a manifest's "
                           "'sha256' and 'bytes' fields\n"
                           "want them.",
                           NULL, 0, 1, 100000, NULL};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    rc = CLI_OK;
    for (size_t i = 0; i < np; i++) {
        uint8_t h[CORE_SHA256_BYTES];
        uint64_t bytes;
        char hex[CORE_SHA256_HEX];
        core_status st = core_sha256_file(pos[i], h, &bytes);
        if (st != CORE_OK) {
            rc = cli_fail(st);
            continue;
        }
        core_hex(hex, h, sizeof h);
        printf("sha256: \"%s\"  bytes: \"%llu\"  %s\n", hex, (unsigned long long)bytes, pos[i]);
    }
    free(pos);
    return rc;
}

static int cmd_synth(int argc, char **argv)
{
    cli_config_opts c = {0};
    const char *personas = NULL, *out = NULL;
    const cli_opt opts[] = {
        {"personas", 0, CLI_STR, &personas, "FILE", "persona matrix (personas.h5)"},
        {"output", 'o', CLI_STR, &out, "DIR", "folder to create with the corpus"},
        CLI_CONFIG_OPTS(c),
    };
    const cli_spec spec = {"data synth", "troupe data synth --personas personas.h5 -o DIR",
                           "Makes the embedded corpus: multi-turn spoken dialogues, user turns "
                           "spoken by espeak-ng voices\nwith labelled paralinguistic cues, "
                           "replies in each dialogue's persona style, written as signed\n"
                           "train/validation/test batches with a few planted problems "
                           "(docs/corpus.md).",
                           opts, sizeof opts / sizeof *opts, 0, 0,
                           "Example:\n  troupe data synth --personas personas.h5 -o corpus "
                           "--set dialogues=200"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    free(pos);
    data_synth_cfg cfg;
    bool done;
    if ((rc = cli_config_load(&data_synth_schema, &c, &cfg, &done)) != CLI_OK || done)
        return rc;
    if (!personas || !out) {
        core_cfg_free(&data_synth_schema, &cfg);
        return cli_usage_error("%s: --personas FILE and -o DIR are required", spec.name);
    }
    data_synth_stats s;
    core_status st = data_synth(&cfg, personas, out, &s);
    if (st == CORE_OK) {
        printf("data synth: %zu dialogues, %zu utterances (%zu planted problems), %zu speakers, "
               "in %.1f s\n",
               s.dialogues, s.utterances, s.planted, s.speakers, s.wall_seconds);
        for (int k = 0; k < 3; k++)
            printf("data synth: %-10s %4zu utterances, %6.1f s of speech -> %s/%s/\n",
                   k == 0 ? "train" : k == 1 ? "validation" : "test", s.per_split[k],
                   s.seconds[k], out, k == 0 ? "train" : k == 1 ? "validation" : "test");
        printf("data synth: keyring %s/keyring.yaml, revocations %s/revocations/\n", out, out);
    }
    core_cfg_free(&data_synth_schema, &cfg);
    return cli_fail(st);
}

int cli_data_main(int argc, char **argv)
{
    static const cli_command cmds[] = {
        {"ingest", cmd_ingest, "verify batches and write training shards"},
        {"synth", cmd_synth, "make the embedded synthetic corpus (signed batches)"},
        {"audit", cmd_audit, "run the admission checks and write the audit report"},
        {"keygen", cmd_keygen, "make an Ed25519 key pair and its keyring entry"},
        {"sign", cmd_sign, "sign a manifest, consent record or revocation list (DSSE)"},
        {"verify", cmd_verify, "check a file's DSSE envelope against a keyring"},
        {"canon", cmd_canon, "print a YAML file in the canonical profile"},
        {"merkle", cmd_merkle, "print a manifest's record count and Merkle root"},
        {"hash", cmd_hash, "print files' SHA-256 and byte length for a manifest"},
    };
    return cli_dispatch("data",
                        "Licensed recordings with signed consent manifests in, training shards "
                        "out. See docs/data.md\nand docs/governance.md.",
                        cmds, sizeof cmds / sizeof *cmds, argc, argv);
}
