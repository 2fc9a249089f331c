/*  sbx_error - see include/sbx/error.h */
#include <sbx/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *feature;
    sbx_error_t *error;
} s_entry_t;

struct sbx_error_t {
    char *type;
    char *message;
    char *sandbox;
    s_entry_t *entries;
    size_t count;
};

static void *
s_alloc (size_t size)
{
    void *p = calloc (1, size);
    if (!p)
        abort ();
    return p;
}

static char *
s_strdup (const char *s)
{
    if (!s)
        return NULL;
    char *copy = strdup (s);
    if (!copy)
        abort ();
    return copy;
}

sbx_error_t *
sbx_error_new (const char *type, const char *format, ...)
{
    sbx_error_t *self = (sbx_error_t *) s_alloc (sizeof (sbx_error_t));
    self->type = s_strdup (type && *type ? type : "Error");
    char buffer [4096] = "";
    if (format) {
        va_list args;
        va_start (args, format);
        vsnprintf (buffer, sizeof buffer, format, args);
        va_end (args);
    }
    self->message = s_strdup (buffer);
    return self;
}

void
sbx_error_destroy (sbx_error_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_error_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free (self->entries [i].feature);
        sbx_error_destroy (&self->entries [i].error);
    }
    free (self->entries);
    free (self->type);
    free (self->message);
    free (self->sandbox);
    free (self);
    *self_p = NULL;
}

sbx_error_t *
sbx_error_dup (const sbx_error_t *self)
{
    if (!self)
        return NULL;
    sbx_error_t *copy = (sbx_error_t *) s_alloc (sizeof (sbx_error_t));
    copy->type = s_strdup (self->type);
    copy->message = s_strdup (self->message);
    copy->sandbox = s_strdup (self->sandbox);
    for (size_t i = 0; i < self->count; i++) {
        sbx_error_t *sub = sbx_error_dup (self->entries [i].error);
        sbx_error_add (copy, self->entries [i].feature, &sub);
    }
    return copy;
}

const char *
sbx_error_type (const sbx_error_t *self)
{
    return self ? self->type : NULL;
}

const char *
sbx_error_message (const sbx_error_t *self)
{
    return self ? self->message : NULL;
}

const char *
sbx_error_sandbox (const sbx_error_t *self)
{
    return self ? self->sandbox : NULL;
}

void
sbx_error_set_sandbox (sbx_error_t *self, const char *sandbox)
{
    free (self->sandbox);
    self->sandbox = s_strdup (sandbox);
}

void
sbx_error_add (sbx_error_t *self, const char *feature, sbx_error_t **sub_p)
{
    s_entry_t *entries = (s_entry_t *) realloc (self->entries,
                                               (self->count + 1) * sizeof (s_entry_t));
    if (!entries)
        abort ();
    self->entries = entries;
    self->entries [self->count].feature = s_strdup (feature ? feature : "");
    self->entries [self->count].error = *sub_p;
    self->count++;
    *sub_p = NULL;
}

size_t
sbx_error_count (const sbx_error_t *self)
{
    return self ? self->count : 0;
}

const sbx_error_t *
sbx_error_at (const sbx_error_t *self, size_t index, const char **feature_p)
{
    if (!self || index >= self->count)
        return NULL;
    if (feature_p)
        *feature_p = self->entries [index].feature;
    return self->entries [index].error;
}

bool
sbx_error_is (const sbx_error_t *self, const char *type)
{
    return self && type && strcmp (self->type, type) == 0;
}

bool
sbx_error_is_state (const sbx_error_t *self)
{
    return sbx_error_is (self, SBX_STATE_ERROR);
}

bool
sbx_error_is_user (const sbx_error_t *self)
{
    return self && !sbx_error_is_state (self);
}

bool
sbx_error_has_user (const sbx_error_t *self)
{
    if (!self)
        return false;
    if (self->count == 0)
        return sbx_error_is_user (self);
    for (size_t i = 0; i < self->count; i++)
        if (sbx_error_has_user (self->entries [i].error))
            return true;
    return false;
}
