/* Tests of the StepEval-Audio-Paralinguistic style item reader (eval/stepeval.c): the
 * fixture (short WAV files written with libsndfile and an items file in both the release's
 * nested shape and the flattened one) is made here in a temporary folder; checked are the
 * task and label mapping per head, the skipped items, the audio hash and log-mel, the JSON
 * lines form, relative and absolute paths, the error paths and determinism. */
#include "data/audio.h"
#include "eval/eval.h"
#include "tests/runner.h"

#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];

static char *tmp_path(const char *name)
{
    return core_sprintf("%s/%s", tmpdir, name);
}

/* A sine of `hz` for `seconds` at `rate` Hz with `channels` channels, 16-bit PCM WAV. */
static bool write_wav(const char *name, int rate, int channels, double seconds, double hz)
{
    char *path = tmp_path(name);
    SF_INFO info = {
        .samplerate = rate, .channels = channels, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = path ? sf_open(path, SFM_WRITE, &info) : NULL;
    free(path);
    if (!f)
        return false;
    const size_t n = (size_t)(seconds * rate);
    float *x = malloc(n * (size_t)channels * sizeof *x);
    for (size_t i = 0; x && i < n; i++)
        for (int c = 0; c < channels; c++)
            x[i * (size_t)channels + (size_t)c] =
                (float)(0.3 * sin(2 * M_PI * hz * (double)i / rate) * (c ? 0.5 : 1.0));
    bool ok = x && sf_writef_float(f, x, (sf_count_t)n) == (sf_count_t)n;
    free(x);
    return sf_close(f) == 0 && ok;
}

static bool write_text(const char *name, const char *text)
{
    char *path = tmp_path(name);
    bool ok = path && core_file_write_atomic(path, text, strlen(text)) == CORE_OK;
    free(path);
    return ok;
}

/* Items of every kind the reader meets; the expected outcome of each in the comment. ABS is
 * replaced by the temporary folder (an absolute path). */
static const char *const item_lines[] = {
    /* 0: the release's nested shape, gender 男性 -> male */
    "{\"audio\": \"audio/a.wav\", \"task\": {\"name\": \"识别说话人性别\", \"label\": "
    "\"男性\", \"answer\": \"我觉得是男的。\"}}",
    /* 1: given id, flattened keys, emotion synonym Joy -> happy */
    "{\"id\": \"emo-1\", \"audio\": \"audio/b.wav\", \"task_name\": \"emotion\", \"label\": "
    "\"Joy\"}",
    /* 2: speed 中速 -> normal */
    "{\"audio\": \"audio/c.wav\", \"task\": \"speed\", \"label\": \"中速\"}",
    /* 3: skipped: no head for age (its audio is never read) */
    "{\"audio\": \"audio/missing.wav\", \"task\": \"age\", \"label\": \"20-30岁\"}",
    /* 4: skipped: no emotion class for sarcasm */
    "{\"audio\": \"audio/b.wav\", \"task\": \"emotion\", \"label\": \"sarcasm\"}",
    /* 5: absolute path, dimension + ground_truth, vocal sound Laughter -> laughter yes */
    "{\"audio\": \"ABS/audio/c.wav\", \"dimension\": \"vocalsound\", \"ground_truth\": "
    "\"Laughter\"}",
    /* 6: subset key, vocal sound 咳嗽 -> laughter no */
    "{\"audio\": \"audio/a.wav\", \"subset\": \"vocalsound\", \"label\": \"咳嗽\"}",
    /* 7: skipped: 中高音 lies between two pitch classes */
    "{\"audio\": \"audio/c.wav\", \"task\": \"pitch\", \"label\": \"中高音\"}",
    /* 8: language Mandarin -> zh, and the item's lang */
    "{\"audio\": \"audio/b.wav\", \"task\": \"language\", \"label\": \"Mandarin\"}",
    /* 9: audio as {"path"}, task case and '_', label from answer with a final stop */
    "{\"audio\": {\"path\": \"audio/a.wav\"}, \"task\": \"Speaking_Rate\", \"answer\": "
    "\"fast.\"}",
    /* 10: spaces, case and '-' in the label */
    "{\"audio\": \"audio/a.wav\", \"task\": \"Vocal Sound\", \"label\": \" Throat-Clearing. \"}",
};
enum { N_LINES = sizeof item_lines / sizeof *item_lines };

/* The lines with ABS replaced, joined as a JSON array (array) or as JSON lines with a blank
 * line in the middle. malloc'd. */
static char *items_text(bool array)
{
    size_t cap = 1 << 14, o = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    o += (size_t)snprintf(buf + o, cap - o, "%s", array ? "[\n" : "");
    for (int i = 0; i < N_LINES; i++) {
        const char *s = item_lines[i], *abs = strstr(s, "ABS");
        if (abs)
            o += (size_t)snprintf(buf + o, cap - o, "%.*s%s%s", (int)(abs - s), s, tmpdir, abs + 3);
        else
            o += (size_t)snprintf(buf + o, cap - o, "%s", s);
        o += (size_t)snprintf(buf + o, cap - o, "%s\n", array && i + 1 < N_LINES ? "," : "");
        if (!array && i == 4)
            o += (size_t)snprintf(buf + o, cap - o, "\n");
    }
    snprintf(buf + o, cap - o, "%s", array ? "]\n" : "");
    return buf;
}

static bool make_fixture(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "eval-stepeval"))
        return false;
    char *audio = tmp_path("audio");
    bool ok = audio && core_mkdir_p(audio) == CORE_OK;
    free(audio);
    ok = ok && write_wav("audio/a.wav", 16000, 1, 0.5, 440) &&
         write_wav("audio/b.wav", 44100, 2, 0.5, 330) &&
         write_wav("audio/c.wav", 16000, 1, 0.3, 220);
    char *arr = items_text(true), *lines = items_text(false);
    ok = ok && arr && lines && write_text("items.json", arr) && write_text("items.jsonl", lines);
    free(arr);
    free(lines);
    return ok;
}

/* The expected items, in file order of the mapped ones. */
typedef struct expect {
    const char *id, *task, *wav;
    int head, cls, lang;
} expect;
static const expect want[] = {
    {"item-0", "识别说话人性别", "a.wav", 5, 1, DATA_LANG_EN},
    {"emo-1", "emotion", "b.wav", 0, 2, DATA_LANG_EN},
    {"item-2", "speed", "c.wav", 3, 1, DATA_LANG_EN},
    {"item-5", "vocalsound", "c.wav", 1, 1, DATA_LANG_EN},
    {"item-6", "vocalsound", "a.wav", 1, 0, DATA_LANG_EN},
    {"item-8", "language", "b.wav", 6, 1, DATA_LANG_ZH},
    {"item-9", "Speaking_Rate", "a.wav", 3, 2, DATA_LANG_EN},
    {"item-10", "Vocal Sound", "a.wav", 1, 0, DATA_LANG_EN},
};
enum { N_WANT = sizeof want / sizeof *want };

/* Hex SHA-256 of the file's bytes, read whole. */
static void file_sha(const char *name, char hex[CORE_SHA256_HEX])
{
    char *path = tmp_path(name), *buf = NULL;
    size_t len = 0;
    hex[0] = '\0';
    if (path && core_file_read(path, 0, &buf, &len) == CORE_OK) {
        uint8_t h[CORE_SHA256_BYTES];
        core_sha256(h, buf, len);
        core_hex(hex, h, CORE_SHA256_BYTES);
    }
    free(buf);
    free(path);
}

/* Frames the data stage makes of the file: data_logmel_frames of the resampled samples. */
static size_t file_frames(const char *name)
{
    char *path = tmp_path(name);
    data_audio_info info;
    float *x = NULL, *y = NULL;
    size_t n = 0, ny = 0, f = 0;
    if (path && data_audio_load_mono(path, &info, &x, &n) == CORE_OK &&
        data_resample(x, n, info.rate, DATA_SAMPLE_RATE, &y, &ny) == CORE_OK)
        f = data_logmel_frames(ny);
    free(x);
    free(y);
    free(path);
    return f;
}

static bool read_set(const char *name, eval_set *s)
{
    char *path = tmp_path(name);
    core_status st = path ? eval_set_from_stepeval(path, s) : CORE_ERR_NOMEM;
    if (st != CORE_OK)
        printf("    %s\n", core_error_message());
    free(path);
    return st == CORE_OK;
}

static void test_array_items_map_to_heads_and_skip_the_rest(void)
{
    eval_set s;
    CHECK(read_set("items.json", &s));
    CHECK_EQ_INT(s.n, N_WANT);
    CHECK_EQ_INT(s.skipped, 3);
    CHECK_EQ_INT(s.n_skipped_tasks, 3);
    if (s.n_skipped_tasks == 3) {
        CHECK_STR(s.skipped_tasks[0], "age");
        CHECK_STR(s.skipped_tasks[1], "emotion");
        CHECK_STR(s.skipped_tasks[2], "pitch");
    }
    char *path = tmp_path("items.json"), *src = core_sprintf("stepeval %s", path);
    CHECK_STR(s.source, src);
    free(src);
    free(path);
    CHECK_EQ_INT(strlen(s.sha256), 64);
    for (size_t i = 0; i < s.n && i < N_WANT; i++) {
        const eval_item *it = &s.items[i];
        const expect *w = &want[i];
        CHECK_STR(it->id, w->id);
        CHECK_STR(it->task, w->task);
        for (int k = 0; k < TRAIN_N_HEADS_PARA; k++)
            CHECK_EQ_INT(it->labels[k], k == w->head ? w->cls : -1);
        CHECK_EQ_INT(it->lang, w->lang);
        CHECK(!it->has_persona);
        CHECK_EQ_INT(it->n_history, 0);
        CHECK_EQ_INT(it->n_reply, 0);
        CHECK_EQ_INT(it->turn, -1);
        CHECK_STR(it->dialogue_id, "");
        /* the cue follows the labels */
        CHECK_EQ_INT(it->cue.emotion, w->head == 0 ? w->cls : 0);
        CHECK_EQ_INT(it->cue.laughter, w->head == 1 && w->cls == 1);
        CHECK_EQ_INT(it->cue.speed, w->head == 3 ? w->cls : 1);
        /* the audio: the file's hash, the data stage's frame count, finite values */
        char wav[64], hex[CORE_SHA256_HEX];
        snprintf(wav, sizeof wav, "audio/%s", w->wav);
        file_sha(wav, hex);
        CHECK_STR(it->audio_sha256, hex);
        size_t f = file_frames(wav);
        CHECK(f > 0);
        CHECK_EQ_INT(it->frames, f);
        bool finite = it->mel != NULL;
        for (size_t j = 0; finite && j < it->frames * TRAIN_N_MELS; j++)
            finite = isfinite(it->mel[j]);
        CHECK(finite);
    }
    /* 0.5 s at 16 kHz is 8000 samples, 50 frames; the 44.1 kHz stereo file resamples to
     * about as many */
    if (s.n == N_WANT) {
        CHECK_EQ_INT(s.items[0].frames, 50);
        CHECK(s.items[1].frames >= 49 && s.items[1].frames <= 51);
        /* the absolute and the relative path name the same file */
        CHECK_STR(s.items[3].audio_sha256, s.items[2].audio_sha256);
        CHECK(s.items[3].frames == s.items[2].frames &&
              !memcmp(s.items[3].mel, s.items[2].mel,
                      s.items[2].frames * TRAIN_N_MELS * sizeof(float)));
    }
    eval_set_free(&s);
    CHECK(s.n == 0 && s.items == NULL && s.source == NULL && s.skipped_tasks == NULL);
}

static void test_mel_is_the_data_stage_front_end(void)
{
    eval_set s;
    CHECK(read_set("items.json", &s));
    data_logmel *lm = data_logmel_create();
    for (size_t i = 0; lm && i < s.n && i < N_WANT; i++) {
        char *path = core_sprintf("%s/audio/%s", tmpdir, want[i].wav);
        float *mel = NULL;
        size_t frames = 0;
        CHECK(data_audio_logmel_file(path, lm, &mel, &frames) == CORE_OK);
        CHECK_EQ_INT(frames, s.items[i].frames);
        CHECK(mel && s.items[i].mel &&
              !memcmp(mel, s.items[i].mel, frames * DATA_N_MELS * sizeof(float)));
        free(mel);
        free(path);
    }
    data_logmel_free(lm);
    eval_set_free(&s);
}

static void test_json_lines_give_the_same_set(void)
{
    eval_set a, b;
    CHECK(read_set("items.json", &a));
    CHECK(read_set("items.jsonl", &b));
    CHECK_EQ_INT(b.n, a.n);
    CHECK_EQ_INT(b.skipped, a.skipped);
    CHECK_EQ_INT(b.n_skipped_tasks, a.n_skipped_tasks);
    CHECK_STR(b.sha256, a.sha256);
    for (size_t i = 0; i < a.n && i < b.n; i++) {
        CHECK_STR(b.items[i].id, a.items[i].id);
        CHECK(!memcmp(b.items[i].labels, a.items[i].labels, sizeof a.items[i].labels));
    }
    eval_set_free(&a);
    eval_set_free(&b);
}

static void test_reading_twice_gives_the_same_hash(void)
{
    eval_set a, b;
    CHECK(read_set("items.json", &a));
    CHECK(read_set("items.json", &b));
    CHECK_STR(a.sha256, b.sha256);
    for (size_t i = 0; i < a.n && i < b.n; i++)
        CHECK(a.items[i].frames == b.items[i].frames &&
              !memcmp(a.items[i].mel, b.items[i].mel,
                      a.items[i].frames * TRAIN_N_MELS * sizeof(float)));
    eval_set_free(&a);
    eval_set_free(&b);
}

static void test_audio_paths_are_relative_to_the_items_file(void)
{
    /* from another working folder, and with a path without any folder */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    eval_set a, b;
    CHECK(read_set("items.json", &a));
    CHECK(chdir(tmpdir) == 0);
    CHECK(eval_set_from_stepeval("items.json", &b) == CORE_OK);
    CHECK(chdir(cwd) == 0);
    CHECK_EQ_INT(b.n, a.n);
    CHECK_STR(b.sha256, a.sha256);
    CHECK_STR(b.source, "stepeval items.json");
    eval_set_free(&a);
    eval_set_free(&b);
}

/* Reads `text` (written to `name`) and expects failure with `code`, a message containing
 * each of needles[] (NULL-terminated) and the file's path, and *out left zeroed. */
static void expect_error(const char *name, const char *text, core_status code,
                         const char *const *needles)
{
    CHECK(write_text(name, text));
    char *path = tmp_path(name);
    eval_set s;
    memset(&s, 0xab, sizeof s);
    core_status st = eval_set_from_stepeval(path, &s);
    CHECK_EQ_INT(st, code);
    const char *msg = core_error_message();
    CHECK_CONTAINS(msg, path);
    for (size_t i = 0; needles[i]; i++)
        CHECK_CONTAINS(msg, needles[i]);
    CHECK(s.n == 0 && s.items == NULL && s.source == NULL && s.skipped == 0 &&
          s.skipped_tasks == NULL);
    free(path);
}

static void test_missing_audio_names_file_item_and_path(void)
{
    expect_error("e1.json",
                 "[{\"audio\": \"audio/a.wav\", \"task\": \"gender\", \"label\": \"female\"},\n"
                 " {\"audio\": \"audio/nope.wav\", \"task\": \"gender\", \"label\": \"male\"}]",
                 CORE_ERR_IO,
                 (const char *const[]){"item 1", "audio/nope.wav", "cannot open", NULL});
}

static void test_missing_keys_name_item_and_key(void)
{
    expect_error("e2.json",
                 "[{\"audio\": \"audio/a.wav\", \"task\": \"gender\", \"label\": \"female\"},\n"
                 " {\"audio\": \"audio/a.wav\", \"label\": \"male\"}]",
                 CORE_ERR_SCHEMA, (const char *const[]){"item 1", "no task", "\"task\"", NULL});
    expect_error("e3.json", "[{\"audio\": \"audio/a.wav\", \"task\": \"gender\"}]", CORE_ERR_SCHEMA,
                 (const char *const[]){"item 0", "no label", "\"label\"", NULL});
    expect_error("e4.json", "[{\"task\": \"gender\", \"label\": \"male\"}]", CORE_ERR_SCHEMA,
                 (const char *const[]){"item 0", "no audio path", "\"audio\"", NULL});
    expect_error("e5.json", "[{\"audio\": \"a.wav\", \"task\": {\"label\": \"男性\"}}]",
                 CORE_ERR_SCHEMA, (const char *const[]){"item 0", "\"name\"", NULL});
    expect_error("e6.json", "[{\"audio\": \"a.wav\", \"task\": \"gender\", \"label\": 3}]",
                 CORE_ERR_SCHEMA,
                 (const char *const[]){"item 0", "\"label\" is not a string", NULL});
    expect_error("e7.json", "[\"audio/a.wav\"]", CORE_ERR_SCHEMA,
                 (const char *const[]){"item 0", "not a JSON object", NULL});
    /* JSON lines: the line too */
    expect_error("e8.jsonl",
                 "{\"audio\": \"audio/a.wav\", \"task\": \"gender\", \"label\": \"female\"}\n"
                 "\n"
                 "{\"audio\": \"audio/a.wav\", \"task\": \"gender\"}\n",
                 CORE_ERR_SCHEMA, (const char *const[]){"e8.jsonl:3: item 1", "no label", NULL});
}

static void test_bad_json_names_line_and_column(void)
{
    expect_error(
        "e9.json",
        "[\n  {\"audio\": \"audio/a.wav\",\n   \"task\" \"gender\", \"label\": \"m\"}\n]\n",
        CORE_ERR_PARSE, (const char *const[]){"e9.json:3:", NULL});
    expect_error("e10.jsonl",
                 "{\"audio\": \"audio/a.wav\", \"task\": \"gender\", \"label\": \"female\"}\n"
                 "{\"audio\": \"audio/a.wav\", \"task\": \n",
                 CORE_ERR_PARSE, (const char *const[]){"e10.jsonl:2:", NULL});
    expect_error("e11.json", "\"just a string\"\n", CORE_ERR_PARSE,
                 (const char *const[]){"neither a JSON array", NULL});
}

static void test_empty_or_unmappable_files_are_refused(void)
{
    expect_error("e12.json", "[]", CORE_ERR_SCHEMA, (const char *const[]){"no items", NULL});
    expect_error("e13.json",
                 "[{\"audio\": \"a.wav\", \"task\": \"age\", \"label\": \"20-30岁\"},\n"
                 " {\"audio\": \"a.wav\", \"task\": \"timbre\", \"label\": \"清亮\"}]",
                 CORE_ERR_SCHEMA,
                 (const char *const[]){"none of its 2 items", "\"age\", \"timbre\"", NULL});
}

static void test_files_over_64_mib_are_refused(void)
{
    char *path = tmp_path("big.json");
    int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    CHECK(fd >= 0 && ftruncate(fd, (off_t)(65 << 20)) == 0); /* sparse: no disk used */
    if (fd >= 0)
        close(fd);
    eval_set s;
    CHECK_EQ_INT(eval_set_from_stepeval(path, &s), CORE_ERR_LIMIT);
    CHECK_CONTAINS(core_error_message(), path);
    CHECK(s.n == 0 && s.items == NULL);
    free(path);
}

int main(void)
{
    if (!make_fixture()) {
        printf("cannot make the fixture under /tmp\n");
        return 1;
    }
    RUN(test_array_items_map_to_heads_and_skip_the_rest);
    RUN(test_mel_is_the_data_stage_front_end);
    RUN(test_json_lines_give_the_same_set);
    RUN(test_reading_twice_gives_the_same_hash);
    RUN(test_audio_paths_are_relative_to_the_items_file);
    RUN(test_missing_audio_names_file_item_and_path);
    RUN(test_missing_keys_name_item_and_key);
    RUN(test_bad_json_names_line_and_column);
    RUN(test_empty_or_unmappable_files_are_refused);
    RUN(test_files_over_64_mib_are_refused);
    core_rmtree(tmpdir);
    return TEST_SUMMARY();
}
