/*  sbx_endpoint - see endpoint.h */
#include "runtime/core/endpoint.h"

#include <czmq.h>
#include <arpa/inet.h>
#include <strings.h>

//  The HOST of tcp://HOST:PORT, without IPv6 brackets; false for other
//  transports.
static bool
s_tcp_host (const char *endpoint, char *host, size_t size)
{
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    const char *start = endpoint + 6;
    const char *colon = strrchr (start, ':');
    if (!colon)
        return false;
    size_t length = (size_t) (colon - start);
    if (length >= 2 && start [0] == '[' && start [length - 1] == ']') {
        start++;
        length -= 2;
    }
    snprintf (host, size, "%.*s", (int) length, start);
    return true;
}

bool
sbx_endpoint_local (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "inproc://", 9) == 0)
        return true;
    char host [256];
    return s_tcp_host (endpoint, host, sizeof host) && sbx_endpoint_loopback_host (host);
}

bool
sbx_endpoint_loopback_host (const char *host)
{
    struct in_addr ipv4;
    struct in6_addr ipv6;
    if (strcasecmp (host, "localhost") == 0)
        return true;
    if (inet_pton (AF_INET, host, &ipv4) == 1)
        return (ntohl (ipv4.s_addr) >> 24) == 127;
    if (inet_pton (AF_INET6, host, &ipv6) == 1)
        return IN6_IS_ADDR_LOOPBACK (&ipv6)
            || (IN6_IS_ADDR_V4MAPPED (&ipv6) && ipv6.s6_addr [12] == 127);
    return false;
}

bool
sbx_endpoint_wildcard (const char *endpoint)
{
    char host [256];
    return s_tcp_host (endpoint, host, sizeof host)
        && (streq (host, "*") || streq (host, "0.0.0.0") || streq (host, "::"));
}

char *
sbx_endpoint_advertised (const char *endpoint, const char *host)
{
    if (!sbx_endpoint_wildcard (endpoint))
        return strdup (endpoint);
    char name [256] = "";
    if (host)
        snprintf (name, sizeof name, "%s", host);
    else
    if (gethostname (name, sizeof name - 1) != 0 || !*name)
        snprintf (name, sizeof name, "localhost");
    name [sizeof name - 1] = 0;
    return zsys_sprintf ("tcp://%s%s", name, strrchr (endpoint + 6, ':'));
}
