/*  sbx_registry - the sandbox and feature kinds this build knows, by name.
    Adding a kind is one line in registry.c. */
#ifndef SBX_REGISTRY_H
#define SBX_REGISTRY_H

#include <sbx/plugin.h>

//  The kind registered under `name`, or NULL.
const sbx_sandbox_kind_t *
    sbx_registry_sandbox_kind (const char *name);
const sbx_feature_kind_t *
    sbx_registry_feature_kind (const char *name);

//  Comma-separated names of every registered kind (for error messages).
//  Points into a static buffer.
const char *
    sbx_registry_sandbox_kind_names (void);
const char *
    sbx_registry_feature_kind_names (void);

#endif
