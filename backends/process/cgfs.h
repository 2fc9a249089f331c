/*  sbx_process_cgfs - the cgroup file system, file by file: writing a
    value, reading a file, making a group's directory, killing what a
    group lists, removing a group once its last process is gone
    (cgroup.h stands on these).

    Functions only, no state; they block on cgroupfs, and the two that
    wait say how long. Any thread.
*/
#ifndef SBX_PROCESS_CGFS_H
#define SBX_PROCESS_CGFS_H

#include <stdbool.h>
#include <stddef.h>

//  Writes `text` to `path` in one write. 0 or -errno.
int
    sbx_process_cgfs_write (const char *path, const char *text);

//  Writes `value`, formatted by the printf format `format` (one long
//  long, or none), to `dir`/`file`. 0 or -errno.
int
    sbx_process_cgfs_writef (const char *dir, const char *file, const char *format, long long value);

//  The whole of `path` as a fresh string (caller frees), or NULL with
//  errno.
char *
    sbx_process_cgfs_read (const char *path);

//  True when `dir`/`file` exists.
bool
    sbx_process_cgfs_exists (const char *dir, const char *file);

//  True when `list` ("memory pids cpu\n") holds the word `word`.
bool
    sbx_process_cgfs_has_word (const char *list, const char *word);

//  mkdir (0755) that takes an existing directory as made. 0 or -errno.
int
    sbx_process_cgfs_mkdir (const char *path);

//  Empties the groups `dirs` [count]: v2's cgroup.kill where there is
//  one, then SIGKILL to every pid their cgroup.procs list, pass after
//  pass, until none is listed. Returns how many were still listed after
//  5 s (0 normally). Blocks up to 5 s.
int
    sbx_process_cgfs_kill (char *const *dirs, size_t count);

//  rmdir `dir`, waiting out EBUSY while its last processes finish
//  exiting (2 s at most). 0 (also when it is gone), or -errno.
int
    sbx_process_cgfs_rmdir (const char *dir);

//  printf into `why` [size], cut to fit (reasons name long paths).
void
    sbx_process_cgfs_say (char *why, size_t size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

#endif
