/*  The process sandbox kind - see process.h and docs/sandboxes.md */
#include "backends/process/process.h"
#include "backends/process/channel.h"
#include "backends/process/child.h"
#include "backends/process/command.h"
#include "backends/process/config.h"
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
    char *env_dir;              //  root_dir/<env>
    char *name;                 //  "<slot>:<gen>"
    char *dir;                  //  env_dir/name
    int dirfd;                  //  O_PATH, between start and shutdown
    sbx_process_user_t *user;   //  the sandbox's own uid, or NULL
    sbx_process_channel_t *channel;
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

static void *
s_instance_new (const void *config, const sbx_sandbox_params_t *params)
{
    sbx_process_t *self = (sbx_process_t *) zmalloc (sizeof (sbx_process_t));
    self->config = (const sbx_process_config_t *) config;
    self->id = strdup (params->sandbox_id);
    self->root_dir = strdup (params->root_dir);
    self->env_dir = zsys_sprintf ("%s/%s", params->root_dir, params->environment);
    self->name = zsys_sprintf ("%u:%u", params->slot, params->generation);
    self->dir = zsys_sprintf ("%s/%s", self->env_dir, self->name);
    self->dirfd = -1;
    self->channel = sbx_process_channel_new (self->id, sbx_process_config_bwrap (self->config)
                                                       ? "bwrap/sbx-init" : "sbx-init");
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
    if (self->dirfd >= 0)
        close (self->dirfd);
    sbx_process_user_destroy (&self->user);
    free (self->id);
    free (self->root_dir);
    free (self->env_dir);
    free (self->name);
    free (self->dir);
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
    return self->dir;
}

const char *
sbx_process_workspace (sbx_process_t *self)
{
    return sbx_process_config_workspace (self->config, self->dir);
}

int
sbx_process_dirfd (sbx_process_t *self)
{
    return self->dirfd;
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
    snprintf (seed, sizeof seed, "%s/%.*s", strrchr (self->env_dir, '/') + 1,
              (int) strcspn (self->name, ":"), self->name);
    self->user = sbx_process_user_new (lock_dir, base, count, seed);
    if (!self->user)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: no free uid in [%u, %u) under %s: %s",
                              self->id, base, base + count, lock_dir, strerror (errno));
    //  Whatever a crashed owner of this uid left behind.
    sbx_process_user_kill_all (self->user);
    return NULL;
}

//  Makes the sandbox directory (mode 0700, the sandbox user's), replacing
//  a stale one, and opens it.
static sbx_error_t *
s_make_dir (sbx_process_t *self)
{
    //  The environment's directory may vanish under us when another
    //  sandbox of it shuts down (it removes it when empty): retry.
    int rc = 0;
    for (int attempt = 0; attempt < 10; attempt++) {
        rc = sbx_process_tree_make (self->env_dir, 0755);
        if (rc == 0) {
            int envfd = open (self->env_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (envfd < 0) {
                rc = -errno;
                continue;
            }
            sbx_process_tree_remove_at (envfd, self->name);     //  a stale one
            rc = mkdirat (envfd, self->name, 0700) == 0 ? 0 : -errno;
            if (rc == 0 && self->user
            &&  fchownat (envfd, self->name, sbx_process_user_uid (self->user),
                          sbx_process_user_gid (self->user), AT_SYMLINK_NOFOLLOW) != 0)
                rc = -errno;
            close (envfd);
        }
        if (rc != -ENOENT)
            break;
    }
    if (rc != 0)
        return sbx_error_new (sbx_process_shortage (-rc), "sandbox %s: cannot create %s: %s", self->id,
                              self->dir, strerror (-rc));
    self->dirfd = open (self->dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (self->dirfd < 0)
        return sbx_error_new (sbx_process_shortage (errno), "sandbox %s: cannot open %s: %s", self->id,
                              self->dir, strerror (errno));
    return NULL;
}

static sbx_error_t *
s_start (void *instance, sbx_ctx_t *ctx)
{
    sbx_process_t *self = (sbx_process_t *) instance;
    sbx_error_t *error = s_lease_user (self);
    if (!error)
        error = s_make_dir (self);
    if (error)
        return error;
    bool bwrap = sbx_process_config_bwrap (self->config);
    sbx_process_argv_t argv = {0};
    sbx_process_config_init_argv (self->config, self->dir, self->root_dir, self->user, &argv);
    error = sbx_process_channel_start (self->channel, argv.items, bwrap ? "/" : self->dir);
    sbx_process_argv_free (&argv);
    if (!error)
        sbx_log_debug (self->id, "process sandbox in %s (isolation %s, uid %d, init pid %d)", self->dir,
                       bwrap ? "bwrap" : "none",
                       self->user ? (int) sbx_process_user_uid (self->user) : (int) geteuid (),
                       (int) sbx_process_channel_pid (self->channel));
    return error;
}

sbx_error_t *
sbx_process_kill_all (sbx_process_t *self)
{
    return sbx_process_channel_kill_all (self->channel);
}

//  The directory is gone (or replaced) when its link count dropped to 0
//  or its path names another inode.
static bool
s_dir_present (sbx_process_t *self, bool check_path)
{
    struct stat held, named;
    if (self->dirfd < 0 || fstat (self->dirfd, &held) != 0 || held.st_nlink == 0)
        return false;
    if (check_path)
        return stat (self->dir, &named) == 0 && named.st_dev == held.st_dev && named.st_ino == held.st_ino;
    return true;
}

static sbx_error_t *
s_dir_gone (sbx_process_t *self)
{
    return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: its directory %s is gone", self->id, self->dir);
}

sbx_error_t *
sbx_process_reset (sbx_process_t *self)
{
    sbx_error_t *error = sbx_process_kill_all (self);
    if (error)
        return error;
    if (!s_dir_present (self, false))
        return s_dir_gone (self);
    int rc = sbx_process_tree_empty (self->dirfd);
    if (rc != 0)
        return sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cannot clean %s: %s", self->id, self->dir,
                              strerror (-rc));
    return NULL;
}

static sbx_error_t *
s_shutdown (void *instance, sbx_ctx_t *ctx)
{
    sbx_process_t *self = (sbx_process_t *) instance;
    sbx_error_t *error = NULL;
    if (sbx_process_channel_ready (self->channel))
        error = sbx_process_kill_all (self);
    sbx_error_t *closed = sbx_process_channel_close (self->channel);
    if (error)
        sbx_error_destroy (&closed);
    else
        error = closed;
    if (self->user && sbx_process_user_kill_all (self->user) != 0 && !error)
        error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: processes of uid %u survived SIGKILL",
                               self->id, (unsigned) sbx_process_user_uid (self->user));
    if (self->dirfd >= 0)
        close (self->dirfd);
    self->dirfd = -1;
    int envfd = open (self->env_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (envfd >= 0) {
        int rc = sbx_process_tree_remove_at (envfd, self->name);
        close (envfd);
        if (rc != 0 && !error)
            error = sbx_error_new (SBX_STATE_ERROR, "sandbox %s: cannot remove %s: %s", self->id,
                                   self->dir, strerror (-rc));
        //  The environment's directory goes with its last sandbox.
        rmdir (self->env_dir);
    }
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
    if (!sbx_process_channel_ready (self->channel))
        return sbx_process_channel_gone (self->channel);
    if (!s_dir_present (self, false))
        return s_dir_gone (self);
    return sbx_process_command_run (self->channel, run, result);
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
    .methods = s_methods,
    //  the socket to sbx-init, the directory handle, the uid lock, and
    //  while a command runs its three pipes (both ends) and the exec pipe
    .fds = 12
};
