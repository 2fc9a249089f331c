/*  sbx keygen - a CURVE certificate pair for a daemon or a worker
    (docs/security.md, docs/cli.md). */
#include "cli.h"

#include <czmq.h>
#include <errno.h>
#include <sys/stat.h>

static int
s_keygen (sbx_cli_args_t *args)
{
    if (args->argc == 0)
        return sbx_cli_usage_error (args->command, "no NAME given");
    if (args->argc > 1)
        return sbx_cli_unexpected (args, 1);
    const char *name = args->argv [0];
    char secret [PATH_MAX];
    if (!*name || snprintf (secret, sizeof secret, "%s_secret", name) >= (int) sizeof secret)
        return sbx_cli_usage_error (args->command, "'%s' is not a file name", name);
    //  A key that is in use is never overwritten by mistake.
    struct stat st;
    const char *exists = stat (name, &st) == 0 ? name : stat (secret, &st) == 0 ? secret : NULL;
    if (exists && !args->force) {
        fprintf (stderr, "sbx: %s exists already (--force replaces it)\n", exists);
        return SBX_CLI_EXIT_ERROR;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        fprintf (stderr, "sbx: cannot make a key pair\n");
        return SBX_CLI_EXIT_ERROR;
    }
    const char *base = strrchr (name, '/') ? strrchr (name, '/') + 1 : name;
    zcert_set_meta (cert, "name", "%s", base);
    //  zcert_save writes NAME (public) and NAME_secret (mode 0600).
    int rc = zcert_save (cert, name);
    if (rc != 0)
        fprintf (stderr, "sbx: cannot write %s and %s: %s\n", name, secret, strerror (errno));
    else
        printf ("public key %s\nwrote %s (the public certificate: hand it out)\n"
                "wrote %s (the secret certificate, mode 0600: keep it)\n",
                zcert_public_txt (cert), name, secret);
    zcert_destroy (&cert);
    return rc == 0 ? SBX_CLI_EXIT_OK : SBX_CLI_EXIT_ERROR;
}

static const sbx_cli_option_t s_options [] = {
    {"force", 0, NULL, SBX_CLI_FLAG, SBX_CLI_FIELD (force), "replace NAME and NAME_secret if they exist"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_keygen = {
    .name = "keygen",
    .synopsis = "NAME",
    .about =
        "Makes a CURVE key pair and writes it as two czmq certificates: NAME holds the\n"
        "public key, NAME_secret both keys (mode 0600). The daemon's security.server_cert\n"
        "is its NAME_secret; a worker's NAME goes into the daemon's security.clients (or\n"
        "security.admins) directory, and the worker uses its NAME_secret with --cert.\n"
        "No daemon is contacted.",
    .options = s_options,
    .execute = s_keygen
};
