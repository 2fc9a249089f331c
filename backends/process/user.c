/*  sbx_process_user - see user.h */
#include "backends/process/user.h"
#include "backends/process/tree.h"

#include <czmq.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>

#define S_KILL_PATIENCE_US 5000000

struct sbx_process_user_t {
    uid_t uid;
    int lock_fd;                //  holds the uid
};

sbx_process_user_t *
sbx_process_user_new (const char *lock_dir, uint32_t base, uint32_t count, const char *seed)
{
    int rc = sbx_process_tree_make (lock_dir, 0755);
    if (rc) {
        errno = -rc;
        return NULL;
    }
    uint32_t hash = 2166136261u;
    for (const char *c = seed; *c; c++)
        hash = (hash ^ (uint8_t) *c) * 16777619u;
    for (uint32_t i = 0; i < count; i++) {
        uid_t uid = base + (hash + i) % count;
        char path [PATH_MAX];
        snprintf (path, sizeof path, "%s/%u", lock_dir, (unsigned) uid);
        int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return NULL;
        if (flock (fd, LOCK_EX | LOCK_NB) == 0) {
            sbx_process_user_t *self = (sbx_process_user_t *) zmalloc (sizeof (sbx_process_user_t));
            self->uid = uid;
            self->lock_fd = fd;
            return self;
        }
        int error = errno;
        close (fd);
        if (error != EWOULDBLOCK) {
            errno = error;
            return NULL;
        }
    }
    errno = EAGAIN;
    return NULL;
}

void
sbx_process_user_destroy (sbx_process_user_t **self_p)
{
    sbx_process_user_t *self = *self_p;
    if (!self)
        return;
    close (self->lock_fd);
    free (self);
    *self_p = NULL;
}

uid_t
sbx_process_user_uid (sbx_process_user_t *self)
{
    return self->uid;
}

gid_t
sbx_process_user_gid (sbx_process_user_t *self)
{
    return (gid_t) self->uid;
}

int
sbx_process_user_kill_all (sbx_process_user_t *self)
{
    int64_t give_up = zclock_usecs () + S_KILL_PATIENCE_US;
    for (unsigned pass = 0; ; pass++) {
        int found = 0;
        DIR *proc = opendir ("/proc");
        struct dirent *entry;
        while (proc && (entry = readdir (proc))) {
            if (entry->d_name [0] < '1' || entry->d_name [0] > '9')
                continue;
            char path [300], text [2048];
            snprintf (path, sizeof path, "/proc/%s/status", entry->d_name);
            int fd = open (path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t n = read (fd, text, sizeof text - 1);
            close (fd);
            if (n <= 0)
                continue;
            text [n] = 0;
            const char *line = strstr (text, "\nUid:");
            const char *state = strstr (text, "\nState:");
            unsigned ids [4];
            if (!line || sscanf (line + 5, "%u %u %u %u", &ids [0], &ids [1], &ids [2], &ids [3]) != 4)
                continue;
            if (state && (strstr (state, "\nState:\tZ") == state || strstr (state, "\nState:\tX") == state))
                continue;
            if (ids [0] == self->uid || ids [1] == self->uid || ids [2] == self->uid) {
                kill ((pid_t) atol (entry->d_name), SIGKILL);
                found++;
            }
        }
        if (proc)
            closedir (proc);
        if (found == 0 || zclock_usecs () > give_up)
            return found;
        if (pass > 0) {
            struct timespec pause = {0, 1000000};
            nanosleep (&pause, NULL);
        }
    }
}
