/*  sbx_init_clean - see clean.h */
#include "clean.h"
#include "backends/process/tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_DEPTH 16

//  The names in directory `fd`, read before anything is removed from it.
//  Caller frees each and the array; *count_p gets their number.
static char **
s_names (int fd, size_t *count_p)
{
    *count_p = 0;
    int copy = dup (fd);
    DIR *dir = copy >= 0 ? fdopendir (copy) : NULL;
    if (!dir) {
        if (copy >= 0)
            close (copy);
        return NULL;
    }
    char **names = NULL;
    size_t count = 0, capacity = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
            continue;
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            char **grown = (char **) realloc (names, capacity * sizeof (char *));
            if (!grown)
                break;
            names = grown;
        }
        names [count] = strdup (entry->d_name);
        if (names [count])
            count++;
    }
    closedir (dir);
    *count_p = count;
    return names;
}

//  Counts (and with `remove`, removes) what `uid` owns in directory `fd`
//  and below the world-writable directories there (same file system
//  `dev`). Failures are added to *failures and said on stderr.
static int
s_walk (int fd, const char *path, dev_t dev, uid_t uid, int depth, bool remove, int *failures)
{
    size_t count;
    char **names = s_names (fd, &count);
    int found = 0;
    for (size_t i = 0; i < count; i++) {
        struct stat st;
        if (fstatat (fd, names [i], &st, AT_SYMLINK_NOFOLLOW) != 0)
            ;   //  gone meanwhile
        else
        if (st.st_uid == uid) {
            found++;
            int rc = remove ? sbx_process_tree_remove_at (fd, names [i]) : 0;
            if (rc != 0) {
                fprintf (stderr, "sbx-init: cannot remove %s/%s: %s\n", path, names [i], strerror (-rc));
                (*failures)++;
            }
        }
        else
        if (S_ISDIR (st.st_mode) && (st.st_mode & S_IWOTH) && st.st_dev == dev && depth < S_DEPTH) {
            int sub = openat (fd, names [i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                char below [4096];
                snprintf (below, sizeof below, "%s/%s", path, names [i]);
                found += s_walk (sub, below, dev, uid, depth + 1, remove, failures);
                close (sub);
            }
        }
        free (names [i]);
    }
    free (names);
    return found;
}

//  The directories of `what`, each once (/var/lock and /run/lock are one).
static int
s_dirs (const sbx_init_clean_t *what, uid_t uid, bool remove, int *failures)
{
    struct stat seen [8];
    size_t seen_count = 0;
    int found = 0;
    for (size_t i = 0; i < what->count && i < 8; i++) {
        int fd = open (what->dirs [i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat (fd, &st) != 0) {
            if (fd >= 0)
                close (fd);
            continue;
        }
        bool twice = false;
        for (size_t k = 0; k < seen_count; k++)
            twice |= seen [k].st_dev == st.st_dev && seen [k].st_ino == st.st_ino;
        if (!twice) {
            seen [seen_count++] = st;
            found += s_walk (fd, what->dirs [i], st.st_dev, uid, 0, remove, failures);
        }
        close (fd);
    }
    return found;
}

//  System V objects of `uid` in one /proc/sysvipc table: the id is
//  column 2, the owner and creator columns `owner` and `creator` (1-based).
static int
s_ipc (const char *table, int owner, int creator, uid_t uid, bool remove, int *failures)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/sysvipc/%s", table);
    FILE *file = fopen (path, "re");
    if (!file)
        return 0;
    char line [1024];
    int found = 0;
    bool header = true;
    while (fgets (line, sizeof line, file)) {
        if (header) {
            header = false;
            continue;
        }
        long columns [12] = {0};
        int n = 0;
        char *p = line, *end;
        while (n < 12) {
            long value = strtol (p, &end, 10);
            if (end == p)
                break;
            columns [n++] = value;
            p = end;
        }
        if (n < creator || ((uid_t) columns [owner - 1] != uid && (uid_t) columns [creator - 1] != uid))
            continue;
        found++;
        if (!remove)
            continue;
        int id = (int) columns [1], rc;
        if (strcmp (table, "shm") == 0)
            rc = shmctl (id, IPC_RMID, NULL);
        else
        if (strcmp (table, "msg") == 0)
            rc = msgctl (id, IPC_RMID, NULL);
        else
            rc = semctl (id, 0, IPC_RMID);
        if (rc != 0 && errno != EINVAL && errno != EIDRM) {
            fprintf (stderr, "sbx-init: cannot remove System V %s %d: %s\n", table, id, strerror (errno));
            (*failures)++;
        }
    }
    fclose (file);
    return found;
}

static int
s_all (const sbx_init_clean_t *what, uid_t uid, bool remove, int *failures)
{
    return s_dirs (what, uid, remove, failures)
         + s_ipc ("shm", 8, 10, uid, remove, failures)
         + s_ipc ("msg", 8, 10, uid, remove, failures)
         + s_ipc ("sem", 5, 7, uid, remove, failures);
}

int
sbx_init_clean_scan (const sbx_init_clean_t *what, uid_t uid)
{
    int failures = 0;
    return s_all (what, uid, false, &failures);
}

int
sbx_init_clean_remove (const sbx_init_clean_t *what, uid_t uid)
{
    int failures = 0;
    s_all (what, uid, true, &failures);
    return failures;
}

int
sbx_init_clean_queues (const sbx_init_clean_t *what, uid_t uid)
{
    if (!what->mqueue)
        return 0;
    //  A mount namespace of our own, its mounts private: nothing done here
    //  reaches the host. The queues show on a private tmpfs's directory.
    static const char *top = "/tmp", *where = "/tmp/mqueue";
    if (unshare (CLONE_NEWNS) != 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
    ||  mount ("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0700") != 0
    ||  mkdir (where, 0700) != 0 || mount ("mqueue", where, "mqueue", 0, NULL) != 0) {
        fprintf (stderr, "sbx-init: cannot mount the POSIX message queues to clean them: %s\n", strerror (errno));
        umount2 (top, MNT_DETACH);
        return 1;
    }
    int failures = 0;
    int fd = open (where, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat (fd, &st) == 0)
        s_walk (fd, "mqueue", st.st_dev, uid, S_DEPTH, true, &failures);
    if (fd >= 0)
        close (fd);
    umount2 (where, MNT_DETACH);
    umount2 (top, MNT_DETACH);
    return failures;
}
