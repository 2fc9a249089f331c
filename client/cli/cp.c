/*  sbx cp - copies one file into or out of a session, byte for byte, with
    the fs feature's read and write (docs/cli.md).

        sbx cp SRC DST

    Each side is a local path, `-` (stdin or stdout), or a path in a
    session:
        HANDLE:PATH     the session of a handle (handle.h)
        :PATH           the session of --session, else $SBX_SESSION
        -:PATH          a session opened for this copy and ended after it
    The bytes travel as msgpack bin in parts of S_CHUNK (fs.read with
    offset and length, fs.write then fs.write with append), so neither side
    holds more than one part and no request nears the daemon's body limit.
*/
#include "cli.h"
#include "messages/mp.h"

#include <czmq.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#define S_CHUNK (1024 * 1024)

typedef enum { S_LOCAL, S_STDIO, S_REMOTE } s_kind_t;

typedef struct {
    const char *spec;           //  as given
    s_kind_t kind;
    bool fresh;                 //  -:PATH
    sbx_cli_handle_t handle;
    sbx_session_t *session;     //  remote, once attached or opened
    char *path;                 //  local or remote path
    int fd;                     //  local, once open
    char *temp;                 //  a local destination is written here,
                                //  then renamed to `path`
    mode_t mode;                //  ...with this mode
    uint64_t offset;            //  bytes read or written so far
} s_side_t;

//  Parses one side. Returns -1 to go on, or an exit code.
static int
s_side_parse (const sbx_cli_args_t *args, const char *spec, s_side_t *side)
{
    memset (side, 0, sizeof *side);
    side->spec = spec;
    side->fd = -1;
    size_t span = 0;
    if (streq (spec, "-"))
        side->kind = S_STDIO;
    else
    if (strncmp (spec, "-:", 2) == 0) {
        side->kind = S_REMOTE;
        side->fresh = true;
        side->path = strdup (spec + 2);
    }
    else
    if (spec [0] == ':') {
        int code = -1;
        if (!sbx_cli_held_session (args, &side->handle, &code))
            return code >= 0 ? code
                 : sbx_cli_usage_error ("cp", "'%s' names the session of --session or $SBX_SESSION, and "
                                        "there is none (eval $(sbx open), or use -:PATH)", spec);
        side->kind = S_REMOTE;
        side->path = strdup (spec + 1);
    }
    else
    if ((span = sbx_cli_handle_span (spec)) > 0) {
        if (sbx_cli_handle_parse (spec, span, &side->handle) != 0)
            return sbx_cli_usage_error ("cp", "'%.*s' is not a session handle", (int) span, spec);
        side->kind = S_REMOTE;
        side->path = strdup (spec + span + 1);
    }
    else {
        side->kind = S_LOCAL;
        side->path = strdup (spec);
    }
    if (side->kind == S_LOCAL && !*side->path)
        return sbx_cli_usage_error ("cp", "'%s' names no path", spec);
    //  HANDLE: alone is the sandbox directory.
    if (side->kind == S_REMOTE && !*side->path) {
        free (side->path);
        side->path = strdup (".");
    }
    return -1;
}

static void
s_side_free (s_side_t *side)
{
    sbx_session_destroy (&side->session);
    if (side->fd > STDERR_FILENO)
        close (side->fd);
    if (side->temp)
        unlink (side->temp);
    free (side->temp);
    free (side->path);
}

//  The last component of the source's path, without trailing slashes
//  ("" for stdin), into `name`.
static void
s_basename (const s_side_t *side, char *name, size_t size)
{
    snprintf (name, size, "%s", side->kind == S_STDIO ? "" : side->path);
    size_t length = strlen (name);
    while (length > 1 && name [length - 1] == '/')
        name [--length] = 0;
    const char *slash = strrchr (name, '/');
    if (slash)
        memmove (name, slash + 1, strlen (slash + 1) + 1);
}

//  Appends the source's name to a destination that is a directory.
static int
s_into (s_side_t *dst, const s_side_t *src)
{
    char name [PATH_MAX];
    s_basename (src, name, sizeof name);
    if (!*name || streq (name, ".") || streq (name, "..") || streq (name, "/"))
        return sbx_cli_usage_error ("cp", "'%s' is a directory: name the file to write in it", dst->spec);
    size_t used = strlen (dst->path);
    char *path = zsys_sprintf ("%s%s%s", dst->path, used && dst->path [used - 1] == '/' ? "" : "/", name);
    free (dst->path);
    dst->path = path;
    return -1;
}

//  Starts the args of an fs call on the side's path: a map of `pairs`
//  pairs, "path" the first; the caller packs the others with `packer`.
static void
s_fs_args (const s_side_t *side, size_t pairs, msgpack_sbuffer *args, msgpack_packer *packer)
{
    msgpack_sbuffer_init (args);
    msgpack_packer_init (packer, args, msgpack_sbuffer_write);
    msgpack_pack_map (packer, pairs);
    sbx_mp_pack_str (packer, "path");
    sbx_mp_pack_str (packer, side->path);
}

//  One fs call in the side's session; the result goes to `result`.
static int
s_fs_call (s_side_t *side, const char *feature, const char *method, const msgpack_sbuffer *args,
           msgpack_sbuffer *result, sbx_error_t **error_p)
{
    result->size = 0;
    return sbx_session_call (side->session, feature, method, args->data, args->size, result, error_p);
}

//  True when a remote path is a directory (a failed stat says no: the
//  write then tells what is wrong).
static bool
s_remote_is_dir (s_side_t *side, const char *feature)
{
    msgpack_sbuffer args, result;
    msgpack_packer packer;
    s_fs_args (side, 1, &args, &packer);
    msgpack_sbuffer_init (&result);
    sbx_error_t *error = NULL;
    bool dir = false;
    if (s_fs_call (side, feature, "stat", &args, &result, &error) == 0) {
        msgpack_unpacked unpacked;
        msgpack_unpacked_init (&unpacked);
        if (msgpack_unpack_next (&unpacked, result.data, result.size, NULL) == MSGPACK_UNPACK_SUCCESS)
            dir = sbx_mp_str_eq (sbx_mp_map_get (&unpacked.data, "type"), "dir");
        msgpack_unpacked_destroy (&unpacked);
    }
    sbx_error_destroy (&error);
    msgpack_sbuffer_destroy (&args);
    msgpack_sbuffer_destroy (&result);
    return dir;
}

//  Reads the next part of the source into `chunk` (at most S_CHUNK
//  bytes); sets *size_p, 0 at the end. Returns -1 to go on, or an exit
//  code after saying why not.
static int
s_read (const sbx_cli_args_t *args, sbx_client_t *client, s_side_t *src, const char *feature,
        char *chunk, size_t *size_p)
{
    *size_p = 0;
    if (src->kind != S_REMOTE) {
        while (*size_p < S_CHUNK) {
            ssize_t n = read (src->fd, chunk + *size_p, S_CHUNK - *size_p);
            if (n < 0 && errno == EINTR && !sbx_cli_interrupted ())
                continue;
            if (n < 0 && sbx_cli_interrupted ())
                return sbx_cli_interrupted_code ();
            if (n < 0) {
                fprintf (stderr, "sbx cp: %s: %s\n", src->kind == S_STDIO ? "stdin" : src->path,
                         strerror (errno));
                return SBX_CLI_EXIT_ERROR;
            }
            if (n == 0)
                break;
            *size_p += (size_t) n;
        }
        src->offset += *size_p;
        return -1;
    }
    msgpack_sbuffer call_args, result;
    msgpack_packer packer;
    s_fs_args (src, 3, &call_args, &packer);
    msgpack_sbuffer_init (&result);
    sbx_mp_pack_str (&packer, "offset");
    msgpack_pack_uint64 (&packer, src->offset);
    sbx_mp_pack_str (&packer, "length");
    msgpack_pack_uint64 (&packer, S_CHUNK);
    sbx_error_t *error = NULL;
    int code = -1;
    if (s_fs_call (src, feature, "read", &call_args, &result, &error) != 0)
        code = sbx_cli_fail_call (args, client, !src->fresh, &error);
    else {
        msgpack_unpacked unpacked;
        msgpack_unpacked_init (&unpacked);
        const msgpack_object *data = NULL;
        if (msgpack_unpack_next (&unpacked, result.data, result.size, NULL) == MSGPACK_UNPACK_SUCCESS)
            data = &unpacked.data;
        if (data && data->type == MSGPACK_OBJECT_BIN && data->via.bin.size <= S_CHUNK) {
            memcpy (chunk, data->via.bin.ptr, data->via.bin.size);
            *size_p = data->via.bin.size;
        }
        else
        if (data && data->type == MSGPACK_OBJECT_STR && data->via.str.size <= S_CHUNK) {
            memcpy (chunk, data->via.str.ptr, data->via.str.size);
            *size_p = data->via.str.size;
        }
        else {
            fprintf (stderr, "sbx cp: %s: fs.read answered something other than bytes\n", src->spec);
            code = SBX_CLI_EXIT_ERROR;
        }
        msgpack_unpacked_destroy (&unpacked);
        src->offset += *size_p;
    }
    msgpack_sbuffer_destroy (&call_args);
    msgpack_sbuffer_destroy (&result);
    return code;
}

//  Writes one part to the destination (the first part replaces what was
//  there). Returns -1 to go on, or an exit code.
static int
s_write (const sbx_cli_args_t *args, sbx_client_t *client, s_side_t *dst, const char *feature,
         const char *chunk, size_t size)
{
    if (dst->kind != S_REMOTE) {
        size_t done = 0;
        while (done < size) {
            ssize_t n = write (dst->fd, chunk + done, size - done);
            if (n < 0 && errno == EINTR && !sbx_cli_interrupted ())
                continue;
            if (n < 0) {
                if (sbx_cli_interrupted ())
                    return sbx_cli_interrupted_code ();
                fprintf (stderr, "sbx cp: %s: %s\n", dst->kind == S_STDIO ? "stdout" : dst->path,
                         strerror (errno));
                return SBX_CLI_EXIT_ERROR;
            }
            done += (size_t) n;
        }
        dst->offset += size;
        return -1;
    }
    msgpack_sbuffer call_args, result;
    msgpack_packer packer;
    s_fs_args (dst, dst->offset ? 3 : 2, &call_args, &packer);
    msgpack_sbuffer_init (&result);
    sbx_mp_pack_str (&packer, "data");
    msgpack_pack_bin_with_body (&packer, chunk, size);
    if (dst->offset) {
        sbx_mp_pack_str (&packer, "append");
        msgpack_pack_true (&packer);
    }
    sbx_error_t *error = NULL;
    int code = -1;
    if (s_fs_call (dst, feature, "write", &call_args, &result, &error) != 0)
        code = sbx_cli_fail_call (args, client, !dst->fresh, &error);
    dst->offset += size;
    msgpack_sbuffer_destroy (&call_args);
    msgpack_sbuffer_destroy (&result);
    return code;
}

//  Opens or attaches the session of a remote side. Returns -1 to go on,
//  or an exit code.
static int
s_session (const sbx_cli_args_t *args, sbx_client_t *client, s_side_t *side)
{
    if (side->kind != S_REMOTE)
        return -1;
    if (!side->fresh) {
        side->session = sbx_cli_attach (client, &side->handle);
        return -1;
    }
    sbx_error_t *error = NULL;
    side->session = sbx_client_session_open (client, NULL, &error);
    return side->session ? -1 : sbx_cli_fail (sbx_cli_where (args, client), &error);
}

//  Ends a session this copy opened. Returns `code`, or the error's when
//  the copy went well but the end did not.
static int
s_end (const sbx_cli_args_t *args, sbx_client_t *client, s_side_t *side, int code)
{
    if (!side->fresh || !side->session)
        return code;
    sbx_cli_interrupted_clear ();
    sbx_error_t *error = NULL;
    if (sbx_session_end (&side->session, &error) != 0) {
        int failed = sbx_cli_fail (sbx_cli_where (args, client), &error);
        if (code == SBX_CLI_EXIT_OK)
            code = failed;
    }
    return code;
}

//  Opens the local sides. Returns -1 to go on, or an exit code.
static int
s_open_local (s_side_t *src, s_side_t *dst)
{
    if (src->kind == S_STDIO)
        src->fd = STDIN_FILENO;
    else
    if (src->kind == S_LOCAL) {
        src->fd = open (src->path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (src->fd >= 0 && fstat (src->fd, &st) == 0 && S_ISDIR (st.st_mode))
            errno = EISDIR;
        else
        if (src->fd >= 0)
            errno = 0;
        if (src->fd < 0 || errno) {
            fprintf (stderr, "sbx cp: %s: %s (sbx cp copies one file)\n", src->path, strerror (errno));
            return SBX_CLI_EXIT_ERROR;
        }
    }
    if (dst->kind == S_STDIO)
        dst->fd = STDOUT_FILENO;
    else
    if (dst->kind == S_LOCAL) {
        struct stat st;
        if (stat (dst->path, &st) == 0 && S_ISDIR (st.st_mode)) {
            int code = s_into (dst, src);
            if (code >= 0)
                return code;
        }
        //  A file beside it, renamed over it once the copy is whole: a
        //  copy that fails leaves what was there. It keeps the old file's
        //  mode, or gets the usual one.
        mode_t mask = umask (0);
        umask (mask);
        dst->mode = stat (dst->path, &st) == 0 ? st.st_mode & 07777 : 0666 & ~mask;
        dst->temp = zsys_sprintf ("%s.sbx-XXXXXX", dst->path);
        dst->fd = mkostemp (dst->temp, O_CLOEXEC);
        if (dst->fd < 0) {
            fprintf (stderr, "sbx cp: %s: %s\n", dst->path, strerror (errno));
            zstr_free (&dst->temp);
            return SBX_CLI_EXIT_ERROR;
        }
    }
    return -1;
}

//  Puts a local destination in place. Returns `code`, or 1 when that
//  fails.
static int
s_finish_local (s_side_t *dst, int code)
{
    if (code != SBX_CLI_EXIT_OK || !dst->temp)
        return code;
    if (fchmod (dst->fd, dst->mode) != 0 || close (dst->fd) != 0 || rename (dst->temp, dst->path) != 0) {
        fprintf (stderr, "sbx cp: %s: %s\n", dst->path, strerror (errno));
        dst->fd = -1;
        return SBX_CLI_EXIT_ERROR;
    }
    dst->fd = -1;
    zstr_free (&dst->temp);
    return code;
}

static int
s_cp (sbx_cli_args_t *args)
{
    if (args->argc != 2)
        return args->argc > 2 ? sbx_cli_unexpected (args, 2)
                              : sbx_cli_usage_error ("cp", "give SRC and DST (sbx cp SRC DST)");
    s_side_t src, dst;
    int code = s_side_parse (args, args->argv [0], &src);
    if (code < 0)
        code = s_side_parse (args, args->argv [1], &dst);
    else
        memset (&dst, 0, sizeof dst);
    if (code < 0 && src.kind != S_REMOTE && dst.kind != S_REMOTE)
        code = sbx_cli_usage_error ("cp", "neither side is in a session (HANDLE:PATH, :PATH or -:PATH)");
    sbx_client_t *client = NULL;
    const char *feature = NULL;
    if (code < 0 && (client = sbx_cli_connect (args, sbx_cli_timeout_ms (args), &code))) {
        feature = args->feature ? args->feature : sbx_client_feature_of_kind (client, "fs");
        if (!feature) {
            fprintf (stderr, "sbx: %s: NotFound: environment '%s' has no feature of kind 'fs'\n",
                     sbx_client_endpoint (client),
                     sbx_cli_str (sbx_client_hello (client), "environment", "?"));
            code = SBX_CLI_EXIT_ERROR;
        }
    }
    if (code < 0)
        code = s_session (args, client, &src);
    if (code < 0)
        code = s_session (args, client, &dst);
    //  A destination that is a directory gets the source's name.
    if (code < 0 && dst.kind == S_REMOTE) {
        size_t length = strlen (dst.path);
        if (dst.path [length - 1] == '/' || streq (dst.path, ".") || s_remote_is_dir (&dst, feature))
            code = s_into (&dst, &src);
    }
    if (code < 0)
        code = s_open_local (&src, &dst);
    char *chunk = code < 0 ? (char *) malloc (S_CHUNK) : NULL;
    while (code < 0) {
        size_t size = 0;
        code = s_read (args, client, &src, feature, chunk, &size);
        //  An empty source still makes an empty file.
        if (code < 0 && (size > 0 || dst.offset == 0))
            code = s_write (args, client, &dst, feature, chunk, size);
        //  Both sides read whole parts until the end: a short one is the last.
        if (code < 0 && size < S_CHUNK)
            code = SBX_CLI_EXIT_OK;
    }
    free (chunk);
    code = s_finish_local (&dst, code);
    code = s_end (args, client, &src, code);
    code = s_end (args, client, &dst, code);
    s_side_free (&src);
    s_side_free (&dst);
    sbx_client_destroy (&client);
    return code;
}

static const sbx_cli_option_t s_options [] = {
    {"session", 0, "HANDLE", SBX_CLI_TEXT, SBX_CLI_FIELD (session),
     "the session of :PATH (default $SBX_SESSION)"},
    {"wait", 0, "S", SBX_CLI_SECONDS, SBX_CLI_FIELD (wait_s),
     "for -:PATH, wait at most S seconds for a free sandbox\n"
     "(default: as --timeout)"},
    {"feature", 0, "NAME", SBX_CLI_TEXT, SBX_CLI_FIELD (feature),
     "the fs feature to use (default: the first of kind `fs`)"},
    {NULL}
};

const sbx_cli_command_t sbx_cli_cp = {
    .name = "cp",
    .synopsis = "SRC DST",
    .about =
        "Copies one file, byte for byte, into or out of a session. Each side is a local\n"
        "path, `-` (stdin or stdout), or a path in a session, relative to its sandbox\n"
        "directory:\n"
        "  HANDLE:PATH   in the session of HANDLE (as `sbx open` prints it)\n"
        "  :PATH         in the session of --session, else $SBX_SESSION\n"
        "  -:PATH        in a session opened for this copy alone\n"
        "A destination that is a directory (or ends with /) gets the source's name.",
    .options = s_options,
    .dash_operand = "-:",
    .execute = s_cp
};
