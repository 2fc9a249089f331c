/*  sbx_init_clean - what a session leaves behind outside the sandbox's
    own directory, found and removed by sbx-init at sbxd's CLEAN request
    (protocol.h; docs/sandboxes.md, "A clean slate").

    Everything counted belongs to the sandbox's user (`uid`):
      - in each shared directory given (/tmp, /var/tmp, /dev/shm, ... with
        isolation "none"; /dev/mqueue under bwrap): the entries it owns,
        and inside world-writable directories it does not own, the
        entries it owns there, down to 16 levels, never leaving the
        directory's file system and never following a link;
      - System V shared memory, message queues and semaphore sets whose
        owner or creator it is (the tables of /proc/sysvipc), as
        systemd's RemoveIPC= does at logout;
      - with `mqueue`, POSIX message queues it owns: a private mount of the
        IPC namespace's mqueue file system shows them (the host may mount
        none). POSIX shared memory and semaphores are files in /dev/shm.

    sbx_init_clean_scan counts without touching anything, as sbx-init
    itself; sbx_init_clean_remove removes, and is meant for a child
    process that has become `uid` first (except for the queues, below),
    so that it can remove nothing the sandbox's user could not.

    Functions only; they block on the file system. Part of sbx-init.
*/
#ifndef SBX_INIT_CLEAN_H
#define SBX_INIT_CLEAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

//  What to clean: the shared directories (absolute paths; missing ones
//  are skipped) and whether POSIX message queues need a private mount.
typedef struct {
    const char *dirs [8];
    size_t count;
    bool mqueue;
} sbx_init_clean_t;

//  How many entries and IPC objects of `uid` there are (queues behind
//  `mqueue` are not counted: they need the mount). Never blocks on
//  anything but /proc and the directories.
int
    sbx_init_clean_scan (const sbx_init_clean_t *what, uid_t uid);

//  With `what->mqueue`: mounts the namespace's mqueue file system in a
//  mount namespace of the caller's own (which it enters: call it in a
//  child) and removes the queues `uid` owns. Needs CAP_SYS_ADMIN; call
//  before giving up privileges. Returns the failures (0: none), saying
//  each on stderr.
int
    sbx_init_clean_queues (const sbx_init_clean_t *what, uid_t uid);

//  Removes what sbx_init_clean_scan counts. Returns the failures (0:
//  none), saying each on stderr.
int
    sbx_init_clean_remove (const sbx_init_clean_t *what, uid_t uid);

#endif
