/* Shared inside eval/ only. */
#ifndef TROUPE_EVAL_INTERNAL_H
#define TROUPE_EVAL_INTERNAL_H
#include "eval/eval.h"

/* Recomputes s->sha256 from the items' ids and audio hashes (sorted "id audio_sha256" lines
 * joined by LF). */
void eval_set_rehash(eval_set *s);
/* Appends one zeroed item (labels -1, turn -1, dialogue_id ""), NULL when out of memory. */
eval_item *eval_set_add(eval_set *s, size_t *cap);

#endif
