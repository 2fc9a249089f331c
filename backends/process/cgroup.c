/*  sbx_process_cgroup - see cgroup.h */
#include "backends/process/cgroup.h"
#include "backends/process/cgfs.h"

#include <czmq.h>
#include <dirent.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#define S_TOP "sbx"
#define S_LEAF "sbxd"           //  v2: where sbxd moves when its group must delegate

static const struct {
    unsigned bit;
    const char *name;
    const char *probe;          //  a file every v1 group of it has
} s_controllers [] = {
    {SBX_CGROUP_MEMORY, "memory", "memory.limit_in_bytes"},
    {SBX_CGROUP_PIDS, "pids", "pids.max"},
    {SBX_CGROUP_CPU, "cpu", "cpu.cfs_quota_us"},
};
#define S_CONTROLLERS (sizeof s_controllers / sizeof s_controllers [0])

struct sbx_process_cgroups_t {
    int version;                //  1 or 2
    unsigned controllers;
    size_t count;               //  hierarchies used
    char *tops [SBX_CGROUP_MAX_HIERARCHIES];    //  <mount or base>/sbx
    int cpu;                    //  the hierarchy with the cpu controller, or -1
    atomic_uint groups;         //  the environment's groups now
    char *description;
};

struct sbx_process_cgroup_t {
    sbx_process_cgroups_t *layout;
    bool counted;               //  in layout->groups
    char *env_dirs [SBX_CGROUP_MAX_HIERARCHIES];
    char *paths [SBX_CGROUP_MAX_HIERARCHIES];
};

void
sbx_process_cgroup_env_name (const char *root_dir, const char *env, char *name, size_t size)
{
    char real [PATH_MAX];
    const char *path = realpath (root_dir, real) ? real : root_dir;
    uint32_t hash = 2166136261u;
    for (const char *c = path; *c; c++)
        hash = (hash ^ (uint8_t) *c) * 16777619u;
    snprintf (name, size, "%s@%08x", env, hash);
}

//  --- Where the hierarchies are -------------------------------------------------

typedef struct {
    char *v1 [S_CONTROLLERS];   //  mount point of each controller's hierarchy
    char *v1_all [16];          //  every v1 mount point (for leftovers)
    size_t v1_count;
    char *v2;                   //  the cgroup2 mount point
    char *v2_root;              //  ... and the group it shows as its top
} s_mounts_t;

static void
s_mounts_free (s_mounts_t *mounts)
{
    for (size_t i = 0; i < S_CONTROLLERS; i++)
        free (mounts->v1 [i]);
    for (size_t i = 0; i < mounts->v1_count; i++)
        free (mounts->v1_all [i]);
    free (mounts->v2);
    free (mounts->v2_root);
    memset (mounts, 0, sizeof *mounts);
}

//  From /proc/self/mountinfo: "id parent maj:min root mountpoint options
//  [optional...] - fstype source superoptions".
static void
s_mounts_find (s_mounts_t *mounts)
{
    memset (mounts, 0, sizeof *mounts);
    FILE *file = fopen ("/proc/self/mountinfo", "re");
    char *line = NULL;
    size_t size = 0;
    while (file && getline (&line, &size, file) > 0) {
        char root [PATH_MAX], point [PATH_MAX];
        const char *dash = strstr (line, " - ");
        if (!dash || sscanf (line, "%*s %*s %*s %4095s %4095s", root, point) != 2)
            continue;
        char type [64], source [256], options [1024];
        if (sscanf (dash + 3, "%63s %255s %1023s", type, source, options) != 3)
            continue;
        if (streq (type, "cgroup2") && !mounts->v2) {
            mounts->v2 = strdup (point);
            mounts->v2_root = strdup (root);
        }
        else
        if (streq (type, "cgroup")) {
            if (mounts->v1_count < sizeof mounts->v1_all / sizeof mounts->v1_all [0])
                mounts->v1_all [mounts->v1_count++] = strdup (point);
            //  "rw,cpu,cpuacct": the controllers are words of the options.
            for (char *p = options; *p; p++)
                if (*p == ',')
                    *p = ' ';
            for (size_t i = 0; i < S_CONTROLLERS; i++)
                if (!mounts->v1 [i] && sbx_process_cgfs_has_word (options, s_controllers [i].name))
                    mounts->v1 [i] = strdup (point);
        }
    }
    free (line);
    if (file)
        fclose (file);
}

//  This process's v2 group as a directory under the mount, or NULL.
static char *
s_v2_own (const s_mounts_t *mounts)
{
    char *text = mounts->v2 ? sbx_process_cgfs_read ("/proc/self/cgroup") : NULL;
    char *own = NULL;
    for (char *line = text; line && *line && !own; ) {
        char *end = strchr (line, '\n');
        if (end)
            *end = 0;
        if (strncmp (line, "0::", 3) == 0) {
            const char *path = line + 3, *root = mounts->v2_root;
            size_t root_length = streq (root, "/") ? 0 : strlen (root);
            if (strncmp (path, root, root_length) == 0
            &&  (path [root_length] == '/' || path [root_length] == 0))
                own = zsys_sprintf ("%s%s", mounts->v2, streq (path + root_length, "/") ? "" : path + root_length);
        }
        line = end ? end + 1 : NULL;
    }
    free (text);
    return own;
}

//  Where v2 groups go: sbxd's own group, or its parent when sbxd runs in
//  the leaf S_LEAF of it (moved there by s_v2_leave, or by systemd's
//  DelegateSubgroup=sbxd). NULL when no v2 hierarchy holds sbxd.
static char *
s_v2_base (const s_mounts_t *mounts)
{
    char *own = s_v2_own (mounts);
    char *slash = own ? strrchr (own, '/') : NULL;
    if (slash && streq (slash + 1, S_LEAF) && (size_t) (slash - own) >= strlen (mounts->v2))
        *slash = 0;
    return own;
}

//  Moves this process into `base`/S_LEAF: a group with processes cannot
//  hand controllers down (cgroup v2's rule), so sbxd leaves its group to
//  its sandboxes, as systemd asks of a service with Delegate=yes. 0 or
//  -errno.
static int
s_v2_leave (const char *base)
{
    char path [PATH_MAX], pid [32];
    snprintf (path, sizeof path, "%s/" S_LEAF, base);
    int rc = sbx_process_cgfs_mkdir (path);
    snprintf (path, sizeof path, "%s/" S_LEAF "/cgroup.procs", base);
    snprintf (pid, sizeof pid, "%d", (int) getpid ());
    return rc == 0 ? sbx_process_cgfs_write (path, pid) : rc;
}

//  The names of `mask`'s controllers, "memory, pids" (for messages).
static void
s_names (unsigned mask, char *text, size_t size)
{
    text [0] = 0;
    for (size_t i = 0; i < S_CONTROLLERS; i++) {
        if (!(mask & s_controllers [i].bit))
            continue;
        size_t used = strlen (text);
        snprintf (text + used, size - used, "%s%s", used ? ", " : "", s_controllers [i].name);
    }
    if (!text [0])
        snprintf (text, size, "none");
}

//  Enables `mask`'s controllers for the children of v2 group `dir`. 0 or
//  -errno (EBUSY: `dir` holds processes and is not the top).
static int
s_v2_delegate (const char *dir, unsigned mask)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/cgroup.subtree_control", dir);
    char *enabled = sbx_process_cgfs_read (path);
    int rc = 0;
    for (size_t i = 0; i < S_CONTROLLERS && rc == 0; i++) {
        if (!(mask & s_controllers [i].bit) || sbx_process_cgfs_has_word (enabled, s_controllers [i].name))
            continue;
        char word [32];
        snprintf (word, sizeof word, "+%s", s_controllers [i].name);
        rc = sbx_process_cgfs_write (path, word);
    }
    free (enabled);
    return rc;
}

//  v2 below `base`: 0 and base/sbx made, or -1 with the reason.
static int
s_try_v2 (const char *base, unsigned mask, char *why, size_t size)
{
    char path [PATH_MAX], names [64];
    snprintf (path, sizeof path, "%s/cgroup.controllers", base);
    char *offered = sbx_process_cgfs_read (path);
    unsigned missing = 0;
    for (size_t i = 0; i < S_CONTROLLERS; i++)
        if ((mask & s_controllers [i].bit) && !sbx_process_cgfs_has_word (offered, s_controllers [i].name))
            missing |= s_controllers [i].bit;
    free (offered);
    if (!offered) {
        sbx_process_cgfs_say (why, size, "cannot read %s: %s", path, strerror (errno));
        return -1;
    }
    if (missing) {
        s_names (missing, names, sizeof names);
        sbx_process_cgfs_say (why, size, "%s does not offer %s", base, names);
        return -1;
    }
    if (access (base, W_OK) != 0) {
        sbx_process_cgfs_say (why, size, "%s is not writable: %s", base, strerror (errno));
        return -1;
    }
    int rc = s_v2_delegate (base, mask);
    if (rc == -EBUSY) {
        //  sbxd's own processes are in the way: they move to a leaf.
        rc = s_v2_leave (base);
        if (rc == 0)
            rc = s_v2_delegate (base, mask);
        if (rc == -EBUSY) {
            sbx_process_cgfs_say (why, size, "%s holds other processes than sbxd, so its controllers cannot go to "
                   "sub-groups (run sbxd in a group of its own, e.g. systemd's Delegate=yes)", base);
            return -1;
        }
    }
    snprintf (path, sizeof path, "%s/" S_TOP, base);
    if (rc == 0)
        rc = sbx_process_cgfs_mkdir (path);
    if (rc == 0 && access (path, W_OK) != 0)
        rc = -errno;
    if (rc == 0)
        rc = s_v2_delegate (path, mask);
    if (rc != 0) {
        sbx_process_cgfs_say (why, size, "cannot set up %s: %s", path, strerror (-rc));
        return -1;
    }
    return 0;
}

static int
s_try_v1 (const s_mounts_t *mounts, unsigned mask, sbx_process_cgroups_t *self, char *why, size_t size)
{
    //  With no controller asked for, any of them holds the processes.
    if (mask == 0) {
        static const unsigned order [] = {SBX_CGROUP_PIDS, SBX_CGROUP_MEMORY, SBX_CGROUP_CPU};
        for (size_t k = 0; k < 3 && !mask; k++)
            for (size_t i = 0; i < S_CONTROLLERS; i++)
                if (s_controllers [i].bit == order [k] && mounts->v1 [i])
                    mask = order [k];
        if (!mask) {
            sbx_process_cgfs_say (why, size, "no v1 memory, pids or cpu hierarchy is mounted");
            return -1;
        }
    }
    for (size_t i = 0; i < S_CONTROLLERS; i++) {
        if (!(mask & s_controllers [i].bit))
            continue;
        if (!mounts->v1 [i]) {
            sbx_process_cgfs_say (why, size, "no v1 %s hierarchy is mounted", s_controllers [i].name);
            return -1;
        }
        char *top = zsys_sprintf ("%s/" S_TOP, mounts->v1 [i]);
        int rc = sbx_process_cgfs_mkdir (top);
        if (rc == 0 && access (top, W_OK) != 0)
            rc = -errno;
        if (rc == 0 && !sbx_process_cgfs_exists (top, s_controllers [i].probe))
            rc = -ENOTSUP;
        if (rc != 0) {
            sbx_process_cgfs_say (why, size, "cannot set up %s: %s", top, strerror (-rc));
            free (top);
            return -1;
        }
        if (s_controllers [i].bit == SBX_CGROUP_CPU)
            self->cpu = (int) self->count;
        self->tops [self->count++] = top;
    }
    self->controllers = mask;
    return 0;
}

//  One attempt at `version` with `mask`; fills self or appends the reason.
static bool
s_attempt (sbx_process_cgroups_t *self, const s_mounts_t *mounts, int version, unsigned mask,
           char *why, size_t size)
{
    char reason [1024] = "";
    if (version == 2) {
        char *base = s_v2_base (mounts);
        if (!base)
            sbx_process_cgfs_say (reason, sizeof reason, "no cgroup v2 hierarchy holds sbxd");
        else
        if (s_try_v2 (base, mask, reason, sizeof reason) == 0) {
            self->version = 2;
            self->controllers = mask;
            self->cpu = mask & SBX_CGROUP_CPU ? 0 : -1;
            self->tops [self->count++] = zsys_sprintf ("%s/" S_TOP, base);
            free (base);
            return true;
        }
        free (base);
    }
    else {
        if (s_try_v1 (mounts, mask, self, reason, sizeof reason) == 0) {
            self->version = 1;
            return true;
        }
        for (size_t i = 0; i < self->count; i++)
            zstr_free (&self->tops [i]);
        self->count = 0;
    }
    size_t used = strlen (why);
    snprintf (why + used, size - used, "%scgroup v%d: %s", used ? "; " : "", version, reason);
    return false;
}

sbx_process_cgroups_t *
sbx_process_cgroups_new (unsigned required, unsigned wanted, char **why_p)
{
    s_mounts_t mounts;
    s_mounts_find (&mounts);
    sbx_process_cgroups_t *self = (sbx_process_cgroups_t *) zmalloc (sizeof (sbx_process_cgroups_t));
    self->cpu = -1;
    //  First with what is wanted too, then with what is required only.
    char why [2][2048] = {"", ""};
    bool found = false;
    unsigned masks [2] = {required | wanted, required};
    int m = 0;
    for (; m < (wanted & ~required ? 2 : 1) && !found; m++)
        for (int version = 2; version >= 1 && !found; version--)
            found = s_attempt (self, &mounts, version, masks [m], why [m], sizeof why [m]);
    s_mounts_free (&mounts);
    if (!found) {
        *why_p = strdup (why [m - 1]);
        sbx_process_cgroups_destroy (&self);
        return NULL;
    }
    //  Found without what was wanted: why not.
    if (m == 2)
        *why_p = strdup (why [0]);
    char names [64], tops [1024] = "";
    s_names (self->controllers, names, sizeof names);
    for (size_t i = 0; i < self->count; i++) {
        size_t used = strlen (tops);
        snprintf (tops + used, sizeof tops - used, "%s%s", i ? ", " : "", self->tops [i]);
    }
    self->description = zsys_sprintf ("cgroup v%d (%s) at %s", self->version, names, tops);
    return self;
}

void
sbx_process_cgroups_destroy (sbx_process_cgroups_t **self_p)
{
    sbx_process_cgroups_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        free (self->tops [i]);
    free (self->description);
    free (self);
    *self_p = NULL;
}

unsigned
sbx_process_cgroups_controllers (const sbx_process_cgroups_t *self)
{
    return self->controllers;
}

const char *
sbx_process_cgroups_describe (const sbx_process_cgroups_t *self)
{
    return self->description;
}

//  --- One sandbox's group ---------------------------------------------------------

//  CPU weights, where the cpu controller is used: a sandbox's group
//  weighs what one process does (v1 cpu.shares 1024, v2 cpu.weight 100),
//  the environment's directory what all its groups do, and the top what
//  every environment under it does (each within the kernel's bounds).
//  Left at one process's weight, all the sandboxes together would weigh
//  what one process of the host does, and a busy host would starve them
//  (their starts took twice as long on a loaded machine). Writes race
//  with other sandboxes' and may lag by a start or two; the next start
//  or shutdown sets them again.
static void
s_weigh (sbx_process_cgroups_t *layout, const char *env_dir, unsigned groups)
{
    if (layout->cpu < 0)
        return;
    bool v2 = layout->version == 2;
    const char *file = v2 ? "cpu.weight" : "cpu.shares";
    long long one = v2 ? 100 : 1024, low = v2 ? 1 : 2, high = v2 ? 10000 : 262144;
    long long weight = one * (long long) groups;
    sbx_process_cgfs_writef (env_dir, file, "%lld", weight < low ? low : weight > high ? high : weight);
    const char *top = layout->tops [layout->cpu];
    DIR *listing = opendir (top);
    struct dirent *entry;
    long long sum = 0;
    while (listing && (entry = readdir (listing))) {
        if (entry->d_type != DT_DIR || entry->d_name [0] == '.')
            continue;
        char path [PATH_MAX];
        snprintf (path, sizeof path, "%s/%s/%s", top, entry->d_name, file);
        char *text = sbx_process_cgfs_read (path);
        sum += text ? atoll (text) : 0;
        free (text);
    }
    if (listing)
        closedir (listing);
    sbx_process_cgfs_writef (top, file, "%lld", sum < low ? low : sum > high ? high : sum);
}


static void
s_group_free (sbx_process_cgroup_t *self)
{
    for (size_t i = 0; i < SBX_CGROUP_MAX_HIERARCHIES; i++) {
        free (self->env_dirs [i]);
        free (self->paths [i]);
    }
    free (self);
}

static int
s_limits (sbx_process_cgroup_t *self, const sbx_process_cgroup_limits_t *limits)
{
    const sbx_process_cgroups_t *layout = self->layout;
    int rc = 0;
    for (size_t i = 0; i < layout->count && rc == 0; i++) {
        const char *dir = self->paths [i];
        if (layout->version == 2) {
            if (limits->memory_bytes >= 0) {
                rc = sbx_process_cgfs_writef (dir, "memory.max", "%lld", (long long) limits->memory_bytes);
                if (rc == 0 && sbx_process_cgfs_exists (dir, "memory.swap.max"))
                    rc = sbx_process_cgfs_writef (dir, "memory.swap.max", "%lld", 0);
            }
            if (rc == 0 && limits->pids >= 0)
                rc = sbx_process_cgfs_writef (dir, "pids.max", "%lld", (long long) limits->pids);
            if (rc == 0 && limits->cpu_quota_us >= 0) {
                char text [64];
                snprintf (text, sizeof text, "%lld %d", (long long) limits->cpu_quota_us,
                          SBX_CGROUP_CPU_PERIOD_US);
                char path [PATH_MAX];
                snprintf (path, sizeof path, "%s/cpu.max", dir);
                rc = sbx_process_cgfs_write (path, text);
            }
            continue;
        }
        if (sbx_process_cgfs_exists (dir, "memory.limit_in_bytes") && limits->memory_bytes >= 0) {
            rc = sbx_process_cgfs_writef (dir, "memory.limit_in_bytes", "%lld", (long long) limits->memory_bytes);
            //  No swapping past it either, where swap is accounted.
            if (rc == 0 && sbx_process_cgfs_exists (dir, "memory.memsw.limit_in_bytes"))
                sbx_process_cgfs_writef (dir, "memory.memsw.limit_in_bytes", "%lld", (long long) limits->memory_bytes);
        }
        if (rc == 0 && sbx_process_cgfs_exists (dir, "pids.max") && limits->pids >= 0)
            rc = sbx_process_cgfs_writef (dir, "pids.max", "%lld", (long long) limits->pids);
        if (rc == 0 && sbx_process_cgfs_exists (dir, "cpu.cfs_quota_us") && limits->cpu_quota_us >= 0) {
            //  Each write checks the bandwidth of every group on the host:
            //  the period is written only where it is not already ours.
            char path [PATH_MAX];
            snprintf (path, sizeof path, "%s/cpu.cfs_period_us", dir);
            char *period = sbx_process_cgfs_read (path);
            if (!period || atoll (period) != SBX_CGROUP_CPU_PERIOD_US)
                rc = sbx_process_cgfs_writef (dir, "cpu.cfs_period_us", "%lld", SBX_CGROUP_CPU_PERIOD_US);
            free (period);
            if (rc == 0)
                rc = sbx_process_cgfs_writef (dir, "cpu.cfs_quota_us", "%lld", (long long) limits->cpu_quota_us);
        }
    }
    return rc;
}

sbx_process_cgroup_t *
sbx_process_cgroup_new (const sbx_process_cgroups_t *layout, const char *env, const char *name,
                        const sbx_process_cgroup_limits_t *limits, char **why_p)
{
    sbx_process_cgroup_t *self = (sbx_process_cgroup_t *) zmalloc (sizeof (sbx_process_cgroup_t));
    //  Shared by the environment's sandboxes: only its count changes.
    self->layout = (sbx_process_cgroups_t *) layout;
    int rc = 0;
    size_t i = 0;
    for (; i < layout->count && rc == 0; i++) {
        self->env_dirs [i] = zsys_sprintf ("%s/%s", layout->tops [i], env);
        self->paths [i] = zsys_sprintf ("%s/%s", self->env_dirs [i], name);
        //  A stale group of this name: a crash left it.
        if (access (self->paths [i], F_OK) == 0) {
            sbx_process_cgfs_kill (&self->paths [i], 1);
            sbx_process_cgfs_rmdir (self->paths [i]);
        }
        //  The environment's directory may vanish under us when its last
        //  other group goes: try again.
        for (int attempt = 0; attempt < 10; attempt++) {
            rc = sbx_process_cgfs_mkdir (self->env_dirs [i]);
            if (rc == 0 && layout->version == 2)
                rc = s_v2_delegate (self->env_dirs [i], layout->controllers);
            if (rc == 0)
                rc = mkdir (self->paths [i], 0755) == 0 ? 0 : -errno;
            if (rc != -ENOENT)
                break;
        }
    }
    if (rc == 0)
        rc = s_limits (self, limits);
    if (rc == 0) {
        self->counted = true;
        unsigned groups = atomic_fetch_add (&self->layout->groups, 1) + 1;
        s_weigh (self->layout, self->env_dirs [layout->cpu >= 0 ? layout->cpu : 0], groups);
    }
    if (rc != 0) {
        *why_p = zsys_sprintf ("cannot set up the cgroup %s: %s", self->paths [i ? i - 1 : 0], strerror (-rc));
        char *ignored = NULL;
        sbx_process_cgroup_destroy (&self, &ignored);
        free (ignored);
        return NULL;
    }
    return self;
}

int
sbx_process_cgroup_set_memory (sbx_process_cgroup_t *self, int64_t bytes)
{
    const sbx_process_cgroups_t *layout = self->layout;
    if (!(layout->controllers & SBX_CGROUP_MEMORY))
        return 0;
    for (size_t i = 0; i < layout->count; i++) {
        const char *dir = self->paths [i];
        if (layout->version == 2)
            return bytes < 0 ? sbx_process_cgfs_writef (dir, "memory.max", "max", 0)
                             : sbx_process_cgfs_writef (dir, "memory.max", "%lld", (long long) bytes);
        if (!sbx_process_cgfs_exists (dir, "memory.limit_in_bytes"))
            continue;
        //  memsw (memory + swap) may never be below the memory limit:
        //  raise it first, lower it last.
        bool memsw = sbx_process_cgfs_exists (dir, "memory.memsw.limit_in_bytes");
        if (memsw && bytes < 0)
            sbx_process_cgfs_writef (dir, "memory.memsw.limit_in_bytes", "%lld", -1);
        int rc = sbx_process_cgfs_writef (dir, "memory.limit_in_bytes", "%lld", (long long) bytes);
        if (memsw && bytes >= 0 && rc == 0)
            sbx_process_cgfs_writef (dir, "memory.memsw.limit_in_bytes", "%lld", (long long) bytes);
        return rc;
    }
    return 0;
}

int
sbx_process_cgroup_kill (sbx_process_cgroup_t *self)
{
    return sbx_process_cgfs_kill (self->paths, self->layout->count);
}

int
sbx_process_cgroup_destroy (sbx_process_cgroup_t **self_p, char **why_p)
{
    sbx_process_cgroup_t *self = *self_p;
    if (!self)
        return 0;
    size_t count = 0;
    while (count < SBX_CGROUP_MAX_HIERARCHIES && self->paths [count])
        count++;
    int survivors = sbx_process_cgfs_kill (self->paths, count);
    int rc = 0;
    const char *failed = NULL;
    for (size_t i = 0; i < count; i++) {
        int removed = sbx_process_cgfs_rmdir (self->paths [i]);
        if (removed != 0 && rc == 0) {
            rc = removed;
            failed = self->paths [i];
        }
    }
    //  The environment's directory goes with its last group: a removal
    //  that fails for the others takes the kernel's cgroup lock all the
    //  same, and a pool's shutdown is thousands of them at once. (A group
    //  made meanwhile makes the directory again: sbx_process_cgroup_new.)
    unsigned groups = self->counted ? atomic_fetch_sub (&self->layout->groups, 1) - 1 : 0;
    for (size_t i = 0; i < count && groups == 0; i++)
        rmdir (self->env_dirs [i]);
    if (self->counted)
        s_weigh (self->layout, self->env_dirs [self->layout->cpu >= 0 ? self->layout->cpu : 0], groups);
    if (survivors)
        *why_p = zsys_sprintf ("%d processes of cgroup %s survived SIGKILL", survivors, self->paths [0]);
    else
    if (rc != 0)
        *why_p = zsys_sprintf ("cannot remove the cgroup %s: %s", failed, strerror (-rc));
    s_group_free (self);
    *self_p = NULL;
    return survivors || rc ? -1 : 0;
}

int
sbx_process_cgroup_open_procs (sbx_process_cgroup_t *self, int *fds)
{
    for (size_t i = 0; i < self->layout->count; i++) {
        char path [PATH_MAX];
        snprintf (path, sizeof path, "%s/cgroup.procs", self->paths [i]);
        fds [i] = open (path, O_WRONLY | O_CLOEXEC);
        if (fds [i] < 0) {
            int error = errno;
            while (i > 0)
                close (fds [--i]);
            errno = error;
            return -1;
        }
    }
    return (int) self->layout->count;
}

const char *
sbx_process_cgroup_path (const sbx_process_cgroup_t *self)
{
    return self->paths [0];
}

//  --- Leftovers -----------------------------------------------------------------

//  Removes every group in `env_dir` (a crashed run's), then env_dir.
static void
s_clean_env_dir (const char *env_dir, void (*report) (const char *, int, void *), void *arg)
{
    DIR *listing = opendir (env_dir);
    if (!listing)
        return;
    //  Names first: never remove while reading a directory.
    zlistx_t *names = zlistx_new ();
    zlistx_set_destructor (names, (zlistx_destructor_fn *) zstr_free);
    struct dirent *entry;
    while ((entry = readdir (listing)))
        if (entry->d_type == DT_DIR && !streq (entry->d_name, ".") && !streq (entry->d_name, ".."))
            zlistx_add_end (names, zsys_sprintf ("%s/%s", env_dir, entry->d_name));
    closedir (listing);
    for (char *path = (char *) zlistx_first (names); path; path = (char *) zlistx_next (names)) {
        int survivors = sbx_process_cgfs_kill (&path, 1);
        int rc = sbx_process_cgfs_rmdir (path);
        report (path, survivors && !rc ? -EBUSY : rc, arg);
    }
    zlistx_destroy (&names);
    rmdir (env_dir);
}

void
sbx_process_cgroup_clean_env (const char *env, void (*report) (const char *path, int rc, void *arg),
                              void *arg)
{
    s_mounts_t mounts;
    s_mounts_find (&mounts);
    for (size_t i = 0; i < mounts.v1_count; i++) {
        char *dir = zsys_sprintf ("%s/" S_TOP "/%s", mounts.v1_all [i], env);
        s_clean_env_dir (dir, report, arg);
        free (dir);
    }
    char *base = s_v2_base (&mounts);
    if (base) {
        char *dir = zsys_sprintf ("%s/" S_TOP "/%s", base, env);
        s_clean_env_dir (dir, report, arg);
        free (dir);
    }
    free (base);
    s_mounts_free (&mounts);
}
