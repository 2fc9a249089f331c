/*  sbx_process_cgroup - the control group of one process sandbox, and
    where such groups can be made on this host (docs/sandboxes.md,
    "cgroups").

    Every sandbox gets a group of its own that holds sbx-init (and bwrap
    around it) and so every command: the limits `memory_mb` (every
    process of the sandbox, tmpfs pages it wrote included), `processes`
    (tasks, through the pids controller) and `cpu` (a share of a core)
    apply to the sandbox as a whole, and at shutdown whatever is still in
    the group is killed before the group is removed.

    Two layouts, one face:
      cgroup v2   one hierarchy; the groups go below sbxd's own group,
                  as <base>/sbx/<env>@<hash>/<slot>:<gen>, with the
                  controllers enabled on the way down
                  (cgroup.subtree_control). A group with processes cannot
                  hand controllers down, so sbxd moves itself into the
                  leaf <base>/sbxd first when it must (as systemd asks of
                  a service with Delegate=yes; DelegateSubgroup=sbxd does
                  the same);
      cgroup v1   one hierarchy per controller (memory, pids, cpu), each
                  at its mount's top: <mount>/sbx/<env>@<hash>/<slot>:<gen>.
    <hash> stands for the environment's root_dir (sbx_process_cgroup_
    env_name): two daemons may serve environments of one name from two
    root_dirs, and must never take each other's groups for leftovers.
    The layout is the first of v2 and v1 that offers every controller the
    configured limits need (a group with no limit still holds the
    sandbox's processes: then any writable hierarchy does).

    A child joins the group before it runs anything: sbxd opens the
    group's cgroup.procs files (sbx_process_cgroup_open_procs), the child
    inherits them and writes "0" to each (sbx-init --join), and everything
    it starts is born inside.

    The layout is made once per environment with the kind's config and is
    read-only afterwards; a sandbox's group belongs to the sandbox's
    thread. Everything blocks on cgroupfs only; the kill waits say how
    long.
*/
#ifndef SBX_PROCESS_CGROUP_H
#define SBX_PROCESS_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Controllers, as a bit mask.
#define SBX_CGROUP_MEMORY 1u
#define SBX_CGROUP_PIDS 2u
#define SBX_CGROUP_CPU 4u

//  The most hierarchies a group spans (v1: one per controller).
#define SBX_CGROUP_MAX_HIERARCHIES 3

//  The CPU period quotas are given in (cpu.max, cpu.cfs_period_us).
#define SBX_CGROUP_CPU_PERIOD_US 100000

typedef struct sbx_process_cgroups_t sbx_process_cgroups_t;
typedef struct sbx_process_cgroup_t sbx_process_cgroup_t;

//  Limits of one group; -1: none (the controller still accounts).
typedef struct {
    int64_t memory_bytes;       //  memory.max / memory.limit_in_bytes (swap: none)
    int64_t pids;               //  pids.max
    int64_t cpu_quota_us;       //  per SBX_CGROUP_CPU_PERIOD_US
} sbx_process_cgroup_limits_t;

//  The name of the directory that holds the groups of environment `env`
//  served from `root_dir`: "<env>@<8 hex digits>", the digits a hash of
//  root_dir's real path (of root_dir itself when it does not exist).
void
    sbx_process_cgroup_env_name (const char *root_dir, const char *env, char *name, size_t size);

//  Finds where this process can make groups with the controllers
//  `required` (configured limits) and, when it can, `wanted` as well
//  (limits that have another way of being enforced), and makes
//  <base>/sbx there (v2: with the controllers enabled down to it).
//  Returns the layout (caller destroys), or NULL with the reason in
//  *why_p (caller frees) when no layout offers `required`, or none is
//  writable at all. A layout without all of `wanted` comes with the
//  reason in *why_p too. Blocks on /proc and cgroupfs only.
sbx_process_cgroups_t *
    sbx_process_cgroups_new (unsigned required, unsigned wanted, char **why_p);

//  Frees the layout and nulls *self_p. Safe on NULL. Groups made from it
//  must be gone first.
void
    sbx_process_cgroups_destroy (sbx_process_cgroups_t **self_p);

//  The controllers the layout's groups have.
unsigned
    sbx_process_cgroups_controllers (const sbx_process_cgroups_t *self);

//  "cgroup v1 (memory, pids) at /sys/fs/cgroup/memory/sbx, ..." or
//  "cgroup v2 at /sys/fs/cgroup/sbx", for logs. Owned by the layout.
const char *
    sbx_process_cgroups_describe (const sbx_process_cgroups_t *self);

//  Makes the group <env>/<name> (`env` from sbx_process_cgroup_env_name;
//  a stale one of that name, left by a crash, is emptied and replaced)
//  with `limits`. Returns it (caller
//  destroys), or NULL with the reason in *why_p (caller frees).
sbx_process_cgroup_t *
    sbx_process_cgroup_new (const sbx_process_cgroups_t *layout, const char *env, const char *name,
                            const sbx_process_cgroup_limits_t *limits, char **why_p);

//  Empties the group (sbx_process_cgroup_kill) and removes it, and the
//  environment's directory when it was the last group there; frees it and
//  nulls *self_p. Returns 0, or -1 with the reason in *why_p (caller
//  frees) when processes survived or a directory stayed. Blocks up to
//  5 s. Safe on NULL (returns 0).
int
    sbx_process_cgroup_destroy (sbx_process_cgroup_t **self_p, char **why_p);

//  Opens the group's cgroup.procs, one per hierarchy, write-only, close-
//  on-exec, into fds [0..]; returns how many (at most
//  SBX_CGROUP_MAX_HIERARCHIES), or -1 with errno. The caller hands them
//  to the child that is to join, then closes them.
int
    sbx_process_cgroup_open_procs (sbx_process_cgroup_t *self, int *fds);

//  Sets the group's memory limit to `bytes` (-1: none). The cleaner of a
//  group full of tmpfs or System V pages needs room to free them: the
//  limit is lifted while it runs. 0 or -errno (EBUSY: the group uses
//  more than `bytes` and cannot give it back).
int
    sbx_process_cgroup_set_memory (sbx_process_cgroup_t *self, int64_t bytes);

//  SIGKILLs every process in the group until none is left (v2:
//  cgroup.kill; v1: pass after pass over cgroup.procs). Returns how many
//  were still there after 5 s (0 normally). Blocks up to 5 s.
int
    sbx_process_cgroup_kill (sbx_process_cgroup_t *self);

//  The group's directory in its first hierarchy (the pids one in v1
//  when it has pids), for logs and tests.
const char *
    sbx_process_cgroup_path (const sbx_process_cgroup_t *self);

//  What a crashed run of environment `env` (sbx_process_cgroup_env_name)
//  left in every cgroup hierarchy this process can see (either layout):
//  kills what runs in each group under sbx/<env>, removes the groups,
//  then sbx/<env>. Calls
//  report (path, 0 or -errno, arg) for each group. Blocks up to 5 s per
//  group that does not empty.
void
    sbx_process_cgroup_clean_env (const char *env, void (*report) (const char *path, int rc, void *arg),
                                  void *arg);

#endif
