/*  The testing sandbox kind (SPEC §5): fault injection for start, shutdown
    and ping, and a `shell {code, raise_error?}` service that records what
    it ran. */
#ifndef SBX_BACKEND_TESTING_H
#define SBX_BACKEND_TESTING_H

#include <sbx/plugin.h>

extern const sbx_sandbox_kind_t sbx_sandbox_testing;

//  Shell calls made on this testing sandbox instance so far.
unsigned long
    sbx_testing_sandbox_shell_calls (void *instance);

#endif
