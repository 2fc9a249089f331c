/*  sbx_process_space - see space.h */
#include "backends/process/space.h"
#include "backends/process/tree.h"

#include <czmq.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

static const sbx_process_space_path_t s_paths [] = {
    {"workspace", "/workspace"},
    {"tmp", "/tmp"},
    {"var-tmp", "/var/tmp"},
    {"shm", "/dev/shm"},
    {NULL, NULL}
};

//  Without bwrap only these two are used: the workspace and TMPDIR.
static const sbx_process_space_path_t s_paths_none [] = {
    {"workspace", "/workspace"},
    {"tmp", "/tmp"},
    {NULL, NULL}
};

struct sbx_process_space_t {
    char *env_dir;
    char *name;
    char *dir;
    char *workspace;
    const sbx_process_space_path_t *paths;
    int dirfd;                  //  O_PATH of dir
    int workspace_fd;           //  O_PATH of dir/workspace
    bool mounted;               //  a tmpfs of our own is on dir
};

const sbx_process_space_path_t *
sbx_process_space_paths (bool bwrap)
{
    return bwrap ? s_paths : s_paths_none;
}

sbx_process_space_t *
sbx_process_space_new (const char *env_dir, const char *name, bool bwrap)
{
    sbx_process_space_t *self = (sbx_process_space_t *) zmalloc (sizeof (sbx_process_space_t));
    self->env_dir = strdup (env_dir);
    self->name = strdup (name);
    self->dir = zsys_sprintf ("%s/%s", env_dir, name);
    self->workspace = zsys_sprintf ("%s/%s", self->dir, s_paths [0].name);
    self->paths = sbx_process_space_paths (bwrap);
    self->dirfd = self->workspace_fd = -1;
    return self;
}

void
sbx_process_space_destroy (sbx_process_space_t **self_p)
{
    sbx_process_space_t *self = *self_p;
    if (!self)
        return;
    if (self->workspace_fd >= 0)
        close (self->workspace_fd);
    if (self->dirfd >= 0)
        close (self->dirfd);
    free (self->env_dir);
    free (self->name);
    free (self->dir);
    free (self->workspace);
    free (self);
    *self_p = NULL;
}

int
sbx_process_space_unmount (const char *env_dir, const char *name)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", env_dir, name);
    return umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0 ? 0 : -errno;
}

//  Makes the directory itself, replacing a stale one, mounted or not.
static int
s_make_dir (sbx_process_space_t *self, int64_t disk_bytes, const char **what_p)
{
    //  The environment's directory may vanish under us when another
    //  sandbox of it shuts down (it removes it when empty): retry.
    int rc = 0;
    for (int attempt = 0; attempt < 10; attempt++) {
        *what_p = "create";
        rc = sbx_process_tree_make (self->env_dir, 0755);
        int envfd = rc == 0 ? open (self->env_dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        if (rc == 0 && envfd < 0)
            rc = -errno;
        if (rc != 0) {
            if (rc != -ENOENT)
                break;
            continue;
        }
        sbx_process_space_unmount (self->env_dir, self->name);
        sbx_process_tree_remove_at (envfd, self->name);
        rc = mkdirat (envfd, self->name, 0711) == 0 ? 0 : -errno;
        close (envfd);
        if (rc != -ENOENT)
            break;
    }
    if (rc == 0 && disk_bytes >= 0) {
        *what_p = "mount a tmpfs (limits.disk_mb) on";
        char options [128];
        snprintf (options, sizeof options, "size=%lld,mode=0711,uid=%u,gid=%u", (long long) disk_bytes,
                  (unsigned) geteuid (), (unsigned) getegid ());
        rc = mount ("sbx", self->dir, "tmpfs", MS_NOSUID | MS_NODEV, options) == 0 ? 0 : -errno;
        self->mounted = rc == 0;
    }
    return rc;
}

int
sbx_process_space_make (sbx_process_space_t *self, int64_t disk_bytes, uid_t uid, gid_t gid,
                        const char **what_p)
{
    int rc = s_make_dir (self, disk_bytes, what_p);
    if (rc != 0)
        return rc;
    *what_p = "open";
    self->dirfd = open (self->dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (self->dirfd < 0)
        return -errno;
    *what_p = "populate";
    for (const sbx_process_space_path_t *path = self->paths; path->name; path++) {
        if (mkdirat (self->dirfd, path->name, 0700) != 0)
            return -errno;
        if (uid != (uid_t) -1 && fchownat (self->dirfd, path->name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
            return -errno;
    }
    *what_p = "open";
    self->workspace_fd = openat (self->dirfd, s_paths [0].name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return self->workspace_fd >= 0 ? 0 : -errno;
}

int
sbx_process_space_empty (sbx_process_space_t *self)
{
    if (self->dirfd < 0)
        return -ENOENT;
    int first = 0;
    for (const sbx_process_space_path_t *path = self->paths; path->name; path++) {
        int fd = openat (self->dirfd, path->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int rc = fd < 0 ? -errno : sbx_process_tree_empty (fd);
        if (fd >= 0)
            close (fd);
        if (rc != 0 && first == 0)
            first = rc;
    }
    return first;
}

int
sbx_process_space_remove (sbx_process_space_t *self)
{
    if (self->workspace_fd >= 0)
        close (self->workspace_fd);
    self->workspace_fd = -1;
    int rc = 0;
    if (self->mounted) {
        //  Empty first: the pages go now, whoever still holds the mount.
        rc = self->dirfd >= 0 ? sbx_process_tree_empty (self->dirfd) : 0;
        int unmounted = umount2 (self->dir, MNT_DETACH | UMOUNT_NOFOLLOW) == 0 ? 0 : -errno;
        if (rc == 0)
            rc = unmounted;
        self->mounted = unmounted != 0;
    }
    if (self->dirfd >= 0)
        close (self->dirfd);
    self->dirfd = -1;
    int envfd = open (self->env_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (envfd >= 0) {
        int removed = sbx_process_tree_remove_at (envfd, self->name);
        close (envfd);
        if (rc == 0)
            rc = removed;
        //  The environment's directory goes with its last sandbox.
        rmdir (self->env_dir);
    }
    return rc;
}

const char *
sbx_process_space_dir (sbx_process_space_t *self)
{
    return self->dir;
}

const char *
sbx_process_space_workspace (sbx_process_space_t *self)
{
    return self->workspace;
}

int
sbx_process_space_workspace_fd (sbx_process_space_t *self)
{
    return self->workspace_fd;
}

char *
sbx_process_space_path (sbx_process_space_t *self, const char *name)
{
    return zsys_sprintf ("%s/%s", self->dir, name);
}
