/*  sbx_eventbus - the event bus actor: stamps `seq` (from 1, no gaps),
    keeps the journal ring for events.replay, publishes every event on the
    XPUB endpoint as [topic][body], and appends it to the JSON-lines event
    log (flushed per event).

    The XPUB asks the environment's ZAP handler (actors/auth.h, domain
    SBX_AUTH_EVENTS), bound before START, who may subscribe: with
    security.server_cert it is a CURVE server, and always the handler
    keeps connections within limits.peers.

    Created by the environment: sbx_actor_new (sbx_eventbus_actor, config).
    Pipe commands (see actors/proto.h for the pointer messages):
        "PEERS" [ptr peers]     count the XPUB's connections into this
                                sbx_peers_t (runtime/core/peers.h), which
                                outlives the bus; before START (no answer)
        "METRICS" [ptr metrics] record metrics from every event into this
                                registry (actors/recorder.h), which outlives
                                the bus; before START (no answer)
        "START"                 bind XPUB, open the log; answers
                                "OK" <bound endpoint> or "ERROR" <message>
        "EVENTS" [ptr batch]    publish a batch, in order (no answer)
        "REPLAY" [ptr job]      answers "REPLAY" [ptr job] with job->result
                                holding the encoded reply
        "SYNC"                  answers "SYNCED" once everything sent
                                before it is published and logged
        $TERM                   everything sent before it is published and
                                logged first (one pipe, in order)
*/
#ifndef SBX_EVENTBUS_H
#define SBX_EVENTBUS_H

#include <czmq.h>

void
    sbx_eventbus_actor (zsock_t *pipe, void *args);

#endif
