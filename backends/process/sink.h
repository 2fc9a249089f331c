/*  Where a program's stdout or stderr goes while it runs: kept, up to
    `max` bytes (beyond that, dropped and `truncated` set), or passed on
    as it comes to `on_output` (then only counted, for the same cap).
    Shared, with the reading of a pipe into one, by a command's run
    (command.c) and the python feature's calls.
*/
#ifndef SBX_PROCESS_SINK_H
#define SBX_PROCESS_SINK_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data;                 //  what was kept (NULL until something was); caller frees
    size_t size, capacity, max;
    bool truncated;
    void (*on_output) (void *arg, int stream, const char *data, size_t size);
    void *on_output_arg;
    int index;                  //  0 stdout, 1 stderr
} sbx_sink_t;

//  Takes `n` bytes the program wrote.
void
    sbx_sink_take (sbx_sink_t *self, const char *data, size_t n);

//  Reads what `fd` (non-blocking; -1: none) holds into `self` (NULL:
//  drops it), through `chunk` (`size` bytes), until it has nothing more
//  or `budget` bytes were read (0: after one read). True at its EOF or a
//  read error: the caller closes it.
bool
    sbx_sink_drain (sbx_sink_t *self, int fd, char *chunk, size_t size, size_t budget);

#endif
