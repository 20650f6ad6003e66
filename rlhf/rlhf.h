/* rlhf: roleplay RLHF that keeps a persona in character over many turns (docs/rlhf.md).
 *
 * - the persona-consistency judge (rlhf/judge.c): a documented, rule-based score of a reply
 *   against the persona's style and the user's paralinguistic cue; the GRPO reward and an
 *   eval metric;
 * - preference data (rlhf/prefs.c): the troupe.prefs/1 YAML format for human feedback, its
 *   HDF5 form (prefs.h5, self-contained like a shard), and synthetic pairs for the embedded
 *   corpus labelled by the judge;
 * - objectives and trainers (rlhf/objectives.c, rlhf/trainer.c): reward model
 *   (Bradley-Terry), DPO (sigmoid, ipo, hinge) and GRPO, on the model of train/. */
#ifndef TROUPE_RLHF_H
#define TROUPE_RLHF_H
#include "core/core.h"
#include "data/dialogue.h"
#include "persona/persona.h"
#include "train/train.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- persona roles (rlhf/judge.c) */

/* The roles table of a personas.h5 (/roles/...) with each row's role: what the judge needs
 * to know about a persona id. */
typedef struct rlhf_personas rlhf_personas;
core_status rlhf_personas_load(const char *personas_h5, rlhf_personas **out);
void rlhf_personas_free(rlhf_personas *p); /* accepts NULL */
/* The style of the persona with this id (pointers borrowed from p); false when unknown. */
bool rlhf_personas_style(const rlhf_personas *p, uint64_t persona_id, data_persona_style *out);
/* The language axis value (DATA_LANG_EN / _ZH) of the persona with this id; -1 when unknown. */
int rlhf_personas_language(const rlhf_personas *p, uint64_t persona_id);

/* ---------------------------------------------------------------- the judge (rlhf/judge.c) */

#define RLHF_JUDGE_VERSION "troupe-judge/1"

/* One reply to judge: the persona, the user's cue, the reply's language, the turn and the
 * reply's UTF-8 text. The turn is the turn KIND the corpus uses (data_dialogue_turn_kind:
 * 0 the opening, 1 a follow-up, 2 the closing, which takes a farewell; above 2 counts as
 * 2), not the raw index: turn 1 of a two-turn dialogue is its closing turn. */
typedef struct rlhf_judge_item {
    const data_persona_style *persona;
    data_cue cue;
    int lang; /* DATA_LANG_EN or DATA_LANG_ZH */
    int turn;
    const char *reply;
} rlhf_judge_item;

/* Each check in [0, 1]; total is their documented weighted mean, 0 when a taboo is broken.
 * reason names the worst failed check ("ok" when none failed). */
typedef struct rlhf_judge_score {
    double total;
    double reaction, tone, energy, length, closer, catchphrase, language;
    bool taboo;
    const char *reason;
} rlhf_judge_score;
void rlhf_judge(const rlhf_judge_item *it, rlhf_judge_score *out);

/* Bytes at the start of `reply` that open it as the rules write replies: a reaction phrase
 * (and a second comfort sentence) or an opener, with the space after them; 0 when none. */
size_t rlhf_judge_opening(const data_persona_style *p, int lang, const char *reply);

/* A dialogue's replies judged turn by turn, and across turns: consistency in [0, 1] is how
 * steady register and energy stay from turn to turn (docs/rlhf.md). scores[n]. */
double rlhf_judge_dialogue(const rlhf_judge_item *items, size_t n, rlhf_judge_score *scores);
/* The taboo phrases of `lang` (NULL-terminated; English ones match without case). A reply
 * holding any of them, in either language, scores total 0 with reason "taboo". */
const char *const *rlhf_judge_taboos(int lang);

/* ---------------------------------------------------------------- preference data (rlhf/prefs.c) */

/* One preference pair as the trainers see it. Token arrays are UTF-8 bytes (0-255) without
 * BOS/EOS; frames are log-mel rows (TRAIN_N_MELS floats each). Borrowed from the set. */
typedef struct rlhf_pair {
    uint64_t persona_id;
    const float *persona;              /* TRAIN_PERSONA_DIM features of that persona */
    const int32_t *history;            /* dialogue so far */
    size_t n_history;
    const float *mel;                  /* the user's turn */
    size_t frames;
    const int32_t *chosen, *rejected;
    size_t n_chosen, n_rejected;
    data_cue cue;                      /* the user's cue (labels), for the judge */
    int lang, turn;                    /* turn: the turn kind, as in rlhf_judge_item */
    const char *reason;                /* why rejected is worse: out_of_character, wrong_tone,
                                        * ignored_cue, taboo, ... */
} rlhf_pair;

#define RLHF_PREFS_FORMAT "troupe.prefs/1"

/* How many reasons rlhf_prefs_reasons() names. */
enum { RLHF_N_REASONS = 6 };

/* Counts of an ingest or a synth-prefs run. */
typedef struct rlhf_prefs_stats {
    size_t items;        /* YAML items, or corpus utterances looked at (train + validation) */
    size_t pairs;        /* pairs written (a ranked list of k gives k(k-1)/2) */
    size_t per_split[2]; /* pairs in train, validation */
    size_t skipped;      /* utterances without a usable pair (unknown persona, no candidate
                            the judge scores below the corpus reply) */
    size_t topics_recovered; /* synth: utterances whose topic was recovered from the reply */
    size_t reasons[RLHF_N_REASONS]; /* pairs per reason, in rlhf_prefs_reasons() order */
    double wall_seconds;
} rlhf_prefs_stats;

/* The reasons a pair may give, NULL-terminated: out_of_character, wrong_tone, ignored_cue,
 * taboo, wrong_language, other. */
const char *const *rlhf_prefs_reasons(void);
/* The index of `reason` in rlhf_prefs_reasons(), -1 when it is none of them (or NULL). */
int rlhf_prefs_reason_index(const char *reason);

/* Validates the troupe.prefs/1 YAML at yaml_path (docs/rlhf.md) against personas_h5 and
 * writes its pairs to out_h5 (atomically; the user's audio as log-mel frames, every column
 * of provenance). Audio paths are relative to the YAML's folder; each file's sha256 must
 * match. On any problem nothing is written, CORE_ERR_SCHEMA (or the I/O status) is
 * returned, and every problem found is appended to probs (may be NULL), each naming
 * "file:line:col: key"; the last error message counts them. stats may be NULL. */
core_status rlhf_prefs_ingest(const char *yaml_path, const char *personas_h5, const char *out_h5,
                              persona_problems *probs, rlhf_prefs_stats *stats);

/* Synthetic preference pairs for a corpus made by `troupe data ingest` (corpus_dir holds
 * index.json and shards/): for every utterance in a train or validation manifest, chosen is
 * the corpus reply and rejected the lowest-scored of a few perturbed replies
 * (docs/rlhf.md), labelled synthetic with annotator RLHF_JUDGE_VERSION and the recording's
 * consent id. Deterministic for (corpus, personas, seed). Writes out_h5 atomically. */
core_status rlhf_prefs_synth(const char *corpus_dir, const char *personas_h5, uint64_t seed,
                             const char *out_h5, rlhf_prefs_stats *stats);

/* A prefs.h5 opened for training: every pair in memory. */
typedef struct rlhf_prefs rlhf_prefs;
core_status rlhf_prefs_open(const char *prefs_h5, const char *personas_h5, rlhf_prefs **out);
void rlhf_prefs_free(rlhf_prefs *p); /* accepts NULL */
size_t rlhf_prefs_count(const rlhf_prefs *p);
const rlhf_pair *rlhf_prefs_get(const rlhf_prefs *p, size_t i);
/* The split of pair i: 0 train, 1 validation (held out), as written by the producer. */
int rlhf_prefs_split(const rlhf_prefs *p, size_t i);
/* Lineage: "sha256:<hex> <path>" of the file. */
const char *rlhf_prefs_id(const rlhf_prefs *p);
/* Its annotators' consent references (sorted, distinct), borrowed; *n their count. */
const char *const *rlhf_prefs_consents(const rlhf_prefs *p, size_t *n);
/* Provenance of pair i: annotator pseudonym, licence, source sha256 (of the audio), and
 * whether the pair is synthetic. Borrowed. */
const char *rlhf_prefs_annotator(const rlhf_prefs *p, size_t i);
const char *rlhf_prefs_licence(const rlhf_prefs *p, size_t i);
const char *rlhf_prefs_source(const rlhf_prefs *p, size_t i);
bool rlhf_prefs_synthetic(const rlhf_prefs *p, size_t i);

/* ---------------------------------------------------------------- objectives (rlhf/objectives.c) */

enum { RLHF_DPO_SIGMOID = 0, RLHF_DPO_IPO = 1, RLHF_DPO_HINGE = 2 };
int rlhf_dpo_loss_parse(const char *name); /* "sigmoid" | "ipo" | "hinge", else -1 */
/* One pair's DPO loss from the policy's (pc, pr) and the reference's (rc, rr) summed reply
 * log-probabilities; *dpc, *dpr its gradient with respect to pc and pr (may be NULL). */
double rlhf_dpo(int type, double beta, double label_smoothing, double pc, double pr, double rc,
                double rr, double *dpc, double *dpr);
/* Bradley-Terry: -log sigmoid(sc - sr - margin) + center (sc + sr)^2, and its gradient. */
double rlhf_bradley_terry(double sc, double sr, double margin, double center, double *dsc,
                          double *dsr);
/* Group-normalised advantages: (r - mean) / (std + 1e-4) (scale), else r - mean; the group's
 * (unbiased) standard deviation in *std (may be NULL). */
void rlhf_group_advantages(const double *reward, int G, bool scale, double *adv, double *std);
/* One token's GRPO loss, -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A) + beta k3 with
 * r = exp(logp - logp_old) and k3 = exp(ref - logp) - (ref - logp) - 1; its gradient with
 * respect to logp, whether the clip was active, and k3. */
double rlhf_grpo_token(double logp, double logp_old, double logp_ref, double adv, double eps_low,
                       double eps_high, double beta, double *dlogp, bool *clipped, double *kl);

/* ---------------------------------------------------------------- runs (rlhf/trainer.c) */

enum { RLHF_REWARD = 0, RLHF_DPO = 1, RLHF_GRPO = 2 };

/* One config struct for the three runs; each schema (kinds rlhf.reward, rlhf.dpo, rlhf.grpo,
 * defaults in configs/rlhf/{reward,dpo,grpo}.yaml) fills the fields it names. */
typedef struct rlhf_cfg {
    char *init, *model, *prefs, *personas, *output;
    int64_t seed, batch, accumulate, max_steps, warmup;
    double lr, min_lr, weight_decay, grad_clip;
    int64_t eval_every, eval_items, eval_generate, max_new, ckpt_every, keep_last, threads;
    train_dist_cfg dist;
    double margin, center, para_aux; /* reward */
    double backbone_lr; /* reward: the backbone's learning rate over optim.lr (0: frozen) */
    double reply_aux;   /* reward: weight of rlhf_reward_aux (the chosen replies) */
    char *loss;                   /* dpo: sigmoid | ipo | hinge */
    double beta, label_smoothing; /* dpo; beta is also GRPO's KL weight */
    int64_t group, top_k, iterations, turns, target_len; /* grpo */
    double temperature, epsilon, epsilon_high, length_penalty, repetition_penalty, eos_penalty;
    char *reward_source, *reward_model;
} rlhf_cfg;
extern const core_cfg_schema rlhf_reward_schema, rlhf_dpo_schema, rlhf_grpo_schema;
const core_cfg_schema *rlhf_schema(int mode);

typedef struct rlhf_result {
    int64_t steps, resumed_from;
    double first_loss, last_loss, seconds;
    /* held-out: DPO rewards/accuracies or the reward model's accuracy, before and after */
    double first_accuracy, accuracy;
    /* the same over the held-out pairs only the user's audio decides (reason ignored_cue),
     * and over the others (the reply's text decides) */
    double first_accuracy_cue, accuracy_cue, first_accuracy_text, accuracy_text;
    /* the same per reason (rlhf_prefs_reasons() order; NaN where no held-out pair gives it),
     * and how many held-out pairs give each */
    double first_accuracy_reason[RLHF_N_REASONS], accuracy_reason[RLHF_N_REASONS];
    size_t eval_pairs_reason[RLHF_N_REASONS];
    /* the judge's mean persona-consistency score, before (the SFT checkpoint) and after:
     * judge_*: of the reply the model prefers in each held-out pair (likelier per byte, or
     * scored higher by a reward model); gen_judge_*: of its greedy replies to held-out
     * contexts (eval.generate of them). NaN when not measured. */
    double judge_before, judge_after, gen_judge_before, gen_judge_after;
    /* GRPO: mean reward over the run's first and last reward_window steps (10, or half the
     * steps when the run is shorter than 20); the last step's KL */
    double first_reward, last_reward, last_kl;
    int reward_window;
} rlhf_result;

/* ---------------------------------------------------------------- the reward head
 * (rlhf/reward_head.c) on the last forward of a model with reward_head set. */
/* Row `row`'s last position (its EOS). */
int rlhf_reward_last_pos(const train_batch *b, int row);
/* The head's linear term w . h + b at position `pos` of row `row` (per-turn rewards). */
double rlhf_reward_linear(train_model *m, const train_batch *b, int row, int pos);
/* Each row's score: the linear term at its EOS plus the conditioned term c^T U o (c: the
 * model's posteriors of the user's cue and the persona's features; o: features of the
 * reply's positions averaged over its opening and over all of it) plus the opening term
 * q^T Q g (q: the cue posteriors; g: a read of the reply's first 16 positions in order). */
void rlhf_reward_scores(train_model *m, const train_batch *b, double *s);
/* Backward of the scores: g[row] is d objective / d score of each row. Accumulates into the
 * reward head's gradients and adds the gradient with respect to the final hidden states into
 * dhidden (B*T*d), for train_model_backward_ext. */
void rlhf_reward_backward(train_model *m, const train_batch *b, const double *g, float *dhidden);
/* The head's auxiliary loss: the cue a reply answers, read off its opening (softmax of
 * reward.aux.w g + reward.aux.b per cue head: emotion, laughter, hesitation, speed),
 * against the row's labels (b->labels' first four; -1: none). Rows 0, stride, 2 stride, ...
 * (the reward run: 2, the chosen replies). Returns the sum of their cross-entropies; with
 * dhidden, also accumulates weight times its gradient into the head's gradients and dhidden. */
double rlhf_reward_aux(train_model *m, const train_batch *b, int stride, double weight,
                       float *dhidden);

/* Runs mode (RLHF_REWARD, RLHF_DPO, RLHF_GRPO) as cfg says, into OUTPUT/checkpoints/ and
 * OUTPUT/metrics.jsonl; resume as in train_run. */
core_status rlhf_run(int mode, const rlhf_cfg *cfg, const char *config_yaml, const char *resume,
                     int64_t stop_after, rlhf_result *res);

/* A reply sampled from the model through the KV cache (temperature 0: greedy): the context
 * pushed by train_infer_push_context (laid out as train_sequence_layout cuts it to leave room
 * for max_new bytes), then rlhf_reply; out receives the reply's bytes (no EOS), *eos whether
 * it ended. */
core_status rlhf_generate(train_infer *s, const float *persona, const int32_t *history,
                          size_t n_history, const float *mel, size_t frames, int max_new,
                          double temperature, int top_k, core_rng *rng, int32_t *out, int *n_out,
                          bool *eos);
/* The reply after a context already pushed: BOS, then bytes sampled (temperature 0 or top_k
 * 1: greedy, drawing nothing from rng) until EOS or `budget` bytes. */
core_status rlhf_reply(train_infer *s, int budget, double temperature, int top_k, core_rng *rng,
                       int32_t *out, int *n_out, bool *eos);

#endif
