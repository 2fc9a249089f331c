/*  sbx_claim - one daemon per environment. An environment's sandboxes live
    under root_dir/<env>; two daemons serving the same one would remove
    each other's. So sbxd claims it before anything starts: it locks
    root_dir/<env>.lock (flock, held until the process ends) and writes its
    pid there; a second daemon is refused with the holder's pid. Under the
    lock, whatever a previous run left (a daemon that was killed, say) is
    removed, each removal logged: in root_dir/<env>, its sandboxes'
    directories, user files included (a tmpfs mounted on one is unmounted
    first), and in every cgroup hierarchy, the groups under sbx/<env>
    (what still runs in them is killed first).

    Functions only; they block on the file system. Top floor (the daemon).
*/
#ifndef SBX_CLAIM_H
#define SBX_CLAIM_H

#include "runtime/core/config.h"

//  Claims the environment: 0, or -1 with *error_p (caller frees) saying
//  who holds it, or why it cannot be claimed. Then removes leftovers.
int
    sbx_claim (const sbx_config_t *config, char **error_p);

//  Removes everything under root_dir/<env> (not the lock), and the
//  environment's cgroups. Logs each entry.
void
    sbx_claim_clean (const sbx_config_t *config);

//  At a clean exit: removes the lock file (the lock goes with the process).
void
    sbx_claim_release (const sbx_config_t *config);

#endif
