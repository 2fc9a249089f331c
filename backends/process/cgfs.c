/*  sbx_process_cgfs - see cgfs.h */
#include "backends/process/cgfs.h"

#include <czmq.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#define S_KILL_PATIENCE_US 5000000
#define S_RMDIR_PATIENCE_US 2000000

void
sbx_process_cgfs_say (char *why, size_t size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (why, size, format, args);
    va_end (args);
}

int
sbx_process_cgfs_write (const char *path, const char *text)
{
    int fd = open (path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write (fd, text, strlen (text));
    int rc = n == (ssize_t) strlen (text) ? 0 : n < 0 ? -errno : -EIO;
    close (fd);
    return rc;
}

int
sbx_process_cgfs_writef (const char *dir, const char *file, const char *format, long long value)
{
    char path [PATH_MAX], text [64];
    snprintf (path, sizeof path, "%s/%s", dir, file);
    snprintf (text, sizeof text, format, value);
    return sbx_process_cgfs_write (path, text);
}

char *
sbx_process_cgfs_read (const char *path)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t size = 0, capacity = 4096;
    char *text = (char *) malloc (capacity);
    ssize_t n;
    while (text && (n = read (fd, text + size, capacity - size - 1)) > 0) {
        size += (size_t) n;
        if (size + 1 == capacity) {
            capacity *= 2;
            char *grown = (char *) realloc (text, capacity);
            if (!grown)
                free (text);
            text = grown;
        }
    }
    close (fd);
    if (text)
        text [size] = 0;
    return text;
}

bool
sbx_process_cgfs_exists (const char *dir, const char *file)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, file);
    return access (path, F_OK) == 0;
}

bool
sbx_process_cgfs_has_word (const char *list, const char *word)
{
    size_t length = strlen (word);
    for (const char *p = list; p && *p; ) {
        p += strspn (p, " \n");
        size_t n = strcspn (p, " \n");
        if (n == length && strncmp (p, word, n) == 0)
            return true;
        p += n;
    }
    return false;
}

int
sbx_process_cgfs_mkdir (const char *path)
{
    return mkdir (path, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

//  SIGKILLs the processes listed in `dir`/cgroup.procs; returns how many
//  were listed (-1: the group is gone).
static int
s_kill_listed (const char *dir)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/cgroup.procs", dir);
    char *text = sbx_process_cgfs_read (path);
    if (!text)
        return -1;
    int listed = 0;
    for (char *p = text; *p; ) {
        char *end;
        long pid = strtol (p, &end, 10);
        if (end == p)
            break;
        if (pid > 0) {
            kill ((pid_t) pid, SIGKILL);
            listed++;
        }
        p = end;
    }
    free (text);
    return listed;
}

int
sbx_process_cgfs_kill (char *const *dirs, size_t count)
{
    //  cgroup.kill is v2's (one hierarchy): where it is missing, the
    //  write fails and the listed are killed one by one below.
    if (count == 1)
        sbx_process_cgfs_writef (dirs [0], "cgroup.kill", "1", 0);
    int64_t give_up = zclock_usecs () + S_KILL_PATIENCE_US;
    for (unsigned pass = 0; ; pass++) {
        int listed = 0;
        for (size_t i = 0; i < count; i++) {
            int n = s_kill_listed (dirs [i]);
            listed += n > 0 ? n : 0;
        }
        if (listed == 0 || zclock_usecs () > give_up)
            return listed;
        //  SIGKILL is delivered asynchronously; let the dying run.
        struct timespec pause = {0, pass < 10 ? 100000 : 1000000};
        nanosleep (&pause, NULL);
    }
}

int
sbx_process_cgfs_rmdir (const char *dir)
{
    int64_t give_up = zclock_usecs () + S_RMDIR_PATIENCE_US;
    while (rmdir (dir) != 0) {
        if (errno == ENOENT)
            return 0;
        if (errno != EBUSY || zclock_usecs () > give_up)
            return -errno;
        struct timespec pause = {0, 200000};
        nanosleep (&pause, NULL);
    }
    return 0;
}
