/*  sbx_metrics_http - see metrics_http.h */
#include "actors/metrics_http.h"
#include "runtime/core/endpoint.h"
#include "runtime/core/log.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <string.h>

#define S_CONNECTIONS 32        //  scrapers served at once
#define S_TIMEOUT_S 10          //  an idle connection is closed after

struct sbx_metrics_http_t {
    sbx_metrics_t *metrics;
    struct MHD_Daemon *daemon;
    sbx_http_endpoint_t endpoint;
    char url [600];
};

static void
s_log (void *cls, const char *format, va_list args)
{
    char text [512];
    vsnprintf (text, sizeof text, format, args);
    size_t length = strlen (text);
    while (length && text [length - 1] == '\n')
        text [--length] = 0;
    sbx_log_warning ("metrics", "%s", text);
}

static enum MHD_Result
s_reply (struct MHD_Connection *connection, unsigned status, char *body, size_t size,
         const char *type, const char *allow)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (size, body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (allow)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result result = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return result;
}

//  Every request: GET or HEAD of the path gets the registry rendered now.
static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
    sbx_metrics_http_t *self = (sbx_metrics_http_t *) cls;
    //  Called once before the body and once after it; answer the second.
    static int seen;
    if (!*state) {
        *state = &seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;      //  a body is read and ignored
        return MHD_YES;
    }
    const char *text_type = "text/plain; charset=utf-8";
    if (!streq (url, self->endpoint.path)) {
        char *body = zsys_sprintf ("not found: the metrics are at %s\n", self->endpoint.path);
        return s_reply (connection, MHD_HTTP_NOT_FOUND, body, strlen (body), text_type, NULL);
    }
    if (!streq (method, MHD_HTTP_METHOD_GET) && !streq (method, MHD_HTTP_METHOD_HEAD)) {
        char *body = zsys_sprintf ("method %s is not allowed: use GET\n", method);
        return s_reply (connection, MHD_HTTP_METHOD_NOT_ALLOWED, body, strlen (body), text_type, "GET, HEAD");
    }
    size_t size = 0;
    char *body = sbx_metrics_render (self->metrics, &size);
    return s_reply (connection, MHD_HTTP_OK, body, size, "text/plain; version=0.0.4; charset=utf-8", NULL);
}

sbx_metrics_http_t *
sbx_metrics_http_new (sbx_metrics_t *metrics, const char *url, char **error_p)
{
    sbx_metrics_http_t *self = (sbx_metrics_http_t *) zmalloc (sizeof (sbx_metrics_http_t));
    self->metrics = metrics;
    sbx_error_t *error = sbx_endpoint_check_metrics (url, "endpoints.metrics", &self->endpoint);
    if (error) {
        *error_p = zsys_sprintf ("%s", sbx_error_message (error));
        sbx_error_destroy (&error);
        free (self);
        return NULL;
    }
    const char *host = streq (self->endpoint.host, "localhost") ? "127.0.0.1" : self->endpoint.host;
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) self->endpoint.port)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons ((uint16_t) self->endpoint.port)};
    bool ipv6 = inet_pton (AF_INET, host, &v4.sin_addr) != 1;
    if (ipv6)
        inet_pton (AF_INET6, host, &v6.sin6_addr);
    errno = 0;
    self->daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0),
        (uint16_t) self->endpoint.port, NULL, NULL, s_handle, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_log, NULL,
        MHD_OPTION_SOCK_ADDR, ipv6 ? (struct sockaddr *) &v6 : (struct sockaddr *) &v4,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) S_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) S_TIMEOUT_S,
        MHD_OPTION_END);
    if (!self->daemon) {
        *error_p = zsys_sprintf ("cannot bind metrics endpoint %s: %s", url,
                                 errno ? strerror (errno) : "the HTTP server did not start");
        free (self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info && info->port ? info->port : self->endpoint.port;
    snprintf (self->url, sizeof self->url, "http://%s%s%s:%u%s", ipv6 ? "[" : "", self->endpoint.host,
              ipv6 ? "]" : "", port, self->endpoint.path);
    return self;
}

void
sbx_metrics_http_destroy (sbx_metrics_http_t **self_p)
{
    sbx_metrics_http_t *self = *self_p;
    if (!self)
        return;
    MHD_stop_daemon (self->daemon);
    free (self);
    *self_p = NULL;
}

const char *
sbx_metrics_http_url (sbx_metrics_http_t *self)
{
    return self->url;
}
