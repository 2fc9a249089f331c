/*  options - the one option parser of the `sbx` tool: see options.h */
#include "cli.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>

#define S_MAX_OPTIONS 32        //  rows in one command line's table
#define S_FIRST_ID 256          //  getopt_long's value of row i is S_FIRST_ID + i
#define S_MAX_SECONDS 31536000  //  a year
#define S_HELP_WIDTH 80

//  The options every command takes, before or after its name.
static const sbx_cli_option_t s_global [] = {
    {"endpoint", 0, "EP", SBX_CLI_TEXT, SBX_CLI_FIELD (endpoint),
     "request endpoint; a comma-separated list is tried in\n"
     "order (default $SBX_ENDPOINT, else tcp://127.0.0.1:5555)"},
    {"events-endpoint", 0, "EP", SBX_CLI_TEXT, SBX_CLI_FIELD (events_endpoint),
     "event endpoint (default $SBX_EVENTS, else the one the\n"
     "daemon announces)"},
    {"timeout", 0, "S", SBX_CLI_SECONDS, SBX_CLI_FIELD (timeout_s),
     "seconds to wait for a reply (default 30)"},
    {"server-cert", 0, "FILE", SBX_CLI_TEXT, SBX_CLI_FIELD (server_cert),
     "the daemon's public certificate: speak CURVE\n"
     "(default $SBX_SERVER_CERT; docs/security.md)"},
    {"cert", 0, "FILE", SBX_CLI_TEXT, SBX_CLI_FIELD (cert),
     "this client's secret certificate, for CURVE\n"
     "(default $SBX_CERT; sbx keygen makes one)"},
    {"help", 'h', NULL, SBX_CLI_HELP, 0, "this text"},
    {NULL}
};

static const char s_exit_codes [] =
    "Exit codes: 0 ok; 1 error reply; 2 bad usage; 3 daemon unreachable or no reply\n"
    "in time; 124 command timed out; 128+N signal N (130 Ctrl-C); else the command's.\n";

//  One command line's options: the command's rows, then the global rows
//  it does not name itself.
typedef struct {
    const sbx_cli_option_t *rows [S_MAX_OPTIONS];
    size_t count;
    size_t own;                 //  rows [0, own) are the command's
} s_table_t;

static void
s_add (s_table_t *table, const sbx_cli_option_t *row)
{
    //  A row names its argument exactly when its kind takes one.
    assert ((row->arg != NULL)
         == (row->kind == SBX_CLI_TEXT || row->kind == SBX_CLI_SECONDS || row->kind == SBX_CLI_SEQ
             || row->kind == SBX_CLI_LIST));
    assert (table->count < S_MAX_OPTIONS);
    table->rows [table->count++] = row;
}

static void
s_table (const sbx_cli_command_t *command, s_table_t *table)
{
    table->count = 0;
    for (const sbx_cli_option_t *row = command->options; row && row->name; row++)
        s_add (table, row);
    table->own = table->count;
    for (const sbx_cli_option_t *row = s_global; row->name; row++) {
        bool taken = false;
        for (size_t i = 0; i < table->own && !taken; i++)
            taken = streq (table->rows [i]->name, row->name);
        if (!taken)
            s_add (table, row);
    }
}

//  The row getopt_long answered with `opt`, or NULL for '?'.
static const sbx_cli_option_t *
s_row_of (const s_table_t *table, int opt)
{
    if (opt >= S_FIRST_ID && (size_t) (opt - S_FIRST_ID) < table->count)
        return table->rows [opt - S_FIRST_ID];
    for (size_t i = 0; i < table->count; i++)
        if (table->rows [i]->letter == opt)
            return table->rows [i];
    return NULL;
}

//  True when `word` is an option whose value is the next word.
static bool
s_takes_value (const s_table_t *table, const char *word)
{
    if (word [0] != '-' || !word [1] || strchr (word, '='))
        return false;
    for (size_t i = 0; i < table->count; i++) {
        const sbx_cli_option_t *row = table->rows [i];
        if (row->arg && ((word [1] == '-' && streq (word + 2, row->name))
                      || (word [1] != '-' && word [strlen (word) - 1] == row->letter)))
            return true;
    }
    return false;
}

int
sbx_cli_usage_error (const char *command, const char *format, ...)
{
    char message [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    fprintf (stderr, "sbx%s%s: %s (see sbx %s%s--help)\n", command ? " " : "", command ? command : "",
             message, command ? command : "", command ? " " : "");
    return SBX_CLI_EXIT_USAGE;
}

//  getopt stays quiet (opterr = 0); this names what it refused.
static int
s_bad_option (const char *command, char *argv [])
{
    const char *what = optind > 0 ? argv [optind - 1] : "?";
    if (optopt && what [0] == '-' && what [1] != '-')
        return sbx_cli_usage_error (command, "unknown option or missing value: -%c", optopt);
    return sbx_cli_usage_error (command, "unknown option or missing value: %s", what);
}

//  Stores one option's value; returns -1 to go on, or an exit code.
static int
s_store (const sbx_cli_command_t *command, const sbx_cli_option_t *row, const char *arg,
         sbx_cli_args_t *args)
{
    void *slot = (char *) args + row->field;
    switch (row->kind) {
        case SBX_CLI_FLAG:
            *(bool *) slot = true;
            return -1;
        case SBX_CLI_TEXT:
            *(const char **) slot = arg;
            return -1;
        case SBX_CLI_SECONDS: {
            char *end = NULL;
            double seconds = strtod (arg, &end);
            if (!end || *end || !(seconds > 0) || seconds > S_MAX_SECONDS)
                return sbx_cli_usage_error (command->name, "--%s: '%s' is not a number of seconds > 0",
                                            row->name, arg);
            *(double *) slot = seconds;
            return -1;
        }
        case SBX_CLI_SEQ: {
            char *end = NULL;
            errno = 0;
            unsigned long long value = strtoull (arg, &end, 10);
            if (!end || *end || errno || *arg == '-')
                return sbx_cli_usage_error (command->name, "--%s: '%s' is not a seq number", row->name, arg);
            *(uint64_t *) slot = value;
            return -1;
        }
        case SBX_CLI_LIST: {
            sbx_cli_list_t *list = (sbx_cli_list_t *) slot;
            if (list->count == SBX_CLI_MAX_LIST)
                return sbx_cli_usage_error (command->name, "--%s: given more than %d times", row->name,
                                            SBX_CLI_MAX_LIST);
            list->items [list->count++] = arg;
            return -1;
        }
        case SBX_CLI_HELP:
            sbx_cli_help (command);
            return SBX_CLI_EXIT_OK;
        case SBX_CLI_VERSION:
            printf ("sbx %s\n", SBX_VERSION);
            return SBX_CLI_EXIT_OK;
    }
    return -1;
}

int
sbx_cli_parse (const sbx_cli_command_t *command, int argc, char *argv [], sbx_cli_args_t *args)
{
    s_table_t table;
    s_table (command, &table);
    struct option longs [S_MAX_OPTIONS + 1];
    char shorts [2 * S_MAX_OPTIONS + 2];
    size_t used = 0;
    if (command->options_first)
        shorts [used++] = '+';
    for (size_t i = 0; i < table.count; i++) {
        const sbx_cli_option_t *row = table.rows [i];
        longs [i] = (struct option) {row->name, row->arg ? required_argument : no_argument, NULL,
                                     S_FIRST_ID + (int) i};
        if (row->letter) {
            shorts [used++] = row->letter;
            if (row->arg)
                shorts [used++] = ':';
        }
    }
    longs [table.count] = (struct option) {NULL, 0, NULL, 0};
    shorts [used] = 0;

    //  Operands that look like options (cp's -:PATH) are hidden from
    //  getopt by pointing one character in, then shown again.
    const char *hidden [S_MAX_OPTIONS];
    size_t hidden_count = 0;
    size_t prefix = command->dash_operand ? strlen (command->dash_operand) : 0;
    for (int i = 1; prefix && i < argc && !streq (argv [i], "--") && hidden_count < S_MAX_OPTIONS; i++)
        if (strncmp (argv [i], command->dash_operand, prefix) == 0 && !s_takes_value (&table, argv [i - 1]))
            hidden [hidden_count++] = ++argv [i];

    args->command = command->name;
    opterr = 0;
    optind = 0;                 //  restarts getopt
    int opt, code = -1;
    while (code < 0 && (opt = getopt_long (argc, argv, shorts, longs, NULL)) != -1) {
        const sbx_cli_option_t *row = s_row_of (&table, opt);
        code = row ? s_store (command, row, optarg, args) : s_bad_option (command->name, argv);
    }
    for (int i = 0; i < argc; i++)
        for (size_t k = 0; k < hidden_count; k++)
            if (argv [i] == hidden [k])
                argv [i]--;
    if (code >= 0)
        return code;
    args->argc = argc - optind;
    args->argv = argv + optind;
    return -1;
}

//  --- Help ------------------------------------------------------------------

//  Prints " word" on the usage line, or on a new line under `indent`
//  when it would pass the width. Returns the new column.
static size_t
s_usage_word (const char *word, size_t column, size_t indent)
{
    if (column > indent && column + 1 + strlen (word) > S_HELP_WIDTH) {
        printf ("\n%*s%s", (int) indent, "", word);
        return indent + strlen (word);
    }
    printf (" %s", word);
    return column + 1 + strlen (word);
}

static void
s_label (const sbx_cli_option_t *row, char *buffer, size_t size)
{
    char letter [8] = "";
    if (row->letter)
        snprintf (letter, sizeof letter, "-%c, ", row->letter);
    snprintf (buffer, size, "%s--%s%s%s", letter, row->name, row->arg ? " " : "", row->arg ? row->arg : "");
}

//  Lists rows [from, to) with their help, in a column `width` wide, and
//  a blank line after them when there were any.
static void
s_list (const s_table_t *table, size_t from, size_t to, int width)
{
    bool listed = false;
    for (size_t i = from; i < to; i++) {
        const sbx_cli_option_t *row = table->rows [i];
        if (!row->help)
            continue;
        char label [64];
        s_label (row, label, sizeof label);
        printf ("  %-*s  ", width, label);
        for (const char *c = row->help; *c; c++) {
            putchar (*c);
            if (*c == '\n')
                printf ("%*s", width + 4, "");
        }
        putchar ('\n');
        listed = true;
    }
    if (listed)
        putchar ('\n');
}

void
sbx_cli_help (const sbx_cli_command_t *command)
{
    s_table_t table;
    s_table (command, &table);
    char lead [64];
    snprintf (lead, sizeof lead, "usage: sbx%s%s", command->name ? " " : "",
              command->name ? command->name : "");
    fputs (lead, stdout);
    size_t indent = strlen (lead) + 1, column = strlen (lead);
    for (size_t i = 0; i < table.own; i++) {
        const sbx_cli_option_t *row = table.rows [i];
        if (!row->help)
            continue;
        char word [64];
        snprintf (word, sizeof word, "[--%s%s%s]", row->name, row->arg ? " " : "", row->arg ? row->arg : "");
        column = s_usage_word (word, column, indent);
    }
    if (command->synopsis && *command->synopsis)
        s_usage_word (command->synopsis, column, indent);
    printf ("\n\n%s\n\n", command->about);

    int width = 0;
    for (size_t i = 0; i < table.count; i++) {
        char label [64];
        s_label (table.rows [i], label, sizeof label);
        if (table.rows [i]->help)
            width = MAX (width, (int) strlen (label));
    }
    s_list (&table, 0, table.own, width);
    printf ("Global options (before or after the command):\n");
    s_list (&table, table.own, table.count, width);
    fputs (s_exit_codes, stdout);
}
