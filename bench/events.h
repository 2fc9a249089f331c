/*  bench_events - section 5, events: 32 clients pipelining session loops
    over one socket (the shape with which sbx serves the most sessions)
    on a pool of 32 with a journal that holds the whole run, while 1, then
    4, subscribers drain the event socket, each on a thread of its own.
    Afterwards each subscriber fills its gaps from the journal with
    events.replay. Rows per subscriber count: events/s published (target
    >= 300,000/s), events delivered live beside all that were published,
    gaps seen beside events filled, and events missing after replay
    (target: none). Last, for scale, the event bus alone, fed batches of
    512 as the environment feeds it, beside a bare PUB.
*/
#ifndef BENCH_EVENTS_H
#define BENCH_EVENTS_H

void
    bench_events_run (void);

#endif
