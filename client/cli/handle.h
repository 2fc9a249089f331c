/*  handle - a session that outlives one `sbx` command.

    `sbx open` opens a session and prints its handle: what a later command
    needs to use it, as one word

        SANDBOX,TOKEN,SESSION_ID        default/0:1,3f9a...c2e1,session-5d1c0a2

    (the sandbox id, the 32 hex characters of its token, the session id).
    `sbx run`, `cp`, `call` and `shell` take it with --session HANDLE or
    from $SBX_SESSION, and `sbx close` ends it. A sandbox id is
    ENV/SLOT:GENERATION and an environment id has no '/', so the sandbox
    ends at the first ',' after the '/'; the session id is the rest and may
    hold any printable character but '/'. In `sbx cp`'s HANDLE:PATH the
    path starts after the first ':' that follows the token.

    Nothing renews a handle's lease between commands: each command that
    uses it renews it (any request carrying the token does), so the gap
    between two commands must stay under the daemon's session_lease_s.
*/
#ifndef SBX_CLI_HANDLE_H
#define SBX_CLI_HANDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    char sandbox [192];
    char token [40];
    char session_id [160];      //  "" when the handle names none
} sbx_cli_handle_t;

//  Parses the first `length` bytes of `text` as a handle. Returns 0, or -1
//  when they are not one (*handle is then undefined).
int
    sbx_cli_handle_parse (const char *text, size_t length, sbx_cli_handle_t *handle);

//  The length of the handle at the start of `text` that a ':' ends (cp's
//  HANDLE:PATH), or 0 when `text` does not start with one.
size_t
    sbx_cli_handle_span (const char *text);

//  Prints the handle of a session as one word, quoted for the shell when
//  it needs to be.
void
    sbx_cli_handle_print (FILE *out, const char *sandbox, const char *token, const char *session_id);

#endif
