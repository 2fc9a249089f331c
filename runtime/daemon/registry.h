/*  sbx_registry - the sandbox and feature kinds this build knows, for
    sbx_config_load_* (runtime/core/config.h). Adding a kind is one line in
    registry.c.
*/
#ifndef SBX_REGISTRY_H
#define SBX_REGISTRY_H

#include "runtime/core/config.h"

//  Every registered kind (static; never freed).
const sbx_kinds_t *
    sbx_registry (void);

#endif
