/*  sbx_sink - see sink.h */
#include "backends/process/sink.h"
#include "runtime/core/alloc.h"

#include <string.h>

void
sbx_sink_take (sbx_sink_t *self, const char *data, size_t n)
{
    size_t room = self->max - self->size;
    if (n > room) {
        self->truncated = true;
        n = room;
    }
    if (!n)
        return;
    if (self->on_output) {
        self->on_output (self->on_output_arg, self->index, data, n);
        self->size += n;
        return;
    }
    if (self->size + n > self->capacity) {
        size_t capacity = self->capacity ? self->capacity : 4096;
        while (capacity < self->size + n)
            capacity *= 2;
        if (capacity > self->max)
            capacity = self->max;
        self->data = (char *) sbx_realloc (self->data, capacity);
        self->capacity = capacity;
    }
    memcpy (self->data + self->size, data, n);
    self->size += n;
}
