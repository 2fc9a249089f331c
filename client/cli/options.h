/*  options - the one option parser of the `sbx` tool.

    Each command declares the options it takes in a table of
    sbx_cli_option_t rows: long name, short letter, argument, what kind of
    value it is, where the value goes in the parsed set (sbx_cli_args_t,
    cli.h), and the help line. sbx_cli_parse reads a command line with
    getopt_long built from that table plus the global options (the
    endpoints, --timeout, -h/--help), and `--help` prints a text generated
    from the same rows, so usage and parser cannot drift apart.

    A command row with the same long name as a global option takes its
    place: the value goes where the row says, and the help lists it once,
    among the command's options (sbx run's --timeout does this).

    Values are checked here, by kind: SBX_CLI_SECONDS takes a number of
    seconds > 0 (at most a year), SBX_CLI_SEQ an event seq number,
    SBX_CLI_LIST collects every value of a repeated option (at most
    SBX_CLI_MAX_LIST) in a sbx_cli_list_t. A bad
    value or an unknown option is a usage error: one line on stderr,
    "sbx COMMAND: ... (see sbx COMMAND --help)", exit code 2.
*/
#ifndef SBX_CLI_OPTIONS_H
#define SBX_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sbx_cli_args_t sbx_cli_args_t;

#define SBX_CLI_MAX_LIST 256

//  The values of an option given again and again (--env A=1 --env B=2),
//  in order; they point into argv.
typedef struct {
    const char *items [SBX_CLI_MAX_LIST];
    size_t count;
} sbx_cli_list_t;

typedef enum {
    SBX_CLI_FLAG,       //  no argument; sets a bool
    SBX_CLI_TEXT,       //  a string (points into argv)
    SBX_CLI_SECONDS,    //  a double: seconds > 0, at most a year
    SBX_CLI_SEQ,        //  a uint64_t: an event seq number
    SBX_CLI_LIST,       //  a sbx_cli_list_t: one more string each time
    SBX_CLI_HELP,       //  prints the command's help and ends the parse
    SBX_CLI_VERSION     //  prints sbx's version and ends the parse
} sbx_cli_kind_t;

typedef struct {
    const char *name;       //  long name: --name
    char letter;            //  short name: -letter; 0 for none
    const char *arg;        //  the argument's name in help ("ID"): set
                            //  exactly for TEXT, SECONDS, SEQ and LIST
    sbx_cli_kind_t kind;
    size_t field;           //  where the value goes: SBX_CLI_FIELD (member)
    const char *help;       //  the help line (a '\n' continues it on the
                            //  next line); NULL: accepted but not listed
} sbx_cli_option_t;

//  The offset of a member of sbx_cli_args_t, for the `field` of a row.
#define SBX_CLI_FIELD(member) offsetof (struct sbx_cli_args_t, member)

//  One command of the tool: what its help says, the options it takes,
//  and the function that runs it once they are parsed.
typedef struct {
    const char *name;                   //  "run"; NULL for `sbx` itself
    const char *synopsis;               //  the usage line after the options
    const char *about;                  //  the paragraph under the usage line
    const sbx_cli_option_t *options;    //  ends with a row whose name is NULL
    bool options_first;                 //  options end at the first argument
                                        //  (CMD's own flags stay CMD's)
    const char *dash_operand;           //  arguments that start with this
                                        //  ("-:") are operands, not options
    int (*execute) (sbx_cli_args_t *args);  //  returns the exit code;
                                            //  NULL for `sbx` itself
} sbx_cli_command_t;

//  Parses argv (argv [0] is the command's name) into `args`, which keeps
//  whatever it held for options not given, and sets args->argc/argv to
//  the arguments after the options and args->command to the command's
//  name. Restarts getopt (optind = 0). Returns -1 when the command is to
//  run, else the exit code to end with: 0 after --help or --version, 2
//  (SBX_CLI_EXIT_USAGE) after a usage error, which it has printed.
int
    sbx_cli_parse (const sbx_cli_command_t *command, int argc, char *argv [],
                   sbx_cli_args_t *args);

//  Prints the command's help to stdout: usage line, about, its options,
//  the global options, the exit codes.
void
    sbx_cli_help (const sbx_cli_command_t *command);

//  Prints a usage error as one line on stderr and returns
//  SBX_CLI_EXIT_USAGE. `command` is NULL for `sbx` itself.
int
    sbx_cli_usage_error (const char *command, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

#endif
