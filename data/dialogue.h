/* data/dialogue.h: user turns and persona-conditioned replies for the synthetic corpus.
 *
 * The text side of `troupe data synth`: what a user says in each turn of a short dialogue
 * on one of a fixed set of topics (spoken later by espeak-ng, with the cue's fillers written
 * in), and what the assistant replies, in English or Mandarin, in a persona's style and
 * reacting to the cue the user's voice carries. docs/corpus-replies.md states every rule a
 * reply follows, with examples; the rules are meant to be learnt from the data, so the
 * structure of a reply is a pure function of (persona style, cue, turn) and only the wording
 * is drawn from the rng.
 *
 * Nothing here allocates or fails: bad arguments are bugs (CORE_ASSERT). Every output is a
 * NUL-terminated UTF-8 string with no newline, cut at a character boundary when the
 * buffer is too small; the rng draws do not depend on the buffer size.
 *
 * Dependencies: data -> core. */
#ifndef TROUPE_DATA_DIALOGUE_H
#define TROUPE_DATA_DIALOGUE_H

#include "core/core.h"

enum { DATA_LANG_EN = 0, DATA_LANG_ZH = 1 };

/* Buffers of these sizes never truncate a user turn or a reply. */
enum { DATA_DIALOGUE_USER_MAX = 512, DATA_DIALOGUE_REPLY_MAX = 2048 };

/* What the user's voice carries (the model hears it only as audio; labels come from here). */
typedef struct data_cue {
    int emotion;     /* index into: neutral, calm, happy, excited, sad, angry, fearful, surprised,
                        tender, serious (persona_emotions) */
    bool laughter;   /* the user laughs in this turn */
    bool hesitation; /* fillers and pauses in this turn */
    int speed;       /* 0 slow, 1 normal, 2 fast */
} data_cue;

/* The persona's side, taken from the persona matrix's roles. Borrowed for the call. */
typedef struct data_persona_style {
    const char *role_id; /* may be NULL; its prefix ("asst-", "game-") guides pick_topic */
    float formality, warmth, energy, verbosity, humour, empathy, assertiveness; /* 0..1 */
    const char *const *catchphrases;
    int n_catchphrases; /* may be in en or zh (or another language: then never used) */
    const char *const *domains;
    int n_domains; /* snake_case knowledge domains */
} data_persona_style;

/* ---------------------------------------------------------------- topics */

/* Number of topics (19); topics are numbered 0..n-1. */
int data_dialogue_n_topics(void);
/* The topic's name, e.g. "router_reset"; NULL when out of range. */
const char *data_dialogue_topic_name(int topic);
/* The topic's setting: "assistant", "support", "in_car", "tutoring", "companion" or "game";
 * NULL when out of range. */
const char *data_dialogue_topic_setting(int topic);
/* A topic suited to the persona's domains when one matches (a domain containing one of the
 * topic's stems, e.g. "wifi_troubleshooting" for router_reset), else one of the setting its
 * role_id's prefix names ("car-" -> in_car), else any; uniform among the candidates, drawn
 * from rng. p may be NULL (any topic). */
int data_dialogue_pick_topic(const data_persona_style *p, core_rng *rng);

/* Every topic has three turns: 0 the opening question, 1 a follow-up, 2 the closing
 * (thanks). A turn above 2 is treated as 2. For a dialogue of n_turns user turns, this is
 * the turn to pass for turn index `turn`: 0 for the first, 2 for the last (n_turns >= 2),
 * 1 for those in between. */
int data_dialogue_turn_kind(int turn, int n_turns);

/* ---------------------------------------------------------------- user turns */

/* The user's words for turn `turn` (0-based) of a dialogue on `topic`, in `lang`, with the
 * cue's fillers written in ("Um... " / "嗯……", each filler ending in an ellipsis, the only
 * ellipses in the text) when cue->hesitation, and laughter as a separate marker segment
 * handled by the caller, NOT in the text. The words themselves never depend on the emotion
 * or speed: those are carried by the voice. English is ASCII; Mandarin uses full-width
 * punctuation. Writes a NUL-terminated UTF-8 string of at most cap bytes into buf and
 * returns its length (cap 0: writes nothing, returns 0). Deterministic given rng.
 * cue may be NULL (no fillers). */
size_t data_dialogue_user(int lang, int topic, int turn, const data_cue *cue, core_rng *rng,
                          char *buf, size_t cap);

/* Splits user text into speakable segments at filler positions, so the caller can insert
 * real pauses: each segment but the last ends with a filler ("... uh..."), so a pause
 * belongs after every segment but the last. Returns the number of segments written into
 * seg (pointers into buf, which it modifies by writing NULs; spaces around a split are
 * dropped), at most max; when there would be more, the last one holds the rest of the text
 * unsplit. Text without fillers gives one segment; empty text gives 0. */
int data_dialogue_segments(char *buf, const char **seg, int max);
/* Byte offset in `seg` where the filler that ends it begins ("my router, uh..." -> the
 * offset of "uh..."), or strlen(seg) when it ends in none; so a caller can speak and label
 * the filler on its own. */
size_t data_dialogue_filler_start(const char *seg);

/* ---------------------------------------------------------------- replies */

/* The assistant's reply to that turn, in `lang`, in the persona's style and reacting to the
 * cue (docs/corpus-replies.md). Same buffer contract as data_dialogue_user. cue may be NULL
 * (a neutral cue). */
size_t data_dialogue_reply(const data_persona_style *p, const data_cue *cue, int lang, int topic,
                           int turn, core_rng *rng, char *buf, size_t cap);

/* The reaction a cue selects, by fixed priority (the first that applies). */
typedef enum data_reaction {
    DATA_REACT_NONE = 0,     /* neutral, calm, surprised, tender, serious at normal speed */
    DATA_REACT_COMFORT,      /* emotion sad or fearful */
    DATA_REACT_DEESCALATE,   /* emotion angry */
    DATA_REACT_PLAY_ALONG,   /* laughter */
    DATA_REACT_REASSURE,     /* hesitation */
    DATA_REACT_MATCH_ENERGY, /* emotion happy or excited */
    DATA_REACT_BRIEF,        /* fast speech */
    DATA_REACT_CALM,         /* slow speech */
} data_reaction;

/* The fixed phrase sets of a reply (each at least 4 paraphrases per language). */
typedef enum data_phrase_set {
    DATA_PHRASES_COMFORT_SHORT = 0, /* comfort, empathy < 0.4 */
    DATA_PHRASES_COMFORT,           /* comfort, empathy >= 0.4 */
    DATA_PHRASES_COMFORT_MORE,      /* second comfort sentence, empathy > 0.7 */
    DATA_PHRASES_DEESCALATE,        /* apology for an angry user */
    DATA_PHRASES_JOKE,              /* play along with laughter, humour >= 0.5 */
    DATA_PHRASES_LAUGH_ACK,         /* warm acknowledgement of laughter, humour < 0.5 */
    DATA_PHRASES_REASSURE,          /* hesitation */
    DATA_PHRASES_MATCH,             /* happy or excited */
    DATA_PHRASES_BRIEF,             /* fast speech */
    DATA_PHRASES_CALM,              /* slow speech */
    DATA_PHRASES_OPENER,            /* register opener (casual or formal, no reaction) */
    DATA_PHRASES_CLOSER,            /* warmth > 0.6, turns 0 and 1 */
    DATA_PHRASES_FAREWELL,          /* warmth > 0.6, the closing turn */
    DATA_PHRASES_COUNT
} data_phrase_set;

enum { DATA_REGISTER_CASUAL = 0, DATA_REGISTER_NEUTRAL = 1, DATA_REGISTER_FORMAL = 2 };
enum { DATA_ENERGY_LOW = 0, DATA_ENERGY_MID = 1, DATA_ENERGY_HIGH = 2 };

/* The rule-determined structure of a reply (what docs/corpus-replies.md calls the plan):
 * everything in it is a pure function of (p, cue, turn); the reply's wording and the two
 * chances below are drawn from the rng. Useful as labels. */
typedef struct data_reply_plan {
    data_reaction reaction;
    int reaction_set;     /* data_phrase_set of the opening clause, -1 when none */
    bool comfort_more;    /* a DATA_PHRASES_COMFORT_MORE sentence follows it */
    int reg;              /* DATA_REGISTER_*, from formality */
    int energy;           /* DATA_ENERGY_*, from energy */
    bool opener;          /* a DATA_PHRASES_OPENER sentence (no reaction, register not neutral) */
    int n_content;        /* content sentences, 1..3 */
    bool directive;       /* actions as instructions (else as suggestions) */
    int closer_set;       /* DATA_PHRASES_CLOSER or _FAREWELL, -1 when none */
    double p_remark;      /* chance of the topic's light remark (0 or 0.5) */
    double p_catchphrase; /* chance of a catchphrase, when one is in the reply's language */
} data_reply_plan;
void data_dialogue_plan(const data_persona_style *p, const data_cue *cue, int turn,
                        data_reply_plan *plan);

/* The paraphrases of a phrase set as they appear in p's replies in `lang` (register and
 * energy applied), for tests and label checks: the count (0 for openers in the neutral
 * register), and paraphrase i written into buf under the same buffer contract. */
int data_dialogue_phrase_count(const data_persona_style *p, data_phrase_set set, int lang);
size_t data_dialogue_phrase(const data_persona_style *p, data_phrase_set set, int lang, int i,
                            char *buf, size_t cap);

/* The language a catchphrase is written in: DATA_LANG_EN when all ASCII, DATA_LANG_ZH when
 * it holds a Han character and no kana or Hangul, else -1 (never used in a reply). */
int data_dialogue_script(const char *text);

#endif
