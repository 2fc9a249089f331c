/*  sbx shutdown - asks a daemon to shut down, on its admin endpoint
    (docs/security.md, docs/cli.md). */
#include "cli.h"
#include "runtime/core/config.h"

#include <czmq.h>
#include <errno.h>

//  An ipc:// admin endpoint is a socket file: say plainly when it is not
//  there or not ours, rather than wait for a daemon that cannot answer.
static int
s_check_socket_file (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) != 0 || endpoint [6] == '@')
        return 0;
    const char *path = endpoint + 6;
    if (access (path, W_OK) == 0)
        return 0;
    if (errno == ENOENT)
        fprintf (stderr, "sbx: %s: no admin endpoint there: is sbxd running, with this root_dir and "
                 "environment? (--admin EP or $SBX_ADMIN name another)\n", endpoint);
    else
        fprintf (stderr, "sbx: %s: %s (the admin endpoint is for the daemon's user only)\n", endpoint,
                 strerror (errno));
    return -1;
}

static int
s_shutdown (sbx_cli_args_t *args)
{
    if (args->argc > 0)
        return sbx_cli_unexpected (args, 0);
    char *fallback = NULL;
    const char *admin = args->admin && *args->admin ? args->admin
                      : (fallback = sbx_config_default_admin_endpoint ());
    int code = SBX_CLI_EXIT_OK;
    if (s_check_socket_file (admin) != 0) {
        zstr_free (&fallback);
        return SBX_CLI_EXIT_UNREACHABLE;
    }
    //  The admin socket speaks no CURVE; a request endpoint with keys
    //  takes shutdown from an admin key.
    bool ipc = strncmp (admin, "ipc://", 6) == 0;
    sbx_client_options_t options = {
        .timeout_ms = sbx_cli_timeout_ms (args), .no_heartbeat = true,
        .server_cert = ipc ? NULL : args->server_cert, .cert = ipc ? NULL : args->cert
    };
    sbx_error_t *error = NULL;
    sbx_client_t *client = sbx_client_new (admin, &options, &error);
    if (!client)
        code = sbx_cli_fail (admin, &error);
    else
    if (sbx_client_shutdown (client, &error) != 0)
        code = sbx_cli_fail (admin, &error);
    else
        printf ("environment %s: shutting down\n",
                sbx_cli_str (sbx_client_hello (client), "environment", "?"));
    sbx_client_destroy (&client);
    zstr_free (&fallback);
    return code;
}

static const sbx_cli_option_t s_options [] = {
    {"admin", 0, "EP", SBX_CLI_TEXT, SBX_CLI_FIELD (admin),
     "the admin endpoint (default $SBX_ADMIN, else the one of\n"
     "sbxd's embedded default: ipc://$TMPDIR/sbx/default.admin)"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_shutdown = {
    .name = "shutdown",
    .synopsis = "",
    .about =
        "Asks the daemon to shut down gracefully (every sandbox torn down, then it\n"
        "exits 0). `shutdown` is an admin op: the request endpoint refuses it, and\n"
        "the daemon's admin endpoint - the socket file ipc://<root_dir>/<env>.admin,\n"
        "which only the daemon's user can open - takes it. Given a tcp:// endpoint\n"
        "instead, sbx sends it there with --server-cert and --cert, which must be a\n"
        "key in the daemon's security.admins. SIGTERM to sbxd does the same.",
    .options = s_options,
    .execute = s_shutdown
};
