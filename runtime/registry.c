/*  sbx_registry - see registry.h */
#include "runtime/registry.h"

#include <stdio.h>
#include <string.h>

extern const sbx_sandbox_kind_t sbx_sandbox_testing;
extern const sbx_sandbox_kind_t sbx_sandbox_process;
extern const sbx_feature_kind_t sbx_feature_testing;
extern const sbx_feature_kind_t sbx_feature_shell;
extern const sbx_feature_kind_t sbx_feature_fs;

static const sbx_sandbox_kind_t *const s_sandbox_kinds [] = {
    &sbx_sandbox_testing,
    &sbx_sandbox_process,
    NULL
};

static const sbx_feature_kind_t *const s_feature_kinds [] = {
    &sbx_feature_testing,
    &sbx_feature_shell,
    &sbx_feature_fs,
    NULL
};

const sbx_sandbox_kind_t *
sbx_registry_sandbox_kind (const char *name)
{
    for (size_t i = 0; name && s_sandbox_kinds [i]; i++)
        if (strcmp (s_sandbox_kinds [i]->name, name) == 0)
            return s_sandbox_kinds [i];
    return NULL;
}

const sbx_feature_kind_t *
sbx_registry_feature_kind (const char *name)
{
    for (size_t i = 0; name && s_feature_kinds [i]; i++)
        if (strcmp (s_feature_kinds [i]->name, name) == 0)
            return s_feature_kinds [i];
    return NULL;
}

static void
s_join (char *buffer, size_t size, const char *name)
{
    size_t used = strlen (buffer);
    snprintf (buffer + used, size - used, "%s%s", used ? ", " : "", name);
}

const char *
sbx_registry_sandbox_kind_names (void)
{
    static char buffer [256];
    buffer [0] = 0;
    for (size_t i = 0; s_sandbox_kinds [i]; i++)
        s_join (buffer, sizeof buffer, s_sandbox_kinds [i]->name);
    return buffer;
}

const char *
sbx_registry_feature_kind_names (void)
{
    static char buffer [256];
    buffer [0] = 0;
    for (size_t i = 0; s_feature_kinds [i]; i++)
        s_join (buffer, sizeof buffer, s_feature_kinds [i]->name);
    return buffer;
}
