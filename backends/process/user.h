/*  sbx_process_user - a uid of the sandbox's own, leased for its life
    (option `users`, docs/sandboxes.md "Users").

    When sbxd runs as root, each sandbox's commands run as a uid (and the
    gid of the same number) of their own, so the `processes` limit, which
    Linux counts per uid, counts that sandbox's processes only. A uid is
    taken from a range and held by an exclusive flock(2) on the lock file
    `lock_dir/<uid>`, which every sbxd on the host shares: two daemons
    never share a uid. The search starts at a hash of a seed (environment
    and slot), so a slot gets the same uid generation after generation,
    and the lock files, never deleted (deleting one races its next user),
    stay few.

    Owned by one sandbox and used from its thread only.
*/
#ifndef SBX_PROCESS_USER_H
#define SBX_PROCESS_USER_H

#include <stdint.h>
#include <sys/types.h>

typedef struct sbx_process_user_t sbx_process_user_t;

//  Leases a free uid of [base, base + count), making `lock_dir` when it
//  is missing. Returns the lease (caller destroys), or NULL with errno
//  set (EAGAIN: every uid of the range is held). Blocks only on the file
//  system (the locks are taken without waiting).
sbx_process_user_t *
    sbx_process_user_new (const char *lock_dir, uint32_t base, uint32_t count, const char *seed);

//  Gives the uid back (unlocks; the lock file stays) and nulls *self_p.
//  Safe on NULL.
void
    sbx_process_user_destroy (sbx_process_user_t **self_p);

//  The leased uid, and the gid that goes with it (the same number).
uid_t
    sbx_process_user_uid (sbx_process_user_t *self);
gid_t
    sbx_process_user_gid (sbx_process_user_t *self);

//  SIGKILLs every process whose real, effective or saved uid is the
//  leased one, pass after pass, until none is left (the uid is this
//  sandbox's alone). Blocks up to 5 s. Returns how many were still found
//  then (0 normally).
int
    sbx_process_user_kill_all (sbx_process_user_t *self);

#endif
