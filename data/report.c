/* The audit report (GOVERNANCE.md "The audit report") as YAML and Markdown. Nothing in it
 * depends on the wall clock or on the thread count, so the same inputs and evaluation time
 * give the same bytes (RPT-001). */
#include "data/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sev_list[4] = {"failure", "warning", "informational", "success"};

static void yw_kv(core_yw *w, const char *k, const char *v)
{
    core_yw_key(w, k);
    if (v)
        core_yw_str(w, v);
    else
        core_yw_null(w);
}

static void yw_ki(core_yw *w, const char *k, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    yw_kv(w, k, buf);
}

/* Recording-level passes ("passed") are many: they are counted per code instead. */
static bool is_plain_pass(const data_result *r)
{
    return r->sev == DATA_PASS && !strcmp(r->explanation, "passed");
}

char *data_audit_yaml(const data_audit *a, const data_options *o)
{
    core_yw *w = core_yw_new();
    if (!w)
        return NULL;
    char t[32];
    core_yw_map_begin(w, false);
    yw_kv(w, "schema", "troupe.audit/1");
    core_yw_key(w, "tool");
    core_yw_map_begin(w, false);
    yw_kv(w, "name", "troupe");
    yw_kv(w, "version", TROUPE_VERSION);
    core_yw_map_end(w);
    data_time_format(o->use.at, t);
    yw_kv(w, "evaluated_at", t);
    core_yw_key(w, "declared_use");
    core_yw_map_begin(w, false);
    core_yw_key(w, "purposes");
    core_yw_seq_begin(w, true);
    for (int p = 0; p < DATA_N_PURPOSES; p++)
        if ((o->use.purposes >> p) & 1)
            core_yw_str(w, data_purposes[p]);
    core_yw_seq_end(w);
    yw_kv(w, "territory", o->use.territory);
    yw_kv(w, "commercial", o->use.commercial ? "true" : "false");
    yw_kv(w, "allow_synthetic", o->use.allow_synthetic ? "true" : "false");
    yw_kv(w, "deployment", o->use.deployment);
    core_yw_map_end(w);
    core_yw_key(w, "inputs");
    core_yw_seq_begin(w, false);
    for (size_t i = 0; i < a->n_inputs; i++)
        core_yw_str(w, a->inputs[i]);
    core_yw_seq_end(w);
    yw_kv(w, "state", data_audit_state(a));
    for (int s = 0; s < 4; s++) {
        core_yw_key(w, sev_list[s]);
        core_yw_seq_begin(w, false);
        for (size_t i = 0; i < a->results.n; i++) {
            const data_result *r = &a->results.items[i];
            if ((int)r->sev != s || is_plain_pass(r))
                continue;
            core_yw_map_begin(w, false);
            yw_kv(w, "code", r->code);
            yw_kv(w, "target", r->target);
            yw_kv(w, "explanation", r->explanation);
            core_yw_map_end(w);
        }
        if (s == DATA_PASS) {
            /* one entry per code for the recording-level passes (results are sorted) */
            for (size_t i = 0; i < a->results.n;) {
                const data_result *r = &a->results.items[i];
                if (!is_plain_pass(r)) {
                    i++;
                    continue;
                }
                size_t j = i, count = 0;
                while (j < a->results.n && !strcmp(a->results.items[j].code, r->code) &&
                       a->results.items[j].sev == DATA_PASS) {
                    count += is_plain_pass(&a->results.items[j]);
                    j++;
                }
                char why[96];
                snprintf(why, sizeof why, "passed for %zu recording%s", count,
                         count == 1 ? "" : "s");
                core_yw_map_begin(w, false);
                yw_kv(w, "code", r->code);
                yw_kv(w, "target", "recordings");
                yw_kv(w, "explanation", why);
                core_yw_map_end(w);
                i = j;
            }
        }
        core_yw_seq_end(w);
    }
    core_yw_key(w, "summary");
    core_yw_map_begin(w, false);
    yw_ki(w, "recordings_total", (int64_t)a->n_rec);
    yw_ki(w, "admitted", (int64_t)a->admitted);
    yw_ki(w, "excluded", (int64_t)a->excluded);
    yw_ki(w, "speakers", (int64_t)a->speakers);
    char hours[32];
    snprintf(hours, sizeof hours, "%.4f", a->hours_admitted);
    yw_kv(w, "hours_admitted", hours);
    core_yw_key(w, "licences_used");
    core_yw_seq_begin(w, true);
    for (size_t i = 0; i < a->n_licences; i++)
        core_yw_str(w, a->licences[i]);
    core_yw_seq_end(w);
    core_yw_key(w, "attribution");
    core_yw_seq_begin(w, true);
    for (size_t i = 0; i < a->n_licences; i++)
        if (strstr(a->licences[i], "-BY") || !strncmp(a->licences[i], "LicenseRef-", 11))
            core_yw_str(w, a->licences[i]);
    core_yw_seq_end(w);
    core_yw_key(w, "tainted_checkpoints");
    core_yw_seq_begin(w, true);
    core_yw_seq_end(w);
    yw_kv(w, "admitted_recording_ids_sha256", a->admitted_ids_sha256);
    core_yw_map_end(w);
    core_yw_key(w, "recordings");
    core_yw_seq_begin(w, false);
    for (size_t i = 0; i < a->n_rec; i++) {
        const data_recording_outcome *r = &a->rec[i];
        core_yw_map_begin(w, true);
        yw_kv(w, "id", r->recording_id);
        yw_kv(w, "admitted", r->admitted ? "true" : "false");
        if (!r->admitted)
            yw_kv(w, "codes", r->codes);
        core_yw_map_end(w);
    }
    core_yw_seq_end(w);
    core_yw_map_end(w);
    return core_yw_finish(w);
}

/* Markdown table cells: no pipes or newlines. */
static void md_cell(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 3 < cap; s++) {
        if (*s == '|') {
            out[n++] = '\\';
            out[n++] = '|';
        } else {
            out[n++] = *s == '\n' ? ' ' : *s;
        }
    }
    out[n] = '\0';
}

char *data_audit_markdown(const data_audit *a, const data_options *o)
{
    size_t cap = 4096 + a->results.n * 600 + a->n_rec * 200, n = 0;
    char *s = malloc(cap);
    if (!s) {
        CORE_ERR(CORE_ERR_NOMEM, "audit report: out of memory");
        return NULL;
    }
#define OUT(...) n += (size_t)snprintf(s + n, n < cap ? cap - n : 0, __VA_ARGS__)
    char t[32];
    data_time_format(o->use.at, t);
    OUT("# Audit report\n\nTool: troupe %s. Evaluated at %s. State: **%s**.\n\n", TROUPE_VERSION,
        t, data_audit_state(a));
    OUT("Declared use: purposes");
    for (int p = 0; p < DATA_N_PURPOSES; p++)
        if ((o->use.purposes >> p) & 1)
            OUT(" %s", data_purposes[p]);
    OUT("; territory %s; %s; synthetic speech %s.\n\n", o->use.territory,
        o->use.commercial ? "commercial" : "non-commercial",
        o->use.allow_synthetic ? "allowed" : "not allowed");
    OUT("| recordings | admitted | excluded | speakers | hours admitted |\n|---|---|---|---|---|\n"
        "| %zu | %zu | %zu | %zu | %.4f |\n\n",
        a->n_rec, a->admitted, a->excluded, a->speakers, a->hours_admitted);
    OUT("Admitted recording ids (sorted, LF-joined) sha256: `%s`\n\n", a->admitted_ids_sha256);
    OUT("## Inputs\n\n");
    for (size_t i = 0; i < a->n_inputs; i++)
        OUT("- %s\n", a->inputs[i]);
    static const char *const titles[3] = {"Failures", "Warnings", "Information"};
    for (int sev = 0; sev < 3; sev++) {
        OUT("\n## %s\n\n| code | target | explanation |\n|---|---|---|\n", titles[sev]);
        for (size_t i = 0; i < a->results.n; i++) {
            const data_result *r = &a->results.items[i];
            if ((int)r->sev != sev)
                continue;
            char tc[256], ec[1200];
            md_cell(tc, sizeof tc, r->target);
            md_cell(ec, sizeof ec, r->explanation);
            if (n + 1600 > cap) {
                cap *= 2;
                char *ns = realloc(s, cap);
                if (!ns) {
                    free(s);
                    CORE_ERR(CORE_ERR_NOMEM, "audit report: out of memory");
                    return NULL;
                }
                s = ns;
            }
            OUT("| %s | %s | %s |\n", r->code, tc, ec);
        }
    }
    OUT("\n## Excluded recordings\n\n| recording | codes |\n|---|---|\n");
    for (size_t i = 0; i < a->n_rec; i++)
        if (!a->rec[i].admitted) {
            if (n + 400 > cap) {
                cap *= 2;
                char *ns = realloc(s, cap);
                if (!ns) {
                    free(s);
                    return NULL;
                }
                s = ns;
            }
            OUT("| %s | %s |\n", a->rec[i].recording_id, a->rec[i].codes);
        }
#undef OUT
    return s;
}
