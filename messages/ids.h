/*  sbx_ids - the ids a server hands out (PROTOCOL.md): tokens, 32
    lowercase hex characters from the kernel's random source, and session
    ids, `session-<7 lowercase hex>`, from a seeded generator when the
    configuration sets random_seed (SPEC §4), so a run can be replayed.

    Random bytes are read from getrandom(2) 4 KiB at a time. One thread
    only.
*/
#ifndef SBX_IDS_H
#define SBX_IDS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sbx_ids_t sbx_ids_t;

//  Session ids from `seed` when `seeded`, else random.
sbx_ids_t *
    sbx_ids_new (bool seeded, uint64_t seed);
void
    sbx_ids_destroy (sbx_ids_t **self_p);

//  Writes a new token and its terminating NUL into `token`.
void
    sbx_ids_token (sbx_ids_t *self, char token [33]);

//  A new session id; the caller frees it.
char *
    sbx_ids_session (sbx_ids_t *self);

#endif
