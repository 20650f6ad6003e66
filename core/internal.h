/* core internals shared between core's own files; never included by another module. */
#ifndef TROUPE_CORE_INTERNAL_H
#define TROUPE_CORE_INTERNAL_H

#include "core.h"

/* Messages about this document name it without line and column (for --set values). */
void core__yaml_hide_positions(core_yaml_doc *doc);

#endif
