/*  cli - what the commands of the `sbx` tool share: see cli.h */
#include "cli.h"

#include <czmq.h>

int
sbx_cli_ms (double seconds)
{
    return seconds * 1000 > INT32_MAX ? INT32_MAX : (int) (seconds * 1000);
}

int
sbx_cli_timeout_ms (const sbx_cli_args_t *args)
{
    return sbx_cli_ms (args->timeout_s >= 0 ? args->timeout_s : SBX_CLI_DEFAULT_TIMEOUT_S);
}

sbx_client_t *
sbx_cli_connect (const sbx_cli_args_t *args, int timeout_ms, int *code_p)
{
    sbx_client_options_t options = {.timeout_ms = timeout_ms};
    sbx_error_t *error = NULL;
    sbx_client_t *client = sbx_client_new (args->endpoint, &options, &error);
    if (!client)
        *code_p = sbx_cli_fail (args->endpoint, &error);
    return client;
}

const char *
sbx_cli_where (const sbx_cli_args_t *args, const sbx_client_t *client)
{
    return client ? sbx_client_endpoint (client) : args->endpoint;
}

int
sbx_cli_fail (const char *where, sbx_error_t **error_p)
{
    sbx_error_t *error = *error_p;
    char detail [2048] = "";
    for (size_t i = 0; i < sbx_error_count (error); i++) {
        const char *feature = NULL;
        const sbx_error_t *sub = sbx_error_at (error, i, &feature);
        size_t used = strlen (detail);
        snprintf (detail + used, sizeof detail - used, "%s%s: %s: %s", i ? "; " : " (",
                  feature ? feature : "?", sbx_error_type (sub), sbx_error_message (sub));
    }
    if (*detail) {
        size_t used = strlen (detail);
        snprintf (detail + used, sizeof detail - used, ")");
    }
    //  One line: newlines in messages become spaces.
    char line [4096];
    snprintf (line, sizeof line, "%s: %s%s", sbx_error_type (error), sbx_error_message (error), detail);
    for (char *c = line; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    fprintf (stderr, "sbx: %s: %s\n", where, line);
    int code = sbx_error_is (error, SBX_INTERRUPTED) ? SBX_CLI_EXIT_INTERRUPTED
             : sbx_error_is_local (error) ? SBX_CLI_EXIT_UNREACHABLE : SBX_CLI_EXIT_ERROR;
    sbx_error_destroy (error_p);
    return code;
}

int
sbx_cli_unexpected (const sbx_cli_args_t *args, int index)
{
    return sbx_cli_usage_error (args->command, "unexpected argument '%s'", args->argv [index]);
}

void
sbx_cli_print_json (FILE *out, const json_t *json, bool compact)
{
    size_t flags = JSON_ENCODE_ANY | (compact ? JSON_COMPACT : JSON_INDENT (2));
    char *text = json_dumps (json, flags);
    if (text) {
        fputs (text, out);
        fputc ('\n', out);
        free (text);
    }
}

void
sbx_cli_write_bytes (FILE *out, const msgpack_object *object)
{
    if (object && object->type == MSGPACK_OBJECT_STR)
        fwrite (object->via.str.ptr, 1, object->via.str.size, out);
    else if (object && object->type == MSGPACK_OBJECT_BIN)
        fwrite (object->via.bin.ptr, 1, object->via.bin.size, out);
    fflush (out);
}

void
sbx_cli_duration (char *buffer, size_t size, double seconds)
{
    if (seconds < 0)
        snprintf (buffer, size, "?");
    else if (seconds < 60)
        snprintf (buffer, size, "%.1fs", seconds);
    else if (seconds < 3600)
        snprintf (buffer, size, "%dm%02ds", (int) seconds / 60, (int) seconds % 60);
    else if (seconds < 86400)
        snprintf (buffer, size, "%dh%02dm", (int) seconds / 3600, ((int) seconds % 3600) / 60);
    else
        snprintf (buffer, size, "%dd%02dh", (int) (seconds / 86400), ((int) seconds % 86400) / 3600);
}

const char *
sbx_cli_str (const json_t *object, const char *key, const char *otherwise)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : otherwise;
}
