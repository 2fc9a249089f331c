/*  The fs feature kind (DESIGN.md "Plugins", docs/sandboxes.md): files of
    a process sandbox, confined to its directory.

    read   {path, offset?, length?}   -> bin
    write  {path, data, append?}      -> bytes written (missing parent
                                         directories are created)
    list   {path}                     -> [{name, type, size}] sorted by name
    stat   {path}                     -> {type, size, mode, mtime_ns}
                                         (a symlink itself is described)
    remove {path, recursive?}         -> nil
    type: "file", "dir", "symlink" or "other".

    Every path is resolved by the kernel beneath the sandbox directory
    (openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, relative to an
    O_PATH descriptor of it), in one step, so there is no window between a
    check and a use: `..`, absolute paths and symbolic links that lead out
    fail with a PermissionError (a user error: the session goes on).
    Recursive removal never follows a link. When the sandbox runs its
    commands as a user of its own, files fs creates belong to that user,
    and fs reads and writes only files that user owns (so a hard link
    to a file outside, which that user could not have made anyway under
    protected_hardlinks, is refused too).

    Options: max_read_bytes (8 MiB), max_write_bytes (8 MiB),
    max_list_entries (100000).
*/
#include "backends/process/process.h"
#include "backends/process/tree.h"
#include "features/features.h"
#include "features/kit.h"
#include "messages/mp.h"
#include "runtime/core/alloc.h"

#include <sbx/plugin.h>
#include <czmq.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define S_ERROR "ConfigError"

typedef struct {
    size_t max_read;
    size_t max_write;
    size_t max_entries;
} s_config_t;


static void
s_config_destroy (void **config_p)
{
    free (*config_p);
    *config_p = NULL;
}

static void *
s_config_new (const json_t *options, const char *path, sbx_error_t **error_p)
{
    s_config_t *config = (s_config_t *) zmalloc (sizeof (s_config_t));
    config->max_read = 8 * 1024 * 1024;
    config->max_write = 8 * 1024 * 1024;
    config->max_entries = 100000;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) options, key, value) {
        size_t *field = NULL;
        if (streq (key, "kind"))
            continue;
        if (streq (key, "max_read_bytes"))
            field = &config->max_read;
        else if (streq (key, "max_write_bytes"))
            field = &config->max_write;
        else if (streq (key, "max_list_entries"))
            field = &config->max_entries;
        else {
            *error_p = sbx_error_new (S_ERROR, "%s.%s: unknown option of the fs feature (it takes "
                                      "max_read_bytes, max_write_bytes, max_list_entries)", path, key);
            break;
        }
        if (!json_is_integer (value) || json_integer_value (value) < 1
        ||  json_integer_value (value) > 1024LL * 1024 * 1024) {
            *error_p = sbx_error_new (S_ERROR, "%s.%s: must be an integer in [1, 1073741824]", path, key);
            break;
        }
        *field = (size_t) json_integer_value (value);
    }
    if (*error_p) {
        free (config);
        return NULL;
    }
    return config;
}

static sbx_error_t *
s_setup (void *instance, sbx_ctx_t *ctx)
{
    return sbx_kit_need_process (ctx, "fs");
}

//  --- Paths and errors ----------------------------------------------------------

//  The error for a failed operation on `path` (errno `error`).
static sbx_error_t *
s_os_error (const char *method, const char *path, int error)
{
    const char *type = "OSError";
    switch (error) {
        case EXDEV:
            return sbx_error_new ("PermissionError", "%s: '%s' leads outside the sandbox directory",
                                  method, path);
        case EACCES:
        case EPERM:
        case EROFS:
            type = "PermissionError";
            break;
        case ENOENT:
            type = "FileNotFoundError";
            break;
        case EEXIST:
            type = "FileExistsError";
            break;
        case EISDIR:
            type = "IsADirectoryError";
            break;
        case ENOTDIR:
            type = "NotADirectoryError";
            break;
        case ENAMETOOLONG:
        case EINVAL:
            type = "ValueError";
            break;
    }
    return sbx_error_new (type, "%s: '%s': %s", method, path, strerror (error));
}

//  openat2 beneath the sandbox directory. A descriptor, or -errno.
static int
s_open (int root, const char *path, int flags, mode_t mode)
{
    struct open_how how = {0};
    how.flags = (uint64_t) (flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    int fd;
    while ((fd = (int) syscall (SYS_openat2, root, path, &how, sizeof how)) < 0 && errno == EAGAIN)
        ;   //  only with RESOLVE_CACHED, or a rename racing the lookup
    return fd < 0 ? -errno : fd;
}

//  The `path` argument: a string without NUL, relative (an absolute path
//  is left for the kernel to refuse: EXDEV). Trailing slashes dropped;
//  "" means the sandbox directory. NULL with *error_p when it is bad.
static char *
s_path (const char *method, const msgpack_object *args, sbx_error_t **error_p)
{
    const msgpack_object *value = sbx_mp_map_get (args, "path");
    char *path = value ? sbx_mp_strdup (value) : NULL;
    if (!path) {
        *error_p = sbx_error_new ("ValueError", "%s: 'path' is required (a string without NUL bytes, "
                                  "relative to the sandbox directory)", method);
        return NULL;
    }
    if (strlen (path) >= PATH_MAX) {
        *error_p = sbx_error_new ("ValueError", "%s: 'path' is longer than %d bytes", method, PATH_MAX - 1);
        free (path);
        return NULL;
    }
    size_t length = strlen (path);
    while (length > 1 && path [length - 1] == '/')
        path [--length] = 0;
    if (length == 0) {
        free (path);
        path = strdup (".");
    }
    return path;
}

//  Refuses keys not in `allowed` (NULL-terminated).
static sbx_error_t *
s_check_keys (const char *method, const msgpack_object *args, const char *const *allowed)
{
    for (uint32_t i = 0; i < args->via.map.size; i++) {
        const msgpack_object *key = &args->via.map.ptr [i].key;
        bool known = false;
        for (size_t k = 0; allowed [k] && !known; k++)
            known = sbx_mp_str_eq (key, allowed [k]);
        if (!known) {
            char list [128] = "";
            for (size_t k = 0; allowed [k]; k++) {
                size_t used = strlen (list);
                snprintf (list + used, sizeof list - used, "%s%s", k ? ", " : "", allowed [k]);
            }
            return sbx_kit_unknown_arg (method, key, list);
        }
    }
    return NULL;
}

//  An optional unsigned integer argument.
static sbx_error_t *
s_uint_arg (const char *method, const msgpack_object *args, const char *key, uint64_t *out, bool *given)
{
    const msgpack_object *value = sbx_mp_map_get (args, key);
    *given = value && value->type != MSGPACK_OBJECT_NIL;
    if (!*given)
        return NULL;
    if (value->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return sbx_error_new ("ValueError", "%s: '%s' must be an integer >= 0", method, key);
    *out = value->via.u64;
    return NULL;
}

static sbx_error_t *
s_bool_arg (const char *method, const msgpack_object *args, const char *key, bool *out)
{
    const msgpack_object *value = sbx_mp_map_get (args, key);
    *out = false;
    if (!value || value->type == MSGPACK_OBJECT_NIL)
        return NULL;
    if (value->type != MSGPACK_OBJECT_BOOLEAN)
        return sbx_error_new ("ValueError", "%s: '%s' must be true or false", method, key);
    *out = value->via.boolean;
    return NULL;
}

static sbx_process_t *
s_process (sbx_ctx_t *ctx, sbx_error_t **error_p)
{
    sbx_process_t *process = sbx_kit_process (ctx, "fs", error_p);
    if (process && sbx_process_dirfd (process) < 0)
        *error_p = sbx_error_new (SBX_STATE_ERROR, "the sandbox directory is not open");
    return process;
}

//  Files fs reads or writes must belong to the sandbox's user, when it
//  has one (see the header comment).
static sbx_error_t *
s_check_owner (sbx_process_t *process, const char *method, const char *path, const struct stat *st)
{
    uid_t uid;
    gid_t gid;
    if (sbx_process_owner (process, &uid, &gid) && st->st_uid != uid)
        return sbx_error_new ("PermissionError", "%s: '%s' does not belong to the sandbox's user", method, path);
    return NULL;
}

static const char *
s_type (mode_t mode)
{
    return S_ISREG (mode) ? "file" : S_ISDIR (mode) ? "dir" : S_ISLNK (mode) ? "symlink" : "other";
}

//  --- Methods -------------------------------------------------------------------

static sbx_error_t *
s_read (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    static const char *const keys [] = {"path", "offset", "length", NULL};
    const s_config_t *config = (const s_config_t *) instance;
    sbx_error_t *error = s_check_keys ("read", args, keys);
    uint64_t offset = 0, length = 0;
    bool has_offset, has_length;
    if (!error)
        error = s_uint_arg ("read", args, "offset", &offset, &has_offset);
    if (!error)
        error = s_uint_arg ("read", args, "length", &length, &has_length);
    if (!error && has_length && length > config->max_read)
        error = sbx_error_new ("ValueError", "read: 'length' %llu is over max_read_bytes (%zu)",
                               (unsigned long long) length, config->max_read);
    sbx_process_t *process = error ? NULL : s_process (ctx, &error);
    char *path = error ? NULL : s_path ("read", args, &error);
    if (error)
        return error;
    //  O_NONBLOCK: opening a FIFO must not hang the sandbox.
    int fd = s_open (sbx_process_dirfd (process), path, O_RDONLY | O_NONBLOCK, 0);
    struct stat st;
    if (fd < 0)
        error = s_os_error ("read", path, -fd);
    else
    if (fstat (fd, &st) != 0)
        error = s_os_error ("read", path, errno);
    else
    if (S_ISDIR (st.st_mode))
        error = s_os_error ("read", path, EISDIR);
    else
    if (!S_ISREG (st.st_mode))
        error = sbx_error_new ("OSError", "read: '%s' is not a regular file", path);
    else
        error = s_check_owner (process, "read", path, &st);
    if (!error) {
        uint64_t size = (uint64_t) st.st_size;
        uint64_t left = offset < size ? size - offset : 0;
        if (!has_length && left > config->max_read)
            error = sbx_error_new ("ValueError", "read: '%s' has %llu bytes from offset %llu, over "
                                   "max_read_bytes (%zu): give 'length' and read it in parts", path,
                                   (unsigned long long) left, (unsigned long long) offset, config->max_read);
        else {
            size_t want = (size_t) (has_length && length < left ? length : left);
            char *data = (char *) sbx_realloc (NULL, want);
            size_t got = 0;
            while (got < want) {
                ssize_t n = pread (fd, data + got, want - got, (off_t) (offset + got));
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0) {
                    error = s_os_error ("read", path, errno);
                    break;
                }
                if (n == 0)
                    break;          //  it shrank meanwhile
                got += (size_t) n;
            }
            if (!error) {
                msgpack_pack_bin (result, got);
                msgpack_pack_bin_body (result, data, got);
            }
            free (data);
        }
    }
    if (fd >= 0)
        close (fd);
    free (path);
    return error;
}

//  Creates the missing directories of `path`'s parent, each resolved
//  beneath the sandbox directory. 0 or -errno.
static int
s_make_parents (sbx_process_t *process, const char *path)
{
    int root = sbx_process_dirfd (process);
    uid_t uid;
    gid_t gid;
    bool own = sbx_process_owner (process, &uid, &gid);
    char prefix [PATH_MAX];
    snprintf (prefix, sizeof prefix, "%s", path);
    char *last = strrchr (prefix, '/');
    if (!last || prefix [0] == '/')
        return 0;               //  nothing to make (absolute: refused later)
    *last = 0;
    for (char *p = prefix; ; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char saved = *p;
        *p = 0;
        int fd = s_open (root, prefix, O_PATH | O_DIRECTORY, 0);
        if (fd == -ENOENT) {
            char *slash = strrchr (prefix, '/');
            const char *name = slash ? slash + 1 : prefix;
            if (streq (name, "..") || streq (name, ".") || !*name)
                return -ENOENT;
            if (slash)
                *slash = 0;
            int parent = s_open (root, slash ? prefix : ".", O_PATH | O_DIRECTORY, 0);
            if (slash)
                *slash = '/';
            if (parent < 0)
                return parent;
            int rc = mkdirat (parent, name, 0755) == 0 || errno == EEXIST ? 0 : -errno;
            if (rc == 0 && own)
                fchownat (parent, name, uid, gid, AT_SYMLINK_NOFOLLOW);
            close (parent);
            if (rc)
                return rc;
            fd = s_open (root, prefix, O_PATH | O_DIRECTORY, 0);
        }
        if (fd < 0)
            return fd;
        close (fd);
        *p = saved;
        if (!saved)
            return 0;
    }
}

static sbx_error_t *
s_write (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    static const char *const keys [] = {"path", "data", "append", NULL};
    const s_config_t *config = (const s_config_t *) instance;
    sbx_error_t *error = s_check_keys ("write", args, keys);
    bool append = false;
    if (!error)
        error = s_bool_arg ("write", args, "append", &append);
    const msgpack_object *data = sbx_mp_map_get (args, "data");
    const char *bytes = NULL;
    size_t size = 0;
    if (!error) {
        if (data && data->type == MSGPACK_OBJECT_STR)
            bytes = data->via.str.ptr, size = data->via.str.size;
        else
        if (data && data->type == MSGPACK_OBJECT_BIN)
            bytes = data->via.bin.ptr, size = data->via.bin.size;
        else
            error = sbx_error_new ("ValueError", "write: 'data' is required (a string or bytes)");
    }
    if (!error && size > config->max_write)
        error = sbx_error_new ("ValueError", "write: 'data' has %zu bytes, over max_write_bytes (%zu)",
                               size, config->max_write);
    sbx_process_t *process = error ? NULL : s_process (ctx, &error);
    char *path = error ? NULL : s_path ("write", args, &error);
    if (error)
        return error;
    int root = sbx_process_dirfd (process);
    int rc = s_make_parents (process, path);
    //  O_EXCL first, to know whether the file is ours to give away.
    int fd = rc < 0 ? rc : s_open (root, path, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK, 0644);
    bool created = fd >= 0;
    if (fd == -EEXIST)
        fd = s_open (root, path, O_WRONLY | O_NONBLOCK | (append ? O_APPEND : 0), 0);
    struct stat st;
    uid_t uid;
    gid_t gid;
    if (fd < 0)
        error = s_os_error ("write", path, -fd);
    else
    if (created) {
        if (sbx_process_owner (process, &uid, &gid) && fchown (fd, uid, gid) != 0)
            error = s_os_error ("write", path, errno);
    }
    else
    if (fstat (fd, &st) != 0)
        error = s_os_error ("write", path, errno);
    else
    if (!S_ISREG (st.st_mode))
        error = sbx_error_new ("OSError", "write: '%s' is not a regular file", path);
    else
    if (!(error = s_check_owner (process, "write", path, &st)) && !append && ftruncate (fd, 0) != 0)
        error = s_os_error ("write", path, errno);
    size_t done = 0;
    while (!error && done < size) {
        ssize_t n = write (fd, bytes + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            error = s_os_error ("write", path, errno);
        else
            done += (size_t) n;
    }
    if (!error)
        msgpack_pack_uint64 (result, done);
    if (fd >= 0)
        close (fd);
    free (path);
    return error;
}

typedef struct {
    char *name;
    const char *type;
    uint64_t size;
} s_entry_t;

static int
s_by_name (const void *a, const void *b)
{
    return strcmp (((const s_entry_t *) a)->name, ((const s_entry_t *) b)->name);
}

static sbx_error_t *
s_list (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    static const char *const keys [] = {"path", NULL};
    const s_config_t *config = (const s_config_t *) instance;
    sbx_error_t *error = s_check_keys ("list", args, keys);
    sbx_process_t *process = error ? NULL : s_process (ctx, &error);
    char *path = error ? NULL : s_path ("list", args, &error);
    if (error)
        return error;
    int fd = s_open (sbx_process_dirfd (process), path, O_RDONLY | O_DIRECTORY, 0);
    DIR *dir = fd >= 0 ? fdopendir (fd) : NULL;
    if (!dir) {
        error = s_os_error ("list", path, fd < 0 ? -fd : errno);
        if (fd >= 0)
            close (fd);
        free (path);
        return error;
    }
    size_t count = 0, capacity = 64;
    s_entry_t *entries = (s_entry_t *) sbx_realloc (NULL, capacity * sizeof (s_entry_t));
    struct dirent *entry;
    while (!error && (entry = readdir (dir))) {
        if (streq (entry->d_name, ".") || streq (entry->d_name, ".."))
            continue;
        if (count == config->max_entries) {
            error = sbx_error_new ("OSError", "list: '%s' has more than max_list_entries (%zu) entries",
                                   path, config->max_entries);
            break;
        }
        struct stat st;
        if (fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;           //  gone meanwhile
        if (count == capacity) {
            capacity *= 2;
            entries = (s_entry_t *) sbx_realloc (entries, capacity * sizeof (s_entry_t));
        }
        entries [count++] = (s_entry_t) {strdup (entry->d_name), s_type (st.st_mode), (uint64_t) st.st_size};
    }
    closedir (dir);
    if (!error) {
        qsort (entries, count, sizeof (s_entry_t), s_by_name);
        msgpack_pack_array (result, (uint32_t) count);
        for (size_t i = 0; i < count; i++) {
            msgpack_pack_map (result, 3);
            sbx_mp_pack_str (result, "name");
            sbx_mp_pack_str (result, entries [i].name);
            sbx_mp_pack_str (result, "type");
            sbx_mp_pack_str (result, entries [i].type);
            sbx_mp_pack_str (result, "size");
            msgpack_pack_uint64 (result, entries [i].size);
        }
    }
    for (size_t i = 0; i < count; i++)
        free (entries [i].name);
    free (entries);
    free (path);
    return error;
}

static sbx_error_t *
s_stat (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    static const char *const keys [] = {"path", NULL};
    sbx_error_t *error = s_check_keys ("stat", args, keys);
    sbx_process_t *process = error ? NULL : s_process (ctx, &error);
    char *path = error ? NULL : s_path ("stat", args, &error);
    if (error)
        return error;
    int fd = s_open (sbx_process_dirfd (process), path, O_PATH | O_NOFOLLOW, 0);
    struct stat st;
    if (fd < 0)
        error = s_os_error ("stat", path, -fd);
    else
    if (fstatat (fd, "", &st, AT_EMPTY_PATH) != 0)
        error = s_os_error ("stat", path, errno);
    else {
        msgpack_pack_map (result, 4);
        sbx_mp_pack_str (result, "type");
        sbx_mp_pack_str (result, s_type (st.st_mode));
        sbx_mp_pack_str (result, "size");
        msgpack_pack_uint64 (result, (uint64_t) st.st_size);
        sbx_mp_pack_str (result, "mode");
        msgpack_pack_uint32 (result, (uint32_t) (st.st_mode & 07777));
        sbx_mp_pack_str (result, "mtime_ns");
        msgpack_pack_int64 (result, (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
    }
    if (fd >= 0)
        close (fd);
    free (path);
    return error;
}

static sbx_error_t *
s_remove (void *instance, sbx_ctx_t *ctx, const msgpack_object *args, msgpack_packer *result)
{
    static const char *const keys [] = {"path", "recursive", NULL};
    sbx_error_t *error = s_check_keys ("remove", args, keys);
    bool recursive = false;
    if (!error)
        error = s_bool_arg ("remove", args, "recursive", &recursive);
    sbx_process_t *process = error ? NULL : s_process (ctx, &error);
    char *path = error ? NULL : s_path ("remove", args, &error);
    if (error)
        return error;
    char *slash = strrchr (path, '/');
    const char *name = slash ? slash + 1 : path;
    if (path [0] == '/')
        error = s_os_error ("remove", path, EXDEV);
    else
    if (streq (name, ".") || streq (name, ".."))
        error = sbx_error_new ("PermissionError", "remove: '%s' does not name an entry of the sandbox "
                               "directory (the directory itself cannot be removed)", path);
    if (error) {
        free (path);
        return error;
    }
    if (slash)
        *slash = 0;
    int parent = s_open (sbx_process_dirfd (process), slash ? path : ".", O_PATH | O_DIRECTORY, 0);
    if (slash)
        *slash = '/';
    int rc = parent;
    if (parent >= 0) {
        if (recursive)
            rc = sbx_process_tree_remove_at (parent, name);
        else {
            rc = unlinkat (parent, name, 0) == 0 ? 0 : -errno;
            if (rc == -EISDIR)
                rc = unlinkat (parent, name, AT_REMOVEDIR) == 0 ? 0 : -errno;
        }
        //  remove_at treats a missing entry as removed; a caller wants to know.
        if (rc == 0 && recursive && faccessat (parent, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            rc = -EBUSY;
        close (parent);
    }
    if (rc == -ENOTEMPTY || rc == -EEXIST)
        error = sbx_error_new ("OSError", "remove: '%s' is a directory that is not empty "
                               "(pass recursive: true)", path);
    else
    if (rc < 0)
        error = s_os_error ("remove", path, -rc);
    else
        msgpack_pack_nil (result);
    free (path);
    return error;
}

static const sbx_method_t s_methods [] = {
    {"read", s_read, NULL},
    {"write", s_write, NULL},
    {"list", s_list, NULL},
    {"stat", s_stat, NULL},
    {"remove", s_remove, NULL},
    {NULL, NULL, NULL}
};

const sbx_feature_kind_t sbx_feature_fs = {
    .name = "fs",
    .config_new = s_config_new,
    .config_destroy = s_config_destroy,
    .setup = s_setup,
    .teardown_session = sbx_kit_teardown_session,
    .methods = s_methods
};
