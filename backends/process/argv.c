/*  sbx_process_argv - see argv.h */
#include "backends/process/argv.h"

#include <czmq.h>
#include <stdarg.h>

void
sbx_process_argv_add (sbx_process_argv_t *self, const char *format, ...)
{
    if (self->count + 2 > self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 64;
        self->items = (char **) realloc (self->items, self->capacity * sizeof (char *));
        assert (self->items);
    }
    va_list args;
    va_start (args, format);
    char *item = zsys_vprintf (format, args);
    va_end (args);
    assert (item);
    self->items [self->count++] = item;
    self->items [self->count] = NULL;
}

void
sbx_process_argv_free (sbx_process_argv_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        free (self->items [i]);
    free (self->items);
    memset (self, 0, sizeof *self);
}
