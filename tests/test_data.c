/* Tests of data governance and ingest: every admission check with a passing and a failing
 * batch, the DSSE round trip, the Merkle root, canonical YAML, report determinism,
 * idempotent ingest and the quarantine accounting. Batches are built here: audio written
 * with libsndfile, manifests and consent records as YAML, signed with test keys. */
#include "data/data.h"
#include "tests/runner.h"

#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];
static int counter;

/* Evaluation time of every audit: 2026-11-23T12:00:00Z. */
#define NOW "2026-11-23T12:00:00Z"

/* ---------------------------------------------------------------- keys */

typedef struct tkey {
    uint8_t seed[32], pk[32], sk[64];
    char keyid[80];
    char secret_path[300];
} tkey;

static tkey licensor, curator, controller, stranger;

static void make_key(tkey *k, uint8_t fill, const char *name)
{
    memset(k->seed, fill, sizeof k->seed);
    core_ed25519_keypair(k->pk, k->sk, k->seed);
    data_keyid(k->pk, k->keyid);
    snprintf(k->secret_path, sizeof k->secret_path, "%s/%s.secret", tmpdir, name);
    char *b64 = core_base64_encode(k->seed, 32);
    FILE *f = fopen(k->secret_path, "w");
    fprintf(f, "schema: \"troupe.secret-key/1\"\nkeyid: \"%s\"\nowner: \"%s\"\nseed: \"%s\"\n",
            k->keyid, name, b64);
    fclose(f);
    free(b64);
}

static void keyring_entry(FILE *f, const tkey *k, const char *owner, const char *roles,
                          const char *not_before, const char *revoked)
{
    char *b64 = core_base64_encode(k->pk, 32);
    fprintf(f,
            "  - keyid: \"%s\"\n    public_key: \"%s\"\n    owner: \"%s\"\n    roles: [%s]\n"
            "    not_before: \"%s\"\n    not_after: \"2030-01-01T00:00:00Z\"\n"
            "    revoked_at: %s\n",
            k->keyid, b64, owner, roles, not_before, revoked);
    free(b64);
}

/* ---------------------------------------------------------------- batch builder */

/* Faults to plant. Recording 1 of each batch is the one that breaks; 0 and 2 stay valid. */
typedef struct spec {
    const char *rec_extra;       /* extra YAML lines in recording 1 */
    const char *rec_path;        /* its path */
    const char *rec_sha;         /* its sha256 */
    int rec_rate;                /* its declared sample rate */
    const char *rec_licence, *rec_contract, *rec_method, *rec_source, *rec_recorded_at;
    const char *rec_language, *rec_transcript, *rec_transcript_sha, *rec_labels, *rec_speaker;
    const char *rec_consent;
    const char *con_history, *con_status, *con_allowed, *con_prohibited, *con_replica,
        *con_biometric, *con_territory, *con_term_start, *con_term_end, *con_signatory,
        *con_guardian;
    bool con_minor, con_unsigned, con_form_tamper;
    bool skip_curator, tamper_manifest, noncanonical, extra_audio, licref_tamper, stranger_sign;
    const char *merkle, *use_class, *tmd_training, *contract_end, *contract_exclude;
    const char *rev_next_update, *rev_entries;
    bool rev_unsigned, no_revocations;
    const char *licensor_not_before, *licensor_revoked;
    bool corrupt_audio, nan_audio, truncate_audio, symlink_audio, zero_audio;
    bool forge_signature, drop_envelope, alias_in_manifest;
} spec;

typedef struct built {
    char dir[300], keyring[300], revocations[300];
    char ids[3][64];
} built;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void sha_hex(const char *path, char hex[65], long long *bytes)
{
    uint8_t h[32];
    uint64_t n = 0;
    core_sha256_file(path, h, &n);
    core_hex(hex, h, 32);
    if (bytes)
        *bytes = (long long)n;
}

static void sha_text(const char *text, char hex[65])
{
    uint8_t h[32];
    core_sha256(h, text, strlen(text));
    core_hex(hex, h, 32);
}

/* Rewrites a YAML file in canonical form (so that CAN-001 passes). */
static void canonicalise(const char *path)
{
    core_yaml_doc *doc;
    if (core_yaml_load(path, NULL, &doc) != CORE_OK) {
        printf("    canonicalise %s: %s\n", path, core_error_message());
        return;
    }
    char *c = data_canonical_yaml(doc);
    write_text(path, c);
    free(c);
    core_yaml_free(doc);
}

static void write_wav(const char *path, int rate, int frames, double freq, int flavour)
{
    SF_INFO info = {.samplerate = rate, .channels = 1};
    info.format = flavour == 1 ? (SF_FORMAT_WAV | SF_FORMAT_FLOAT) : (SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    float *x = malloc((size_t)frames * sizeof *x);
    for (int i = 0; i < frames; i++)
        x[i] = 0.3f * (float)sin(2 * M_PI * freq * i / rate);
    if (flavour == 1)
        x[frames / 2] = NAN;
    sf_writef_float(f, x, frames);
    sf_close(f);
    free(x);
}

static void sign(const char *path, const char *type, const tkey *k)
{
    char env[400];
    snprintf(env, sizeof env, "%s.dsse.json", path);
    core_status st = data_sign_file(path, type, k->secret_path, env);
    if (st != CORE_OK)
        printf("    sign %s: %s\n", path, core_error_message());
}

static void build(const spec *s, const char *name, built *b)
{
    snprintf(b->dir, sizeof b->dir, "%s/%s-%d", tmpdir, name, counter++);
    char p[600], q[600];
    snprintf(p, sizeof p, "%s/audio", b->dir);
    core_mkdir_p(p);
    snprintf(p, sizeof p, "%s/consent/forms", b->dir);
    core_mkdir_p(p);
    snprintf(p, sizeof p, "%s/licences", b->dir);
    core_mkdir_p(p);

    /* keyring and revocations live beside the batch */
    snprintf(b->keyring, sizeof b->keyring, "%s.keyring.yaml", b->dir);
    FILE *f = fopen(b->keyring, "w");
    fprintf(f, "schema: \"troupe.keyring/1\"\nkeys:\n");
    keyring_entry(f, &licensor, "Acme Voices", "\"licensor\"",
                  s->licensor_not_before ? s->licensor_not_before : "2025-01-01T00:00:00Z",
                  s->licensor_revoked ? s->licensor_revoked : "null");
    keyring_entry(f, &curator, "Acme Data Desk", "\"curator\"", "2025-01-01T00:00:00Z", "null");
    keyring_entry(f, &controller, "Acme Voices", "\"controller\"", "2025-01-01T00:00:00Z",
                  "null");
    fclose(f);
    snprintf(b->revocations, sizeof b->revocations, "%s.revocations", b->dir);
    core_mkdir_p(b->revocations);
    if (!s->no_revocations) {
        snprintf(p, sizeof p, "%s/acme.yaml", b->revocations);
        f = fopen(p, "w");
        fprintf(f,
                "schema: \"troupe.revocations/1\"\nlist_id: \"acme-rev\"\nissuer: \"Acme Voices\"\n"
                "sequence: \"1\"\nthis_update: \"2026-11-01T00:00:00Z\"\nnext_update: \"%s\"\n"
                "previous_list_sha256: null\nentries: %s\n",
                s->rev_next_update ? s->rev_next_update : "2026-12-31T00:00:00Z",
                s->rev_entries ? s->rev_entries : "[]");
        fclose(f);
        canonicalise(p);
        if (!s->rev_unsigned)
            sign(p, DATA_TYPE_REVOCATIONS, &controller);
    }

    /* licence text and consent form */
    snprintf(p, sizeof p, "%s/licences/LicenseRef-Acme-Voice-1.txt", b->dir);
    write_text(p, "Acme voice licence: training of speech models permitted.\n");
    char lic_sha[65], form_sha[65];
    sha_hex(p, lic_sha, NULL);
    if (s->licref_tamper)
        write_text(p, "Acme voice licence: anything goes.\n");
    snprintf(p, sizeof p, "%s/consent/forms/form-v3.txt", b->dir);
    write_text(p, "I agree that recordings of my voice may be used to train speech models.\n");
    sha_hex(p, form_sha, NULL);
    if (s->con_form_tamper)
        write_text(p, "I agree to everything.\n");

    /* consent records: one per recording */
    char consent_refs[3][400];
    for (int i = 0; i < 3; i++) {
        bool v = i == 1;
        char id[64];
        snprintf(id, sizeof id, "cons-%d", i);
        snprintf(p, sizeof p, "%s/consent/%s.yaml", b->dir, id);
        f = fopen(p, "w");
        fprintf(
            f,
            "schema: \"troupe.consent/1\"\nconsent_id: \"%s\"\nsubject: \"spk-%d\"\n"
            "created_at: \"2026-01-05T00:00:00Z\"\nstatus: \"%s\"\nstatus_history: %s\n"
            "legal_basis: \"consent\"\nmethod: \"signed_form\"\n"
            "form: {id: \"form-v3\", language: \"en\", path: \"consent/forms/form-v3.txt\", "
            "sha256: \"%s\"}\n"
            "signatory: \"%s\"\nsubject_is_minor: \"%s\"\nguardian_ref: %s\n"
            "representation: \"none\"\ncompensation_ref: \"PAY-%d\"\n"
            "scope:\n  purposes_allowed: %s\n  purposes_prohibited: %s\n"
            "  digital_replica: %s\n  biometric: %s\n  commercial: \"true\"\n"
            "  territory_include: %s\n  territory_exclude: []\n  term_start: \"%s\"\n"
            "  term_end: \"%s\"\n  on_expiry: \"stop new training; keep trained models\"\n"
            "revocation: {revocable: \"true\", channel: \"privacy@acme.example\", "
            "effect_on_models: \"retrain within 90 days\"}\n",
            id, i, v && s->con_status ? s->con_status : "given",
            v && s->con_history ? s->con_history
                                : "[{status: \"given\", at: \"2026-01-05T00:00:00Z\"}]",
            form_sha, v && s->con_signatory ? s->con_signatory : "subject",
            v && s->con_minor ? "true" : "false", v && s->con_guardian ? s->con_guardian : "null",
            i,
            v && s->con_allowed ? s->con_allowed
                                : "[\"training\", \"paralinguistic_modelling\", \"evaluation\"]",
            v && s->con_prohibited ? s->con_prohibited : "[\"voice_cloning\"]",
            v && s->con_replica ? s->con_replica : "{allowed: \"false\", description: null}",
            v && s->con_biometric ? s->con_biometric : "{allowed: \"false\", legal_basis: null}",
            v && s->con_territory ? s->con_territory : "[\"GB\", \"US\", \"CN\"]",
            v && s->con_term_start ? s->con_term_start : "2026-01-01T00:00:00Z",
            v && s->con_term_end ? s->con_term_end : "2028-12-31T00:00:00Z");
        fclose(f);
        canonicalise(p);
        if (!(v && s->con_unsigned))
            sign(p, DATA_TYPE_CONSENT, &controller);
        char sha[65];
        sha_hex(p, sha, NULL);
        snprintf(consent_refs[i], sizeof consent_refs[i],
                 "  - {id: \"%s\", path: \"consent/%s.yaml\", sha256: \"%s\"}\n", id, id, sha);
    }

    /* audio and recording entries */
    char recs[3][3000];
    data_leaf leaves[3];
    char shas[3][65], speakers[3][32], consents[3][32];
    long long bytes[3];
    for (int i = 0; i < 3; i++) {
        bool v = i == 1;
        snprintf(b->ids[i], sizeof b->ids[i], "%s-r%d", name, i);
        snprintf(p, sizeof p, "%s/audio/%s.wav", b->dir, b->ids[i]);
        int frames = v && s->zero_audio ? 0 : 16000 + 800 * i;
        write_wav(p, 16000, frames, 220.0 * (i + 1) + counter, v && s->nan_audio ? 1 : 0);
        if (v && s->corrupt_audio) {
            FILE *g = fopen(p, "r+");
            fseek(g, 0, SEEK_SET);
            fputs("JUNKJUNKJUNKJUNKJUNKJUNKJUNKJUNKJUNKJUNKJUNK", g);
            fclose(g);
        }
        if (v && s->truncate_audio)
            truncate(p, 1000);
        sha_hex(p, shas[i], &bytes[i]);
        const char *text = v && s->rec_transcript ? s->rec_transcript : "hello there";
        char tsha[65];
        sha_text(text, tsha);
        snprintf(speakers[i], sizeof speakers[i], "%s", v && s->rec_speaker ? s->rec_speaker : "");
        if (!speakers[i][0])
            snprintf(speakers[i], sizeof speakers[i], "spk-%d", i);
        snprintf(consents[i], sizeof consents[i], "%s",
                 v && s->rec_consent ? s->rec_consent : "");
        if (!consents[i][0])
            snprintf(consents[i], sizeof consents[i], "cons-%d", i);
        char path[200];
        snprintf(path, sizeof path, "audio/%s.wav", b->ids[i]);
        const char *sha = v && s->rec_sha ? s->rec_sha : shas[i];
        snprintf(recs[i], sizeof recs[i],
                 "  - recording_id: \"%s\"\n    path: \"%s\"\n    media_type: \"audio/wav\"\n"
                 "    bytes: \"%lld\"\n    sha256: \"%s\"\n    sample_rate: \"%d\"\n"
                 "    channels: \"1\"\n    bit_depth: \"%d\"\n    duration_samples: \"%d\"\n"
                 "    speaker_id: \"%s\"\n    consent_id: \"%s\"\n    licence: \"%s\"\n"
                 "    contract_id: %s\n    collection_method: \"%s\"\n"
                 "    digital_source_type: \"%s\"\n    recorded_at: \"%s\"\n"
                 "    recorded_in: \"GB\"\n    language: \"%s\"\n"
                 "    transcript: {text: \"%s\", source: \"human\", sha256: \"%s\"}\n"
                 "    labels: %s\n"
                 "    dialogue: {dialogue_id: \"dlg-1\", turn: \"%d\", persona_id: "
                 "\"calm-tech\", history: \"\", response: \"Hi! How can I help?\"}\n%s",
                 b->ids[i], v && s->rec_path ? s->rec_path : path, bytes[i], sha,
                 v && s->rec_rate ? s->rec_rate : 16000, v && s->nan_audio ? 32 : 16, frames,
                 speakers[i], consents[i],
                 v && s->rec_licence ? s->rec_licence : "LicenseRef-Acme-Voice-1",
                 v && s->rec_contract ? s->rec_contract : "\"C-1\"",
                 v && s->rec_method ? s->rec_method : "licensed_voice_actor",
                 v && s->rec_source ? s->rec_source : "digitalCapture",
                 v && s->rec_recorded_at ? s->rec_recorded_at : "2026-02-01T10:00:00Z",
                 v && s->rec_language ? s->rec_language : "en", text,
                 v && s->rec_transcript_sha ? s->rec_transcript_sha : tsha,
                 v && s->rec_labels
                     ? s->rec_labels
                     : "[{label: \"laughter\", start_sample: \"100\", end_sample: \"900\", "
                       "annotator: \"ann-1\", method: \"human\"}, {label: \"emotion:happy\", "
                       "start_sample: \"0\", end_sample: \"16000\", annotator: \"ann-1\", "
                       "method: \"human\"}]",
                 i, v && s->rec_extra ? s->rec_extra : "");
        leaves[i] = (data_leaf){b->ids[i], sha, speakers[i], consents[i],
                                v && s->rec_licence ? s->rec_licence : "LicenseRef-Acme-Voice-1",
                                bytes[i]};
    }
    if (s->symlink_audio) {
        snprintf(p, sizeof p, "%s/audio/%s.wav", b->dir, b->ids[1]);
        snprintf(q, sizeof q, "%s/outside.wav", tmpdir);
        rename(p, q);
        symlink(q, p);
    }
    if (s->extra_audio) {
        snprintf(p, sizeof p, "%s/audio/stray.wav", b->dir);
        write_wav(p, 16000, 1600, 100, 0);
    }
    uint8_t root[32];
    char root_hex[65];
    data_merkle_root(leaves, 3, root);
    core_hex(root_hex, root, 32);
    snprintf(p, sizeof p, "%s/manifest.yaml", b->dir);
    f = fopen(p, "w");
    fprintf(f,
            "schema: \"troupe.manifest/1\"\nmanifest_id: \"%s\"\nmanifest_version: \"1.0.0\"\n"
            "created_at: \"2026-03-01T00:00:00Z\"\n"
            "producer: {organisation: \"Acme Voices\", role: \"licensor\"}\n"
            "controller: {organisation: \"Acme Voices\", jurisdiction: \"GB\"}\n"
            "batch:\n  title: \"Test batch\"\n  collection_method: \"licensed_voice_actor\"\n"
            "  collection_start: \"2026-01-01T00:00:00Z\"\n"
            "  collection_end: \"2026-06-30T00:00:00Z\"\n  languages: [\"en\", \"zh\"]\n"
            "  taxonomy: {id: \"troupe.paralinguistic\", version: \"1\"}\n"
            "licences:\n  - {id: \"LicenseRef-Acme-Voice-1\", path: "
            "\"licences/LicenseRef-Acme-Voice-1.txt\", sha256: \"%s\", use_class: \"%s\"}\n"
            "  - {id: \"CC-BY-NC-4.0\", path: null, sha256: null, use_class: \"non-commercial\"}\n"
            "contracts:\n  - {id: \"C-1\", sha256: \"%s\", term_start: \"2026-01-01T00:00:00Z\", "
            "term_end: \"%s\", territory_include: [\"GB\", \"US\", \"CN\"], territory_exclude: "
            "%s}\n"
            "training_mining_default: {ai_training: \"%s\", ai_generative_training: "
            "\"notAllowed\", ai_inference: \"allowed\", data_mining: \"notAllowed\"}\n"
            "consent_records:\n%s%s%s"
            "integrity: {merkle_root: \"%s\", record_count: \"3\"}\n"
            "recordings:\n%s%s%s",
            name, lic_sha, s->use_class ? s->use_class : "commercial", lic_sha,
            s->contract_end ? s->contract_end : "2029-01-01T00:00:00Z",
            s->contract_exclude ? s->contract_exclude : "[]",
            s->tmd_training ? s->tmd_training : "allowed", consent_refs[0], consent_refs[1],
            consent_refs[2], s->merkle ? s->merkle : root_hex, recs[0], recs[1], recs[2]);
    fclose(f);
    if (!s->noncanonical)
        canonicalise(p);
    sign(p, DATA_TYPE_MANIFEST, s->stranger_sign ? &stranger : &licensor);
    if (!s->skip_curator)
        sign(p, DATA_TYPE_MANIFEST, &curator);
    char envp[620];
    snprintf(envp, sizeof envp, "%s.dsse.json", p);
    if (s->forge_signature) {
        /* flip one character of the first signature, keeping valid base64 */
        char *e;
        size_t el;
        core_file_read(envp, 0, &e, &el);
        char *sig = strstr(e, "\"sig\": \"");
        if (sig)
            sig[10] = sig[10] == 'A' ? 'B' : 'A';
        write_text(envp, e);
        free(e);
    }
    if (s->drop_envelope)
        unlink(envp);
    if (s->alias_in_manifest) {
        FILE *g = fopen(p, "a");
        fputs("x_anchor: &a \"1\"\nx_alias: *a\n", g);
        fclose(g);
    }
    if (s->tamper_manifest) {
        FILE *g = fopen(p, "a");
        fputs("\n", g);
        fclose(g);
    }
}

static data_options options(const built *b, const char *purposes)
{
    data_options o = {.keyring = b->keyring, .revocations = b->revocations};
    data_purposes_parse(purposes ? purposes : "training,paralinguistic_modelling", &o.use.purposes);
    memcpy(o.use.territory, "GB", 3);
    data_time_parse(NOW, &o.use.at);
    o.use.horizon_days = 90;
    return o;
}

/* Audits one built batch. */
static void audit(const built *b, const data_options *o, data_audit *a)
{
    const char *batches[] = {b->dir};
    CHECK_EQ_INT(data_audit_run(batches, 1, o, a), CORE_OK);
}

static bool has_result(const data_audit *a, const char *code, data_severity sev,
                       const char *target_part)
{
    for (size_t i = 0; i < a->results.n; i++) {
        const data_result *r = &a->results.items[i];
        if (!strcmp(r->code, code) && r->sev == sev &&
            (!target_part || strstr(r->target, target_part)))
            return true;
    }
    return false;
}

static void dump(const data_audit *a)
{
    for (size_t i = 0; i < a->results.n; i++)
        if (a->results.items[i].sev <= DATA_WARN)
            printf("      %s %s %s\n", a->results.items[i].code, a->results.items[i].target,
                   a->results.items[i].explanation);
}

/* Builds a batch with `s`, audits it, and checks that recording 1 alone is excluded with
 * `code` (or, when `all` is set, that every recording is). */
static void expect_fail(const spec *s, const char *purposes, const char *code, bool all)
{
    built b;
    build(s, "case", &b);
    data_options o = options(&b, purposes);
    data_audit a;
    audit(&b, &o, &a);
    CHECK_EQ_INT(a.n_rec, 3);
    if (a.n_rec == 3) {
        CHECK(!a.rec[1].admitted);
        CHECK_CONTAINS(a.rec[1].codes, code);
        CHECK(a.rec[0].admitted == !all);
        CHECK(a.rec[2].admitted == !all);
        if (all)
            CHECK_CONTAINS(a.rec[0].codes, code);
        CHECK_EQ_INT(a.admitted + a.excluded, 3);
        if (!strstr(a.rec[1].codes, code) || a.rec[0].admitted == all)
            dump(&a);
    }
    CHECK(has_result(&a, code, DATA_FAIL, NULL));
    CHECK_STR(data_audit_state(&a), "fail");
    data_audit_free(&a);
}

static void expect_warn(const spec *s, const char *purposes, const char *code)
{
    built b;
    build(s, "warn", &b);
    data_options o = options(&b, purposes);
    o.use.deployment = "workplace";
    data_audit a;
    audit(&b, &o, &a);
    CHECK_EQ_INT(a.admitted, 3);
    CHECK(has_result(&a, code, DATA_WARN, NULL));
    if (a.admitted != 3 || !has_result(&a, code, DATA_WARN, NULL))
        dump(&a);
    CHECK_STR(data_audit_state(&a), "pass_with_warnings");
    data_audit_free(&a);
}

/* ---------------------------------------------------------------- the valid batch */

static void test_valid_batch_admits_every_recording_and_passes_each_check(void)
{
    built b;
    build(&(spec){0}, "valid", &b);
    data_options o = options(&b, NULL);
    data_audit a;
    audit(&b, &o, &a);
    CHECK_EQ_INT(a.admitted, 3);
    CHECK_EQ_INT(a.excluded, 0);
    CHECK_EQ_INT(a.speakers, 3);
    CHECK_STR(data_audit_state(&a), "pass");
    if (a.admitted != 3)
        dump(&a);
    const char *passes[] = {"SIG-001", "SIG-002", "SIG-003", "CAN-001", "SCH-001", "SCH-002",
                            "INT-001", "INT-002", "INT-003", "INT-005", "AUD-001", "LIC-001",
                            "LIC-002", "LIC-004", "CON-001", "CON-002", "CON-003", "CON-004",
                            "TMP-001", "TER-001", "REV-001", "REV-002", "LAB-001", "TRN-001"};
    for (size_t i = 0; i < sizeof passes / sizeof *passes; i++) {
        bool found = has_result(&a, passes[i], DATA_PASS, NULL);
        CHECK(found);
        if (!found)
            printf("    no pass result for %s\n", passes[i]);
    }
    CHECK(has_result(&a, "RPT-001", DATA_INFO, NULL));
    CHECK_EQ_INT(strlen(a.admitted_ids_sha256), 64);
    data_audit_free(&a);
}

/* ---------------------------------------------------------------- each check fails */

static void test_sig_001_rejects_tampered_manifest(void)
{
    expect_fail(&(spec){.tamper_manifest = true}, NULL, "SIG-001", true);
}

static void test_sig_001_rejects_forged_and_missing_signatures(void)
{
    expect_fail(&(spec){.forge_signature = true}, NULL, "SIG-001", true);
    expect_fail(&(spec){.drop_envelope = true}, NULL, "SIG-001", true);
}

static void test_sch_001_rejects_aliased_manifest_for_the_whole_batch(void)
{
    /* A manifest that does not parse has no recordings to list: the batch fails as a whole,
     * with the file, line and column. */
    built b;
    build(&(spec){.alias_in_manifest = true}, "alias", &b);
    data_options o = options(&b, NULL);
    data_audit a;
    audit(&b, &o, &a);
    CHECK_EQ_INT(a.n_rec, 0);
    CHECK_EQ_INT(a.admitted, 0);
    CHECK(has_result(&a, "SCH-001", DATA_FAIL, "manifest:"));
    bool named = false;
    for (size_t i = 0; i < a.results.n; i++)
        named |= strstr(a.results.items[i].explanation, "manifest.yaml:") &&
                 strstr(a.results.items[i].explanation, "anchors are not allowed");
    CHECK(named);
    CHECK_STR(data_audit_state(&a), "fail");
    data_audit_free(&a);
}

static void test_sig_002_needs_licensor_and_distinct_curator(void)
{
    expect_fail(&(spec){.skip_curator = true}, NULL, "SIG-002", true);
}

static void test_sig_003_rejects_unknown_key_and_key_outside_window(void)
{
    expect_fail(&(spec){.stranger_sign = true}, NULL, "SIG-003", true);
    expect_fail(&(spec){.licensor_not_before = "2026-06-01T00:00:00Z"}, NULL, "SIG-003", true);
    expect_fail(&(spec){.licensor_revoked = "\"2026-10-01T00:00:00Z\""}, NULL, "SIG-003", true);
}

static void test_can_001_warns_on_non_canonical_manifest(void)
{
    expect_warn(&(spec){.noncanonical = true}, NULL, "CAN-001");
}

static void test_sch_001_and_002_exclude_a_malformed_entry(void)
{
    expect_fail(&(spec){.rec_extra = "    mood: \"sunny\"\n"}, NULL, "SCH-001", false);
    expect_fail(&(spec){.rec_sha = "ABC"}, NULL, "SCH-002", false);
    expect_fail(&(spec){.rec_recorded_at = "yesterday"}, NULL, "SCH-002", false);
}

static void test_int_001_rejects_escaping_absolute_and_symlinked_paths(void)
{
    expect_fail(&(spec){.rec_path = "../outside.wav"}, NULL, "INT-001", false);
    expect_fail(&(spec){.rec_path = "/etc/passwd"}, NULL, "INT-001", false);
    expect_fail(&(spec){.rec_path = "audio/missing.wav"}, NULL, "INT-001", false);
    expect_fail(&(spec){.symlink_audio = true}, NULL, "INT-001", false);
}

static void test_int_002_rejects_wrong_hash(void)
{
    expect_fail(&(spec){.rec_sha = "0000000000000000000000000000000000000000000000000000000000000000"},
                NULL, "INT-002", false);
}

static void test_int_003_rejects_wrong_merkle_root(void)
{
    expect_fail(&(spec){.merkle = "1111111111111111111111111111111111111111111111111111111111111111"},
                NULL, "INT-003", true);
}

static void test_int_004_warns_on_unlisted_audio(void)
{
    expect_warn(&(spec){.extra_audio = true}, NULL, "INT-004");
}

static void test_int_005_rejects_ids_seen_twice_in_the_corpus(void)
{
    built b1, b2;
    build(&(spec){0}, "dup", &b1);
    build(&(spec){0}, "dup", &b2); /* same manifest id and recording ids */
    data_options o = options(&b1, NULL);
    const char *batches[] = {b1.dir, b2.dir};
    data_audit a;
    CHECK_EQ_INT(data_audit_run(batches, 2, &o, &a), CORE_OK);
    CHECK_EQ_INT(a.n_rec, 6);
    CHECK_EQ_INT(a.admitted, 3);
    if (a.n_rec == 6)
        CHECK_CONTAINS(a.rec[3].codes, "INT-005");
    data_audit_free(&a);
}

static void test_aud_001_rejects_lying_header_corrupt_truncated_and_nan_audio(void)
{
    expect_fail(&(spec){.rec_rate = 44100}, NULL, "AUD-001", false);
    expect_fail(&(spec){.corrupt_audio = true}, NULL, "AUD-001", false);
    expect_fail(&(spec){.truncate_audio = true}, NULL, "AUD-001", false);
    expect_fail(&(spec){.nan_audio = true}, NULL, "AUD-001", false);
    expect_fail(&(spec){.zero_audio = true}, NULL, "AUD-001", false);
}

static void test_lic_001_rejects_unlisted_licence_and_altered_text(void)
{
    expect_fail(&(spec){.rec_licence = "LicenseRef-Unknown"}, NULL, "LIC-001", false);
    built b;
    build(&(spec){.licref_tamper = true}, "lic", &b);
    data_options o = options(&b, NULL);
    data_audit a;
    audit(&b, &o, &a);
    CHECK_EQ_INT(a.admitted, 0);
    CHECK(has_result(&a, "LIC-001", DATA_FAIL, "licence:LicenseRef-Acme-Voice-1"));
    data_audit_free(&a);
}

static void test_lic_002_rejects_use_outside_licence_class_or_tdm_default(void)
{
    built b;
    build(&(spec){.rec_licence = "CC-BY-NC-4.0"}, "nc", &b);
    data_options o = options(&b, NULL);
    o.use.commercial = true;
    data_audit a;
    audit(&b, &o, &a);
    CHECK(!a.rec[1].admitted && strstr(a.rec[1].codes, "LIC-002"));
    CHECK(a.rec[0].admitted);
    data_audit_free(&a);
    o.use.commercial = false; /* the same batch, non-commercial use: admitted */
    audit(&b, &o, &a);
    CHECK_EQ_INT(a.admitted, 3);
    data_audit_free(&a);
    expect_fail(&(spec){.tmd_training = "notAllowed"}, NULL, "LIC-002", true);
}

static void test_lic_004_rejects_expired_contract_and_excluded_territory(void)
{
    expect_fail(&(spec){.contract_end = "2026-06-01T00:00:00Z"}, NULL, "LIC-004", true);
    expect_fail(&(spec){.contract_exclude = "[\"GB\"]"}, NULL, "LIC-004", true);
    expect_fail(&(spec){.rec_contract = "\"C-404\""}, NULL, "LIC-004", false);
}

static void test_con_001_rejects_wrong_subject_and_unsigned_record(void)
{
    expect_fail(&(spec){.rec_speaker = "spk-99"}, NULL, "CON-001", false);
    expect_fail(&(spec){.con_unsigned = true}, NULL, "CON-001", false);
    expect_fail(&(spec){.rec_consent = "cons-404"}, NULL, "CON-001", false);
}

static void test_con_002_rejects_withdrawn_or_late_consent(void)
{
    expect_fail(&(spec){.con_status = "withdrawn",
                        .con_history = "[{status: \"given\", at: \"2026-01-05T00:00:00Z\"}, "
                                       "{status: \"withdrawn\", at: \"2026-10-01T00:00:00Z\"}]"},
                NULL, "CON-002", false);
    expect_fail(&(spec){.con_history = "[{status: \"given\", at: \"2026-03-01T00:00:00Z\"}]"},
                NULL, "CON-002", false);
}

static void test_con_003_rejects_altered_consent_form(void)
{
    expect_fail(&(spec){.con_form_tamper = true}, NULL, "CON-003", true);
}

static void test_con_004_rejects_prohibited_or_unlisted_purpose(void)
{
    expect_fail(&(spec){.con_prohibited = "[\"paralinguistic_modelling\"]"}, NULL, "CON-004",
                false);
    expect_fail(&(spec){.con_allowed = "[\"training\"]"}, NULL, "CON-004", false);
}

static void test_con_005_voice_cloning_needs_specific_replica_grant(void)
{
    const char *cloning = "training,voice_cloning";
    spec ok = {.con_allowed = "[\"training\", \"voice_cloning\"]", .con_prohibited = "[]",
               .con_replica = "{allowed: \"true\", description: \"a synthetic voice for the "
                              "in-car assistant product line only\"}"};
    /* recordings 0 and 2 do not allow cloning: only recording 1 can pass */
    built b;
    build(&ok, "clone", &b);
    data_options o = options(&b, cloning);
    data_audit a;
    audit(&b, &o, &a);
    CHECK(a.rec[1].admitted);
    CHECK(has_result(&a, "CON-005", DATA_PASS, b.ids[1]));
    data_audit_free(&a);
    ok.con_replica = "{allowed: \"true\", description: null}";
    build(&ok, "clone", &b);
    audit(&b, &o, &a);
    CHECK(!a.rec[1].admitted && strstr(a.rec[1].codes, "CON-005"));
    data_audit_free(&a);
}

static void test_con_006_speaker_identification_needs_biometric_grant(void)
{
    spec s = {.con_allowed = "[\"training\", \"speaker_identification\"]",
              .con_biometric = "{allowed: \"false\", legal_basis: null}"};
    built b;
    build(&s, "bio", &b);
    data_options o = options(&b, "training,speaker_identification");
    data_audit a;
    audit(&b, &o, &a);
    CHECK(!a.rec[1].admitted && strstr(a.rec[1].codes, "CON-006"));
    data_audit_free(&a);
    s.con_biometric = "{allowed: \"true\", legal_basis: \"GDPR Art. 9(2)(a) explicit consent\"}";
    build(&s, "bio", &b);
    audit(&b, &o, &a);
    CHECK(a.rec[1].admitted);
    data_audit_free(&a);
}

static void test_con_007_warns_on_emotion_inference_at_work(void)
{
    built b;
    build(&(spec){.con_allowed = "[\"training\", \"emotion_inference\"]"}, "emo", &b);
    data_options o = options(&b, "training,emotion_inference");
    data_audit a;
    audit(&b, &o, &a); /* consumer deployment: no warning */
    CHECK(a.rec[1].admitted);
    CHECK(!has_result(&a, "CON-007", DATA_WARN, NULL));
    data_audit_free(&a);
    o.use.deployment = "workplace";
    audit(&b, &o, &a);
    CHECK(a.rec[1].admitted);
    CHECK(has_result(&a, "CON-007", DATA_WARN, b.ids[1]));
    data_audit_free(&a);
}

static void test_min_001_minor_needs_guardian(void)
{
    expect_fail(&(spec){.con_minor = true}, NULL, "MIN-001", false);
    built b;
    build(&(spec){.con_minor = true, .con_signatory = "guardian", .con_guardian = "\"cons-0\""},
          "minor", &b);
    data_options o = options(&b, NULL);
    data_audit a;
    audit(&b, &o, &a);
    CHECK(a.rec[1].admitted);
    CHECK(has_result(&a, "MIN-001", DATA_PASS, b.ids[1]));
    data_audit_free(&a);
}

static void test_tmp_001_and_002_consent_term(void)
{
    expect_fail(&(spec){.rec_recorded_at = "2025-12-01T00:00:00Z",
                        .con_history = "[{status: \"given\", at: \"2025-11-01T00:00:00Z\"}]"},
                NULL, "TMP-001", false);
    expect_warn(&(spec){.con_term_end = "2027-01-15T00:00:00Z"}, NULL, "TMP-002");
}

static void test_ter_001_rejects_territory_outside_consent(void)
{
    expect_fail(&(spec){.con_territory = "[\"US\"]"}, NULL, "TER-001", false);
}

static void test_rev_001_fails_closed_on_stale_unsigned_or_missing_lists(void)
{
    expect_fail(&(spec){.rev_next_update = "2026-11-20T00:00:00Z"}, NULL, "REV-001", true);
    expect_fail(&(spec){.rev_unsigned = true}, NULL, "REV-001", true);
    expect_fail(&(spec){.no_revocations = true}, NULL, "REV-001", true);
}

static void test_rev_002_and_003_withdrawals_and_suspensions(void)
{
    expect_fail(&(spec){.rev_entries = "[{entry_id: \"e1\", scope: \"consent\", target: "
                                       "\"cons-1\", kind: \"withdrawn\", purposes: [\"all\"], "
                                       "effective_at: \"2026-11-01T00:00:00Z\", "
                                       "required_actions: [\"exclude\"], deadline: null}]"},
                NULL, "REV-002", false);
    expect_fail(&(spec){.rev_entries = "[{entry_id: \"e1\", scope: \"speaker\", target: "
                                       "\"spk-1\", kind: \"suspended\", purposes: [\"all\"], "
                                       "effective_at: \"2026-11-01T00:00:00Z\", "
                                       "required_actions: [], deadline: null}]"},
                NULL, "REV-003", false);
    /* suspended, then reinstated: admitted */
    built b;
    build(&(spec){.rev_entries =
                      "[{entry_id: \"e1\", scope: \"speaker\", target: \"spk-1\", kind: "
                      "\"suspended\", purposes: [\"all\"], effective_at: "
                      "\"2026-10-01T00:00:00Z\", required_actions: [], deadline: null}, "
                      "{entry_id: \"e2\", scope: \"speaker\", target: \"spk-1\", kind: "
                      "\"reinstated\", purposes: [\"all\"], effective_at: "
                      "\"2026-11-01T00:00:00Z\", required_actions: [], deadline: null}]"},
          "reinstated", &b);
    data_options o = options(&b, NULL);
    data_audit a;
    audit(&b, &o, &a);
    CHECK_EQ_INT(a.admitted, 3);
    data_audit_free(&a);
    /* a withdrawal that only covers another purpose does not apply */
    build(&(spec){.rev_entries = "[{entry_id: \"e1\", scope: \"recording\", target: "
                                 "\"scoped-r1\", kind: \"withdrawn\", purposes: "
                                 "[\"voice_cloning\"], effective_at: \"2026-11-01T00:00:00Z\", "
                                 "required_actions: [], deadline: null}]"},
          "scoped", &b);
    audit(&b, &o, &a);
    CHECK_EQ_INT(a.admitted, 3);
    data_audit_free(&a);
}

static void test_lab_001_and_002_labels(void)
{
    expect_fail(&(spec){.rec_labels = "[{label: \"giggle\", start_sample: \"0\", end_sample: "
                                      "\"10\", annotator: \"a\", method: \"human\"}]"},
                NULL, "LAB-001", false);
    expect_fail(&(spec){.rec_labels = "[{label: \"laughter\", start_sample: \"10\", end_sample: "
                                      "\"99999\", annotator: \"a\", method: \"human\"}]"},
                NULL, "LAB-001", false);
    expect_warn(&(spec){.rec_labels = "[{label: \"sigh\", start_sample: \"0\", end_sample: "
                                      "\"10\", annotator: null, method: \"machine\"}]"},
                NULL, "LAB-002");
}

static void test_trn_001_transcript_hash_and_language(void)
{
    expect_fail(&(spec){.rec_transcript_sha =
                            "2222222222222222222222222222222222222222222222222222222222222222"},
                NULL, "TRN-001", false);
    expect_fail(&(spec){.rec_language = "fr"}, NULL, "TRN-001", false);
}

static void test_prv_001_warns_on_identifiers_in_free_text(void)
{
    expect_warn(&(spec){.rec_transcript = "call me at jane.doe@example.com"}, NULL, "PRV-001");
}

static void test_syn_001_synthetic_only_where_allowed(void)
{
    spec s = {.rec_method = "synthetic", .rec_source = "trainedAlgorithmicMedia",
              .rec_contract = "null"};
    expect_fail(&s, NULL, "SYN-001", false);
    built b;
    build(&s, "syn", &b);
    data_options o = options(&b, NULL);
    o.use.allow_synthetic = true;
    data_audit a;
    audit(&b, &o, &a);
    CHECK_EQ_INT(a.admitted, 3);
    CHECK(has_result(&a, "SYN-001", DATA_PASS, b.ids[1]));
    data_audit_free(&a);
    expect_fail(&(spec){.rec_source = "trainedAlgorithmicMedia"}, NULL, "SYN-001", false);
}

/* ---------------------------------------------------------------- mechanisms */

static void test_dsse_round_trip_and_cosigning(void)
{
    char p[300], env[320];
    snprintf(p, sizeof p, "%s/doc.yaml", tmpdir);
    snprintf(env, sizeof env, "%s.dsse.json", p);
    write_text(p, "schema: \"troupe.revocations/1\"\n");
    CHECK_EQ_INT(data_sign_file(p, DATA_TYPE_REVOCATIONS, licensor.secret_path, env), CORE_OK);
    CHECK_EQ_INT(data_sign_file(p, DATA_TYPE_REVOCATIONS, curator.secret_path, env), CORE_OK);
    CHECK_EQ_INT(data_sign_file(p, DATA_TYPE_REVOCATIONS, curator.secret_path, env),
                 CORE_ERR_CHECK); /* already signed by that key */
    built b;
    build(&(spec){0}, "kr", &b);
    data_keyring kr;
    CHECK_EQ_INT(data_keyring_load(b.keyring, &kr), CORE_OK);
    int64_t t;
    data_time_parse(NOW, &t);
    data_sig_report rep;
    CHECK_EQ_INT(data_verify_file(p, DATA_TYPE_REVOCATIONS, env, &kr, t, t, &rep), CORE_OK);
    CHECK_EQ_INT(rep.n_valid, 2);
    CHECK_EQ_INT(rep.roles_met, DATA_ROLE_LICENSOR | DATA_ROLE_CURATOR);
    /* wrong payload type, changed bytes */
    CHECK_EQ_INT(data_verify_file(p, DATA_TYPE_MANIFEST, env, &kr, t, t, &rep), CORE_ERR_CRYPTO);
    CHECK_STR(rep.code, "SIG-001");
    write_text(p, "schema: \"troupe.revocations/2\"\n");
    CHECK_EQ_INT(data_verify_file(p, DATA_TYPE_REVOCATIONS, env, &kr, t, t, &rep),
                 CORE_ERR_CRYPTO);
    CHECK_CONTAINS(rep.problem, "differs from the file's bytes");
    /* the PAE is exactly DSSE v1's */
    size_t n;
    uint8_t *pae = data_dsse_pae("t/x", (const uint8_t *)"hello", 5, &n);
    CHECK(n == 20 && !memcmp(pae, "DSSEv1 3 t/x 5 hello", 20));
    free(pae);
    data_keyring_free(&kr);
}

static void test_merkle_root_has_rfc6962_shape(void)
{
    data_leaf l[3] = {{"b", "h1", "s", "c", "L", 1}, {"a", "h0", "s", "c", "L", 2},
                      {"c", "h2", "s", NULL, "L", 3}};
    uint8_t root[32], la[32], lb[32], lc[32], ab[32], want[32];
    data_merkle_root(l, 3, root);
    /* by hand: leaves sorted by id a, b, c; MTH = H(1 || H(1 || a || b) || c) */
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%ca\nh0\n2\ns\nc\nL\n", 0);
    core_sha256(la, buf, (size_t)n);
    n = snprintf(buf, sizeof buf, "%cb\nh1\n1\ns\nc\nL\n", 0);
    core_sha256(lb, buf, (size_t)n);
    n = snprintf(buf, sizeof buf, "%cc\nh2\n3\ns\n\nL\n", 0);
    core_sha256(lc, buf, (size_t)n);
    uint8_t node[65];
    node[0] = 1;
    memcpy(node + 1, la, 32);
    memcpy(node + 33, lb, 32);
    core_sha256(ab, node, 65);
    memcpy(node + 1, ab, 32);
    memcpy(node + 33, lc, 32);
    core_sha256(want, node, 65);
    CHECK(!memcmp(root, want, 32));
    uint8_t empty[32], h[32];
    data_merkle_root(NULL, 0, empty);
    core_sha256(h, "", 0);
    CHECK(!memcmp(empty, h, 32));
}

static void test_report_is_byte_identical_for_the_same_inputs(void)
{
    built b;
    build(&(spec){.rec_rate = 22050}, "rpt", &b);
    data_options o = options(&b, NULL);
    data_audit a1, a2;
    audit(&b, &o, &a1);
    audit(&b, &o, &a2);
    char *y1 = data_audit_yaml(&a1, &o), *y2 = data_audit_yaml(&a2, &o);
    char *m1 = data_audit_markdown(&a1, &o), *m2 = data_audit_markdown(&a2, &o);
    CHECK_STR(y1, y2);
    CHECK_STR(m1, m2);
    CHECK_CONTAINS(y1, "state: \"fail\"");
    CHECK_CONTAINS(y1, "code: \"AUD-001\"");
    CHECK_CONTAINS(m1, "| AUD-001 |");
    /* the report is itself valid YAML */
    core_yaml_doc *doc;
    CHECK_EQ_INT(core_yaml_parse("audit.yaml", y1, strlen(y1), NULL, &doc), CORE_OK);
    core_yaml_free(doc);
    free(y1);
    free(y2);
    free(m1);
    free(m2);
    data_audit_free(&a1);
    data_audit_free(&a2);
}

static void test_ingest_accounts_for_every_recording_and_is_idempotent(void)
{
    built b;
    build(&(spec){.rec_sha = "3333333333333333333333333333333333333333333333333333333333333333"},
          "ing", &b);
    data_options o = options(&b, NULL);
    char out[400];
    snprintf(out, sizeof out, "%s/corpus", tmpdir);
    const char *batches[] = {b.dir};
    data_ingest_stats s;
    CHECK_EQ_INT(data_ingest(batches, 1, &o, out, 2, &s), CORE_OK);
    CHECK_EQ_INT(s.admitted, 2);
    CHECK_EQ_INT(s.excluded, 1);
    CHECK_EQ_INT(s.written, 2);
    char p[600];
    snprintf(p, sizeof p, "%s/shards/ing-00000.h5", out);
    struct stat st1, st2;
    CHECK(stat(p, &st1) == 0);
    hid_t f;
    CHECK_EQ_INT(core_h5_open(p, &f), CORE_OK);
    CHECK_EQ_INT(core_h5_check_format(f, p, "troupe.shard/1"), CORE_OK);
    int rank;
    hsize_t dims[8];
    uint64_t *off;
    CHECK_EQ_INT(core_h5_read(f, "/mel_offsets", CORE_H5_U64, &rank, dims, (void **)&off),
                 CORE_OK);
    CHECK_EQ_INT(dims[0], 3);
    CHECK_EQ_INT(off[1], 100); /* 1 s at 16 kHz: 16000 / 160 frames */
    CHECK_EQ_INT(off[2] - off[1], 110);
    free(off);
    char **ids;
    size_t n;
    CHECK_EQ_INT(core_h5_read_strs(f, "/provenance/recording_id", &ids, &n), CORE_OK);
    CHECK(n == 2 && !strcmp(ids[0], "ing-r0") && !strcmp(ids[1], "ing-r2"));
    core_strs_free(ids, n);
    int32_t *emo;
    CHECK_EQ_INT(core_h5_read(f, "/labels/emotion", CORE_H5_I32, &rank, dims, (void **)&emo),
                 CORE_OK);
    CHECK_EQ_INT(emo[0], 2); /* happy */
    free(emo);
    core_h5_close(f);
    /* The quarantine lists the excluded one with its code. */
    snprintf(p, sizeof p, "%s/quarantine.yaml", out);
    char *q;
    size_t ql;
    CHECK_EQ_INT(core_file_read(p, 0, &q, &ql), CORE_OK);
    CHECK_CONTAINS(q, "recording_id: \"ing-r1\"");
    CHECK_CONTAINS(q, "\"INT-002\"");
    free(q);
    /* Again, unchanged: nothing written anew. */
    snprintf(p, sizeof p, "%s/shards/ing-00000.h5", out);
    char ap[600];
    snprintf(ap, sizeof ap, "%s/audit.yaml", out);
    struct stat a1, a2;
    stat(ap, &a1);
    CHECK_EQ_INT(data_ingest(batches, 1, &o, out, 1, &s), CORE_OK);
    CHECK_EQ_INT(s.written, 0);
    CHECK_EQ_INT(s.skipped_unchanged, 2);
    CHECK(stat(p, &st2) == 0);
    CHECK(st1.st_ino == st2.st_ino && st1.st_mtime == st2.st_mtime);
    stat(ap, &a2);
    CHECK(a1.st_ino == a2.st_ino);
    /* A revoked consent changes the admitted set: the batch is processed again. */
    char rp[600];
    snprintf(rp, sizeof rp, "%s/acme.yaml", b.revocations);
    char prev_sha[65];
    sha_hex(rp, prev_sha, NULL);
    char *list = core_sprintf(
        "schema: \"troupe.revocations/1\"\nlist_id: \"acme-rev\"\nissuer: \"Acme Voices\"\n"
        "sequence: \"2\"\nthis_update: \"2026-11-10T00:00:00Z\"\nnext_update: "
        "\"2026-12-31T00:00:00Z\"\nprevious_list_sha256: \"%s\"\nentries: [{entry_id: \"e1\", "
        "scope: \"consent\", target: \"cons-2\", kind: \"withdrawn\", purposes: [\"all\"], "
        "effective_at: \"2026-11-10T00:00:00Z\", required_actions: [\"retrain\"], deadline: "
        "null}]\n",
        prev_sha);
    write_text(rp, list);
    free(list);
    canonicalise(rp);
    char env[620];
    snprintf(env, sizeof env, "%s.dsse.json", rp);
    unlink(env);
    sign(rp, DATA_TYPE_REVOCATIONS, &controller);
    CHECK_EQ_INT(data_ingest(batches, 1, &o, out, 2, &s), CORE_OK);
    CHECK_EQ_INT(s.admitted, 1);
    CHECK_EQ_INT(s.written, 1);
    /* Rolling back to sequence 1 is refused (the output keeps the chain). */
    list = core_sprintf("schema: \"troupe.revocations/1\"\nlist_id: \"acme-rev\"\nissuer: "
                        "\"Acme Voices\"\nsequence: \"1\"\nthis_update: "
                        "\"2026-11-01T00:00:00Z\"\nnext_update: \"2026-12-31T00:00:00Z\"\n"
                        "previous_list_sha256: null\nentries: []\n");
    write_text(rp, list);
    free(list);
    canonicalise(rp);
    unlink(env);
    sign(rp, DATA_TYPE_REVOCATIONS, &controller);
    CHECK_EQ_INT(data_ingest(batches, 1, &o, out, 2, &s), CORE_OK);
    CHECK_EQ_INT(s.admitted, 0);
    snprintf(p, sizeof p, "%s/audit.yaml", out);
    CHECK_EQ_INT(core_file_read(p, 0, &q, &ql), CORE_OK);
    CHECK_CONTAINS(q, "rollback");
    free(q);
}

static void test_canonical_yaml_sorts_keys_and_quotes_scalars(void)
{
    const char *text = "b: 1\na: [x, {d: null, c: 'y'}]\n";
    core_yaml_doc *doc;
    CHECK_EQ_INT(core_yaml_parse("t.yaml", text, strlen(text), NULL, &doc), CORE_OK);
    char *c = data_canonical_yaml(doc);
    CHECK_STR(c, "\"a\":\n- \"x\"\n- \"c\": \"y\"\n  \"d\": null\n\"b\": \"1\"\n");
    core_yaml_free(doc);
    /* canonical text is a fixed point */
    CHECK_EQ_INT(core_yaml_parse("c.yaml", c, strlen(c), NULL, &doc), CORE_OK);
    char *c2 = data_canonical_yaml(doc);
    CHECK_STR(c, c2);
    free(c);
    free(c2);
    core_yaml_free(doc);
}

static void test_purposes_and_times_parse_strictly(void)
{
    uint32_t m;
    CHECK_EQ_INT(data_purposes_parse("training,evaluation", &m), CORE_OK);
    CHECK_EQ_INT(m, (1u << 0) | (1u << 4));
    CHECK_EQ_INT(data_purposes_parse("trainig", &m), CORE_ERR_USAGE);
    CHECK_CONTAINS(core_error_message(), "did you mean 'training'");
    int64_t t;
    CHECK(data_time_parse("2026-02-28T23:59:59Z", &t));
    CHECK(!data_time_parse("2026-02-31T00:00:00Z", &t));
    CHECK(!data_time_parse("2026-02-01 00:00:00", &t));
    char buf[32];
    data_time_format(0, buf);
    CHECK_STR(buf, "1970-01-01T00:00:00Z");
}

int main(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "data"))
        return 1;
    core_log_set_level(CORE_LOG_ERROR);
    make_key(&licensor, 1, "licensor");
    make_key(&curator, 2, "curator");
    make_key(&controller, 3, "controller");
    make_key(&stranger, 4, "stranger");
    RUN(test_valid_batch_admits_every_recording_and_passes_each_check);
    RUN(test_sig_001_rejects_tampered_manifest);
    RUN(test_sig_001_rejects_forged_and_missing_signatures);
    RUN(test_sch_001_rejects_aliased_manifest_for_the_whole_batch);
    RUN(test_sig_002_needs_licensor_and_distinct_curator);
    RUN(test_sig_003_rejects_unknown_key_and_key_outside_window);
    RUN(test_can_001_warns_on_non_canonical_manifest);
    RUN(test_sch_001_and_002_exclude_a_malformed_entry);
    RUN(test_int_001_rejects_escaping_absolute_and_symlinked_paths);
    RUN(test_int_002_rejects_wrong_hash);
    RUN(test_int_003_rejects_wrong_merkle_root);
    RUN(test_int_004_warns_on_unlisted_audio);
    RUN(test_int_005_rejects_ids_seen_twice_in_the_corpus);
    RUN(test_aud_001_rejects_lying_header_corrupt_truncated_and_nan_audio);
    RUN(test_lic_001_rejects_unlisted_licence_and_altered_text);
    RUN(test_lic_002_rejects_use_outside_licence_class_or_tdm_default);
    RUN(test_lic_004_rejects_expired_contract_and_excluded_territory);
    RUN(test_con_001_rejects_wrong_subject_and_unsigned_record);
    RUN(test_con_002_rejects_withdrawn_or_late_consent);
    RUN(test_con_003_rejects_altered_consent_form);
    RUN(test_con_004_rejects_prohibited_or_unlisted_purpose);
    RUN(test_con_005_voice_cloning_needs_specific_replica_grant);
    RUN(test_con_006_speaker_identification_needs_biometric_grant);
    RUN(test_con_007_warns_on_emotion_inference_at_work);
    RUN(test_min_001_minor_needs_guardian);
    RUN(test_tmp_001_and_002_consent_term);
    RUN(test_ter_001_rejects_territory_outside_consent);
    RUN(test_rev_001_fails_closed_on_stale_unsigned_or_missing_lists);
    RUN(test_rev_002_and_003_withdrawals_and_suspensions);
    RUN(test_lab_001_and_002_labels);
    RUN(test_trn_001_transcript_hash_and_language);
    RUN(test_prv_001_warns_on_identifiers_in_free_text);
    RUN(test_syn_001_synthetic_only_where_allowed);
    RUN(test_dsse_round_trip_and_cosigning);
    RUN(test_merkle_root_has_rfc6962_shape);
    RUN(test_report_is_byte_identical_for_the_same_inputs);
    RUN(test_ingest_accounts_for_every_recording_and_is_idempotent);
    RUN(test_canonical_yaml_sorts_keys_and_quotes_scalars);
    RUN(test_purposes_and_times_parse_strictly);
    core_rmtree(tmpdir);
    return TEST_SUMMARY();
}
