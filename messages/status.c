/*  sbx_status - see status.h */
#include "messages/status.h"

const char *const sbx_status_names [] = {
    "created", "setting_up", "ready", "acquired", "in_session",
    "shutting_down", "offline"
};
_Static_assert (sizeof sbx_status_names / sizeof sbx_status_names [0] == SBX_STATUS_COUNT,
                "one wire name per status");

const char *
sbx_status_name (sbx_status_t status)
{
    return (unsigned) status < SBX_STATUS_COUNT ? sbx_status_names [status] : "?";
}
