/*  reader - where `sbx shell` and `sbx python` read their lines.

    On a terminal, an editable line with history (libedit, emacs keys by
    default, ~/.editrc applies): arrows, Ctrl-R searches, and the history
    is kept in $XDG_STATE_HOME/sbx/history when XDG_STATE_HOME is set,
    else in ~/.sbx_history (mode 0600, the last 1000 lines, saved after
    each line). The prompt and the editing go to stderr, so stdout holds
    only what the commands print. Elsewhere (a pipe, a file), plain lines
    from stdin, no prompt.

    A signal caught by main.c (Ctrl-C, SIGTERM, SIGHUP) ends the wait for
    a line: sbx_cli_reader_next then returns NULL, as at the end of input.
*/
#ifndef SBX_CLI_READER_H
#define SBX_CLI_READER_H

#include <stdbool.h>

typedef struct sbx_cli_reader_t sbx_cli_reader_t;

//  A reader of stdin, showing `prompt` (copied) on a terminal. Caller owns
//  it. Never NULL.
sbx_cli_reader_t *
    sbx_cli_reader_new (const char *prompt);

//  Frees the reader (the terminal is back as it was) and nulls *self_p.
void
    sbx_cli_reader_destroy (sbx_cli_reader_t **self_p);

//  Shows `prompt` (copied) from the next line on (sbx python's ">>> " and
//  "... ").
void
    sbx_cli_reader_set_prompt (sbx_cli_reader_t *self, const char *prompt);

//  True when stdin is a terminal (and the line is editable).
bool
    sbx_cli_reader_terminal (const sbx_cli_reader_t *self);

//  Waits for the next line and returns it without its line end (owned by
//  the reader, valid until the next call), or NULL at the end of input,
//  after a read error, or once a signal came (sbx_cli_interrupted).
//  A non-empty line read on a terminal joins the history.
const char *
    sbx_cli_reader_next (sbx_cli_reader_t *self);

#endif
