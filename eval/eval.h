/* eval: scores of checkpoints the way the field reports voice models (docs/eval.md).
 *
 * - eval sets (eval/set.c, eval/stepeval.c): held-out utterances from the test split of a
 *   `data ingest` corpus, or StepEval-Audio-Paralinguistic style JSON items;
 * - metrics (eval/metrics.c): accuracy, macro-F1, hits@k, percentiles, bootstrap intervals;
 * - the run (eval/run.c): paralinguistic comprehension, general dialogue, persona
 *   consistency over self-play, streaming latency, the weighted overall score;
 * - reports (eval/report.c): JSON (troupe.eval-report/1, stable keys), Markdown, and SVG
 *   plots drawn by gnuplot.
 *
 * Dependencies: eval -> rlhf (the judge) -> train -> data, persona -> core. */
#ifndef TROUPE_EVAL_H
#define TROUPE_EVAL_H
#include "core/core.h"
#include "data/dialogue.h"
#include "train/train.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- eval sets */

/* One held-out item. Token arrays are UTF-8 bytes (0-255) without BOS/EOS; mel holds
 * `frames` log-mel rows of TRAIN_N_MELS floats. Items of a paralinguistic-only set (StepEval)
 * have no persona (has_persona false, persona zeros), no history and no reply. */
typedef struct eval_item {
    char *id;           /* recording id, or the item's id in a benchmark file */
    char *dialogue_id;  /* "" when none */
    int turn;           /* turn index in its dialogue, -1 when none */
    int turn_kind;      /* 0 opening, 1 follow-up, 2 closing (data_dialogue_turn_kind) */
    bool has_persona;
    uint64_t persona_id;
    float persona[TRAIN_PERSONA_DIM];
    int32_t *history;
    size_t n_history;
    float *mel;
    size_t frames;
    int32_t *reply; /* the reference reply */
    size_t n_reply;
    int32_t *transcript; /* what the user said (for self-play histories); may be empty */
    size_t n_transcript;
    int32_t labels[TRAIN_N_HEADS_PARA]; /* class per head (train_para_names order), -1: none */
    data_cue cue;                       /* the user's cue, from the labels */
    int lang;                           /* DATA_LANG_EN or DATA_LANG_ZH */
    char audio_sha256[CORE_SHA256_HEX]; /* hex of the source audio file */
    char *task;                         /* benchmark items: the task name as written; else NULL */
} eval_item;

typedef struct eval_set {
    eval_item *items;
    size_t n;
    char *source;  /* what was read: "corpus DIR split test" or "stepeval FILE" */
    char sha256[CORE_SHA256_HEX]; /* of the sorted, LF-joined "id audio_sha256" lines */
    size_t skipped; /* benchmark items whose task or label maps to no closed label set */
    char **skipped_tasks; /* their distinct task names (sorted) */
    size_t n_skipped_tasks;
} eval_set;

/* The utterances of the shards whose manifest id contains `split` (e.g. "test") in a
 * `data ingest` output folder, with persona features from personas_h5, in the index's
 * shard order. Errors name the file. */
core_status eval_set_from_corpus(const char *corpus_dir, const char *split, const char *personas_h5,
                                 eval_set *out);
/* StepEval-Audio-Paralinguistic style items (eval/stepeval.c, docs/eval.md): a JSON array or
 * JSON lines of objects with the audio path (relative to the file's folder), the task name
 * and the label; tasks and labels are mapped to the paralinguistic heads' closed label sets
 * where the labels allow, the rest counted in skipped. Errors name the file and item. */
core_status eval_set_from_stepeval(const char *items_path, eval_set *out);
/* Keeps the first n items (n >= out->n: all) and recomputes the set's hash. */
void eval_set_truncate(eval_set *s, size_t n);
void eval_set_free(eval_set *s); /* accepts zeroed structs */

/* ---------------------------------------------------------------- metrics (eval/metrics.c) */

/* Confusion counts of one classification dimension: conf[t * k + p] items of true class t
 * predicted p. */
typedef struct eval_confusion {
    int k;
    uint64_t *conf;
} eval_confusion;
/* Accuracy (0 when empty) and macro-F1: the mean over classes that occur in the truth or
 * the predictions of F1 = 2 TP / (2 TP + FP + FN). */
double eval_accuracy(const int32_t *truth, const int32_t *pred, size_t n);
double eval_macro_f1(const int32_t *truth, const int32_t *pred, size_t n, int k);
/* The q-quantile (0..1) of x[0..n) by linear interpolation between order statistics (numpy's
 * default); x is not modified. NaN when n == 0. */
double eval_quantile(const double *x, size_t n, double q);
/* A statistic and its bootstrap interval over items. */
typedef struct eval_ci {
    double value, lo, hi; /* NaN when not measured */
} eval_ci;
/* The mean of x[0..n) and its percentile bootstrap interval at `level` (0.95): B resamples of
 * n items drawn with replacement from an rng seeded by (seed, purpose). */
eval_ci eval_bootstrap_mean(const double *x, size_t n, int B, double level, uint64_t seed,
                            const char *purpose);

/* ---------------------------------------------------------------- the run (eval/run.c) */

/* What to run, as a spec (kind eval, configs/eval/<name>.yaml) names it. */
typedef struct eval_cfg {
    char *name;
    char *model;                     /* model config the checkpoints were trained with */
    char *corpus, *split, *personas; /* the eval set: a corpus's split ... */
    char *stepeval;                  /* ... or a benchmark items file (then corpus may be null) */
    char *set_sha256;                /* expected hash of the set (null: not checked) */
    int64_t items;                   /* at most this many items (0: all) */
    core_strlist metrics;            /* paralinguistic, dialogue, persona, latency */
    int64_t seed, bootstrap, candidates, max_new, dialogue_items, drift_dialogues, drift_turns,
        latency_items, threads;
    double weight_dialogue, weight_paralinguistic, weight_persona;
    bool hygiene; /* refuse items whose audio the checkpoint trained on */
    /* reference table: per score, one value for every checkpoint or one per checkpoint in
     * --checkpoint order (negative: none), and the tolerance in score points; the lists as
     * the YAML has them, and parsed by eval_cfg_finish */
    core_strlist ref_overall_s, ref_dialogue_s, ref_paralinguistic_s, ref_persona_s;
    double tolerance;
    double ref[4][8]; /* [overall, dialogue, paralinguistic, persona][checkpoint] */
    int n_ref[4];
} eval_cfg;
extern const core_cfg_schema eval_schema;
/* After loading: parses the reference lists (at most 8 values each; an error names the key
 * and the value). */
core_status eval_cfg_finish(eval_cfg *cfg);
/* The reference of score s (0 overall, 1 dialogue, 2 paralinguistic, 3 persona) for the
 * i-th checkpoint: the list's only value, or its i-th; NaN when none. */
double eval_cfg_reference(const eval_cfg *cfg, int s, size_t i);

enum { EVAL_MAX_TURNS = 16, EVAL_LAT_BINS = 24 };

/* One paralinguistic dimension's scores. */
typedef struct eval_dim {
    const char *name; /* train_para_names[k] */
    int classes;
    size_t n;          /* labelled items */
    eval_ci accuracy;  /* 0-100 */
    double macro_f1;   /* 0-100 */
    double majority;   /* accuracy of always answering the most frequent true class, 0-100 */
} eval_dim;

/* Every score of one checkpoint; each 0-100 unless said. */
typedef struct eval_result {
    char *checkpoint;        /* path as given */
    char checkpoint_sha256[CORE_SHA256_HEX];
    int64_t step, params;
    size_t items;            /* items scored */
    size_t hygiene_checked;  /* items whose audio hash was looked up in the lineage */
    size_t hygiene_refused;  /* of those, found there (refused: the run fails) */
    size_t lineage_hashes;   /* audio hashes the checkpoint's lineage lists */
    /* paralinguistic */
    eval_dim dims[TRAIN_N_HEADS_PARA];
    int n_dims;             /* dimensions with labelled items */
    eval_ci paralinguistic; /* unweighted mean of the dimensions' accuracies */
    /* general dialogue */
    size_t dialogue_items;
    int candidates;
    eval_ci hits1;       /* reference reply ranked first among `candidates` */
    double perplexity;   /* exp(mean negative log-likelihood per reply byte); not 0-100 */
    eval_ci cue_fit;     /* the judge's reaction-to-cue check on the greedy reply */
    eval_ci dialogue;    /* (hits1 + cue_fit) / 2 */
    /* persona consistency over self-play */
    size_t drift_dialogues;
    int drift_turns;
    double drift[EVAL_MAX_TURNS]; /* mean judge score at each turn (0-100) */
    eval_ci prompt_line;          /* mean judge score over every turn */
    eval_ci line_line;            /* rlhf_judge_dialogue consistency */
    eval_ci persona;              /* (prompt_line + line_line) / 2 */
    /* latency (not deterministic: a measurement) */
    bool has_latency;
    size_t latency_n;
    double latency_p50_ms, latency_p95_ms, latency_max_ms;
    double rtf; /* compute time of the streamed audio / its duration */
    double lat_edges_ms[EVAL_LAT_BINS + 1];
    uint64_t lat_hist[EVAL_LAT_BINS];
    char machine[160];
    int threads;
    /* overall */
    eval_ci overall; /* weighted mean of dialogue, paralinguistic, persona (those measured) */
    double seconds;  /* wall time of the run (not in the JSON: not deterministic) */
} eval_result;

/* Scores `checkpoint` on `set` as cfg says; lineage hygiene first (items whose audio the
 * checkpoint's lineage lists are refused: CORE_ERR_CHECK naming how many and the first).
 * log progress at info level. */
core_status eval_run(const eval_cfg *cfg, const eval_set *set, const char *checkpoint,
                     eval_result *out);
void eval_result_free(eval_result *r); /* accepts zeroed structs */

/* ---------------------------------------------------------------- reports (eval/report.c) */

/* The report of n checkpoints scored on one set (side by side). */
typedef struct eval_report {
    const eval_cfg *cfg;
    const eval_set *set;
    const eval_result *results; /* [n] */
    size_t n;
    const char *const *metrics_logs; /* [n] a training run's metrics.jsonl or NULL each */
    bool no_plots;                   /* eval_report_write: report.json and report.md only */
} eval_report;

/* JSON (troupe.eval-report/1): keys in a fixed order, reals with %.6g-style shortest
 * round-trip, no timings except the latency section; same inputs, same bytes. malloc'd. */
char *eval_report_json(const eval_report *r);
/* Markdown: the table shaped like the published one (overall / general dialogue /
 * paralinguistic / persona), per-dimension and latency tables. malloc'd. */
char *eval_report_markdown(const eval_report *r);
/* The plain-text table printed by `troupe eval`, with the reference's differences when the
 * spec has one. malloc'd. */
char *eval_report_table(const eval_report *r);
/* Whether results[i] is within the spec's reference tolerance (true when it has none). */
bool eval_report_within(const eval_report *r, size_t i);
/* Writes DIR/report.json, DIR/report.md and (unless r->no_plots) the SVG plots
 * (DIR/plots/paralinguistic.svg, drift.svg, latency.svg, training.svg when a metrics log
 * exists) with gnuplot; every file atomically. A missing gnuplot skips the plots with a
 * warning. */
core_status eval_report_write(const eval_report *r, const char *dir);

#endif
