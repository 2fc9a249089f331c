/*  The process sandbox kind - see process.h and docs/sandboxes.md */
#include "backends/process/process.h"
#include "backends/process/cgroup.h"
#include "backends/process/channel.h"
#include "backends/process/child.h"
#include "backends/process/command.h"
#include "backends/process/config.h"
#include "backends/process/space.h"
#include "backends/process/tree.h"
#include "backends/process/user.h"
#include "runtime/core/log.h"

#include <czmq.h>
#include <fcntl.h>
#include <sys/stat.h>

struct sbx_process_t {
    const sbx_process_config_t *config;
    char *id;                   //  sandbox id, for logs
    char *root_dir;
    char *env;                  //  environment id
    char *cgroup_env;           //  its cgroups' directory name (cgroup.h)
    char *name;                 //  "<slot>:<gen>"
    sbx_process_space_t *space; //  its directory and writable paths
    char *tmpdir;               //  "TMPDIR=..." for isolation "none"
    sbx_process_user_t *user;   //  the sandbox's own uid, or NULL
    sbx_process_cgroup_t *cgroup;   //  its cgroup, or NULL
    sbx_process_channel_t *channel;
    bool used;                  //  since the last reset: run, or its workspace handed out
};

static void *
s_config_new (const json_t *options, const char *path, sbx_error_t **error_p)
{
    return sbx_process_config_new (options, path, error_p);
}

static void
s_config_destroy (void **config_p)
{
    sbx_process_config_t *config = (sbx_process_config_t *) *config_p;
    sbx_process_config_destroy (&config);
    *config_p = NULL;
}

static const char *
s_isolation (const void *config)
{
    return sbx_process_config_isolation ((const sbx_process_config_t *) config);
}

static void *
s_instance_new (const void *config, const sbx_sandbox_params_t *params)
{
    sbx_process_t *self = (sbx_process_t *) zmalloc (sizeof (sbx_process_t));
    self->config = (const sbx_process_config_t *) config;
    bool bwrap = sbx_process_config_bwrap (self->config);
    self->id = strdup (params->sandbox_id);
    self->root_dir = strdup (params->root_dir);
    char groups [256];
    sbx_process_cgroup_env_name (params->root_dir, params->environment, groups, sizeof groups);
    self->cgroup_env = strdup (groups);
    self->env = strdup (params->environment);
    self->name = zsys_sprintf ("%u:%u", params->slot, params->generation);
    char *env_dir = zsys_sprintf ("%s/%s", params->root_dir, params->environment);
    self->space = sbx_process_space_new (env_dir, self->name, bwrap);
    zstr_free (&env_dir);
    char *tmp = sbx_process_space_path (self->space, "tmp");
    self->tmpdir = zsys_sprintf ("TMPDIR=%s", tmp);
    zstr_free (&tmp);
    self->channel = sbx_process_channel_new (self->id, bwrap ? "bwrap/sbx-init" : "sbx-init");
    return self;
}

static void
s_instance_destroy (void **instance_p)
{
    sbx_process_t *self = (sbx_process_t *) *instance_p;
    if (!self)
        return;
    //  Shutdown always runs first; destroying the channel kills sbx-init
    //  should it not have.
    sbx_process_channel_destroy (&self->channel);
    char *why = NULL;
    if (sbx_process_cgroup_destroy (&self->cgroup, &why) != 0)
        sbx_log_warning (self->id, "%s", why);
    zstr_free (&why);
    sbx_process_space_destroy (&self->space);
    sbx_process_user_destroy (&self->user);
    free (self->id);
    free (self->root_dir);
    free (self->env);
    free (self->cgroup_env);
    free (self->name);
    free (self->tmpdir);
    free (self);
    *instance_p = NULL;
}

sbx_process_t *
sbx_process_of (sbx_ctx_t *ctx)
{
    return sbx_ctx_sandbox_kind (ctx) == &sbx_sandbox_process
         ? (sbx_process_t *) sbx_ctx_sandbox_instance (ctx) : NULL;
}

const char *
sbx_process_dir (sbx_process_t *self)
{
    return sbx_process_space_workspace (self->space);
}

const char *
sbx_process_workspace (sbx_process_t *self)
{
    return sbx_process_config_workspace (self->config, sbx_process_space_workspace (self->space));
}

int
sbx_process_dirfd (sbx_process_t *self)
{
    self->used = true;
    return sbx_process_space_workspace_fd (self->space);
}

bool
sbx_process_owner (sbx_process_t *self, uid_t *uid_p, gid_t *gid_p)
{
    if (!self->user)
        return false;
    *uid_p = sbx_process_user_uid (self->user);
    *gid_p = sbx_process_user_gid (self->user);
    return true;
}

//  Leases the sandbox's uid, when users are on.
static sbx_error_t *
s_lease_user (sbx_process_t *self)
{
    uint32_t base, count;
    const char *lock_dir;
    if (!sbx_process_config_users (self->config, &base, &count, &lock_dir))
        return NULL;
    //  "<env>/<slot>": every generation of a slot alike.
    char seed [256];
    snprintf (seed, sizeof seed, "%s/%.*s", self->env, (int) strcspn (self->name, ":"), self->name);
    self->user = sbx_process_user_new (lock_dir, base, count, seed);
    if (!self->user)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: no free uid in [%u, %u) under %s: %s",
                              self->id, base, base + count, lock_dir, strerror (errno));
    //  Whatever a crashed owner of this uid left running. Under bwrap
    //  nothing can be: its PID namespace died with its sbx-init.
    if (!sbx_process_config_bwrap (self->config))
        sbx_process_user_kill_all (self->user);
    return NULL;
}

//  Makes the sandbox's cgroup, when there is a layout for it.
static sbx_error_t *
s_make_cgroup (sbx_process_t *self)
{
    sbx_process_cgroup_limits_t limits;
    const sbx_process_cgroups_t *layout = sbx_process_config_cgroups (self->config, &limits);
    if (!layout)
        return NULL;
    char *why = NULL;
    self->cgroup = sbx_process_cgroup_new (layout, self->cgroup_env, self->name, &limits, &why);
    if (!self->cgroup) {
        sbx_error_t *error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: %s", self->id, why);
        zstr_free (&why);
        return error;
    }
    return NULL;
}

//  The memory limit of the sandbox's group, or -1 when it has none.
static int64_t
s_memory_limit (sbx_process_t *self)
{
    sbx_process_cgroup_limits_t limits;
    sbx_process_config_cgroups (self->config, &limits);
    return self->cgroup ? limits.memory_bytes : -1;
}

//  Has sbx-init remove what the sandbox's user left outside its
//  directory, when the sandbox has anything there to clean. The caller
//  lifts the group's memory limit first where it can be full: a group
//  full of the tmpfs or System V pages the cleaner is to free leaves it
//  no room to run.
static sbx_error_t *
s_clean (sbx_process_t *self)
{
    if (!sbx_process_config_cleans (self->config) || !sbx_process_channel_ready (self->channel))
        return NULL;
    return sbx_process_channel_clean (self->channel);
}

static sbx_error_t *
s_start (void *instance, sbx_ctx_t *ctx)
{
    sbx_process_t *self = (sbx_process_t *) instance;
    sbx_error_t *error = s_lease_user (self);
    if (error)
        return error;
    const char *what = "";
    int rc = sbx_process_space_make (self->space, sbx_process_config_disk (self->config),
                                     self->user ? sbx_process_user_uid (self->user) : (uid_t) -1,
                                     self->user ? sbx_process_user_gid (self->user) : (gid_t) -1, &what);
    if (rc != 0)
        return sbx_error_new (sbx_process_shortage (-rc), "sandbox %s: cannot %s %s: %s", self->id, what,
                              sbx_process_space_dir (self->space), strerror (-rc));
    error = s_make_cgroup (self);
    if (error)
        return error;
    int join [SBX_CGROUP_MAX_HIERARCHIES];
    int joins = self->cgroup ? sbx_process_cgroup_open_procs (self->cgroup, join) : 0;
    if (joins < 0)
        return sbx_error_new (sbx_process_shortage (errno), "sandbox %s: cannot open %s/cgroup.procs: %s", self->id,
                              sbx_process_cgroup_path (self->cgroup), strerror (errno));
    bool bwrap = sbx_process_config_bwrap (self->config);
    sbx_process_site_t site = {sbx_process_space_dir (self->space), self->root_dir, self->user, joins};
    sbx_process_argv_t argv = {0};
    sbx_process_config_init_argv (self->config, &site, &argv);
    if (sbx_process_config_start_take (self->config, sbx_ctx_shutdown_fd (ctx)) == 0) {
        error = sbx_process_channel_start (self->channel, argv.items,
                                           bwrap ? "/" : sbx_process_space_workspace (self->space), join, joins);
        sbx_process_config_start_give (self->config);
    }
    else
        error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: the environment shut down before it started",
                               self->id);
    sbx_process_argv_free (&argv);
    for (int i = 0; i < joins; i++)
        close (join [i]);
    //  What a crashed owner of this uid left in the host's shared places.
    if (!error && !bwrap)
        error = s_clean (self);
    if (!error)
        sbx_log_debug (self->id, "process sandbox in %s (isolation %s, uid %d, init pid %d%s%s)",
                       sbx_process_space_dir (self->space), bwrap ? "bwrap" : "none",
                       self->user ? (int) sbx_process_user_uid (self->user) : (int) geteuid (),
                       (int) sbx_process_channel_pid (self->channel), self->cgroup ? ", cgroup " : "",
                       self->cgroup ? sbx_process_cgroup_path (self->cgroup) : "");
    return error;
}

sbx_error_t *
sbx_process_kill_all (sbx_process_t *self)
{
    return sbx_process_channel_kill (self->channel, 0);
}

//  The workspace is gone (or replaced) when its link count dropped to 0
//  or its path names another inode.
static bool
s_dir_present (sbx_process_t *self, bool check_path)
{
    struct stat held, named;
    int fd = sbx_process_space_workspace_fd (self->space);
    if (fd < 0 || fstat (fd, &held) != 0 || held.st_nlink == 0)
        return false;
    if (check_path)
        return stat (sbx_process_space_workspace (self->space), &named) == 0 && named.st_dev == held.st_dev
            && named.st_ino == held.st_ino;
    return true;
}

static sbx_error_t *
s_dir_gone (sbx_process_t *self)
{
    return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: its directory %s is gone", self->id,
                          sbx_process_space_workspace (self->space));
}

sbx_error_t *
sbx_process_reset (sbx_process_t *self)
{
    //  shell and fs both reset at a session's end: the second finds
    //  nothing done since the first.
    if (!self->used)
        return NULL;
    //  A session may end with its group full (memory_mb): sbx-init needs
    //  room to kill and clean. No command runs until the limit is back.
    int64_t limit = s_memory_limit (self);
    if (limit >= 0)
        sbx_process_cgroup_set_memory (self->cgroup, -1);
    sbx_error_t *error = sbx_process_kill_all (self);
    int rc = 0;
    if (!error && !s_dir_present (self, false))
        error = s_dir_gone (self);
    if (!error && (rc = sbx_process_space_empty (self->space)) != 0)
        error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cannot clean %s: %s", self->id,
                               sbx_process_space_dir (self->space), strerror (-rc));
    if (!error)
        error = s_clean (self);
    if (!error && limit >= 0 && (rc = sbx_process_cgroup_set_memory (self->cgroup, limit)) != 0)
        error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cannot restore its memory limit: %s", self->id,
                               strerror (-rc));
    self->used = error != NULL;
    return error;
}

static sbx_error_t *
s_shutdown (void *instance, sbx_ctx_t *ctx)
{
    sbx_process_t *self = (sbx_process_t *) instance;
    sbx_error_t *error = NULL;
    if (s_memory_limit (self) >= 0)
        sbx_process_cgroup_set_memory (self->cgroup, -1);
    //  Under bwrap the EOF below has sbx-init kill everything, and its exit
    //  takes the namespaces with it. Without bwrap, what the sandbox left
    //  in the host's shared places goes first, once nothing runs.
    if (!sbx_process_config_bwrap (self->config) && sbx_process_channel_ready (self->channel))
        error = sbx_process_kill_all (self);
    if (!error && !sbx_process_config_bwrap (self->config))
        error = s_clean (self);
    sbx_error_t *closed = sbx_process_channel_close (self->channel);
    if (error)
        sbx_error_destroy (&closed);
    else
        error = closed;
    //  Under bwrap, what runs as the sandbox's uid died with its PID
    //  namespace; in its cgroup, nothing of it is left outside.
    bool bwrap = sbx_process_config_bwrap (self->config);
    if (self->user && (!bwrap || !self->cgroup) && sbx_process_user_kill_all (self->user) != 0 && !error)
        error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: processes of uid %u survived SIGKILL",
                               self->id, (unsigned) sbx_process_user_uid (self->user));
    char *why = NULL;
    if (sbx_process_cgroup_destroy (&self->cgroup, &why) != 0 && !error)
        error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: %s", self->id, why);
    zstr_free (&why);
    int rc = sbx_process_space_remove (self->space);
    if (rc != 0 && !error)
        error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cannot remove %s: %s", self->id,
                               sbx_process_space_dir (self->space), strerror (-rc));
    sbx_process_user_destroy (&self->user);
    return error;
}

static sbx_error_t *
s_ping (void *instance, sbx_ctx_t *ctx)
{
    sbx_process_t *self = (sbx_process_t *) instance;
    if (!s_dir_present (self, true))
        return s_dir_gone (self);
    return sbx_process_channel_ping (self->channel);
}

sbx_error_t *
sbx_process_run (sbx_process_t *self, const sbx_process_run_t *run, sbx_process_result_t *result)
{
    memset (result, 0, sizeof *result);
    sbx_error_t *error = sbx_process_ready (self);
    if (error)
        return error;
    if (sbx_process_config_bwrap (self->config))
        return sbx_process_command_run (self->channel, run, result);
    //  Without bwrap, temporary files go to the sandbox's own tmp unless
    //  the command says otherwise.
    size_t count = 0;
    bool has_tmpdir = false;
    for (; run->env && run->env [count]; count++)
        has_tmpdir |= strncmp (run->env [count], "TMPDIR=", 7) == 0;
    if (has_tmpdir)
        return sbx_process_command_run (self->channel, run, result);
    const char **env = (const char **) zmalloc ((count + 2) * sizeof (char *));
    memcpy (env, run->env, count * sizeof (char *));
    env [count] = self->tmpdir;
    sbx_process_run_t with_tmpdir = *run;
    with_tmpdir.env = env;
    error = sbx_process_command_run (self->channel, &with_tmpdir, result);
    free (env);
    return error;
}

sbx_process_channel_t *
sbx_process_channel (sbx_process_t *self)
{
    return self->channel;
}

sbx_error_t *
sbx_process_ready (sbx_process_t *self)
{
    self->used = true;
    if (!sbx_process_channel_ready (self->channel))
        return sbx_process_channel_gone (self->channel);
    if (!s_dir_present (self, false))
        return s_dir_gone (self);
    return NULL;
}

void
sbx_process_result_free (sbx_process_result_t *result)
{
    free (result->out);
    free (result->err);
    result->out = result->err = NULL;
}

//  A process sandbox has no services of its own: its features have them.
static const sbx_method_t s_methods [] = {
    {NULL, NULL, NULL}
};

const sbx_sandbox_kind_t sbx_sandbox_process = {
    .name = "process",
    .config_new = s_config_new,
    .config_destroy = s_config_destroy,
    .instance_new = s_instance_new,
    .instance_destroy = s_instance_destroy,
    .start = s_start,
    .shutdown = s_shutdown,
    .ping = s_ping,
    .isolation = s_isolation,
    .methods = s_methods,
    //  the socket to sbx-init and its stderr, the directory handles (2),
    //  the uid lock, /dev/null for stdin, while a command runs its three
    //  pipes (both ends), and at start the exec pipe and the
    //  cgroup.procs files (3); a long-lived
    //  command's are its feature's (python.c)
    .fds = 16
};
