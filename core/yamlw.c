/* A small YAML writer over libyaml's emitter: maps, lists and scalars in the order given,
 * strings double-quoted (so YAML 1.1 never reads "NO" or "1:30" as another type), numbers
 * and null plain. Used for effective configs and for roles written by `persona author`. */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct core_yw {
    yaml_emitter_t e;
    char *buf;
    size_t n, cap;
    bool failed;
};

static int yw_write(void *data, unsigned char *bytes, size_t size)
{
    core_yw *w = data;
    if (w->n + size + 1 > w->cap) {
        size_t cap = (w->n + size + 1) * 2;
        char *nb = realloc(w->buf, cap);
        if (!nb)
            return 0;
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->n, bytes, size);
    w->n += size;
    w->buf[w->n] = '\0';
    return 1;
}

static void yw_emit(core_yw *w, yaml_event_t *ev)
{
    if (!w->failed && !yaml_emitter_emit(&w->e, ev))
        w->failed = true;
}

core_yw *core_yw_new(void)
{
    core_yw *w = calloc(1, sizeof *w);
    if (!w || !yaml_emitter_initialize(&w->e)) {
        free(w);
        CORE_ERR(CORE_ERR_NOMEM, "cannot start the YAML emitter");
        return NULL;
    }
    yaml_emitter_set_output(&w->e, yw_write, w);
    yaml_emitter_set_width(&w->e, -1); /* never fold long strings */
    yaml_emitter_set_unicode(&w->e, 1);
    yaml_emitter_set_indent(&w->e, 2);
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    yw_emit(w, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    yw_emit(w, &ev);
    return w;
}

void core_yw_map_begin(core_yw *w, bool flow)
{
    yaml_event_t ev;
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                        flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
    yw_emit(w, &ev);
}

void core_yw_map_end(core_yw *w)
{
    yaml_event_t ev;
    yaml_mapping_end_event_initialize(&ev);
    yw_emit(w, &ev);
}

void core_yw_seq_begin(core_yw *w, bool flow)
{
    yaml_event_t ev;
    yaml_sequence_start_event_initialize(
        &ev, NULL, NULL, 1, flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
    yw_emit(w, &ev);
}

void core_yw_seq_end(core_yw *w)
{
    yaml_event_t ev;
    yaml_sequence_end_event_initialize(&ev);
    yw_emit(w, &ev);
}

static void scalar(core_yw *w, const char *v, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)(uintptr_t)v, (int)strlen(v), 1, 1,
                                 style);
    yw_emit(w, &ev);
}

void core_yw_key(core_yw *w, const char *key)
{
    scalar(w, key, YAML_PLAIN_SCALAR_STYLE);
}
void core_yw_str(core_yw *w, const char *v)
{
    scalar(w, v, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}
void core_yw_null(core_yw *w)
{
    scalar(w, "null", YAML_PLAIN_SCALAR_STYLE);
}
void core_yw_bool(core_yw *w, bool v)
{
    scalar(w, v ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
}

void core_yw_int(core_yw *w, int64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)v);
    scalar(w, num, YAML_PLAIN_SCALAR_STYLE);
}

void core_format_real(char *buf, size_t n, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eE"))
        strncat(buf, ".0", n - strlen(buf) - 1);
}

void core_yw_real(core_yw *w, double v)
{
    char num[64];
    core_format_real(num, sizeof num, v);
    scalar(w, num, YAML_PLAIN_SCALAR_STYLE);
}

char *core_yw_finish(core_yw *w)
{
    if (!w)
        return NULL;
    yaml_event_t ev;
    yaml_document_end_event_initialize(&ev, 1);
    yw_emit(w, &ev);
    yaml_stream_end_event_initialize(&ev);
    yw_emit(w, &ev);
    yaml_emitter_delete(&w->e);
    char *out = w->failed ? NULL : w->buf;
    if (w->failed) {
        free(w->buf);
        CORE_ERR(CORE_ERR_NOMEM, "cannot emit YAML");
    }
    free(w);
    return out;
}
