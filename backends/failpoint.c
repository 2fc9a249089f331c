/*  sbx_failpoint - see failpoint.h */
#include "backends/failpoint.h"

#include <czmq.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool
s_valid_type (const char *type)
{
    if (!*type || strlen (type) > 100)
        return false;
    for (const char *c = type; *c; c++)
        if (!isalnum ((unsigned char) *c) && *c != '_' && *c != '.')
            return false;
    return true;
}

sbx_failpoint_t *
sbx_failpoint_parse (const json_t *value, const char *path, sbx_error_t **error_p)
{
    if (!value || json_is_null (value))
        return NULL;
    if (!json_is_string (value)) {
        *error_p = sbx_error_new ("ConfigError", "%s: must be an error type or \"N*off->TYPE\"", path);
        return NULL;
    }
    const char *text = json_string_value (value);
    long pass = 0;
    const char *type = text;
    const char *arrow = strstr (text, "*off->");
    if (arrow) {
        char *end = NULL;
        pass = strtol (text, &end, 10);
        if (end != arrow || pass < 0 || !isdigit ((unsigned char) text [0])) {
            *error_p = sbx_error_new ("ConfigError", "%s: bad fail-point term '%s' (want N*off->TYPE)", path, text);
            return NULL;
        }
        type = arrow + strlen ("*off->");
    }
    if (!s_valid_type (type)) {
        *error_p = sbx_error_new ("ConfigError", "%s: '%s' is not an error type", path, text);
        return NULL;
    }
    sbx_failpoint_t *self = (sbx_failpoint_t *) zmalloc (sizeof (sbx_failpoint_t));
    self->type = strdup (type);
    self->pass = pass;
    atomic_init (&self->calls, 0);
    return self;
}

void
sbx_failpoint_destroy (sbx_failpoint_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->type);
    free (*self_p);
    *self_p = NULL;
}

sbx_error_t *
sbx_failpoint_hit (sbx_failpoint_t *self, const char *what)
{
    if (!self)
        return NULL;
    long call = atomic_fetch_add (&self->calls, 1);
    if (call < self->pass)
        return NULL;
    return sbx_error_new (self->type, "simulated %s error", what);
}
