/*  reader - where `sbx shell` reads its lines: see reader.h */
#include "reader.h"
#include "cli.h"

#include <czmq.h>
#include <histedit.h>
#include <locale.h>
#include <sys/stat.h>
#include <wchar.h>

#define S_HISTORY_SIZE 1000

struct sbx_cli_reader_t {
    char *prompt;
    EditLine *editor;           //  on a terminal
    History *history;
    char *history_path;         //  NULL: none kept
    char *line;                 //  the last line (a copy)
    size_t line_size;
};

static char *
s_prompt (EditLine *editor)
{
    sbx_cli_reader_t *self = NULL;
    el_get (editor, EL_CLIENTDATA, &self);
    return self ? self->prompt : "";
}

//  libedit's character source: one character from stdin, which a caught
//  signal interrupts (libedit's own read would try again). 1 for a
//  character, 0 at the end, -1 after an error or a signal.
static int
s_getc (EditLine *editor, wchar_t *character)
{
    mbstate_t state;
    memset (&state, 0, sizeof state);
    while (!sbx_cli_interrupted ()) {
        char byte;
        ssize_t n = read (STDIN_FILENO, &byte, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? 0 : -1;
        size_t used = mbrtowc (character, &byte, 1, &state);
        if (used == (size_t) -2)
            continue;           //  more bytes of one character to come
        if (used == (size_t) -1) {
            //  Not in the locale's encoding: the byte as it is.
            *character = (wchar_t) (unsigned char) byte;
            memset (&state, 0, sizeof state);
        }
        return 1;
    }
    return -1;
}

//  $XDG_STATE_HOME/sbx/history (made 0700), else ~/.sbx_history; NULL
//  when there is no home.
static char *
s_history_path (void)
{
    const char *state = getenv ("XDG_STATE_HOME");
    if (state && *state) {
        char *dir = zsys_sprintf ("%s/sbx", state);
        mkdir (state, 0700);
        mkdir (dir, 0700);
        char *path = zsys_sprintf ("%s/history", dir);
        zstr_free (&dir);
        return path;
    }
    const char *home = getenv ("HOME");
    return home && *home ? zsys_sprintf ("%s/.sbx_history", home) : NULL;
}

sbx_cli_reader_t *
sbx_cli_reader_new (const char *prompt)
{
    sbx_cli_reader_t *self = (sbx_cli_reader_t *) zmalloc (sizeof (sbx_cli_reader_t));
    self->prompt = strdup (prompt ? prompt : "");
    if (!isatty (STDIN_FILENO))
        return self;
    //  Characters beyond ASCII as the terminal sends them.
    setlocale (LC_CTYPE, "");
    self->editor = el_init ("sbx", stdin, stderr, stderr);
    if (!self->editor)
        return self;
    el_set (self->editor, EL_CLIENTDATA, self);
    el_set (self->editor, EL_PROMPT, s_prompt);
    el_set (self->editor, EL_EDITOR, "emacs");
    el_set (self->editor, EL_GETCFN, s_getc);
    self->history = history_init ();
    HistEvent event;
    history (self->history, &event, H_SETSIZE, S_HISTORY_SIZE);
    history (self->history, &event, H_SETUNIQUE, 1);
    self->history_path = s_history_path ();
    if (self->history_path)
        history (self->history, &event, H_LOAD, self->history_path);
    el_set (self->editor, EL_HIST, history, self->history);
    //  Ctrl-R searches back, as in most shells.
    el_set (self->editor, EL_BIND, "^R", "em-inc-search-prev", NULL);
    el_source (self->editor, NULL);
    return self;
}

void
sbx_cli_reader_destroy (sbx_cli_reader_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sbx_cli_reader_t *self = *self_p;
    if (self->editor)
        el_end (self->editor);
    if (self->history)
        history_end (self->history);
    free (self->history_path);
    free (self->prompt);
    free (self->line);
    free (self);
    *self_p = NULL;
}

void
sbx_cli_reader_set_prompt (sbx_cli_reader_t *self, const char *prompt)
{
    if (streq (self->prompt, prompt ? prompt : ""))
        return;
    free (self->prompt);
    self->prompt = strdup (prompt ? prompt : "");
}

bool
sbx_cli_reader_terminal (const sbx_cli_reader_t *self)
{
    return self->editor != NULL;
}

//  Keeps a copy of `length` bytes of `text`, line end removed.
static const char *
s_keep (sbx_cli_reader_t *self, const char *text, size_t length)
{
    while (length > 0 && (text [length - 1] == '\n' || text [length - 1] == '\r'))
        length--;
    if (length + 1 > self->line_size) {
        self->line_size = length + 1;
        self->line = (char *) realloc (self->line, self->line_size);
        if (!self->line)
            abort ();
    }
    memcpy (self->line, text, length);
    self->line [length] = 0;
    return self->line;
}

const char *
sbx_cli_reader_next (sbx_cli_reader_t *self)
{
    if (sbx_cli_interrupted ())
        return NULL;
    if (!self->editor) {
        char *line = NULL;
        size_t size = 0;
        ssize_t length = getline (&line, &size, stdin);
        const char *kept = length < 0 || sbx_cli_interrupted () ? NULL : s_keep (self, line, (size_t) length);
        free (line);
        return kept;
    }
    int count = 0;
    const char *text = el_gets (self->editor, &count);
    if (!text || count <= 0 || sbx_cli_interrupted ())
        return NULL;
    const char *line = s_keep (self, text, (size_t) count);
    if (*line && self->history) {
        HistEvent event;
        history (self->history, &event, H_ENTER, line);
        if (self->history_path)
            history (self->history, &event, H_SAVE, self->history_path);
    }
    return line;
}
