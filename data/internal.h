/* data internals shared between data's own files; never included by another module. */
#ifndef TROUPE_DATA_INTERNAL_H
#define TROUPE_DATA_INTERNAL_H

#include "data/data.h"

/* A declarative schema for governance documents: every problem becomes an SCH-001 (shape,
 * type, enum, unknown or missing key) or SCH-002 (hash or time format) result. */
typedef enum dtype {
    T_STR,      /* non-empty string */
    T_TEXT,     /* any string, may be empty */
    T_INT,      /* integer >= 0 (quoted or not) */
    T_BOOL,     /* "true" / "false" */
    T_TIME,     /* RFC 3339 UTC */
    T_HASH,     /* 64 lowercase hex */
    T_ENUM,     /* one of `choices` ("a|b|c") */
    T_STRS,     /* list of strings (each checked against choices when set) */
    T_MAP,      /* nested map with `sub` fields */
    T_MAPS,     /* list of maps with `sub` fields */
    T_LANG,     /* BCP 47 primary tag: 2-3 lowercase letters, optional script (-Hans) or region (-CN) */
    T_TERR,     /* ISO 3166-1 alpha-2 (two capitals) */
    T_TERRS,    /* list of T_TERR */
    T_SEMVER,   /* MAJOR.MINOR.PATCH */
} dtype;

enum { F_REQ = 1, F_NULL = 2 };

typedef struct dfield {
    const char *key;
    dtype type;
    int flags;
    const char *choices;
    const struct dfield *sub;
} dfield;

/* Checks `node` against `fields` (NULL-key terminated); adds every problem to `out` as
 * SCH-001/SCH-002 for `target`, with "file:line:col:" explanations. Returns the number of
 * problems. */
int data__schema_check(const core_yaml_doc *doc, const core_yaml_node *node,
                       const dfield *fields, const char *path, const char *target,
                       data_results *out);

extern const dfield data__manifest_schema[];
extern const dfield data__recording_schema[];
extern const dfield data__consent_schema[];
extern const dfield data__revocations_schema[];
extern const dfield data__keyring_schema[];

/* Typed reads of a validated node (NULL/defaults when absent). */
const char *data__str(const core_yaml_node *map, const char *key);
int64_t data__int(const core_yaml_node *map, const char *key, int64_t dflt);
bool data__bool(const core_yaml_node *map, const char *key);
int64_t data__time(const core_yaml_node *map, const char *key, int64_t dflt);
bool data__list_has(const core_yaml_node *list, const char *value);

/* The paralinguistic label taxonomy troupe.paralinguistic/1. */
bool data__label_known(const char *label);

#endif
