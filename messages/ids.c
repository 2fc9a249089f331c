/*  sbx_ids - see ids.h */
#include "messages/ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct sbx_ids_t {
    bool seeded;
    uint64_t seed;              //  splitmix64 state
    uint8_t random [4096];
    size_t used;
};

sbx_ids_t *
sbx_ids_new (bool seeded, uint64_t seed)
{
    sbx_ids_t *self = (sbx_ids_t *) calloc (1, sizeof (sbx_ids_t));
    if (!self)
        abort ();
    self->seeded = seeded;
    self->seed = seed;
    self->used = sizeof self->random;
    return self;
}

void
sbx_ids_destroy (sbx_ids_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

static void
s_random_bytes (sbx_ids_t *self, uint8_t *out, size_t size)
{
    if (self->used + size > sizeof self->random) {
        size_t have = 0;
        while (have < sizeof self->random) {
            ssize_t rc = getrandom (self->random + have, sizeof self->random - have, 0);
            if (rc > 0)
                have += (size_t) rc;
        }
        self->used = 0;
    }
    memcpy (out, self->random + self->used, size);
    self->used += size;
}

void
sbx_ids_token (sbx_ids_t *self, char token [33])
{
    uint8_t bytes [16];
    s_random_bytes (self, bytes, sizeof bytes);
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf (token + 2 * i, 3, "%02x", bytes [i]);
}

char *
sbx_ids_session (sbx_ids_t *self)
{
    uint64_t value;
    if (self->seeded) {
        //  splitmix64: a fixed seed gives the same ids every run.
        self->seed += 0x9e3779b97f4a7c15ull;
        uint64_t z = self->seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        value = z ^ (z >> 31);
    }
    else
        s_random_bytes (self, (uint8_t *) &value, sizeof value);
    char *id = (char *) malloc (16);
    if (!id)
        abort ();
    snprintf (id, 16, "session-%07llx", (unsigned long long) (value & 0xfffffff));
    return id;
}
