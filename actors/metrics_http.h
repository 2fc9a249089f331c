/*  sbx_metrics_http - the metrics endpoint (`endpoints.metrics`,
    docs/metrics.md): an HTTP server that answers GET on its path with the
    registry in the Prometheus text format, and nothing else.

    It is libmicrohttpd's, on a thread of its own
    (MHD_USE_INTERNAL_POLLING_THREAD): a scrape renders the registry there,
    reading its atomics, and never waits for an actor. Only loopback
    addresses are served (sbx_endpoint_check_metrics).

    Created and destroyed by the environment, from its thread.
*/
#ifndef SBX_METRICS_HTTP_H
#define SBX_METRICS_HTTP_H

#include "actors/metrics.h"

typedef struct sbx_metrics_http_t sbx_metrics_http_t;

//  Serves `metrics` (borrowed: it must outlive the server) at `url`,
//  http://HOST:PORT/PATH (port 0 or `*`: any free one). Returns NULL,
//  with *error_p (caller frees) saying why, when it cannot bind.
sbx_metrics_http_t *
    sbx_metrics_http_new (sbx_metrics_t *metrics, const char *url, char **error_p);
//  Stops the server: waits for a scrape under way to end (its thread is
//  joined). Nulls *self_p; safe on NULL.
void
    sbx_metrics_http_destroy (sbx_metrics_http_t **self_p);
//  The URL as bound, with the port a `0` stood for.
const char *
    sbx_metrics_http_url (sbx_metrics_http_t *self);

#endif
