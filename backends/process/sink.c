/*  sbx_sink - see sink.h */
#include "backends/process/sink.h"
#include "runtime/core/alloc.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

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

bool
sbx_sink_drain (sbx_sink_t *self, int fd, char *chunk, size_t size, size_t budget)
{
    size_t total = 0;
    while (fd >= 0) {
        ssize_t n = read (fd, chunk, size);
        if (n > 0) {
            if (self)
                sbx_sink_take (self, chunk, (size_t) n);
            total += (size_t) n;
            if (total >= budget)
                break;
        }
        else
        if (n < 0 && errno == EINTR)
            continue;
        else
            return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
    return false;
}
