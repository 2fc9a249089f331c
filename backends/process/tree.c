/*  sbx_process_tree - see tree.h */
#include "backends/process/tree.h"

//  No czmq here: sbx-init (backends/init/) links this file too.
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define S_REMOVE_DEPTH 64           //  deeper trees are flattened, not followed

int
sbx_process_tree_make (const char *path, mode_t mode)
{
    char buffer [PATH_MAX];
    snprintf (buffer, sizeof buffer, "%s", path);
    for (char *p = buffer + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            if (mkdir (buffer, mode) != 0 && errno != EEXIST)
                return -errno;
            *p = saved;
            if (!saved)
                break;
        }
    }
    return 0;
}

typedef struct {
    int top;                    //  where too-deep subtrees are moved to
    unsigned moved;
} s_remover_t;

static int s_empty (s_remover_t *remover, int fd, int depth);

//  Removes `name` in `dirfd` (recursively). 0 or -errno. The first
//  directory entered becomes remover->top.
static int
s_remove_entry (s_remover_t *remover, int dirfd, const char *name, int depth)
{
    if (unlinkat (dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR)
        return -errno;
    int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES) {
        //  A directory its owner made unreadable: we own it too (or are root).
        fchmodat (dirfd, name, S_IRWXU, 0);
        fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    fchmod (fd, S_IRWXU);
    bool top = remover->top < 0;
    if (top)
        remover->top = fd;
    int rc = s_empty (remover, fd, depth + 1);
    if (top)
        remover->top = -1;
    close (fd);
    if (unlinkat (dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

//  Empties the directory `fd` (O_RDONLY). Below S_REMOVE_DEPTH levels a
//  subdirectory is moved up to remover->top instead of entered, so a tree
//  of any depth is removed with a bounded number of open descriptors.
static int
s_empty (s_remover_t *remover, int fd, int depth)
{
    int first_error = 0;
    while (true) {
        int copy = dup (fd);
        DIR *dir = copy >= 0 ? fdopendir (copy) : NULL;
        if (!dir) {
            if (copy >= 0)
                close (copy);
            return -errno;
        }
        rewinddir (dir);
        //  A batch of names first: never delete while reading a directory.
        char *names [256];
        bool is_dir [256];
        size_t count = 0;
        struct dirent *entry;
        while (count < 256 && (entry = readdir (dir))) {
            if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
                continue;
            is_dir [count] = entry->d_type == DT_DIR || entry->d_type == DT_UNKNOWN;
            names [count++] = strdup (entry->d_name);
        }
        closedir (dir);
        if (count == 0)
            return first_error;
        size_t progress = 0;
        for (size_t i = 0; i < count; i++) {
            int rc;
            if (depth >= S_REMOVE_DEPTH && is_dir [i] && remover->top != fd) {
                char moved [64];
                do
                    snprintf (moved, sizeof moved, ".sbx-deep-%ld-%u", (long) syscall (SYS_gettid),
                              remover->moved++);
                while ((rc = (int) syscall (SYS_renameat2, fd, names [i], remover->top, moved,
                                            1 /* RENAME_NOREPLACE */)) != 0 && errno == EEXIST);
                if (rc != 0 && errno == ENOTDIR)
                    rc = s_remove_entry (remover, fd, names [i], depth);
                else
                if (rc != 0)
                    rc = -errno;
            }
            else
                rc = s_remove_entry (remover, fd, names [i], depth);
            if (rc == 0)
                progress++;
            else
            if (!first_error)
                first_error = rc;
            free (names [i]);
        }
        if (progress == 0)
            return first_error;     //  nothing more can go
    }
}

int
sbx_process_tree_remove_at (int dirfd, const char *name)
{
    s_remover_t remover = {-1, 0};
    return s_remove_entry (&remover, dirfd, name, 0);
}

int
sbx_process_tree_empty (int dirfd)
{
    int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    s_remover_t remover = {fd, 0};
    int rc = s_empty (&remover, fd, 0);
    close (fd);
    return rc;
}
