/*  sbx_endpoint - what an endpoint string says about who can reach it
    (docs/security.md): whether it stays on this host, and the form a
    client connects to when it was bound to every interface.

    Functions only, on strings; no sockets.
*/
#ifndef SBX_ENDPOINT_H
#define SBX_ENDPOINT_H

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

#endif
