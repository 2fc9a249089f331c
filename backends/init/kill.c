/*  sbx_init_kill - see kill.h */
#include "kill.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_KILL_PATIENCE_MS 5000

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct {
    pid_t pid, ppid, pgrp, sid;
    char state;
    bool below;                 //  a descendant of sbx-init
    bool target;
} s_proc_t;

//  Reads /proc/<pid>/stat into *proc; false when it is gone.
static bool
s_read_stat (pid_t pid, s_proc_t *proc)
{
    char path [64], text [512];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read (fd, text, sizeof text - 1);
    close (fd);
    if (n <= 0)
        return false;
    text [n] = 0;
    //  "pid (comm) state ppid pgrp session ..."; comm may hold anything.
    char *close_paren = strrchr (text, ')');
    int ppid, pgrp, sid;
    memset (proc, 0, sizeof *proc);
    proc->pid = pid;
    if (!close_paren || sscanf (close_paren + 1, " %c %d %d %d", &proc->state, &ppid, &pgrp, &sid) != 4)
        return false;
    proc->ppid = ppid;
    proc->pgrp = pgrp;
    proc->sid = sid;
    return true;
}

typedef struct {
    s_proc_t *items;
    size_t count, capacity;
} s_procs_t;

static void
s_procs_add (s_procs_t *procs, const s_proc_t *proc)
{
    if (procs->count == procs->capacity) {
        procs->capacity = procs->capacity ? procs->capacity * 2 : 64;
        procs->items = (s_proc_t *) realloc (procs->items, procs->capacity * sizeof (s_proc_t));
        if (!procs->items)
        {
            fprintf (stderr, "sbx-init: out of memory\n");
            exit (1);
        }
    }
    procs->items [procs->count++] = *proc;
}

//  Appends the children of every thread of `pid`. False when the kernel
//  has no /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN).
static bool
s_add_children (s_procs_t *procs, pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/task", (int) pid);
    DIR *tasks = opendir (path);
    if (!tasks)
        return true;            //  gone meanwhile
    bool supported = true;
    struct dirent *task;
    while ((task = readdir (tasks))) {
        if (task->d_name [0] < '0' || task->d_name [0] > '9')
            continue;
        char list [4096];
        snprintf (path, sizeof path, "/proc/%d/task/%.16s/children", (int) pid, task->d_name);
        int fd = open (path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT && pid == getpid ())
                supported = false;
            continue;
        }
        //  "pid pid ... " - a long list takes several reads; a pid cut at
        //  the end of one is carried over to the next.
        size_t kept = 0;
        ssize_t n;
        while ((n = read (fd, list + kept, sizeof list - 1 - kept)) > 0) {
            list [kept + (size_t) n] = 0;
            char *p = list, *space;
            while ((space = strchr (p, ' '))) {
                *space = 0;
                s_proc_t proc;
                long child = atol (p);
                if (child > 0 && s_read_stat ((pid_t) child, &proc)) {
                    proc.below = true;
                    s_procs_add (procs, &proc);
                }
                p = space + 1;
            }
            kept = strlen (p);
            memmove (list, p, kept);
        }
        close (fd);
    }
    closedir (tasks);
    return supported;
}

//  Every process below sbx-init, marked `below`, found by walking the
//  children lists from sbx-init down (so the cost follows the sandbox's
//  processes, not the host's); without children lists, every process of
//  /proc, then marked. Caller frees. Returns the count.
static size_t
s_scan (s_proc_t **procs_p)
{
    s_procs_t procs = {NULL, 0, 0};
    if (s_add_children (&procs, getpid ())) {
        for (size_t i = 0; i < procs.count && procs.count < 1000000; i++)
            s_add_children (&procs, procs.items [i].pid);
    }
    else {
        DIR *dir = opendir ("/proc");
        struct dirent *entry;
        while (dir && (entry = readdir (dir))) {
            char *end;
            long pid = strtol (entry->d_name, &end, 10);
            s_proc_t proc;
            if (!*end && pid > 0 && s_read_stat ((pid_t) pid, &proc))
                s_procs_add (&procs, &proc);
        }
        if (dir)
            closedir (dir);
    }
    *procs_p = procs.items;
    return procs.count;
}

static int
s_by_pid (const void *a, const void *b)
{
    pid_t x = ((const s_proc_t *) a)->pid, y = ((const s_proc_t *) b)->pid;
    return (x > y) - (x < y);
}

//  The process `pid` in `procs` (sorted by pid), or NULL.
static s_proc_t *
s_find (s_proc_t *procs, size_t count, pid_t pid)
{
    s_proc_t key = {0};
    key.pid = pid;
    if (count == 0)
        return NULL;
    return (s_proc_t *) bsearch (&key, procs, count, sizeof (s_proc_t), s_by_pid);
}

//  Sorts `procs` by pid and marks `below` every process whose parent chain
//  reaches `root`.
static void
s_mark_descendants (s_proc_t *procs, size_t count, pid_t root)
{
    if (count == 0)
        return;
    qsort (procs, count, sizeof (s_proc_t), s_by_pid);
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < count; i++) {
            if (procs [i].below)
                continue;
            s_proc_t *parent = s_find (procs, count, procs [i].ppid);
            if (procs [i].ppid == root || (parent && parent->below))
                procs [i].below = changed = true;
        }
    }
}

//  Marks `target` the process `root` and everything below it (among the
//  processes already marked `below`).
static void
s_mark_targets_below (s_proc_t *procs, size_t count, pid_t root)
{
    s_proc_t *top = s_find (procs, count, root);
    if (top && top->below)
        top->target = true;
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < count; i++) {
            if (procs [i].target || !procs [i].below)
                continue;
            s_proc_t *parent = s_find (procs, count, procs [i].ppid);
            if (parent && parent->target)
                procs [i].target = changed = true;
        }
    }
}

//  Remembered sessions and process groups of what a KILL has hit.
typedef struct {
    pid_t ids [256];
    size_t count;
} s_idset_t;

static bool
s_idset_has (const s_idset_t *set, pid_t id)
{
    for (size_t i = 0; i < set->count; i++)
        if (set->ids [i] == id)
            return true;
    return false;
}

static void
s_idset_add (s_idset_t *set, pid_t id)
{
    if (id > 0 && id != getpid () && id != getsid (0) && id != getpgrp ()
    &&  !s_idset_has (set, id) && set->count < sizeof set->ids / sizeof set->ids [0])
        set->ids [set->count++] = id;
}

int
sbx_init_kill (pid_t root, void (*reap) (void))
{
    s_idset_t groups = {{0}, 0};
    if (root > 0)
        s_idset_add (&groups, root);
    int killed = 0;
    int64_t give_up = s_now_ms () + S_KILL_PATIENCE_MS;
    for (unsigned pass = 0; ; pass++) {
        s_proc_t *procs;
        size_t count = s_scan (&procs);
        s_mark_descendants (procs, count, getpid ());
        if (root > 0)
            s_mark_targets_below (procs, count, root);
        size_t targets = 0;
        for (size_t i = 0; i < count; i++) {
            s_proc_t *p = &procs [i];
            if (!p->below || p->state == 'Z' || p->state == 'X')
                continue;
            if (root > 0 && !p->target && !s_idset_has (&groups, p->sid)
            &&  !s_idset_has (&groups, p->pgrp))
                continue;
            if (root > 0) {
                s_idset_add (&groups, p->sid);
                s_idset_add (&groups, p->pgrp);
            }
            if (kill (p->pid, SIGKILL) == 0)
                killed++;
            targets++;
        }
        free (procs);
        reap ();
        if (targets == 0)
            return killed;
        if (s_now_ms () > give_up)
            return -1;
        //  SIGKILL is delivered asynchronously; let the dying run.
        if (pass > 0) {
            struct timespec pause = {0, 1000000};
            nanosleep (&pause, NULL);
        }
    }
}

