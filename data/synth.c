/* data synth: the embedded default corpus. Multi-turn spoken dialogues whose user turns are
 * spoken by espeak-ng voices with controlled, labelled paralinguistic cues, whose replies
 * are text in a persona's style reacting to the cue, written as complete signed batches
 * (one per split) with a deliberate minority of planted problems.
 *
 * Everything is drawn from named substreams of one seed and the keys are derived from it,
 * so the same config gives the same corpus, byte for byte, whatever the thread count. */
#include "data/dialogue.h"
#include "data/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <math.h>
#include <sndfile.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define F(key, type, field, lo, hi, choices, flags, help)                                  \
    {key, type, offsetof(data_synth_cfg, field), lo, hi, choices, flags, help}
static const core_cfg_field synth_fields[] = {
    F("seed", CORE_CFG_INT, seed, 0, 9.2e18, NULL, 0, "seed of every choice"),
    F("dialogues", CORE_CFG_INT, dialogues, 3, 100000, NULL, 0, "dialogues to make"),
    F("turns.min", CORE_CFG_INT, turns_min, 1, 8, NULL, 0, "fewest user turns per dialogue"),
    F("turns.max", CORE_CFG_INT, turns_max, 1, 8, NULL, 0, "most user turns per dialogue"),
    F("languages.zh_fraction", CORE_CFG_REAL, zh_fraction, 0, 1, NULL, 0,
      "share of dialogues in Mandarin (the rest English)"),
    F("splits.validation", CORE_CFG_REAL, validation, 0, 0.5, NULL, 0,
      "share of dialogues in the validation split"),
    F("splits.test", CORE_CFG_REAL, test, 0, 0.5, NULL, 0, "share of dialogues in the test split"),
    F("splits.disjoint_voices", CORE_CFG_BOOL, disjoint_voices, 0, 0, NULL, 0,
      "validation and test speakers never speak in train"),
    F("cues.laughter", CORE_CFG_REAL, p_laughter, 0, 1, NULL, 0, "chance a user turn laughs"),
    F("cues.hesitation", CORE_CFG_REAL, p_hesitation, 0, 1, NULL, 0,
      "chance a user turn hesitates (fillers and pauses)"),
    F("cues.emotional", CORE_CFG_REAL, p_emotional, 0, 1, NULL, 0,
      "chance a user turn is not neutral"),
    F("cues.speed_change", CORE_CFG_REAL, p_speed, 0, 1, NULL, 0,
      "chance a user turn is slow or fast"),
    F("audio.sample_rate", CORE_CFG_INT, sample_rate, 8000, 48000, NULL, 0,
      "sample rate of the written WAV files"),
    F("problems", CORE_CFG_BOOL, problems, 0, 0, NULL, 0,
      "plant one recording of each problem kind in the train batch"),
    F("evaluated_at", CORE_CFG_STR, evaluated_at, 0, 0, NULL, 0,
      "the time the corpus is valid at (keys, consents, revocation list freshness)"),
    F("threads", CORE_CFG_INT, threads, 0, 1024, NULL, 0, "threads (0: all cores)"),
};
#undef F
const core_cfg_schema data_synth_schema = {"data.synth", "data/synth.yaml",
                                           sizeof(data_synth_cfg), synth_fields,
                                           sizeof synth_fields / sizeof *synth_fields,
                                           "data synth: the embedded synthetic corpus"};

/* ---------------------------------------------------------------- voices */

static const char *const en_voices[] = {"en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp",
                                        "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029"};
static const char *const variants[] = {"m1", "m2", "m3", "m4", "m5", "m6", "m7",
                                       "f1", "f2", "f3", "f4", "f5"};
enum { N_EN_VOICES = 7, N_VARIANTS = 12 };

typedef struct speaker {
    char voice[48]; /* "en-gb+f3" */
    char id[48];    /* "syn-en-gb-f3" */
    int lang;
    bool female;
    int split; /* 0 train, 1 validation, 2 test */
} speaker;

static const char *const emotions[] = {"neutral", "calm",  "happy",     "excited", "sad",
                                       "angry",   "fearful", "surprised", "tender",  "serious"};
/* Prosody per emotion through espeak-ng's controls: pitch 0-99, words per minute, amplitude. */
static const int emo_pitch[] = {50, 42, 65, 75, 32, 58, 70, 80, 45, 38};
static const int emo_rate[] = {165, 145, 185, 210, 130, 200, 200, 175, 140, 155};
static const int emo_amp[] = {100, 85, 120, 140, 70, 160, 90, 130, 75, 105};

static const char *const split_names[3] = {"train", "validation", "test"};

/* ---------------------------------------------------------------- the plan */

typedef struct utterance {
    int dialogue, turn, split, lang;
    const speaker *spk;
    char persona_id[32], role_id[96];
    data_cue cue;
    int pitch_shift; /* -15, 0, +15 */
    bool laugh_first;
    char user[1024], reply[2048], history[4096];
    char rec_id[64], path[96];
    int problem; /* 0 none, else the planted kind */
    size_t lead_in, lead_out; /* silence, in samples: unique pairs keep identical speech apart */
    /* made by synthesis */
    int64_t frames;
    char labels[2048];
    core_status st;
    char err[512];
} utterance;

enum { P_NONE, P_EXPIRED, P_WITHDRAWN, P_MINOR, P_PURPOSE, P_TAMPERED, P_RATE, N_PROBLEMS };
static const char *const problem_names[N_PROBLEMS] = {
    "", "expired consent", "withdrawn consent", "minor without guardian",
    "purpose not granted", "tampered audio", "wrong declared sample rate"};
static const char *const problem_codes[N_PROBLEMS] = {"",        "TMP-001", "REV-002", "MIN-001",
                                                      "CON-004", "INT-002", "AUD-001"};

const char *data_synth_problem_code(int kind)
{
    return kind > 0 && kind < N_PROBLEMS ? problem_codes[kind] : NULL;
}

/* ---------------------------------------------------------------- personas */

/* The rows and roles of a personas.h5: data synth's reader, public as
 * data_persona_rows_load so that the RLHF judge reads personas the same way. */

void data_persona_rows_free(data_persona_rows *p)
{
    if (!p)
        return;
    free(p->ids);
    free(p->role);
    free(p->lang);
    free(p->style);
    core_strs_free(p->role_id, p->n_roles);
    core_strs_free(p->catch, p->n_roles);
    core_strs_free(p->domains, p->n_roles);
    memset(p, 0, sizeof *p);
}

core_status data_persona_rows_load(const char *path, data_persona_rows *p)
{
    memset(p, 0, sizeof *p);
    hid_t f;
    core_status st = core_h5_open(path, &f);
    if (st != CORE_OK)
        return st;
    int rank;
    hsize_t dims[8];
    size_t n, n_catch = 0, n_domains = 0;
    CORE_TRY(core_h5_check_format(f, path, "troupe.personas/1"));
    CORE_TRY(core_h5_read(f, "/id", CORE_H5_U64, &rank, dims, (void **)&p->ids));
    p->n = dims[0];
    CORE_TRY(core_h5_read(f, "/role", CORE_H5_I32, &rank, dims, (void **)&p->role));
    n = dims[0];
    CORE_TRY(core_h5_read(f, "/axis/language", CORE_H5_U8, &rank, dims, (void **)&p->lang));
    if (n != p->n || dims[0] != p->n) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: /id, /role and /axis/language disagree on the rows",
                      path);
        goto done;
    }
    CORE_TRY(core_h5_read_strs(f, "/roles/id", &p->role_id, &p->n_roles));
    CORE_TRY(core_h5_read_strs(f, "/roles/catchphrases", &p->catch, &n_catch));
    CORE_TRY(core_h5_read_strs(f, "/roles/domains", &p->domains, &n_domains));
    if (n_catch != p->n_roles || n_domains != p->n_roles) {
        /* free with the right counts before reporting */
        core_strs_free(p->catch, n_catch);
        core_strs_free(p->domains, n_domains);
        p->catch = p->domains = NULL;
        core_strs_free(p->role_id, p->n_roles);
        p->role_id = NULL;
        p->n_roles = 0;
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: /roles/* disagree on the number of roles", path);
        goto done;
    }
    CORE_TRY(core_h5_read(f, "/roles/style", CORE_H5_F32, &rank, dims, (void **)&p->style));
    if (rank != 2 || dims[1] != 7 || dims[0] != p->n_roles) {
        st = CORE_ERR(CORE_ERR_FORMAT, "%s: /roles/style is not [roles, 7]", path);
        goto done;
    }
    for (uint64_t i = 0; i < p->n; i++)
        if (p->role[i] < 0 || (size_t)p->role[i] >= p->n_roles) {
            st = CORE_ERR(CORE_ERR_FORMAT, "%s: /role[%llu] = %d is not a role index", path,
                          (unsigned long long)i, p->role[i]);
            goto done;
        }
done:
    core_h5_close(f);
    if (st != CORE_OK) {
        if (!strstr(core_error_message(), path))
            core_error_prefix("%s", path);
        data_persona_rows_free(p);
    }
    return st;
}

int data_persona_split_list(const char *s, char *copy, size_t cap, const char **items, int max)
{
    CORE_ASSERT(cap > 0);
    snprintf(copy, cap, "%s", s ? s : "");
    int n = 0;
    for (char *p = copy; *p && n < max;) {
        char *sep = strstr(p, " | ");
        items[n++] = p;
        if (!sep)
            break;
        *sep = '\0';
        p = sep + 3;
    }
    return n;
}

/* Reads " | "-joined lists into at most 10 items, as synth always did. */
static int split_list(const char *s, char *copy, size_t cap, const char **items)
{
    return data_persona_split_list(s, copy, cap, items, 10);
}

/* ---------------------------------------------------------------- processes */

/* argv wants char *; our strings are const and never written by the child. */
static char *arg(const char *s) { return (char *)(uintptr_t)s; }

/* Runs argv (no shell) and waits; output files only. */
static core_status run(char *const argv[])
{
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return CORE_ERR(CORE_ERR_IO, "cannot run %s: %s (install espeak-ng and sox: make deps)",
                        argv[0], strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return CORE_ERR(CORE_ERR_INTERNAL, "waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return CORE_ERR(CORE_ERR_INTERNAL, "%s failed (exit %d)", argv[0],
                        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return CORE_OK;
}

/* Speaks `text` with espeak-ng into mono float at `rate`. */
static core_status speak(const char *voice, int pitch, int wpm, int amp, const char *text,
                         const char *tmp, bool laugh, int rate, float **out, size_t *n)
{
    char p[16], s[16], a[16];
    snprintf(p, sizeof p, "%d", pitch < 0 ? 0 : pitch > 99 ? 99 : pitch);
    snprintf(s, sizeof s, "%d", wpm);
    snprintf(a, sizeof a, "%d", amp);
    char *argv[] = {arg("espeak-ng"), arg("-v"), arg(voice), arg("-p"), p, arg("-s"), s,
                    arg("-a"), a, arg("-w"), arg(tmp), arg(text), NULL};
    core_status st = run(argv);
    if (st != CORE_OK)
        return st;
    char shaped[512];
    const char *src = tmp;
    if (laugh) {
        /* Laughter: a bright "ha ha ha" with a fast tremolo, the pulsing of real laughs. */
        snprintf(shaped, sizeof shaped, "%s.laugh.wav", tmp);
        /* -R: repeatable (seeded) and -D: no dither, so the output is the same every run */
        char *sx[] = {arg("sox"), arg("-R"), arg("-D"), arg(tmp), shaped, arg("tremolo"),
                      arg("7"), arg("90"), NULL};
        if ((st = run(sx)) != CORE_OK)
            return st;
        src = shaped;
    }
    data_audio_info info;
    float *x = NULL;
    size_t nx = 0;
    st = data_audio_load_mono(src, &info, &x, &nx);
    if (st == CORE_OK) {
        st = data_resample(x, nx, info.rate, rate, out, n);
        free(x);
    }
    unlink(tmp);
    if (laugh)
        unlink(shaped);
    return st;
}

/* ---------------------------------------------------------------- synthesis */

typedef struct synth_ctx {
    const data_synth_cfg *cfg;
    utterance *u;
    const char *out;
} synth_ctx;

static void add_label(utterance *u, const char *label, int64_t a, int64_t b, const char *method)
{
    size_t n = strlen(u->labels);
    snprintf(u->labels + n, sizeof u->labels - n,
             "%s{label: \"%s\", start_sample: \"%lld\", end_sample: \"%lld\", annotator: "
             "\"troupe-synth\", method: \"%s\"}",
             n ? ", " : "", label, (long long)a, (long long)b, method);
}

static core_status synth_one(const synth_ctx *c, utterance *u)
{
    const int rate = (int)c->cfg->sample_rate;
    const int e = u->cue.emotion;
    int pitch = emo_pitch[e] + u->pitch_shift;
    int wpm = emo_rate[e];
    if (u->cue.speed == 0)
        wpm = wpm * 3 / 4;
    else if (u->cue.speed == 2)
        wpm = wpm * 13 / 10;
    int amp = emo_amp[e];
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/.synth-%s.wav", c->out, u->rec_id);
    core_rng rng;
    core_rng_init(&rng, (uint64_t)c->cfg->seed, "data.synth.pauses");
    rng = core_rng_fork(&rng, (uint64_t)(u->dialogue * 16 + u->turn));

    size_t cap = (size_t)rate * 60, n = 0;
    float *pcm = core_zalloc(cap, sizeof *pcm, "synth audio");
    if (!pcm)
        return CORE_ERR_NOMEM;
    core_status st = CORE_OK;
    u->labels[0] = '\0';
    n = u->lead_in;
    char text[1024];
    snprintf(text, sizeof text, "%s", u->user);
    const char *seg[16];
    int nseg = data_dialogue_segments(text, seg, 16);
    for (int part = -1; part <= nseg; part++) {
        float *x = NULL;
        size_t nx = 0;
        bool laugh = (part == -1 && u->cue.laughter && u->laugh_first) ||
                     (part == nseg && u->cue.laughter && !u->laugh_first);
        if ((part == -1 || part == nseg) && !laugh)
            continue;
        /* A segment that ends in a filler is spoken as its words, then the filler alone, so
         * that the filler's label covers exactly the filler. */
        bool filler = u->cue.hesitation && part >= 0 && part < nseg - 1;
        char words[1024] = "", fill[128] = "";
        if (part >= 0 && part < nseg) {
            size_t at = filler ? data_dialogue_filler_start(seg[part]) : strlen(seg[part]);
            snprintf(words, sizeof words, "%.*s", (int)at, seg[part]);
            snprintf(fill, sizeof fill, "%s", seg[part] + at);
            if (!fill[0])
                filler = false;
        }
        for (int piece = 0; piece < 2; piece++) {
            const char *say = piece ? fill : words;
            if (part == -1 || part == nseg) {
                if (piece)
                    break;
                say = u->lang == DATA_LANG_ZH ? "哈哈哈" : "ha ha ha";
                CORE_TRY(speak(u->spk->voice, pitch + 20, wpm + 40, amp, say, tmp, true, rate, &x,
                               &nx));
            } else {
                bool blank = true;
                for (const char *q = say; *q && blank; q++)
                    blank = *q == ' ' || *q == ',';
                if (blank)
                    continue;
                CORE_TRY(speak(u->spk->voice, pitch, wpm, amp, say, tmp, false, rate, &x, &nx));
            }
            if (n + nx + (size_t)rate > cap) {
                free(x);
                st = CORE_ERR(CORE_ERR_LIMIT, "utterance %s is longer than 60 s", u->rec_id);
                goto done;
            }
            memcpy(pcm + n, x, nx * sizeof *x);
            free(x);
            x = NULL;
            if (laugh)
                add_label(u, "laughter", (int64_t)n, (int64_t)(n + nx), "machine");
            if (piece == 1 && filler) {
                /* the filler, then its pause of 400-900 ms: together the hesitation */
                size_t pause = (size_t)(rate * (0.4 + 0.5 * core_rng_uniform(&rng)));
                add_label(u, "filler", (int64_t)n, (int64_t)(n + nx), "machine");
                add_label(u, "pause", (int64_t)(n + nx), (int64_t)(n + nx + pause), "machine");
                add_label(u, "hesitation", (int64_t)n, (int64_t)(n + nx + pause), "machine");
                n += nx + pause;
            } else {
                n += nx + (size_t)rate / 20;
            }
        }
    }
    n += u->lead_out;
    u->frames = (int64_t)n;
    /* Utterance-level labels cover the whole recording. */
    char lab[64];
    snprintf(lab, sizeof lab, "emotion:%s", emotions[e]);
    add_label(u, lab, 0, (int64_t)n, "machine");
    add_label(u, u->cue.speed == 0 ? "speed:slow" : u->cue.speed == 2 ? "speed:fast" : "speed:normal",
              0, (int64_t)n, "machine");
    add_label(u, pitch < 40 ? "pitch:low" : pitch > 60 ? "pitch:high" : "pitch:mid", 0, (int64_t)n,
              "machine");
    add_label(u, u->spk->female ? "gender:female" : "gender:male", 0, (int64_t)n, "machine");

    char path[700];
    snprintf(path, sizeof path, "%s/%s/%s", c->out, split_names[u->split], u->path);
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) {
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot write: %s", path, sf_strerror(NULL));
        goto done;
    }
    sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    if (sf_writef_float(sf, pcm, (sf_count_t)n) != (sf_count_t)n)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot write: %s", path, sf_strerror(sf));
    sf_close(sf);
done:
    free(pcm);
    return st;
}

static void synth_range(void *ctx, size_t begin, size_t end, int tid)
{
    synth_ctx *c = ctx;
    for (size_t i = begin; i < end; i++) {
        c->u[i].st = synth_one(c, &c->u[i]);
        if (c->u[i].st != CORE_OK)
            snprintf(c->u[i].err, sizeof c->u[i].err, "%s", core_error_message());
    }
}

/* ---------------------------------------------------------------- writing a batch */

/* Writes YAML `text` at `path` in canonical form (parsed, then re-emitted), atomically. */
static core_status write_canonical(const char *path, const char *text)
{
    core_yaml_doc *doc;
    core_status st = core_yaml_parse(path, text, strlen(text), NULL, &doc);
    if (st != CORE_OK)
        return st;
    char *c = data_canonical_yaml(doc);
    core_yaml_free(doc);
    if (!c)
        return core_error_code();
    st = core_file_write_atomic(path, c, strlen(c));
    free(c);
    return st;
}

static void sha_file(const char *path, char hex[CORE_SHA256_HEX], int64_t *bytes)
{
    uint8_t h[32];
    uint64_t n = 0;
    core_sha256_file(path, h, &n);
    core_hex(hex, h, 32);
    if (bytes)
        *bytes = (int64_t)n;
}

/* A growing string. */
typedef struct sb {
    char *s;
    size_t n, cap;
} sb;

static void sb_add(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0)
        return;
    if (b->n + (size_t)need + 1 > b->cap) {
        size_t cap = (b->n + (size_t)need + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns)
            return;
        b->s = ns;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

/* YAML double-quoted string content: escape backslash and quote. */
static void yq(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 3 < cap; s++) {
        if (*s == '"' || *s == '\\')
            out[n++] = '\\';
        out[n++] = *s;
    }
    out[n] = '\0';
}

#define LICENCE_ID "LicenseRef-Troupe-Synthetic-1"
#define LICENCE_TEXT                                                                       \
    "Troupe synthetic speech corpus licence, version 1.\n"                                 \
    "The recordings in this batch were generated by espeak-ng and sox from text written by " \
    "the Troupe project. They may be used for any purpose, including commercial training " \
    "of speech models, with attribution to the Troupe project.\n"
#define FORM_TEXT                                                                          \
    "Consent form (synthetic voice donor), version 1.\n"                                   \
    "I agree that speech synthesised with my voice configuration may be used to train and " \
    "evaluate speech models, commercially, in any territory, until the end of the term.\n"

/* Keys live under OUT/keys; secrets are derived from the seed so the corpus is reproducible
 * (they sign a demonstration corpus, never anything real). */
typedef struct tkey_paths {
    char licensor[600], curator[600], controller[600];
} tkey_paths;

static core_status write_consent(const char *dir, const char *id, const char *subject, int kind,
                                 const char *form_sha, const tkey_paths *keys)
{
    char path[800], text[4096];
    snprintf(path, sizeof path, "%s/consent/%s.yaml", dir, id);
    snprintf(
        text, sizeof text,
        "schema: \"troupe.consent/1\"\nconsent_id: \"%s\"\nsubject: \"%s\"\n"
        "created_at: \"2026-01-05T00:00:00Z\"\nstatus: \"given\"\n"
        "status_history: [{status: \"given\", at: \"2026-01-05T00:00:00Z\"}]\n"
        "legal_basis: \"consent\"\nmethod: \"signed_form\"\n"
        "form: {id: \"synthetic-donor-v1\", language: \"en\", path: \"consent/forms/donor-v1.txt\", "
        "sha256: \"%s\"}\n"
        "signatory: \"subject\"\nsubject_is_minor: \"%s\"\nguardian_ref: null\n"
        "representation: \"none\"\ncompensation_ref: null\n"
        "scope:\n  purposes_allowed: %s\n  purposes_prohibited: [\"voice_cloning\", "
        "\"speaker_identification\"]\n"
        "  digital_replica: {allowed: \"false\", description: null}\n"
        "  biometric: {allowed: \"false\", legal_basis: null}\n  commercial: \"true\"\n"
        "  territory_include: [\"ZZ\"]\n  territory_exclude: []\n"
        "  term_start: \"2026-01-01T00:00:00Z\"\n  term_end: \"%s\"\n"
        "  on_expiry: \"no new training\"\n"
        "revocation: {revocable: \"true\", channel: \"issues of the Troupe project\", "
        "effect_on_models: \"exclude from the next training run\"}\n",
        id, subject, form_sha, kind == P_MINOR ? "true" : "false",
        kind == P_PURPOSE ? "[\"evaluation\"]"
                          : "[\"training\", \"generative_training\", \"paralinguistic_modelling\", "
                            "\"evaluation\", \"emotion_inference\", \"research_only\"]",
        kind == P_EXPIRED ? "2026-06-30T00:00:00Z" : "2030-12-31T00:00:00Z");
    core_status st = write_canonical(path, text);
    if (st == CORE_OK) {
        char env[820];
        snprintf(env, sizeof env, "%s.dsse.json", path);
        st = data_sign_file(path, DATA_TYPE_CONSENT, keys->controller, env);
    }
    return st;
}

static core_status write_batch(const data_synth_cfg *cfg, const char *out, int split,
                               utterance *u, size_t nu, const tkey_paths *keys)
{
    char dir[700], p[900];
    snprintf(dir, sizeof dir, "%s/%s", out, split_names[split]);
    core_status st = CORE_OK;
    sb m = {0};
    char form_sha[CORE_SHA256_HEX], lic_sha[CORE_SHA256_HEX];
    snprintf(p, sizeof p, "%s/consent/forms/donor-v1.txt", dir);
    CORE_TRY(core_file_write_atomic(p, FORM_TEXT, strlen(FORM_TEXT)));
    sha_file(p, form_sha, NULL);
    snprintf(p, sizeof p, "%s/licences/%s.txt", dir, LICENCE_ID);
    CORE_TRY(core_file_write_atomic(p, LICENCE_TEXT, strlen(LICENCE_TEXT)));
    sha_file(p, lic_sha, NULL);

    /* One consent per speaker in this split, plus one per planted consent problem. */
    char consent_of[512][64];
    const speaker *spk_seen[512];
    size_t nspk = 0;
    sb refs = {0};
    for (size_t i = 0; i < nu; i++) {
        if (u[i].split != split)
            continue;
        char cid[64];
        bool special = u[i].problem == P_EXPIRED || u[i].problem == P_MINOR ||
                       u[i].problem == P_PURPOSE || u[i].problem == P_WITHDRAWN;
        if (special) {
            snprintf(cid, sizeof cid, "cons-%s-problem-%d", u[i].spk->id, u[i].problem);
        } else {
            size_t k = 0;
            while (k < nspk && spk_seen[k] != u[i].spk)
                k++;
            if (k < nspk)
                continue;
            if (nspk == 512) {
                st = CORE_ERR(CORE_ERR_LIMIT, "more than 512 speakers in one split");
                goto done;
            }
            spk_seen[nspk] = u[i].spk;
            snprintf(consent_of[nspk++], 64, "cons-%s", u[i].spk->id);
            snprintf(cid, sizeof cid, "cons-%s", u[i].spk->id);
        }
        char subject[96];
        snprintf(subject, sizeof subject, "%s%s", u[i].spk->id,
                 special ? "-donor" : "");
        CORE_TRY(write_consent(dir, cid, subject, u[i].problem, form_sha, keys));
        char cp[800], csha[CORE_SHA256_HEX];
        snprintf(cp, sizeof cp, "%s/consent/%s.yaml", dir, cid);
        sha_file(cp, csha, NULL);
        sb_add(&refs, "  - {id: \"%s\", path: \"consent/%s.yaml\", sha256: \"%s\"}\n", cid, cid,
               csha);
    }

    /* The recordings. */
    sb recs = {0};
    data_leaf *leaves = core_zalloc(nu ? nu : 1, sizeof *leaves, "manifest");
    char (*shas)[CORE_SHA256_HEX] = core_zalloc(nu ? nu : 1, sizeof *shas, "manifest");
    char (*cids)[64] = core_zalloc(nu ? nu : 1, sizeof *cids, "manifest");
    char (*subj)[96] = core_zalloc(nu ? nu : 1, sizeof *subj, "manifest");
    size_t nl = 0;
    if (!leaves || !shas || !cids || !subj) {
        free(leaves);
        free(shas);
        free(cids);
        free(subj);
        st = CORE_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < nu; i++) {
        utterance *x = &u[i];
        if (x->split != split)
            continue;
        bool special = x->problem == P_EXPIRED || x->problem == P_MINOR ||
                       x->problem == P_PURPOSE || x->problem == P_WITHDRAWN;
        if (special) {
            snprintf(cids[nl], 64, "cons-%s-problem-%d", x->spk->id, x->problem);
            snprintf(subj[nl], 96, "%s-donor", x->spk->id);
        } else {
            snprintf(cids[nl], 64, "cons-%s", x->spk->id);
            snprintf(subj[nl], 96, "%s", x->spk->id);
        }
        char ap[900];
        int64_t bytes;
        snprintf(ap, sizeof ap, "%s/%s", dir, x->path);
        sha_file(ap, shas[nl], &bytes);
        char user[2100], reply[4200], hist[8200], tsha[CORE_SHA256_HEX];
        uint8_t h[32];
        core_sha256(h, x->user, strlen(x->user));
        core_hex(tsha, h, 32);
        yq(user, sizeof user, x->user);
        yq(reply, sizeof reply, x->reply);
        yq(hist, sizeof hist, x->history);
        sb_add(&recs,
               "  - recording_id: \"%s\"\n    path: \"%s\"\n    media_type: \"audio/wav\"\n"
               "    bytes: \"%lld\"\n    sha256: \"%s\"\n    sample_rate: \"%d\"\n"
               "    channels: \"1\"\n    bit_depth: \"16\"\n    duration_samples: \"%lld\"\n"
               "    speaker_id: \"%s\"\n    consent_id: \"%s\"\n    licence: \"%s\"\n"
               "    contract_id: null\n    collection_method: \"synthetic\"\n"
               "    digital_source_type: \"trainedAlgorithmicMedia\"\n"
               "    recorded_at: \"2026-02-01T00:00:00Z\"\n    recorded_in: \"GB\"\n"
               "    language: \"%s\"\n"
               "    transcript: {text: \"%s\", source: \"script\", sha256: \"%s\"}\n"
               "    labels: [%s]\n"
               "    dialogue: {dialogue_id: \"%s-d%05d\", turn: \"%d\", persona_id: \"%s\", "
               "history: \"%s\", response: \"%s\"}\n",
               x->rec_id, x->path, (long long)bytes, shas[nl],
               x->problem == P_RATE ? 44100 : (int)cfg->sample_rate, (long long)x->frames,
               subj[nl], cids[nl], LICENCE_ID, x->lang == DATA_LANG_ZH ? "zh" : "en", user, tsha,
               x->labels, split_names[split], x->dialogue, x->turn, x->persona_id, hist, reply);
        leaves[nl] = (data_leaf){x->rec_id, shas[nl], subj[nl], cids[nl], LICENCE_ID, bytes};
        nl++;
    }
    uint8_t root[32];
    char root_hex[CORE_SHA256_HEX];
    data_merkle_root(leaves, nl, root);
    core_hex(root_hex, root, 32);
    sb_add(&m,
           "schema: \"troupe.manifest/1\"\nmanifest_id: \"troupe-synth-%s\"\n"
           "manifest_version: \"1.0.0\"\ncreated_at: \"2026-03-01T00:00:00Z\"\n"
           "producer: {organisation: \"Troupe synthetic corpus\", role: \"licensor\"}\n"
           "controller: {organisation: \"Troupe synthetic corpus\", jurisdiction: \"GB\"}\n"
           "batch:\n  title: \"Troupe synthetic dialogues (%s split)\"\n"
           "  collection_method: \"synthetic\"\n  collection_start: \"2026-02-01T00:00:00Z\"\n"
           "  collection_end: \"2026-02-28T00:00:00Z\"\n  languages: [\"en\", \"zh\"]\n"
           "  taxonomy: {id: \"troupe.paralinguistic\", version: \"1\"}\n"
           "licences:\n  - {id: \"%s\", path: \"licences/%s.txt\", sha256: \"%s\", "
           "use_class: \"commercial\"}\n"
           "contracts: []\n"
           "training_mining_default: {ai_training: \"allowed\", ai_generative_training: "
           "\"allowed\", ai_inference: \"allowed\", data_mining: \"notAllowed\"}\n"
           "consent_records:\n%s"
           "integrity: {merkle_root: \"%s\", record_count: \"%zu\"}\n"
           "recordings:\n%s",
           split_names[split], split_names[split], LICENCE_ID, LICENCE_ID, lic_sha,
           refs.s ? refs.s : "", root_hex, nl, recs.s ? recs.s : "");
    free(leaves);
    free(shas);
    free(cids);
    free(subj);
    free(refs.s);
    free(recs.s);
    if (!m.s) {
        st = CORE_ERR(CORE_ERR_NOMEM, "manifest: out of memory");
        goto done;
    }
    snprintf(p, sizeof p, "%s/manifest.yaml", dir);
    CORE_TRY(write_canonical(p, m.s));
    char env[920];
    snprintf(env, sizeof env, "%s.dsse.json", p);
    CORE_TRY(data_sign_file(p, DATA_TYPE_MANIFEST, keys->licensor, env));
    CORE_TRY(data_sign_file(p, DATA_TYPE_MANIFEST, keys->curator, env));
    /* Tampered audio: changed after the manifest recorded its hash (header left intact). */
    for (size_t i = 0; i < nu; i++)
        if (u[i].split == split && u[i].problem == P_TAMPERED) {
            char ap[900];
            snprintf(ap, sizeof ap, "%s/%s", dir, u[i].path);
            int fd = open(ap, O_WRONLY);
            if (fd >= 0) {
                if (pwrite(fd, "\x7f\x7f\x7f\x7f", 4, 1000) != 4)
                    st = CORE_ERR(CORE_ERR_IO, "%s: cannot tamper: %s", ap, strerror(errno));
                close(fd);
            }
        }
done:
    free(m.s);
    return st;
}

/* ---------------------------------------------------------------- the plan and the run */

static void shuffle(int *a, int n, core_rng *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)core_rng_below(rng, (uint64_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static int count_of(double frac, int n)
{
    int k = (int)lround(frac * n);
    if (frac > 0 && k == 0)
        k = 1;
    return k;
}

core_status data_synth(const data_synth_cfg *cfg, const char *personas_path, const char *out,
                       data_synth_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    double t0 = core_now();
    core_status st = CORE_OK;
    data_persona_rows pr = {0};
    utterance *u = NULL;
    speaker *spk = NULL;
    char *tmp = NULL;
    int64_t at;
    if (!data_time_parse(cfg->evaluated_at, &at))
        return CORE_ERR(CORE_ERR_SCHEMA, "evaluated_at '%s' is not YYYY-MM-DDTHH:MM:SSZ",
                        cfg->evaluated_at);
    if (cfg->turns_min > cfg->turns_max)
        return CORE_ERR(CORE_ERR_RANGE, "turns.min (%lld) is above turns.max (%lld)",
                        (long long)cfg->turns_min, (long long)cfg->turns_max);
    struct stat sb_;
    if (stat(out, &sb_) == 0)
        return CORE_ERR(CORE_ERR_USAGE, "%s: already exists; remove it or choose another -o",
                        out);
    CORE_TRY(data_persona_rows_load(personas_path, &pr));

    /* Speakers: every English voice and Mandarin with every variant. */
    int nsp = (N_EN_VOICES + 1) * N_VARIANTS;
    spk = core_zalloc((size_t)nsp, sizeof *spk, "speakers");
    if (!spk) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    for (int v = 0; v <= N_EN_VOICES; v++)
        for (int k = 0; k < N_VARIANTS; k++) {
            speaker *s = &spk[v * N_VARIANTS + k];
            const char *voice = v < N_EN_VOICES ? en_voices[v] : "cmn";
            snprintf(s->voice, sizeof s->voice, "%s+%s", voice, variants[k]);
            snprintf(s->id, sizeof s->id, "syn-%s-%s", voice, variants[k]);
            s->lang = v < N_EN_VOICES ? DATA_LANG_EN : DATA_LANG_ZH;
            s->female = variants[k][0] == 'f';
        }
    core_rng root;
    core_rng_init(&root, (uint64_t)cfg->seed, "data.synth.voices");
    for (int lang = 0; lang < 2; lang++) {
        int idx[128], n = 0;
        for (int i = 0; i < nsp; i++)
            if (spk[i].lang == lang)
                idx[n++] = i;
        shuffle(idx, n, &root);
        int nt = cfg->disjoint_voices ? count_of(cfg->test, n) : 0;
        int nv = cfg->disjoint_voices ? count_of(cfg->validation, n) : 0;
        for (int i = 0; i < n; i++)
            spk[idx[i]].split = i < nt ? 2 : i < nt + nv ? 1 : 0;
    }

    /* Dialogues: splits by a seeded permutation, then everything per dialogue. */
    int D = (int)cfg->dialogues;
    int *order = core_alloc((size_t)D, sizeof *order, "dialogues"), *dsplit = core_alloc((size_t)D, sizeof *dsplit, "dialogues");
    size_t cap = (size_t)D * (size_t)cfg->turns_max + N_PROBLEMS;
    u = core_zalloc(cap, sizeof *u, "utterances");
    if (!order || !dsplit || !u) {
        free(order);
        free(dsplit);
        st = CORE_ERR_NOMEM;
        goto done;
    }
    core_rng_init(&root, (uint64_t)cfg->seed, "data.synth.splits");
    for (int d = 0; d < D; d++)
        order[d] = d;
    shuffle(order, D, &root);
    int n_test = count_of(cfg->test, D), n_val = count_of(cfg->validation, D);
    for (int i = 0; i < D; i++)
        dsplit[order[i]] = i < n_test ? 2 : i < n_test + n_val ? 1 : 0;
    free(order);
    core_rng plan;
    core_rng_init(&plan, (uint64_t)cfg->seed, "data.synth.plan");
    size_t nu = 0;
    for (int d = 0; d < D + (cfg->problems ? N_PROBLEMS - 1 : 0); d++) {
        core_rng r = core_rng_fork(&plan, (uint64_t)d);
        int problem = d >= D ? d - D + 1 : P_NONE;
        int split = problem ? 0 : dsplit[d];
        int lang = core_rng_uniform(&r) < cfg->zh_fraction ? DATA_LANG_ZH : DATA_LANG_EN;
        /* a speaker of that language in that split */
        int cand[128], nc = 0;
        for (int i = 0; i < nsp; i++)
            if (spk[i].lang == lang && (spk[i].split == split || !cfg->disjoint_voices))
                cand[nc++] = i;
        const speaker *s = &spk[cand[core_rng_below(&r, (uint64_t)nc)]];
        /* a persona row whose language axis is the dialogue's language */
        uint64_t row = 0;
        for (int tries = 0; tries < 1000; tries++) {
            row = core_rng_below(&r, pr.n);
            if (pr.lang[row] == (uint8_t)lang)
                break;
        }
        int32_t role = pr.role[row];
        const char *cps[10], *doms[10];
        char cbuf[2048], dbuf[1024];
        int ncp = split_list(pr.catch[role], cbuf, sizeof cbuf, cps);
        int ndm = split_list(pr.domains[role], dbuf, sizeof dbuf, doms);
        const float *sty = pr.style + (size_t)role * 7;
        data_persona_style style = {pr.role_id[role], sty[0], sty[1], sty[2], sty[3], sty[4],
                                    sty[5],           sty[6],  cps,    ncp,    doms,   ndm};
        int topic = data_dialogue_pick_topic(&style, &r);
        int turns = problem ? 1
                            : (int)cfg->turns_min +
                                  (int)core_rng_below(&r, (uint64_t)(cfg->turns_max -
                                                                     cfg->turns_min + 1));
        char history[4096] = "";
        for (int t = 0; t < turns; t++) {
            utterance *x = &u[nu++];
            x->dialogue = d;
            x->turn = t;
            x->split = split;
            x->lang = lang;
            x->spk = s;
            x->problem = problem;
            snprintf(x->persona_id, sizeof x->persona_id, "%llu", (unsigned long long)pr.ids[row]);
            snprintf(x->role_id, sizeof x->role_id, "%s", pr.role_id[role]);
            x->cue.emotion = core_rng_uniform(&r) < cfg->p_emotional
                                 ? 1 + (int)core_rng_below(&r, 9)
                                 : 0;
            x->cue.laughter = core_rng_uniform(&r) < cfg->p_laughter;
            x->cue.hesitation = core_rng_uniform(&r) < cfg->p_hesitation;
            x->cue.speed = core_rng_uniform(&r) < cfg->p_speed ? (core_rng_uniform(&r) < 0.5 ? 0 : 2)
                                                                : 1;
            x->pitch_shift = (int)core_rng_below(&r, 3) * 15 - 15;
            x->laugh_first = core_rng_uniform(&r) < 0.5;
            /* opening, follow-up or closing: a 2-turn dialogue opens and closes */
            int kind = data_dialogue_turn_kind(t, turns);
            data_dialogue_user(lang, topic, kind, &x->cue, &r, x->user, sizeof x->user);
            data_dialogue_reply(&style, &x->cue, lang, topic, kind, &r, x->reply, sizeof x->reply);
            snprintf(x->history, sizeof x->history, "%s", history);
            size_t hl = strlen(history);
            snprintf(history + hl, sizeof history - hl, "%s%s || %s", hl ? " || " : "", x->user,
                     x->reply);
            if (problem)
                snprintf(x->rec_id, sizeof x->rec_id, "syn-train-problem-%d", problem);
            else
                snprintf(x->rec_id, sizeof x->rec_id, "syn-%s-d%05d-t%d", split_names[split], d, t);
            snprintf(x->path, sizeof x->path, "audio/%s.wav", x->rec_id);
            /* 100-200 ms of silence before and after, a different pair for every utterance:
             * the same words, voice and cue twice must still be two different recordings
             * (INT-005 refuses identical audio). */
            size_t base = (size_t)cfg->sample_rate / 10;
            x->lead_in = base + (nu - 1) % base;
            x->lead_out = base + ((nu - 1) / base) % base;
        }
    }
    free(dsplit);

    /* Folders, keys, keyring. */
    tmp = core_tmp_path(out);
    if (!tmp) {
        st = CORE_ERR_NOMEM;
        goto done;
    }
    char p[900];
    for (int s = 0; s < 3; s++) {
        snprintf(p, sizeof p, "%s/%s/audio", tmp, split_names[s]);
        CORE_TRY(core_mkdir_p(p));
        snprintf(p, sizeof p, "%s/%s/consent/forms", tmp, split_names[s]);
        CORE_TRY(core_mkdir_p(p));
        snprintf(p, sizeof p, "%s/%s/licences", tmp, split_names[s]);
        CORE_TRY(core_mkdir_p(p));
    }
    snprintf(p, sizeof p, "%s/keys", tmp);
    CORE_TRY(core_mkdir_p(p));
    snprintf(p, sizeof p, "%s/revocations", tmp);
    CORE_TRY(core_mkdir_p(p));
    tkey_paths keys;
    static const char *const who[3] = {"licensor", "curator", "controller"};
    static const int roles[3] = {DATA_ROLE_LICENSOR, DATA_ROLE_CURATOR, DATA_ROLE_CONTROLLER};
    core_rng_init(&root, (uint64_t)cfg->seed, "data.synth.keys");
    sb kr = {0};
    sb_add(&kr, "schema: \"troupe.keyring/1\"\nkeys:\n");
    for (int k = 0; k < 3; k++) {
        uint8_t seed[32];
        for (int i = 0; i < 32; i += 4) {
            uint32_t v = core_rng_u32(&root);
            memcpy(seed + i, &v, 4);
        }
        char base[800], owner[96];
        snprintf(base, sizeof base, "%s/keys/%s", tmp, who[k]);
        snprintf(owner, sizeof owner, "Troupe synthetic corpus %s", who[k]);
        CORE_TRY(data_keygen_seeded(base, owner, roles[k], 1767225600 /* 2026-01-01 */,
                                    1924992000 /* 2031-01-01 */, seed));
        core_wipe(seed, sizeof seed);
        char *pub;
        size_t pl;
        snprintf(p, sizeof p, "%s.pub.yaml", base);
        CORE_TRY(core_file_read(p, 0, &pub, &pl));
        sb_add(&kr, "%s", pub);
        free(pub);
    }
    snprintf(keys.licensor, sizeof keys.licensor, "%s/keys/licensor.secret", tmp);
    snprintf(keys.curator, sizeof keys.curator, "%s/keys/curator.secret", tmp);
    snprintf(keys.controller, sizeof keys.controller, "%s/keys/controller.secret", tmp);
    snprintf(p, sizeof p, "%s/keyring.yaml", tmp);
    st = kr.s ? write_canonical(p, kr.s) : CORE_ERR_NOMEM;
    free(kr.s);
    if (st != CORE_OK)
        goto done;

    /* Speech, on all threads (espeak-ng and sox run as separate processes). */
    synth_ctx c = {cfg, u, tmp};
    core_progress *prog = core_progress_start("data synth", nu, "utterances");
    CORE_TRY(core_parallel_for(nu, (int)cfg->threads, synth_range, &c));
    core_progress_finish(prog);
    for (size_t i = 0; i < nu; i++)
        if (u[i].st != CORE_OK) {
            st = CORE_ERR(u[i].st, "%s", u[i].err);
            goto done;
        }
    for (int s = 0; s < 3; s++)
        CORE_TRY(write_batch(cfg, tmp, s, u, nu, &keys));

    /* The controller's revocation list, with the planted withdrawal. */
    char this_update[32], next_update[32], effective[32];
    data_time_format(at - 30 * 86400, this_update);
    data_time_format(at + 365 * 86400, next_update);
    data_time_format(at - 7 * 86400, effective);
    sb rv = {0};
    sb_add(&rv,
           "schema: \"troupe.revocations/1\"\nlist_id: \"troupe-synth-revocations\"\n"
           "issuer: \"Troupe synthetic corpus\"\nsequence: \"1\"\nthis_update: \"%s\"\n"
           "next_update: \"%s\"\nprevious_list_sha256: null\nentries: [",
           this_update, next_update);
    for (size_t i = 0; i < nu; i++)
        if (u[i].problem == P_WITHDRAWN)
            sb_add(&rv,
                   "{entry_id: \"w-0001\", scope: \"consent\", target: \"cons-%s-problem-%d\", "
                   "kind: \"withdrawn\", purposes: [\"all\"], effective_at: \"%s\", "
                   "required_actions: [\"exclude from training\", \"retrain affected "
                   "checkpoints\"], deadline: \"%s\"}",
                   u[i].spk->id, P_WITHDRAWN, effective, next_update);
    sb_add(&rv, "]\n");
    snprintf(p, sizeof p, "%s/revocations/troupe-synth.yaml", tmp);
    st = rv.s ? write_canonical(p, rv.s) : CORE_ERR_NOMEM;
    free(rv.s);
    if (st != CORE_OK)
        goto done;
    char env[920];
    snprintf(env, sizeof env, "%s.dsse.json", p);
    CORE_TRY(data_sign_file(p, DATA_TYPE_REVOCATIONS, keys.controller, env));

    /* Statistics and the corpus summary. */
    bool seen_spk[128] = {false};
    for (size_t i = 0; i < nu; i++) {
        const utterance *x = &u[i];
        double secs = (double)x->frames / (double)cfg->sample_rate;
        stats->utterances++;
        stats->seconds[x->split] += secs;
        stats->per_split[x->split]++;
        stats->emotion[x->cue.emotion]++;
        stats->laughter += x->cue.laughter;
        stats->hesitation += x->cue.hesitation;
        stats->speed[x->cue.speed]++;
        stats->lang[x->lang]++;
        stats->female += x->spk->female;
        stats->planted += x->problem != P_NONE;
        int si = (int)(x->spk - spk);
        if (!seen_spk[si]) {
            seen_spk[si] = true;
            stats->speakers++;
        }
    }
    stats->dialogues = (size_t)D;
    /* corpus.yaml: what was made, and which recordings were planted to fail which check. */
    sb sum = {0};
    sb_add(&sum, "schema: \"troupe.synth-corpus/1\"\nseed: \"%lld\"\ndialogues: \"%zu\"\n"
                 "utterances: \"%zu\"\nspeakers: \"%zu\"\nsplits:\n",
           (long long)cfg->seed, stats->dialogues, stats->utterances, stats->speakers);
    for (int k = 0; k < 3; k++)
        sb_add(&sum, "  %s: {utterances: \"%zu\", seconds: \"%.2f\"}\n", split_names[k],
               stats->per_split[k], stats->seconds[k]);
    sb_add(&sum, "planted_problems: [");
    for (size_t i = 0, first = 1; i < nu; i++)
        if (u[i].problem) {
            sb_add(&sum, "%s{recording_id: \"%s\", problem: \"%s\", expected_check: \"%s\"}",
                   first ? "" : ", ", u[i].rec_id, problem_names[u[i].problem],
                   problem_codes[u[i].problem]);
            first = 0;
        }
    sb_add(&sum, "]\n");
    snprintf(p, sizeof p, "%s/corpus.yaml", tmp);
    st = sum.s ? write_canonical(p, sum.s) : CORE_ERR_NOMEM;
    free(sum.s);
    if (st != CORE_OK)
        goto done;
    if (rename(tmp, out) != 0)
        st = CORE_ERR(CORE_ERR_IO, "%s: cannot rename into place: %s", out, strerror(errno));
done:
    if (st != CORE_OK && tmp)
        core_rmtree(tmp);
    free(tmp);
    free(u);
    free(spk);
    data_persona_rows_free(&pr);
    stats->wall_seconds = core_now() - t0;
    return st;
}
