/*  sbx_endpoint - what an endpoint string says about who can reach it
    (docs/security.md): whether it stays on this host, and the form a
    client connects to when it was bound to every interface.

    Functions only, on strings; no sockets. The checks answer NULL or a
    ConfigError that the caller owns.
*/
#ifndef SBX_ENDPOINT_H
#define SBX_ENDPOINT_H

#include <sbx/error.h>
#include <stdbool.h>

//  True when `endpoint` reaches this host only: ipc://, inproc://, or
//  tcp:// on a loopback address (127.0.0.0/8, ::1, localhost).
bool
    sbx_endpoint_local (const char *endpoint);

//  True when `host` (a name, or an IP address without brackets) is the
//  loopback interface: 127.0.0.0/8, ::1, ::ffff:127.x.x.x, localhost.
bool
    sbx_endpoint_loopback_host (const char *host);

//  True for tcp:// bound to every interface (`*`, 0.0.0.0, ::).
bool
    sbx_endpoint_wildcard (const char *endpoint);

//  `endpoint` with a wildcard host replaced by `host` (NULL: this
//  machine's name, gethostname), so that a client elsewhere can connect
//  to it; any other endpoint as it is. Caller frees.
char *
    sbx_endpoint_advertised (const char *endpoint, const char *host);
//  NULL when `endpoint` is one sbxd can bind: tcp://HOST:PORT (PORT a
//  number 1-65535, or `*`/`!` for any free one), ipc://PATH or
//  inproc://NAME. Else a ConfigError whose message starts with `path`
//  (the JSON path, or the flag, it came from). Only the syntax is
//  checked: binding may still fail (a port in use).
sbx_error_t *
    sbx_endpoint_check (const char *endpoint, const char *path);

//  The parts of a metrics endpoint, http://HOST:PORT/PATH.
typedef struct {
    char host [256];                    //  IPv6 without its brackets
    unsigned port;                      //  0 (or `*`): any free port
    char path [256];                    //  "/metrics" when the URL has none
} sbx_http_endpoint_t;

//  NULL when `url` is a metrics endpoint sbxd may serve, with `parts`
//  (when not NULL) filled in: http://HOST:PORT[/PATH], HOST an IP address
//  or `localhost`, PORT 0-65535 or `*`. Only loopback addresses are
//  allowed (docs/metrics.md, "Security"). Else a ConfigError whose
//  message starts with `path`.
sbx_error_t *
    sbx_endpoint_check_metrics (const char *url, const char *path, sbx_http_endpoint_t *parts);
//  True when `host` may stand in tcp://HOST:PORT for a client to connect
//  to: a name or an IPv4 address, or an IPv6 address in brackets.
bool
    sbx_endpoint_host_ok (const char *host);

#endif
