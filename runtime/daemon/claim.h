/*  sbx_claim - one daemon per environment. An environment's sandboxes live
    under root_dir/<env>; two daemons serving the same one would remove
    each other's. So sbxd claims it before anything starts: it locks
    root_dir/<env>.lock (flock, held until the process ends) and writes its
    pid there; a second daemon is refused with the holder's pid. Under the
    lock, whatever a previous run left in root_dir/<env> (a daemon that was
    killed, say: its sandboxes' directories, user files included) is
    removed, each removal logged.

    Functions only; they block on the file system. Top floor (the daemon).
*/
#ifndef SBX_CLAIM_H
#define SBX_CLAIM_H

#include "runtime/core/config.h"

//  Claims the environment: 0, or -1 with *error_p (caller frees) saying
//  who holds it, or why it cannot be claimed. Then removes leftovers.
int
    sbx_claim (const sbx_config_t *config, char **error_p);

//  Removes everything under root_dir/<env> (not the lock). Logs each entry.
void
    sbx_claim_clean (const sbx_config_t *config);

//  At a clean exit: removes the lock file (the lock goes with the process).
void
    sbx_claim_release (const sbx_config_t *config);

#endif
