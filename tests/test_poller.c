/*  Tests of sbx_poller: poll(2) over ZeroMQ sockets' descriptors, asking
    ZMQ_EVENTS only of sockets used since (runtime/core/poller.h). */
#include <criterion/criterion.h>
#include <czmq.h>
#include <errno.h>
#include <pthread.h>

#include "runtime/core/poller.h"

//  A connected pair of PAIR sockets over inproc.
static void
s_pair (void **a, void **b)
{
    static int count;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://poller-test-%d", count++);
    *a = zmq_socket (zsys_init (), ZMQ_PAIR);
    *b = zmq_socket (zsys_init (), ZMQ_PAIR);
    int zero = 0;
    zmq_setsockopt (*a, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (*b, ZMQ_LINGER, &zero, sizeof zero);
    cr_assert_eq (zmq_bind (*a, endpoint), 0);
    cr_assert_eq (zmq_connect (*b, endpoint), 0);
}

//  Receives everything pending on `socket` without blocking; returns how
//  many messages, and whether it ended on EAGAIN in *settled_p.
static int
s_drain (void *socket, bool *settled_p)
{
    int count = 0;
    char buffer [16];
    while (zmq_recv (socket, buffer, sizeof buffer, ZMQ_DONTWAIT) >= 0)
        count++;
    *settled_p = zmq_errno () == EAGAIN;
    return count;
}

Test (poller, timeout_and_input)
{
    void *a, *b;
    s_pair (&a, &b);
    sbx_poller_t *poller = sbx_poller_new (2);
    cr_assert_eq (sbx_poller_add (poller, a), 0);
    cr_assert_eq (sbx_poller_add (poller, b), 1);
    cr_assert_eq (sbx_poller_add (poller, a), -1, "full at its capacity");
    //  Nothing yet: the wait times out.
    cr_assert_eq (sbx_poller_wait (poller, 10), 0);
    cr_assert_not (sbx_poller_ready (poller, 0));
    zmq_send (b, "x", 1, 0);
    sbx_poller_touch (poller, 1);
    cr_assert_eq (sbx_poller_wait (poller, 5000), 1);
    cr_assert (sbx_poller_ready (poller, 0));
    cr_assert_not (sbx_poller_ready (poller, 1));
    bool settled;
    cr_assert_eq (s_drain (a, &settled), 1);
    cr_assert (settled);
    sbx_poller_settle (poller, 0);
    cr_assert_eq (sbx_poller_wait (poller, 10), 0);
    sbx_poller_destroy (&poller);
    cr_assert_null (poller);
    zmq_close (a);
    zmq_close (b);
}

//  A socket that stays busy must not hide another: with 1,000 messages
//  on one (handled 10 per wake-up) and one on the other, the other is
//  reported at once, as zmq_poll would.
Test (poller, a_busy_socket_does_not_hide_another)
{
    void *a, *a_peer, *b, *b_peer;
    s_pair (&a, &a_peer);
    s_pair (&b, &b_peer);
    sbx_poller_t *poller = sbx_poller_new (2);
    sbx_poller_add (poller, a);
    sbx_poller_add (poller, b);
    //  Both start out asked and empty: from now on they are seen through
    //  their descriptors.
    cr_assert_eq (sbx_poller_wait (poller, 0), 0);
    for (int i = 0; i < 1000; i++)
        zmq_send (a_peer, "x", 1, 0);
    int wake = 0, seen_at = 0;
    char buffer [16];
    while (!seen_at && wake < 100) {
        cr_assert_gt (sbx_poller_wait (poller, 5000), 0);
        wake++;
        if (sbx_poller_ready (poller, 0))
            for (int n = 0; n < 10; n++)
                zmq_recv (a, buffer, sizeof buffer, ZMQ_DONTWAIT);
        if (wake == 2)
            zmq_send (b_peer, "y", 1, 0);
        if (sbx_poller_ready (poller, 1))
            seen_at = wake;
    }
    cr_assert (seen_at && seen_at <= 4, "the second socket was seen at wake-up %d", seen_at);
    sbx_poller_destroy (&poller);
    zmq_close (a);
    zmq_close (a_peer);
    zmq_close (b);
    zmq_close (b_peer);
}

//  The other end of a ping-pong, on its own thread: answers each message
//  with one of its own, `rounds` times, then sends "end".
typedef struct {
    void *socket;
    int rounds;
} s_peer_t;

static void *
s_peer (void *args)
{
    s_peer_t *peer = (s_peer_t *) args;
    char buffer [16];
    for (int i = 0; i < peer->rounds; i++) {
        if (zmq_recv (peer->socket, buffer, sizeof buffer, 0) < 0)
            break;
        //  Sometimes two answers at once, so that input meets the
        //  owner's sends on the same socket.
        zmq_send (peer->socket, "pong", 4, 0);
        if (i % 7 == 0)
            zmq_send (peer->socket, "pong", 4, 0);
    }
    zmq_send (peer->socket, "end", 3, 0);
    return NULL;
}

//  A socket used for sends and receives by its owner, with input arriving
//  at any moment from another thread: no message may be missed (the wait
//  would hang, and the test time out), whatever the interleaving.
Test (poller, no_lost_wakeup_under_ping_pong, .timeout = 60)
{
    void *a, *b;
    s_pair (&a, &b);
    int rounds = 20000;
    s_peer_t peer = {b, rounds};
    pthread_t thread;
    pthread_create (&thread, NULL, s_peer, &peer);
    sbx_poller_t *poller = sbx_poller_new (1);
    sbx_poller_add (poller, a);
    int expected = rounds + (rounds + 6) / 7 + 1;     //  pongs, doubles, end
    int received = 0;
    zmq_send (a, "ping", 4, 0);
    sbx_poller_touch (poller, 0);
    int sent = 1;
    while (received < expected) {
        int rc = sbx_poller_wait (poller, 10000);
        cr_assert_gt (rc, 0, "lost a wake-up after %d of %d messages", received, expected);
        if (!sbx_poller_ready (poller, 0))
            continue;
        char buffer [16];
        int n;
        while ((n = zmq_recv (a, buffer, sizeof buffer, ZMQ_DONTWAIT)) >= 0) {
            received++;
            if (n == 4 && sent < rounds) {
                zmq_send (a, "ping", 4, 0);
                sent++;
            }
        }
        //  Drained to EAGAIN after the last send: settled.
        if (zmq_errno () == EAGAIN)
            sbx_poller_settle (poller, 0);
    }
    cr_assert_eq (received, expected);
    pthread_join (thread, NULL);
    sbx_poller_destroy (&poller);
    zmq_close (a);
    zmq_close (b);
}
