/* Keys, DSSE envelopes, the Merkle root and canonical YAML: the cryptographic side of the
 * governance design (GOVERNANCE.md "Files of one licensed batch"). */
#include "data/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void data_keyid(const uint8_t pk[CORE_ED25519_PK_BYTES], char out[80])
{
    uint8_t h[CORE_SHA256_BYTES];
    core_sha256(h, pk, CORE_ED25519_PK_BYTES);
    memcpy(out, "ed25519:", 8);
    core_hex(out + 8, h, sizeof h);
}

static int roles_mask(const core_yaml_node *list)
{
    int m = 0;
    if (data__list_has(list, "licensor"))
        m |= DATA_ROLE_LICENSOR;
    if (data__list_has(list, "curator"))
        m |= DATA_ROLE_CURATOR;
    if (data__list_has(list, "controller"))
        m |= DATA_ROLE_CONTROLLER;
    return m;
}

void data_keyring_free(data_keyring *kr)
{
    if (!kr)
        return;
    for (size_t i = 0; i < kr->n; i++)
        free(kr->keys[i].owner);
    free(kr->keys);
    free(kr->path);
    memset(kr, 0, sizeof *kr);
}

core_status data_keyring_load(const char *path, data_keyring *kr)
{
    memset(kr, 0, sizeof *kr);
    core_yaml_doc *doc;
    core_status st = core_yaml_load(path, NULL, &doc);
    if (st != CORE_OK)
        return st;
    data_results res = {0};
    const core_yaml_node *root = core_yaml_root(doc);
    if (data__schema_check(doc, root, data__keyring_schema, path, "keyring", &res)) {
        st = CORE_ERR(CORE_ERR_SCHEMA, "%s", res.items[0].explanation);
        goto done;
    }
    const core_yaml_node *keys = core_yaml_get(root, "keys");
    kr->keys = core_zalloc(keys->n ? keys->n : 1, sizeof *kr->keys, path);
    kr->path = core_strdup(path);
    if (!kr->keys || !kr->path) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < keys->n; i++) {
        const core_yaml_node *k = keys->items[i];
        data_key *d = &kr->keys[kr->n];
        uint8_t *pk;
        size_t len;
        if (core_base64_decode(data__str(k, "public_key"), &pk, &len) != CORE_OK ||
            len != CORE_ED25519_PK_BYTES) {
            if (len == CORE_ED25519_PK_BYTES || !pk)
                pk = NULL;
            free(pk);
            const core_yaml_node *v = core_yaml_get(k, "public_key");
            st = CORE_ERR(CORE_ERR_SCHEMA, "%s:%d:%d: 'public_key' is not a base64 Ed25519 key",
                          path, v->line, v->col);
            goto done;
        }
        memcpy(d->pk, pk, sizeof d->pk);
        free(pk);
        data_keyid(d->pk, d->keyid);
        if (strcmp(d->keyid, data__str(k, "keyid"))) {
            const core_yaml_node *v = core_yaml_get(k, "keyid");
            st = CORE_ERR(CORE_ERR_SCHEMA,
                          "%s:%d:%d: 'keyid' does not match the public key (expected %s)", path,
                          v->line, v->col, d->keyid);
            goto done;
        }
        d->owner = core_strdup(data__str(k, "owner"));
        d->roles = roles_mask(core_yaml_get(k, "roles"));
        d->not_before = data__time(k, "not_before", 0);
        d->not_after = data__time(k, "not_after", 0);
        d->revoked_at = data__time(k, "revoked_at", INT64_MAX);
        kr->n++;
    }
done:
    data_results_free(&res);
    core_yaml_free(doc);
    if (st != CORE_OK)
        data_keyring_free(kr);
    return st;
}

uint8_t *data_dsse_pae(const char *type, const uint8_t *body, size_t n, size_t *out_len)
{
    /* reference: DSSE v1, PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body */
    char head[512];
    int h = snprintf(head, sizeof head, "DSSEv1 %zu %s %zu ", strlen(type), type, n);
    uint8_t *p = core_alloc((size_t)h + n, 1, "DSSE PAE");
    if (!p)
        return NULL;
    memcpy(p, head, (size_t)h);
    memcpy(p + h, body, n);
    *out_len = (size_t)h + n;
    return p;
}

/* ---------------------------------------------------------------- secret keys */

static core_status load_secret(const char *path, uint8_t pk[32], uint8_t sk[64], char keyid[80])
{
    core_yaml_doc *doc;
    core_status st = core_yaml_load(path, NULL, &doc);
    if (st != CORE_OK)
        return st;
    const core_yaml_node *root = core_yaml_root(doc);
    const char *schema = data__str(root, "schema"), *seed_b64 = data__str(root, "seed");
    uint8_t *seed = NULL;
    size_t n = 0;
    if (!schema || strcmp(schema, "troupe.secret-key/1") || !seed_b64 ||
        core_base64_decode(seed_b64, &seed, &n) != CORE_OK || n != CORE_ED25519_SEED_BYTES) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: not a troupe.secret-key/1 file with a 32-byte seed",
                      path);
    } else {
        st = core_ed25519_keypair(pk, sk, seed);
        data_keyid(pk, keyid);
    }
    if (seed)
        core_wipe(seed, n);
    free(seed);
    core_yaml_free(doc);
    return st;
}

core_status data_keygen(const char *out, const char *owner, int roles, int64_t not_before,
                        int64_t not_after)
{
    uint8_t seed[32];
    core_status st = core_crypto_init();
    if (st != CORE_OK)
        return st;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, seed, sizeof seed) != (ssize_t)sizeof seed) {
        if (fd >= 0)
            close(fd);
        return CORE_ERR(CORE_ERR_INTERNAL, "cannot read /dev/urandom");
    }
    close(fd);
    st = data_keygen_seeded(out, owner, roles, not_before, not_after, seed);
    core_wipe(seed, sizeof seed);
    return st;
}

core_status data_keygen_seeded(const char *out, const char *owner, int roles,
                               int64_t not_before, int64_t not_after, const uint8_t seed[32])
{
    uint8_t pk[32], sk[64];
    core_status st = CORE_OK;
    CORE_TRY(core_ed25519_keypair(pk, sk, seed));
    char keyid[80], nb[32], na[32];
    data_keyid(pk, keyid);
    data_time_format(not_before, nb);
    data_time_format(not_after, na);
    char *seed_b64 = core_base64_encode(seed, CORE_ED25519_SEED_BYTES);
    char *pk_b64 = core_base64_encode(pk, sizeof pk);
    char *secret_path = core_sprintf("%s.secret", out), *pub_path = core_sprintf("%s.pub.yaml", out);
    char *secret = core_sprintf("schema: \"troupe.secret-key/1\"\nkeyid: \"%s\"\nowner: \"%s\"\n"
                                "seed: \"%s\"\n",
                                keyid, owner, seed_b64 ? seed_b64 : "");
    char roles_s[64] = "";
    const char *names[] = {"licensor", "curator", "controller"};
    for (int i = 0; i < 3; i++)
        if (roles & (1 << i))
            snprintf(roles_s + strlen(roles_s), sizeof roles_s - strlen(roles_s), "%s\"%s\"",
                     roles_s[0] ? ", " : "", names[i]);
    char *pub = core_sprintf("- keyid: \"%s\"\n  public_key: \"%s\"\n  owner: \"%s\"\n"
                             "  roles: [%s]\n  not_before: \"%s\"\n  not_after: \"%s\"\n"
                             "  revoked_at: null\n",
                             keyid, pk_b64 ? pk_b64 : "", owner, roles_s, nb, na);
    if (!seed_b64 || !pk_b64 || !secret_path || !pub_path || !secret || !pub) {
        st = CORE_ERR_NOMEM;
    } else {
        /* The secret is created 0600 and never replaced: an existing key is not clobbered. */
        int sfd = open(secret_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        size_t len = strlen(secret);
        if (sfd < 0)
            st = CORE_ERR(CORE_ERR_IO, "%s: cannot create: %s", secret_path, strerror(errno));
        else if (write(sfd, secret, len) != (ssize_t)len || fsync(sfd) != 0)
            st = CORE_ERR(CORE_ERR_IO, "%s: cannot write: %s", secret_path, strerror(errno));
        if (sfd >= 0)
            close(sfd);
        if (st == CORE_OK)
            st = core_file_write_atomic(pub_path, pub, strlen(pub));
    }
    core_wipe(sk, sizeof sk);
    if (secret)
        core_wipe(secret, strlen(secret));
    free(seed_b64);
    free(pk_b64);
    free(secret_path);
    free(pub_path);
    free(secret);
    free(pub);
done:
    return st;
}

/* ---------------------------------------------------------------- envelopes */

core_status data_sign_file(const char *path, const char *type, const char *secret_path,
                           const char *envelope_path)
{
    uint8_t pk[32], sk[64];
    char keyid[80];
    core_status st = load_secret(secret_path, pk, sk, keyid);
    if (st != CORE_OK)
        return st;
    char *body = NULL, *env_text = NULL, *b64 = NULL, *sig64 = NULL, *out = NULL;
    uint8_t *pae = NULL;
    size_t n, pae_len;
    json_t *env = NULL;
    CORE_TRY(core_file_read(path, 0, &body, &n));
    pae = data_dsse_pae(type, (const uint8_t *)body, n, &pae_len);
    b64 = core_base64_encode(body, n);
    if (!pae || !b64) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    uint8_t sig[64];
    core_ed25519_sign(sig, pae, pae_len, sk);
    sig64 = core_base64_encode(sig, sizeof sig);
    if (access(envelope_path, F_OK) == 0) {
        /* Add a co-signature: the envelope must be for these exact bytes and type. */
        size_t en;
        CORE_TRY(core_file_read(envelope_path, 1 << 26, &env_text, &en));
        json_error_t jerr;
        env = json_loads(env_text, 0, &jerr);
        const char *pt = env ? json_string_value(json_object_get(env, "payloadType")) : NULL;
        const char *pl = env ? json_string_value(json_object_get(env, "payload")) : NULL;
        if (!env || !pt || !pl || !json_is_array(json_object_get(env, "signatures"))) {
            st = CORE_ERR(CORE_ERR_FORMAT, "%s: not a DSSE envelope%s%s", envelope_path,
                          env ? "" : ": ", env ? "" : jerr.text);
            goto done;
        }
        if (strcmp(pt, type) || strcmp(pl, b64)) {
            st = CORE_ERR(CORE_ERR_CHECK,
                          "%s: the envelope is for other bytes or another payload type than %s; "
                          "remove it to sign afresh",
                          envelope_path, path);
            goto done;
        }
        json_t *sigs = json_object_get(env, "signatures");
        size_t i;
        json_t *s;
        json_array_foreach(sigs, i, s)
        {
            const char *k = json_string_value(json_object_get(s, "keyid"));
            if (k && !strcmp(k, keyid)) {
                st = CORE_ERR(CORE_ERR_CHECK, "%s: already signed by %s", envelope_path, keyid);
                goto done;
            }
        }
    } else {
        env = json_pack("{s:s, s:s, s:[]}", "payloadType", type, "payload", b64, "signatures");
    }
    if (!env || !sig64 ||
        json_array_append_new(json_object_get(env, "signatures"),
                              json_pack("{s:s, s:s}", "keyid", keyid, "sig", sig64)) != 0) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    out = json_dumps(env, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!out) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    size_t ol = strlen(out);
    char *withnl = core_sprintf("%s\n", out);
    st = withnl ? core_file_write_atomic(envelope_path, withnl, ol + 1) : CORE_ERR_NOMEM;
    free(withnl);
done:
    core_wipe(sk, sizeof sk);
    json_decref(env);
    free(body);
    free(env_text);
    free(b64);
    free(sig64);
    free(pae);
    free(out);
    return st;
}

static core_status sig_fail(data_sig_report *rep, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static core_status sig_fail(data_sig_report *rep, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->problem, sizeof rep->problem, fmt, ap);
    va_end(ap);
    snprintf(rep->code, sizeof rep->code, "%s", code);
    return CORE_ERR(CORE_ERR_CRYPTO, "%s", rep->problem);
}

core_status data_verify_file(const char *path, const char *type, const char *envelope_path,
                             const data_keyring *kr, int64_t signed_at, int64_t now,
                             data_sig_report *rep)
{
    memset(rep, 0, sizeof *rep);
    char *body = NULL, *env_text = NULL;
    uint8_t *payload = NULL, *pae = NULL;
    size_t n, en, pn, pae_len;
    json_t *env = NULL;
    core_status st = CORE_OK;
    if (core_file_read(path, 0, &body, &n) != CORE_OK) {
        st = sig_fail(rep, "SIG-001", "%s", core_error_message());
        goto done;
    }
    if (core_file_read(envelope_path, 1 << 26, &env_text, &en) != CORE_OK) {
        st = sig_fail(rep, "SIG-001", "%s: missing signature envelope %s", path, envelope_path);
        goto done;
    }
    json_error_t jerr;
    env = json_loads(env_text, 0, &jerr);
    const char *pt = env ? json_string_value(json_object_get(env, "payloadType")) : NULL;
    const char *pl = env ? json_string_value(json_object_get(env, "payload")) : NULL;
    json_t *sigs = env ? json_object_get(env, "signatures") : NULL;
    if (!env || !pt || !pl || !json_is_array(sigs)) {
        st = sig_fail(rep, "SIG-001", "%s: not a DSSE envelope (%s)", envelope_path,
                      env ? "missing payloadType, payload or signatures" : jerr.text);
        goto done;
    }
    if (strcmp(pt, type)) {
        st = sig_fail(rep, "SIG-001", "%s: payload type is '%s', expected '%s'", envelope_path,
                      pt, type);
        goto done;
    }
    if (core_base64_decode(pl, &payload, &pn) != CORE_OK || pn != n ||
        memcmp(payload, body, n) != 0) {
        st = sig_fail(rep, "SIG-001", "%s: the signed payload differs from the file's bytes",
                      path);
        goto done;
    }
    if (json_array_size(sigs) == 0) {
        st = sig_fail(rep, "SIG-001", "%s: the envelope has no signatures", envelope_path);
        goto done;
    }
    pae = data_dsse_pae(type, (const uint8_t *)body, n, &pae_len);
    if (!pae) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    size_t i;
    json_t *s;
    json_array_foreach(sigs, i, s)
    {
        const char *keyid = json_string_value(json_object_get(s, "keyid"));
        const char *sig64 = json_string_value(json_object_get(s, "sig"));
        uint8_t *sig = NULL;
        size_t sn = 0;
        if (!sig64 || core_base64_decode(sig64, &sig, &sn) != CORE_OK || sn != 64) {
            free(sig);
            st = sig_fail(rep, "SIG-001", "%s: signature %zu is not base64 Ed25519", envelope_path,
                          i);
            goto done;
        }
        /* The keyid is a hint: try the named key, then any key. */
        const data_key *by = NULL;
        for (size_t k = 0; k < kr->n && !by; k++)
            if (keyid && !strcmp(kr->keys[k].keyid, keyid) &&
                core_ed25519_verify(sig, pae, pae_len, kr->keys[k].pk))
                by = &kr->keys[k];
        for (size_t k = 0; k < kr->n && !by; k++)
            if (core_ed25519_verify(sig, pae, pae_len, kr->keys[k].pk))
                by = &kr->keys[k];
        free(sig);
        if (!by) {
            bool known = false;
            for (size_t k = 0; k < kr->n && !known; k++)
                known = keyid && !strcmp(kr->keys[k].keyid, keyid);
            st = sig_fail(rep, known ? "SIG-001" : "SIG-003",
                          known ? "%s: signature %zu by %s does not verify (forged or tampered)"
                                : "%s: signature %zu is by %s, which is not in the keyring",
                          path, i, keyid ? keyid : "(no keyid)");
            goto done;
        }
        char at[32], nb[32], na[32];
        data_time_format(signed_at, at);
        if (signed_at < by->not_before || signed_at > by->not_after) {
            data_time_format(by->not_before, nb);
            data_time_format(by->not_after, na);
            st = sig_fail(rep, "SIG-003", "%s: key %s (%s) was not valid at %s (valid %s to %s)",
                          path, by->keyid, by->owner, at, nb, na);
            goto done;
        }
        if (by->revoked_at <= now) {
            data_time_format(by->revoked_at, nb);
            st = sig_fail(rep, "SIG-003", "%s: key %s (%s) was revoked at %s", path, by->keyid,
                          by->owner, nb);
            goto done;
        }
        bool dup = false;
        for (int j = 0; j < rep->n_valid && j < 4 && !dup; j++)
            dup = !strcmp(rep->signers[j], by->keyid);
        if (!dup) {
            if (rep->n_valid < 4) {
                snprintf(rep->signers[rep->n_valid], sizeof rep->signers[0], "%s", by->keyid);
                rep->signer_roles[rep->n_valid] = by->roles;
            }
            rep->n_valid++;
            rep->roles_met |= by->roles;
        }
    }
done:
    json_decref(env);
    free(body);
    free(env_text);
    free(payload);
    free(pae);
    return st;
}

/* ---------------------------------------------------------------- Merkle root */

static int cmp_leaf(const void *a, const void *b)
{
    return strcmp(((const data_leaf *)a)->recording_id, ((const data_leaf *)b)->recording_id);
}

/* reference: RFC 6962 section 2.1, MTH with leaf prefix 0x00 and node prefix 0x01 */
static void mth(const data_leaf *l, size_t n, uint8_t out[32])
{
    if (n == 0) {
        core_sha256(out, "", 0);
        return;
    }
    if (n == 1) {
        char *s = core_sprintf("%c%s\n%s\n%lld\n%s\n%s\n%s\n", 0, l->recording_id, l->sha256,
                               (long long)l->bytes, l->speaker_id, l->consent_id ? l->consent_id : "",
                               l->licence);
        /* the leading NUL is the 0x00 prefix; %c of 0 ends a C string, so hash by length */
        size_t len = s ? 1 + strlen(s + 1) : 0;
        core_sha256(out, s ? s : "", len);
        free(s);
        return;
    }
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t buf[65];
    buf[0] = 1;
    mth(l, k, buf + 1);
    mth(l + k, n - k, buf + 33);
    core_sha256(out, buf, sizeof buf);
}

void data_merkle_root(const data_leaf *leaves, size_t n, uint8_t out[CORE_SHA256_BYTES])
{
    data_leaf *sorted = n ? malloc(n * sizeof *sorted) : NULL;
    if (n && !sorted) {
        memset(out, 0, CORE_SHA256_BYTES);
        return;
    }
    if (n)
        memcpy(sorted, leaves, n * sizeof *sorted);
    if (n > 1)
        qsort(sorted, n, sizeof *sorted, cmp_leaf);
    mth(sorted, n, out);
    free(sorted);
}

/* ---------------------------------------------------------------- canonical YAML */

static int cmp_member(const void *a, const void *b)
{
    return strcmp((*(core_yaml_node *const *)a)->key, (*(core_yaml_node *const *)b)->key);
}

static void emit_node(core_yw *w, const core_yaml_node *n)
{
    switch (n->kind) {
    case CORE_YAML_NULL: core_yw_null(w); break;
    case CORE_YAML_SCALAR: core_yw_str(w, n->str); break;
    case CORE_YAML_SEQ:
        core_yw_seq_begin(w, false);
        for (size_t i = 0; i < n->n; i++)
            emit_node(w, n->items[i]);
        core_yw_seq_end(w);
        break;
    case CORE_YAML_MAP: {
        core_yaml_node **sorted = malloc((n->n ? n->n : 1) * sizeof *sorted);
        if (!sorted)
            return;
        memcpy(sorted, n->items, n->n * sizeof *sorted);
        qsort(sorted, n->n, sizeof *sorted, cmp_member);
        core_yw_map_begin(w, false);
        for (size_t i = 0; i < n->n; i++) {
            core_yw_str(w, sorted[i]->key);
            emit_node(w, sorted[i]);
        }
        core_yw_map_end(w);
        free(sorted);
        break;
    }
    }
}

char *data_canonical_yaml(const core_yaml_doc *doc)
{
    core_yw *w = core_yw_new();
    if (!w)
        return NULL;
    emit_node(w, core_yaml_root(doc));
    return core_yw_finish(w);
}
