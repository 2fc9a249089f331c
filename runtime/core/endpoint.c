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

//  The port of a tcp endpoint: a number 1-65535, or czmq's ephemeral
//  forms: `*` or `!`, alone or with a range `*[60000-]`.
static bool
s_port_ok (const char *port)
{
    if ((*port == '*' || *port == '!') && (!port [1] || (port [1] == '[' && port [strlen (port) - 1] == ']')))
        return true;
    if (!*port || strlen (port) > 5)
        return false;
    for (const char *c = port; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    long number = strtol (port, NULL, 10);
    return number >= 1 && number <= 65535;
}

sbx_error_t *
sbx_endpoint_check (const char *endpoint, const char *path)
{
    bool ok = false;
    if (strncmp (endpoint, "tcp://", 6) == 0) {
        //  HOST:PORT; an IPv6 host is in brackets, so the port follows the
        //  last ':'.
        const char *host = endpoint + 6;
        const char *colon = strrchr (host, ':');
        ok = colon && colon > host && !memchr (host, '/', (size_t) (colon - host)) && s_port_ok (colon + 1);
    }
    else
    if (strncmp (endpoint, "ipc://", 6) == 0)
        ok = endpoint [6] != 0;
    else
    if (strncmp (endpoint, "inproc://", 9) == 0)
        ok = endpoint [9] != 0;
    if (ok)
        return NULL;
    return sbx_error_new ("ConfigError", "%s: '%s' is not an endpoint: expected tcp://HOST:PORT (PORT a number "
                          "or *), ipc://PATH or inproc://NAME", path, endpoint);
}

sbx_error_t *
sbx_endpoint_check_metrics (const char *url, const char *path, sbx_http_endpoint_t *parts)
{
    sbx_http_endpoint_t local;
    if (!parts)
        parts = &local;
    memset (parts, 0, sizeof *parts);
    const char *host = strncmp (url, "http://", 7) == 0 ? url + 7 : NULL;
    const char *slash = host ? strchr (host, '/') : NULL;
    const char *end = slash ? slash : host ? host + strlen (host) : NULL;
    const char *colon = NULL;
    if (host)
        for (const char *c = host; c < end; c++)
            if (*c == ':')
                colon = c;
    bool ok = colon && colon > host && colon + 1 < end && (size_t) (colon - host) < sizeof parts->host;
    if (ok) {
        //  An IPv6 address is in brackets: [::1]:9555.
        const char *from = host, *to = colon;
        if (*from == '[') {
            ok = to [-1] == ']' && to - from > 2;
            from++, to--;
        }
        snprintf (parts->host, sizeof parts->host, "%.*s", (int) (to - from), from);
        char port [8] = "";
        ok = ok && end - colon - 1 < (int) sizeof port;
        if (ok)
            snprintf (port, sizeof port, "%.*s", (int) (end - colon - 1), colon + 1);
        if (ok && streq (port, "*"))
            parts->port = 0;
        else {
            for (const char *c = port; ok && *c; c++)
                ok = *c >= '0' && *c <= '9';
            ok = ok && *port && strlen (port) <= 5 && strtol (port, NULL, 10) <= 65535;
            parts->port = ok ? (unsigned) strtol (port, NULL, 10) : 0;
        }
        snprintf (parts->path, sizeof parts->path, "%s", slash && slash [1] ? slash : "/metrics");
        for (const char *c = parts->path; ok && *c; c++)
            ok = (unsigned char) *c > 0x20 && *c != 0x7f && *c != '?' && *c != '#';
        ok = ok && (!slash || strlen (slash) < sizeof parts->path);
    }
    if (!ok)
        return sbx_error_new ("ConfigError", "%s: '%s' is not a metrics endpoint: expected http://HOST:PORT/PATH "
                              "(HOST an IP address or localhost, PORT a number or *)", path, url);
    //  Where a security section may one day allow more, this is the place
    //  to ask it; for now metrics stay on the machine.
    if (!sbx_endpoint_loopback_host (parts->host))
        return sbx_error_new ("ConfigError", "%s: '%s' is not a loopback address: the metrics endpoint has no "
                              "authentication, so sbxd serves it on 127.0.0.1, ::1 or localhost only "
                              "(scrape it there, or through a proxy that authenticates)", path, url);
    return NULL;
}

bool
sbx_endpoint_host_ok (const char *host)
{
    size_t length = strlen (host);
    if (host [0] == '[')
        return length > 2 && strchr (host, ']') == host + length - 1 && !strpbrk (host + 1, "[/@ \t");
    return length > 0 && !strpbrk (host, "/:[]*@ \t");
}
