/*  sbx_process_space - a sandbox's own directory, every path its commands
    can write, and emptying them between sessions (docs/sandboxes.md,
    "A clean slate").

    root_dir/<env>/<slot>:<gen> (sbxd's, mode 0711, so that the sandbox
    cannot rename what is in it) holds one directory per writable path,
    each the sandbox user's, mode 0700:
      workspace   the working directory and HOME (/workspace under bwrap)
      tmp         /tmp under bwrap; TMPDIR with isolation "none"
      var-tmp     /var/tmp under bwrap
      shm         /dev/shm under bwrap
    With a disk quota the directory is a tmpfs of that size, mounted by
    sbxd: the sandbox that fills it gets ENOSPC, and nothing else notices;
    its pages are charged to the memory cgroup of whoever wrote them.

    Owned by one sandbox and used from its thread only. Blocks on the file
    system only.
*/
#ifndef SBX_PROCESS_SPACE_H
#define SBX_PROCESS_SPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  The writable paths: the directory's name in the space, and where a
//  bwrap sandbox sees it.
typedef struct {
    const char *name;
    const char *bwrap_path;
} sbx_process_space_path_t;

//  The paths of a sandbox, `workspace` first, terminated by {NULL}: all
//  four under bwrap, workspace and tmp otherwise.
const sbx_process_space_path_t *
    sbx_process_space_paths (bool bwrap);

typedef struct sbx_process_space_t sbx_process_space_t;

//  A space `env_dir`/`name` (nothing made yet). Never returns NULL.
sbx_process_space_t *
    sbx_process_space_new (const char *env_dir, const char *name, bool bwrap);

//  Frees it (it must have been removed) and nulls *self_p. Safe on NULL.
void
    sbx_process_space_destroy (sbx_process_space_t **self_p);

//  Makes it: env_dir (0755), the directory (replacing a stale one: a
//  crash's, mount included), a tmpfs of `disk_bytes` on it when >= 0,
//  the paths owned by `uid`/`gid` (-1: sbxd's own), and opens the
//  workspace. 0, or -errno with *what_p saying which step failed.
int
    sbx_process_space_make (sbx_process_space_t *self, int64_t disk_bytes, uid_t uid, gid_t gid,
                            const char **what_p);

//  Removes everything in each path (never following a link). 0, or the
//  first -errno (ENOENT when a path is gone: the sandbox is broken).
int
    sbx_process_space_empty (sbx_process_space_t *self);

//  Empties it, unmounts its tmpfs and removes the directory, and env_dir
//  when it was the last. 0 or the first -errno.
int
    sbx_process_space_remove (sbx_process_space_t *self);

//  The directory (host path).
const char *
    sbx_process_space_dir (sbx_process_space_t *self);

//  The workspace (host path) and an O_PATH descriptor of it (owned by the
//  space, -1 before make and after remove).
const char *
    sbx_process_space_workspace (sbx_process_space_t *self);
int
    sbx_process_space_workspace_fd (sbx_process_space_t *self);

//  The host path of `name` in the space ("tmp", ...), for TMPDIR.
//  Caller frees.
char *
    sbx_process_space_path (sbx_process_space_t *self, const char *name);

//  Undoes a crash's space at `env_dir`/`name`: unmounts a tmpfs there
//  (detached, never following a link). For the daemon's leftover cleanup,
//  before it removes the tree. 0, or -errno (EINVAL: nothing mounted).
int
    sbx_process_space_unmount (const char *env_dir, const char *name);

#endif
