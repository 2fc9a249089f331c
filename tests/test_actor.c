/*  Tests of sbx_actor: a czmq-style actor whose thread is joined. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdatomic.h>

#include "runtime/core/actor.h"

//  Threads of this process, from /proc. The first call starts ZeroMQ's
//  own threads, so that only ours are counted after it.
static int
s_threads (void)
{
    zsys_init ();
    zsock_t *warm = zsock_new (ZMQ_PAIR);
    zsock_destroy (&warm);
    DIR *tasks = opendir ("/proc/self/task");
    int count = 0;
    struct dirent *entry;
    while (tasks && (entry = readdir (tasks)))
        if (entry->d_name [0] != '.')
            count++;
    if (tasks)
        closedir (tasks);
    return count;
}

//  Threads of this process once `expected` are left, or after 5 s. A
//  joined thread has ended, but the kernel lists its task in /proc until
//  it has reaped it, a moment later.
static int
s_threads_left (int expected)
{
    int64_t deadline = zclock_mono () + 5000;
    int count = s_threads ();
    while (count != expected && zclock_mono () < deadline) {
        zclock_sleep (1);
        count = s_threads ();
    }
    return count;
}

typedef struct {
    atomic_bool ready;          //  set before the handshake
    atomic_bool finished;       //  set as the handler returns
    bool leave_early;           //  return right after the handshake
} s_state_t;

static void
s_handler (zsock_t *pipe, void *args)
{
    s_state_t *state = (s_state_t *) args;
    state->ready = true;
    zsock_signal (pipe, 0);
    while (!state->leave_early) {
        char *command = zstr_recv (pipe);
        bool term = !command || streq (command, "$TERM");
        if (command && streq (command, "PING"))
            zstr_send (pipe, "PONG");
        zstr_free (&command);
        if (term)
            break;
    }
    state->finished = true;
}

Test (actor, new_returns_after_the_handshake_and_the_pipe_works)
{
    zsys_init ();
    s_state_t state = {false, false, false};
    sbx_actor_t *actor = sbx_actor_new (s_handler, &state);
    cr_assert_not_null (actor);
    cr_assert (state.ready);
    zstr_send (sbx_actor_pipe (actor), "PING");
    char *reply = zstr_recv (sbx_actor_pipe (actor));
    cr_assert_str_eq (reply, "PONG");
    zstr_free (&reply);
    sbx_actor_destroy (&actor);
    cr_assert_null (actor);
    sbx_actor_destroy (&actor);         //  safe twice
}

Test (actor, destroy_joins_the_thread)
{
    zsys_init ();
    int before = s_threads ();
    s_state_t state = {false, false, false};
    sbx_actor_t *actor = sbx_actor_new (s_handler, &state);
    cr_assert_eq (s_threads (), before + 1);
    sbx_actor_destroy (&actor);
    //  A zactor signals before its thread closes the pipe and ends, so
    //  the thread may still be there; this one is gone.
    cr_assert (state.finished);
    int left = s_threads_left (before);
    cr_assert_eq (left, before, "%d threads left, %d before", left, before);
}

Test (actor, destroy_after_the_handler_returned_by_itself)
{
    zsys_init ();
    int before = s_threads ();
    s_state_t state = {false, false, true};
    sbx_actor_t *actor = sbx_actor_new (s_handler, &state);
    cr_assert_not_null (actor);
    sbx_actor_destroy (&actor);         //  must not block on "$TERM"
    cr_assert (state.finished);
    cr_assert_eq (s_threads_left (before), before);
}
