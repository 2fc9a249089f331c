/*  handle - a session that outlives one `sbx` command: see handle.h */
#include "handle.h"
#include "cli.h"

#include <ctype.h>
#include <string.h>

#define S_TOKEN_LENGTH 32

//  Where the token starts: after the ',' that ends the sandbox id; NULL
//  when there is no such ',' within `length`.
static const char *
s_token_start (const char *text, size_t length)
{
    const char *slash = memchr (text, '/', length);
    if (!slash || slash == text)
        return NULL;
    const char *comma = memchr (slash, ',', length - (size_t) (slash - text));
    return comma && comma > slash + 1 ? comma + 1 : NULL;
}

static bool
s_token_at (const char *token, const char *end)
{
    if (end - token < S_TOKEN_LENGTH)
        return false;
    for (size_t i = 0; i < S_TOKEN_LENGTH; i++)
        if (!isxdigit ((unsigned char) token [i]))
            return false;
    return token + S_TOKEN_LENGTH == end || token [S_TOKEN_LENGTH] == ',';
}

int
sbx_cli_handle_parse (const char *text, size_t length, sbx_cli_handle_t *handle)
{
    const char *end = text + length;
    const char *token = s_token_start (text, length);
    if (!token || !s_token_at (token, end))
        return -1;
    size_t sandbox_length = (size_t) (token - 1 - text);
    const char *session = token + S_TOKEN_LENGTH < end ? token + S_TOKEN_LENGTH + 1 : end;
    size_t session_length = (size_t) (end - session);
    if (sandbox_length >= sizeof handle->sandbox || session_length >= sizeof handle->session_id)
        return -1;
    snprintf (handle->sandbox, sizeof handle->sandbox, "%.*s", (int) sandbox_length, text);
    snprintf (handle->token, sizeof handle->token, "%.*s", S_TOKEN_LENGTH, token);
    snprintf (handle->session_id, sizeof handle->session_id, "%.*s", (int) session_length, session);
    return 0;
}

size_t
sbx_cli_handle_span (const char *text)
{
    size_t length = strlen (text);
    const char *token = s_token_start (text, length);
    if (!token || (size_t) (token - text) + S_TOKEN_LENGTH > length)
        return 0;
    const char *colon = strchr (token + S_TOKEN_LENGTH, ':');
    if (!colon || !s_token_at (token, colon))
        return 0;
    return (size_t) (colon - text);
}

void
sbx_cli_handle_print (FILE *out, const char *sandbox, const char *token, const char *session_id)
{
    char word [512];
    snprintf (word, sizeof word, "%s,%s,%s", sandbox, token, session_id ? session_id : "");
    sbx_cli_shell_quote (out, word);
}
