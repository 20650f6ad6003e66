/* troupe rlhf: synth-prefs, ingest-prefs and judge (the data side of roleplay RLHF). */
#include "cli/cli.h"
#include "rlhf/rlhf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_stats(const char *cmd, const rlhf_prefs_stats *s, const char *out)
{
    printf("%s: %zu pairs (%zu train, %zu validation) from %zu items, %zu skipped, in %.2f s\n",
           cmd, s->pairs, s->per_split[0], s->per_split[1], s->items, s->skipped,
           s->wall_seconds);
    printf("%s: reasons:", cmd);
    for (int k = 0; rlhf_prefs_reasons()[k]; k++)
        if (s->reasons[k])
            printf(" %s %zu", rlhf_prefs_reasons()[k], s->reasons[k]);
    printf("\n%s: wrote %s\n", cmd, out);
}

static int cmd_synth_prefs(int argc, char **argv)
{
    const char *corpus = NULL, *personas = NULL, *out = NULL;
    int64_t seed = 0;
    const cli_opt opts[] = {
        {"corpus", 0, CLI_STR, &corpus, "DIR", "a corpus made by 'troupe data ingest'"},
        {"personas", 0, CLI_STR, &personas, "FILE", "the personas.h5 the corpus was made with"},
        {"seed", 0, CLI_INT, &seed, "N", "seed of the perturbations (default 0)"},
        {"output", 'o', CLI_STR, &out, "FILE", "the prefs.h5 to write"},
    };
    const cli_spec spec = {
        "rlhf synth-prefs",
        "troupe rlhf synth-prefs --corpus DIR --personas P.h5 [--seed N] -o OUT.h5",
        "Makes preference pairs for every train and validation utterance of the corpus: chosen "
        "is the\ncorpus reply, rejected the lowest-scored of a few perturbed replies (another "
        "persona's style,\nanother cue, a taboo phrase, the other language) under the "
        "persona-consistency judge;\nthe cue and taboo ones edit the corpus reply, so those "
        "pairs differ only in the defect.\nPairs are labelled synthetic, annotator " RLHF_JUDGE_VERSION
        ", with the recording's consent id\n(docs/rlhf.md).",
        opts, sizeof opts / sizeof *opts, 0, 0,
        "Example:\n  troupe rlhf synth-prefs --corpus corpus --personas personas.h5 -o prefs.h5"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    free(pos);
    if (!corpus || !personas || !out)
        return cli_usage_error("%s: --corpus, --personas and -o are required", spec.name);
    rlhf_prefs_stats s;
    core_status st = rlhf_prefs_synth(corpus, personas, (uint64_t)seed, out, &s);
    if (st != CORE_OK)
        return cli_fail(st);
    print_stats(spec.name, &s, out);
    printf("%s: topics recovered from the reply for %zu of %zu utterances\n", spec.name,
           s.topics_recovered, s.items);
    return CLI_OK;
}

static int cmd_ingest_prefs(int argc, char **argv)
{
    const char *personas = NULL, *out = NULL;
    const cli_opt opts[] = {
        {"personas", 0, CLI_STR, &personas, "FILE", "personas.h5 (the persona ids must be in it)"},
        {"output", 'o', CLI_STR, &out, "FILE", "the prefs.h5 to write"},
    };
    const cli_spec spec = {
        "rlhf ingest-prefs",
        "troupe rlhf ingest-prefs FILE.yaml --personas P.h5 -o OUT.h5",
        "Checks a troupe.prefs/1 file of human feedback (docs/rlhf.md), reporting every "
        "problem with\nfile:line:col, verifies each audio file's sha256, computes its log-mel "
        "and writes the pairs\n(a ranked list expanded into every better/worse pair) with their "
        "provenance. Nothing is\nwritten when there is any problem.",
        opts, sizeof opts / sizeof *opts, 1, 1,
        "Example:\n  troupe rlhf ingest-prefs feedback/week-47.yaml --personas personas.h5 -o "
        "human.h5"};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    const char *yaml = pos[0];
    free(pos);
    if (!personas || !out)
        return cli_usage_error("%s: --personas and -o are required", spec.name);
    persona_problems probs = {0};
    rlhf_prefs_stats s;
    core_status st = rlhf_prefs_ingest(yaml, personas, out, &probs, &s);
    if (st != CORE_OK) {
        if (probs.n) {
            cli_print_problems(&probs, 50);
            fprintf(stderr, "troupe: %s: %zu problem%s; nothing was written\n", yaml, probs.n,
                    probs.n == 1 ? "" : "s");
        } else {
            cli_fail(st);
        }
        persona_problems_free(&probs);
        return cli_exit_code(st);
    }
    persona_problems_free(&probs);
    print_stats(spec.name, &s, out);
    return CLI_OK;
}

static int find_name(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i]))
            return i;
    return -1;
}

static int cmd_judge(int argc, char **argv)
{
    const char *personas = NULL, *persona = NULL, *lang = NULL, *emotion = "neutral",
               *speed = "normal";
    int64_t turn = 0;
    bool laughter = false, hesitation = false;
    const cli_opt opts[] = {
        {"personas", 0, CLI_STR, &personas, "FILE", "personas.h5"},
        {"persona", 0, CLI_STR, &persona, "ID", "the persona id"},
        {"lang", 0, CLI_STR, &lang, "en|zh", "the language of the user's turn"},
        {"turn", 0, CLI_INT, &turn, "N", "0 opening, 1 follow-up, 2 closing (default 0)"},
        {"emotion", 0, CLI_STR, &emotion, "E", "the user's emotion (default neutral)"},
        {"laughter", 0, CLI_FLAG, &laughter, NULL, "the user laughed"},
        {"hesitation", 0, CLI_FLAG, &hesitation, NULL, "the user hesitated"},
        {"speed", 0, CLI_STR, &speed, "S", "slow, normal or fast (default normal)"},
    };
    const cli_spec spec = {
        "rlhf judge",
        "troupe rlhf judge --personas P.h5 --persona ID --lang en|zh --turn N [cue options] "
        "\"REPLY\"",
        "Scores one reply with the persona-consistency judge " RLHF_JUDGE_VERSION
        " and prints every check\n(docs/rlhf.md). Exit 0 whatever the score.",
        opts, sizeof opts / sizeof *opts, 1, 1,
        "Example:\n  troupe rlhf judge --personas personas.h5 --persona 42 --lang en --emotion "
        "angry \\\n      \"Please restart the router.\""};
    const char **pos;
    size_t np;
    int rc;
    if (!cli_parse(&spec, argc, argv, &pos, &np, &rc))
        return rc;
    const char *reply = pos[0];
    free(pos);
    if (!personas || !persona || !lang)
        return cli_usage_error("%s: --personas, --persona and --lang are required", spec.name);
    static const char *const langs[] = {"en", "zh"}, *const speeds[] = {"slow", "normal", "fast"};
    static const char *const emotions[] = {"neutral", "calm",    "happy",   "excited",
                                           "sad",     "angry",   "fearful", "surprised",
                                           "tender",  "serious"};
    data_cue cue = {find_name(emotion, emotions, 10), laughter, hesitation,
                    find_name(speed, speeds, 3)};
    int l = find_name(lang, langs, 2);
    if (l < 0)
        return cli_usage_error("%s: --lang '%s' is not en or zh", spec.name, lang);
    if (cue.emotion < 0)
        return cli_usage_error("%s: --emotion '%s' is not one of neutral, calm, happy, excited, "
                               "sad, angry, fearful, surprised, tender, serious",
                               spec.name, emotion);
    if (cue.speed < 0)
        return cli_usage_error("%s: --speed '%s' is not slow, normal or fast", spec.name, speed);
    if (turn < 0 || turn > 2)
        return cli_usage_error("%s: --turn %lld is not 0, 1 or 2", spec.name, (long long)turn);
    char *end;
    uint64_t id = strtoull(persona, &end, 10);
    if (!*persona || *end)
        return cli_usage_error("%s: --persona '%s' is not a persona id", spec.name, persona);
    rlhf_personas *p = NULL;
    core_status st = rlhf_personas_load(personas, &p);
    if (st != CORE_OK)
        return cli_fail(st);
    data_persona_style style;
    if (!rlhf_personas_style(p, id, &style)) {
        rlhf_personas_free(p);
        return cli_usage_error("%s: persona %s is not in %s", spec.name, persona, personas);
    }
    rlhf_judge_item it = {&style, cue, l, (int)turn, reply};
    rlhf_judge_score s;
    rlhf_judge(&it, &s);
    data_reply_plan pl;
    data_dialogue_plan(&style, &cue, (int)turn, &pl);
    static const char *const regs[] = {"casual", "neutral", "formal"},
                             *const energies[] = {"low", "mid", "high"};
    printf("persona %s (%s): formality %.2f warmth %.2f energy %.2f verbosity %.2f humour %.2f "
           "empathy %.2f assertiveness %.2f\n",
           persona, style.role_id ? style.role_id : "?", style.formality, style.warmth,
           style.energy, style.verbosity, style.humour, style.empathy, style.assertiveness);
    static const char *const sets[] = {"COMFORT_SHORT", "COMFORT", "COMFORT_MORE", "DEESCALATE",
                                       "JOKE",          "LAUGH_ACK", "REASSURE",   "MATCH",
                                       "BRIEF",         "CALM"};
    printf("plan: register %s, energy %s, reaction %s%s, opener %s, %d content sentence%s, "
           "closer %s\n",
           regs[pl.reg], energies[pl.energy],
           pl.reaction_set >= 0 && pl.reaction_set < 10 ? sets[pl.reaction_set] : "none",
           pl.comfort_more ? " + comfort_more" : "", pl.opener ? "yes" : "no", pl.n_content,
           pl.n_content == 1 ? "" : "s",
           pl.closer_set < 0 ? "none" : pl.closer_set == DATA_PHRASES_FAREWELL ? "farewell" : "closer");
    printf("reaction    %.3f\ntone        %.3f\nenergy      %.3f\nlength      %.3f\n"
           "closer      %.3f\ncatchphrase %.3f\nlanguage    %.3f\ntaboo       %s\n"
           "total       %.3f\nreason      %s\n",
           s.reaction, s.tone, s.energy, s.length, s.closer, s.catchphrase, s.language,
           s.taboo ? "yes" : "no", s.total, s.reason);
    rlhf_personas_free(p);
    return CLI_OK;
}

int cli_rlhf_data_main(int argc, char **argv)
{
    static const cli_command cmds[] = {
        {"synth-prefs", cmd_synth_prefs, "synthetic preference pairs for a corpus, by the judge"},
        {"ingest-prefs", cmd_ingest_prefs, "check and ingest a troupe.prefs/1 file of feedback"},
        {"judge", cmd_judge, "score one reply for persona consistency"},
    };
    return cli_dispatch("rlhf",
                        "Roleplay RLHF: preference data and the persona-consistency judge; "
                        "training runs are\n'troupe rlhf reward|dpo|grpo'. See docs/rlhf.md.",
                        cmds, sizeof cmds / sizeof *cmds, argc, argv);
}
