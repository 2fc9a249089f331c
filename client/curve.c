/*  sbx_curve - see curve.h */
#include "client/curve.h"
#include <sbx/client.h>

#include <string.h>

struct sbx_curve_t {
    char server_public [41];    //  Z85
    zcert_t *cert;              //  ours, with its secret key
};

//  A key of 32 zero bytes is what zcert_load leaves when a file holds no
//  secret key.
static bool
s_empty (const char *z85)
{
    return strspn (z85, "0") == strlen (z85);
}

sbx_curve_t *
sbx_curve_load (const char *server_cert, const char *cert, sbx_error_t **error_p)
{
    if (!server_cert || !*server_cert || !cert || !*cert) {
        *error_p = sbx_error_new (SBX_CERTIFICATE_ERROR, "CURVE needs both the daemon's public "
                                  "certificate and this client's secret certificate");
        return NULL;
    }
    zcert_t *server = zcert_load (server_cert);
    if (!server) {
        *error_p = sbx_error_new (SBX_CERTIFICATE_ERROR, "cannot load the daemon's certificate %s",
                                  server_cert);
        return NULL;
    }
    zcert_t *own = zcert_load (cert);
    if (!own || s_empty (zcert_secret_txt (own))) {
        *error_p = sbx_error_new (SBX_CERTIFICATE_ERROR, own
                                  ? "%s holds no secret key: give this client's secret certificate "
                                    "(NAME_secret, as sbx keygen writes it)"
                                  : "cannot load the client's certificate %s", cert);
        zcert_destroy (&own);
        zcert_destroy (&server);
        return NULL;
    }
    sbx_curve_t *self = (sbx_curve_t *) zmalloc (sizeof (sbx_curve_t));
    snprintf (self->server_public, sizeof self->server_public, "%s", zcert_public_txt (server));
    self->cert = own;
    zcert_destroy (&server);
    return self;
}

sbx_curve_t *
sbx_curve_dup (const sbx_curve_t *self)
{
    if (!self)
        return NULL;
    sbx_curve_t *copy = (sbx_curve_t *) zmalloc (sizeof (sbx_curve_t));
    memcpy (copy->server_public, self->server_public, sizeof copy->server_public);
    copy->cert = zcert_dup ((zcert_t *) self->cert);
    return copy;
}

void
sbx_curve_destroy (sbx_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zcert_destroy (&(*self_p)->cert);
    free (*self_p);
    *self_p = NULL;
}

void
sbx_curve_apply (const sbx_curve_t *self, zsock_t *socket)
{
    if (!self)
        return;
    zcert_apply (self->cert, socket);
    zsock_set_curve_serverkey (socket, self->server_public);
}
