/*  sbx_status - the seven sandbox statuses of SPEC §3, in SPEC order, and
    their wire names (PROTOCOL.md: `sandbox.status` events, `status` and
    `stats` replies).
*/
#ifndef SBX_STATUS_H
#define SBX_STATUS_H

typedef enum {
    SBX_STATUS_CREATED,
    SBX_STATUS_SETTING_UP,
    SBX_STATUS_READY,
    SBX_STATUS_ACQUIRED,
    SBX_STATUS_IN_SESSION,
    SBX_STATUS_SHUTTING_DOWN,
    SBX_STATUS_OFFLINE,
    SBX_STATUS_COUNT
} sbx_status_t;

//  Wire names by status: created, setting_up, ready, acquired, in_session,
//  shutting_down, offline.
extern const char *const sbx_status_names [SBX_STATUS_COUNT];

//  The wire name; "?" when out of range.
const char *
    sbx_status_name (sbx_status_t status);

#endif
