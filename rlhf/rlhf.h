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

/* ---------------------------------------------------------------- the judge (rlhf/judge.c) */

#define RLHF_JUDGE_VERSION "troupe-judge/1"

/* One reply to judge: the persona, the user's cue, the reply's language, the turn (0-based
 * index in the dialogue; 0 is the opening) and the reply's UTF-8 text. */
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

/* A dialogue's replies judged turn by turn, and across turns: consistency in [0, 1] is how
 * steady register and energy stay from turn to turn (docs/rlhf.md). scores[n]. */
double rlhf_judge_dialogue(const rlhf_judge_item *items, size_t n, rlhf_judge_score *scores);

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
    int lang, turn;
    const char *reason;                /* why rejected is worse: out_of_character, wrong_tone,
                                        * ignored_cue, taboo, ... */
} rlhf_pair;

/* A prefs.h5 opened for training: every pair in memory. */
typedef struct rlhf_prefs rlhf_prefs;
core_status rlhf_prefs_open(const char *prefs_h5, const char *personas_h5, rlhf_prefs **out);
void rlhf_prefs_free(rlhf_prefs *p); /* accepts NULL */
size_t rlhf_prefs_count(const rlhf_prefs *p);
const rlhf_pair *rlhf_prefs_get(const rlhf_prefs *p, size_t i);
/* The split of pair i: 0 train, 1 validation (held out), as written by the producer. */
int rlhf_prefs_split(const rlhf_prefs *p, size_t i);
/* Lineage: "sha256:<hex> <path>" of the file, and its annotators' consent references. */
const char *rlhf_prefs_id(const rlhf_prefs *p);

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

#endif
