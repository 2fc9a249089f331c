/*  sbx_realloc - realloc that never returns NULL: out of memory, it says
    where and aborts, as czmq's zmalloc does (an always-on check: it stays
    in release builds, unlike assert). */
#ifndef SBX_ALLOC_H
#define SBX_ALLOC_H

#include <stdio.h>
#include <stdlib.h>

static inline void *
sbx_realloc_at (void *ptr, size_t size, const char *file, unsigned line)
{
    void *mem = realloc (ptr, size ? size : 1);
    if (!mem) {
        fprintf (stderr, "sbx: out of memory (%zu bytes) at %s:%u\n", size, file, line);
        fflush (stderr);
        abort ();
    }
    return mem;
}

#define sbx_realloc(ptr, size) sbx_realloc_at ((ptr), (size), __FILE__, __LINE__)

#endif
