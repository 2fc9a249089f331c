/*  sbx_process_argv - a growing, NULL-terminated vector of strings: the
    argument vector or the environment of a child of sbxd (child.h), as
    posix_spawn takes them.

    A plain struct, zeroed to start (`sbx_process_argv_t argv = {0};`);
    it owns its strings. One thread only.
*/
#ifndef SBX_PROCESS_ARGV_H
#define SBX_PROCESS_ARGV_H

#include <stddef.h>

typedef struct {
    char **items;               //  NULL-terminated once something is added
    size_t count, capacity;
} sbx_process_argv_t;

//  Appends one printf-formatted string. Aborts when out of memory, as
//  czmq does.
void
    sbx_process_argv_add (sbx_process_argv_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Frees the strings and the vector, and zeroes *self (ready for reuse).
void
    sbx_process_argv_free (sbx_process_argv_t *self);

#endif
