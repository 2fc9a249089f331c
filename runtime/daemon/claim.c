/*  sbx_claim - see claim.h */
#include "runtime/daemon/claim.h"
#include "backends/process/cgroup.h"
#include "backends/process/space.h"
#include "backends/process/tree.h"
#include "runtime/core/log.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

static char *
s_lock_path (const sbx_config_t *config)
{
    return zsys_sprintf ("%s/%s.lock", config->root_dir, config->env_id);
}

int
sbx_claim (const sbx_config_t *config, char **error_p)
{
    int rc = sbx_process_tree_make (config->root_dir, 0755);
    if (rc != 0) {
        *error_p = zsys_sprintf ("cannot create root_dir %s: %s", config->root_dir, strerror (-rc));
        return -1;
    }
    char *path = s_lock_path (config);
    int fd = -1;
    //  The file may be unlinked by a holder that exits between our open and
    //  our lock: lock what the path names now, or try again.
    for (int attempt = 0; attempt < 10; attempt++) {
        fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            break;
        if (flock (fd, LOCK_EX | LOCK_NB) != 0) {
            char holder [32] = "";
            ssize_t n = pread (fd, holder, sizeof holder - 1, 0);
            holder [n > 0 ? n : 0] = 0;
            holder [strcspn (holder, "\n")] = 0;
            *error_p = zsys_sprintf ("environment '%s' is served already by sbxd pid %s (it holds %s)",
                                     config->env_id, *holder ? holder : "?", path);
            close (fd);
            zstr_free (&path);
            return -1;
        }
        struct stat held, named;
        if (fstat (fd, &held) == 0 && stat (path, &named) == 0
        &&  held.st_ino == named.st_ino && held.st_dev == named.st_dev)
            break;
        close (fd);
        fd = -1;
    }
    if (fd < 0) {
        *error_p = zsys_sprintf ("cannot lock %s: %s", path, strerror (errno));
        zstr_free (&path);
        return -1;
    }
    char pid [32];
    int size = snprintf (pid, sizeof pid, "%d\n", (int) getpid ());
    if (ftruncate (fd, 0) != 0 || pwrite (fd, pid, (size_t) size, 0) != size)
        sbx_log_warning (config->env_id, "cannot write the pid to %s: %s", path, strerror (errno));
    zstr_free (&path);
    //  Held until the process ends: the descriptor is never closed.
    sbx_claim_clean (config);
    return 0;
}

static void
s_report_cgroup (const char *path, int rc, void *arg)
{
    const sbx_config_t *config = (const sbx_config_t *) arg;
    if (rc == 0)
        sbx_log_info (config->env_id, "removed cgroup %s, left by an earlier run", path);
    else
        sbx_log_error (config->env_id, "cannot remove cgroup %s, left by an earlier run: %s", path, strerror (-rc));
}

void
sbx_claim_clean (const sbx_config_t *config)
{
    char *dir = zsys_sprintf ("%s/%s", config->root_dir, config->env_id);
    int dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd >= 0) {
        DIR *listing = fdopendir (dup (dirfd));
        struct dirent *entry;
        while (listing && (entry = readdir (listing))) {
            if (streq (entry->d_name, ".") || streq (entry->d_name, ".."))
                continue;
            //  A sandbox's tmpfs (limits.disk_mb): its files go, then it.
            if (sbx_process_space_unmount (dir, entry->d_name) == 0)
                sbx_log_info (config->env_id, "unmounted %s/%s, left by an earlier run", dir, entry->d_name);
            int rc = sbx_process_tree_remove_at (dirfd, entry->d_name);
            if (rc == 0)
                sbx_log_info (config->env_id, "removed %s/%s, left by an earlier run", dir, entry->d_name);
            else
                sbx_log_error (config->env_id, "cannot remove %s/%s, left by an earlier run: %s", dir,
                               entry->d_name, strerror (-rc));
        }
        if (listing)
            closedir (listing);
        close (dirfd);
    }
    zstr_free (&dir);
    char groups [256];
    sbx_process_cgroup_env_name (config->root_dir, config->env_id, groups, sizeof groups);
    sbx_process_cgroup_clean_env (groups, s_report_cgroup, (void *) config);
}

void
sbx_claim_release (const sbx_config_t *config)
{
    char *path = s_lock_path (config);
    unlink (path);
    zstr_free (&path);
}
