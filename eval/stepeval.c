/* Eval sets from StepEval-Audio-Paralinguistic style benchmark items (docs/eval.md).
 *
 * The benchmark (StepFun, Step-Audio 2 release) ships one JSON array per task, each item
 * {"audio": "audio/x.wav", "task": {"name": ..., "label": ..., "answer": ...}} with the task
 * names and most labels in Chinese; the lmms-eval mirror flattens it into columns (audio,
 * task_name, task_answer, subset). This reader takes either shape, as a JSON array or as
 * JSON lines, and maps each item's task to one paralinguistic head and its label to one of
 * that head's classes through the closed tables below: exact matches after normalising
 * case, spaces, '-' and '_' and a final full stop, never substring or keyword guesses. An
 * item whose task or label has no entry is skipped (counted, its task name kept); only the
 * mapped items' audio is read. Open-set labels (the release's emotion, timbre, rhythm and style
 * descriptions, the in-between grades such as 中高音 or 中快速) are skipped on purpose:
 * forcing them into our classes would score the model against guesses. */
#include "data/audio.h"
#include "eval/internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_ITEMS_BYTES = 64 << 20, /* refuse larger item files */
    /* the heads, in train_para_names order (checked at run time) */
    H_EMOTION = 0,
    H_LAUGHTER = 1,
    H_SPEED = 3,
    H_PITCH = 4,
    H_GENDER = 5,
    H_LANGUAGE = 6,
};

typedef struct alias {
    const char *name; /* normalised (see norm) */
    int value;
} alias;

/* Task names -> head: our head names, the benchmark's folder (subset) names, its Chinese task
 * names and the few English phrasings its card and mirrors use. */
static const alias task_names[] = {
    {"gender", H_GENDER},
    {"speaker gender", H_GENDER},
    {"识别说话人性别", H_GENDER},
    {"emotion", H_EMOTION},
    {"emotions", H_EMOTION},
    {"speaker emotion", H_EMOTION},
    {"识别说话人情绪", H_EMOTION},
    {"speed", H_SPEED},
    {"speaking speed", H_SPEED},
    {"speaking rate", H_SPEED},
    {"speech rate", H_SPEED},
    {"识别说话人语速", H_SPEED},
    {"pitch", H_PITCH},
    {"识别说话人音调", H_PITCH},
    {"vocal", H_LAUGHTER},
    {"vocalsound", H_LAUGHTER},
    {"vocal sound", H_LAUGHTER},
    {"vocal sounds", H_LAUGHTER},
    {"vocal event", H_LAUGHTER},
    {"vocal events", H_LAUGHTER},
    {"识别音频中除人声说话以外的说话人行为声音", H_LAUGHTER},
    {"识别语音行为", H_LAUGHTER},
    {"language", H_LANGUAGE},
    {"lang", H_LANGUAGE},
    {"spoken language", H_LANGUAGE},
    {"识别说话人语种", H_LANGUAGE},
    {"语种", H_LANGUAGE},
    {NULL, 0},
};

/* Labels -> class, one table per head (class order as data/ingest.c's label values). */
static const alias emotion_labels[] = {
    {"neutral", 0},    {"中性", 0},     {"calm", 1},    {"平静", 1},       {"happy", 2},
    {"happiness", 2},  {"joy", 2},      {"joyful", 2},  {"高兴", 2},       {"开心", 2},
    {"快乐", 2},       {"喜悦", 2},     {"excited", 3}, {"excitement", 3}, {"兴奋", 3},
    {"sad", 4},        {"sadness", 4},  {"悲伤", 4},    {"伤心", 4},       {"难过", 4},
    {"angry", 5},      {"anger", 5},    {"愤怒", 5},    {"生气", 5},       {"fearful", 6},
    {"fear", 6},       {"afraid", 6},   {"scared", 6},  {"恐惧", 6},       {"害怕", 6},
    {"surprised", 7},  {"surprise", 7}, {"惊讶", 7},    {"吃惊", 7},       {"tender", 8},
    {"tenderness", 8}, {"温柔", 8},     {"serious", 9}, {"严肃", 9},       {NULL, 0},
};
/* The vocal-sound task names one event per item (VocalSound's six classes in the release,
 * in English or Chinese): laughter is the laughter head's yes, the other five its no. */
static const alias vocal_labels[] = {
    {"laughter", 1},
    {"laugh", 1},
    {"laughing", 1},
    {"笑声", 1},
    {"笑", 1},
    {"cough", 0},
    {"coughing", 0},
    {"咳嗽", 0},
    {"咳嗽声", 0},
    {"sneeze", 0},
    {"sneezing", 0},
    {"打喷嚏", 0},
    {"喷嚏", 0},
    {"sniff", 0},
    {"sniffing", 0},
    {"吸鼻子", 0},
    {"throat clearing", 0},
    {"throatclearing", 0},
    {"清嗓子", 0},
    {"sigh", 0},
    {"sighing", 0},
    {"叹气", 0},
    {"叹息", 0},
    {NULL, 0},
};
static const alias speed_labels[] = {
    {"slow", 0},     {"慢", 0},    {"慢速", 0}, {"normal", 1}, {"medium", 1},
    {"moderate", 1}, {"中速", 1},  {"中等", 1}, {"正常", 1},   {"fast", 2},
    {"quick", 2},    {"rapid", 2}, {"快", 2},   {"快速", 2},   {NULL, 0},
};
static const alias pitch_labels[] = {
    {"low", 0}, {"低", 0},   {"低音", 0}, {"mid", 1}, {"medium", 1}, {"middle", 1},
    {"中", 1},  {"中音", 1}, {"high", 2}, {"高", 2},  {"高音", 2},   {NULL, 0},
};
static const alias gender_labels[] = {
    {"female", 0}, {"woman", 0}, {"f", 0},    {"女", 0},   {"女性", 0},
    {"女声", 0},   {"女生", 0},  {"male", 1}, {"man", 1},  {"m", 1},
    {"男", 1},     {"男性", 1},  {"男声", 1}, {"男生", 1}, {NULL, 0},
};
static const alias language_labels[] = {
    {"en", 0},       {"english", 0}, {"英语", 0},   {"英文", 0},   {"zh", 1}, {"chinese", 1},
    {"mandarin", 1}, {"中文", 1},    {"汉语", 1},   {"普通话", 1}, {"ja", 2}, {"japanese", 2},
    {"日语", 2},     {"ko", 3},      {"korean", 3}, {"韩语", 3},   {"es", 4}, {"spanish", 4},
    {"西班牙语", 4}, {"fr", 5},      {"french", 5}, {"法语", 5},   {"de", 6}, {"german", 6},
    {"德语", 6},     {NULL, 0},
};

/* The label table of each head (NULL: hesitation, which no benchmark task carries). */
static const alias *const label_tables[TRAIN_N_HEADS_PARA] = {
    emotion_labels, vocal_labels, NULL, speed_labels, pitch_labels, gender_labels, language_labels,
};

/* The tables above assume the heads' order and sizes; a change there is a bug here. */
static void check_heads(void)
{
    static const char *const names[TRAIN_N_HEADS_PARA] = {
        "emotion", "laughter", "hesitation", "speed", "pitch", "gender", "language"};
    static const int classes[TRAIN_N_HEADS_PARA] = {10, 2, 2, 3, 3, 3, 7};
    for (int k = 0; k < TRAIN_N_HEADS_PARA; k++) {
        CORE_ASSERT(!strcmp(train_para_names[k], names[k]));
        CORE_ASSERT(train_para_classes[k] == classes[k]);
    }
}

/* Normalised copy of s into out (n bytes): ASCII whitespace trimmed, ASCII lower-cased, '-'
 * and '_' read as spaces, runs of spaces as one, one final '.' or '。' dropped. Other
 * bytes (UTF-8) are kept as they are. */
static void norm(char *out, size_t n, const char *s)
{
    size_t o = 0;
    bool space = false;
    for (; *s && o + 1 < n; s++) {
        char ch = *s;
        if (ch == '-' || ch == '_' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < n)
            out[o++] = ' ';
        space = false;
        out[o++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    out[o] = '\0';
    static const char *const stops[] = {".", "\xe3\x80\x82"}; /* '.', U+3002 */
    for (int i = 0; i < 2; i++) {
        size_t l = strlen(stops[i]);
        if (o >= l && !memcmp(out + o - l, stops[i], l)) {
            o -= l;
            out[o] = '\0';
            while (o > 0 && out[o - 1] == ' ')
                out[--o] = '\0';
            break;
        }
    }
}

/* The value of `s` in `table` after normalising, -1 when absent. */
static int lookup(const alias *table, const char *s)
{
    char key[512];
    norm(key, sizeof key, s);
    for (size_t i = 0; table[i].name; i++)
        if (!strcmp(table[i].name, key))
            return table[i].value;
    return -1;
}

/* ---------------------------------------------------------------- reading */

typedef struct reader {
    const char *path; /* the items file, as given */
    char *dir;        /* its folder: where relative audio paths start */
    eval_set *out;
    size_t cap;
    data_logmel *lm;
} reader;

/* Where an item is, for messages: "FILE: item I" or "FILE:LINE: item I" (JSON lines). */
static void where(char *buf, size_t n, const reader *r, size_t index, size_t line)
{
    if (line)
        snprintf(buf, n, "%s:%zu: item %zu", r->path, line, index);
    else
        snprintf(buf, n, "%s: item %zu", r->path, index);
}

/* The first of `keys` present in `o`: its key in *key_out; NULL when none is. */
static json_t *first_key(json_t *o, const char *const *keys, const char **key_out)
{
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(o, keys[i]);
        if (v) {
            *key_out = keys[i];
            return v;
        }
    }
    return NULL;
}

/* Records a skipped task name once (the list is sorted at the end). */
static core_status note_skipped(eval_set *s, const char *task)
{
    s->skipped++;
    for (size_t i = 0; i < s->n_skipped_tasks; i++)
        if (!strcmp(s->skipped_tasks[i], task))
            return CORE_OK;
    char **nt = core_realloc(s->skipped_tasks, s->n_skipped_tasks + 1, sizeof *nt, "eval set");
    if (!nt)
        return CORE_ERR_NOMEM;
    s->skipped_tasks = nt;
    if (!(nt[s->n_skipped_tasks] = core_strdup(task)))
        return CORE_ERR_NOMEM;
    s->n_skipped_tasks++;
    return CORE_OK;
}

static const char *const audio_keys[] = {"audio", "audio_path", "wav", NULL};
static const char *const task_keys[] = {"task", "task_name", "dimension", "subset", NULL};
/* Labels: the nested task's "label" wins, then these top-level keys, then the nested
 * "answer" (see read_item). */
static const char *const label_keys[] = {"label", "task_label", "ground_truth", NULL};
static const char *const answer_keys[] = {"answer", "task_answer", NULL};

/* One item: checks its keys, maps it or counts it skipped, and for a mapped one reads its
 * audio (hash, log-mel) and appends it to r->out. */
static core_status read_item(reader *r, json_t *o, size_t index, size_t line)
{
    char at[4352];
    where(at, sizeof at, r, index, line);
    if (!json_is_object(o))
        return CORE_ERR(CORE_ERR_SCHEMA, "%s: not a JSON object", at);
    const char *key = NULL;

    /* the audio path: a string, or an object with a "path" string (datasets' Audio) */
    json_t *v = first_key(o, audio_keys, &key);
    if (!v)
        return CORE_ERR(CORE_ERR_SCHEMA,
                        "%s: no audio path (key \"audio\", \"audio_path\" or \"wav\")", at);
    if (json_is_object(v))
        v = json_object_get(v, "path");
    const char *audio = json_string_value(v);
    if (!audio || !*audio)
        return CORE_ERR(CORE_ERR_SCHEMA, "%s: \"%s\" is not a non-empty path string", at, key);

    /* the task: a name, or the release's object {"name", "label", "answer"} */
    json_t *task = first_key(o, task_keys, &key), *nested = NULL;
    if (!task)
        return CORE_ERR(CORE_ERR_SCHEMA,
                        "%s: no task (key \"task\", \"task_name\", \"dimension\" or \"subset\")",
                        at);
    if (json_is_object(task)) {
        nested = task;
        task = json_object_get(nested, "name");
        key = "task.name";
        if (!task)
            return CORE_ERR(CORE_ERR_SCHEMA, "%s: \"task\" is an object without \"name\"", at);
    }
    const char *task_name = json_string_value(task);
    if (!task_name || !*task_name)
        return CORE_ERR(CORE_ERR_SCHEMA, "%s: \"%s\" is not a non-empty string", at, key);

    /* the label */
    json_t *lab = NULL;
    if (nested && (lab = json_object_get(nested, "label")))
        key = "task.label";
    else if (!(lab = first_key(o, label_keys, &key))) {
        if (nested && (lab = json_object_get(nested, "answer")))
            key = "task.answer";
        else
            lab = first_key(o, answer_keys, &key);
    }
    if (!lab)
        return CORE_ERR(CORE_ERR_SCHEMA,
                        "%s: no label (key \"label\", \"task_label\", \"ground_truth\", "
                        "\"answer\" or \"task_answer\", or \"task\": {\"label\"})",
                        at);
    const char *label = json_string_value(lab);
    if (!label)
        return CORE_ERR(CORE_ERR_SCHEMA, "%s: \"%s\" is not a string", at, key);

    /* the id: as given, else item-<index> */
    char idbuf[48];
    const char *id = idbuf;
    json_t *jid = json_object_get(o, "id");
    if (json_is_string(jid) && *json_string_value(jid))
        id = json_string_value(jid);
    else if (json_is_integer(jid))
        snprintf(idbuf, sizeof idbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(jid));
    else if (!jid || json_is_null(jid))
        snprintf(idbuf, sizeof idbuf, "item-%zu", index);
    else
        return CORE_ERR(CORE_ERR_SCHEMA, "%s: \"id\" is not a non-empty string or an integer", at);

    /* the mapping */
    int head = lookup(task_names, task_name);
    int cls = head >= 0 && label_tables[head] ? lookup(label_tables[head], label) : -1;
    if (cls < 0)
        return note_skipped(r->out, task_name);

    /* the audio, relative to the items file's folder unless absolute */
    char *full = audio[0] == '/' ? core_strdup(audio) : core_sprintf("%s/%s", r->dir, audio);
    if (!full)
        return CORE_ERR_NOMEM;
    uint8_t h[CORE_SHA256_BYTES];
    float *mel = NULL;
    size_t frames = 0;
    core_status st = core_sha256_file(full, h, NULL);
    if (st == CORE_OK)
        st = data_audio_logmel_file(full, r->lm, &mel, &frames);
    free(full);
    if (st != CORE_OK) {
        core_error_prefix("%s (audio \"%s\")", at, audio);
        return st;
    }
    eval_item *it = eval_set_add(r->out, &r->cap);
    if (!it || !it->dialogue_id) {
        free(mel);
        return CORE_ERR_NOMEM;
    }
    it->mel = mel;
    it->frames = frames;
    it->id = core_strdup(id);
    it->task = core_strdup(task_name);
    if (!it->id || !it->task)
        return CORE_ERR_NOMEM;
    core_hex(it->audio_sha256, h, CORE_SHA256_BYTES);
    it->labels[head] = cls;
    it->cue = (data_cue){it->labels[0] >= 0 ? it->labels[0] : 0, it->labels[1] == 1,
                         it->labels[2] == 1, it->labels[3] >= 0 ? it->labels[3] : 1};
    it->lang = head == H_LANGUAGE && cls == 1 ? DATA_LANG_ZH : DATA_LANG_EN;
    return CORE_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

core_status eval_set_from_stepeval(const char *items_path, eval_set *out)
{
    memset(out, 0, sizeof *out);
    check_heads();
    reader r = {.path = items_path, .out = out};
    char *buf = NULL;
    size_t len = 0, items = 0;
    json_t *root = NULL;
    core_status st = core_file_read(items_path, MAX_ITEMS_BYTES, &buf, &len);
    if (st != CORE_OK)
        return st;
    const char *slash = strrchr(items_path, '/');
    r.dir = slash ? core_sprintf("%.*s", (int)(slash == items_path ? 1 : slash - items_path),
                                 items_path)
                  : core_strdup(".");
    r.lm = data_logmel_create();
    if (!r.dir || !r.lm) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    /* a UTF-8 byte order mark is not JSON; the first other non-blank byte tells the form */
    size_t off = len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3) ? 3 : 0;
    size_t first = off;
    while (first < len && strchr(" \t\r\n", buf[first]))
        first++;
    json_error_t jerr;
    if (first < len && buf[first] == '[') {
        root = json_loadb(buf + off, len - off, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
            st = CORE_ERR(CORE_ERR_PARSE, "%s:%d:%d: %s", items_path, jerr.line, jerr.column,
                          jerr.text);
            goto done;
        }
        size_t i;
        json_t *o;
        json_array_foreach(root, i, o)
        {
            CORE_TRY(read_item(&r, o, i, 0));
            items++;
        }
    } else if (first < len && buf[first] == '{') {
        /* JSON lines: one object per line; blank lines are allowed */
        size_t line = 0;
        for (size_t p = off; p < len;) {
            const char *s = buf + p, *nl = memchr(s, '\n', len - p);
            size_t l = nl ? (size_t)(nl - s) : len - p;
            p += l + 1;
            line++;
            size_t b = 0;
            while (b < l && strchr(" \t\r", s[b]))
                b++;
            if (b == l)
                continue;
            json_t *o = json_loadb(s, l, JSON_REJECT_DUPLICATES, &jerr);
            if (!o) {
                st = CORE_ERR(CORE_ERR_PARSE, "%s:%zu:%d: %s", items_path, line, jerr.column,
                              jerr.text);
                goto done;
            }
            st = read_item(&r, o, items, line);
            json_decref(o);
            if (st != CORE_OK)
                goto done;
            items++;
        }
    } else if (first < len) {
        st = CORE_ERR(CORE_ERR_PARSE,
                      "%s: neither a JSON array of items nor JSON lines of item objects",
                      items_path);
        goto done;
    }
    if (items == 0) {
        st = CORE_ERR(CORE_ERR_SCHEMA, "%s: no items", items_path);
        goto done;
    }
    if (out->n_skipped_tasks)
        qsort(out->skipped_tasks, out->n_skipped_tasks, sizeof *out->skipped_tasks, cmp_str);
    if (out->n == 0) {
        char list[1024] = "";
        for (size_t i = 0, o = 0; i < out->n_skipped_tasks && o + 1 < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s\"%s\"", i ? ", " : "",
                                  out->skipped_tasks[i]);
        st = CORE_ERR(CORE_ERR_SCHEMA,
                      "%s: none of its %zu items has a task and label that map to a "
                      "paralinguistic head (skipped tasks: %s)",
                      items_path, items, list);
        goto done;
    }
    if (!(out->source = core_sprintf("stepeval %s", items_path))) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    eval_set_rehash(out);
done:
    json_decref(root);
    data_logmel_free(r.lm);
    free(r.dir);
    free(buf);
    if (st != CORE_OK)
        eval_set_free(out);
    return st;
}
