/*  Helpers for the python feature's suites (test_interpreter,
    test_interpreter_limits), over tests/sandbox_util.h: a daemon with a
    process sandbox, shell and python (both tagged with SBX_TAG, so
    s_tagged counts interpreters and what they start), and calls of
    python.exec with their results checked.
*/
#ifndef SBX_TEST_INTERPRETER_UTIL_H
#define SBX_TEST_INTERPRETER_UTIL_H

#include "sandbox_util.h"

static void
s_py_init (void)
{
    s_become_reaper ();
}

//  sbxd with a pool of one process sandbox (`sandbox` JSON, or NULL for
//  the default) with the features shell and python; `options` are more
//  of python's options ("\"startup\": \"...\"", or NULL). The python
//  feature's grace is 3 s: an interrupted cell has that long to answer,
//  however busy the machine.
static inline sbx_test_daemon_t *
s_py_daemon (const char *sandbox, const char *options)
{
    char features [4096];
    snprintf (features, sizeof features,
              "{\"shell\": {\"kind\": \"shell\", \"env\": {\"SBX_TAG\": \"%s\"}},"
              " \"python\": {\"kind\": \"python\", \"grace_ms\": 3000, \"env\": {\"SBX_TAG\": \"%s\"}%s%s}}",
              s_tag (), s_tag (), options ? ", " : "", options ? options : "");
    return s_daemon (sandbox, features);
}

//  python.METHOD {code, timeout_ms (when > 0)} in the session.
static inline sbx_reply_t *
s_py_call (zsock_t *dealer, const s_session_t *session, const char *method, const char *code, int timeout_ms)
{
    msgpack_sbuffer args;
    msgpack_sbuffer_init (&args);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &args, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, timeout_ms > 0 ? 2 : 1);
    sbx_mp_pack_str (&pk, "code");
    sbx_mp_pack_str (&pk, code);
    if (timeout_ms > 0) {
        sbx_mp_pack_str (&pk, "timeout_ms");
        msgpack_pack_int (&pk, timeout_ms);
    }
    sbx_reply_t *reply = s_call_mp (dealer, session, "python", method, args.data, args.size, 120000);
    msgpack_sbuffer_destroy (&args);
    return reply;
}

//  python.exec that must succeed as a call (the cell may still raise).
static inline sbx_reply_t *
s_py_ok (zsock_t *dealer, const s_session_t *session, const char *code, int timeout_ms)
{
    sbx_reply_t *reply = s_py_call (dealer, session, "exec", code, timeout_ms);
    cr_assert_str_eq (sbx_test_reply_type (reply), "ok", "exec '%s': %s", code, s_why (reply));
    return reply;
}

//  A text of the result's `error` map.
static inline char *
s_py_error_text (const sbx_reply_t *reply, const char *key, char *buffer, size_t size)
{
    const msgpack_object *error = s_result (reply, "error");
    cr_assert (error && error->type == MSGPACK_OBJECT_MAP, "no error in the result");
    const msgpack_object *text = sbx_mp_map_get (error, key);
    cr_assert (text && text->type == MSGPACK_OBJECT_STR, "error.%s is not a str", key);
    snprintf (buffer, size, "%.*s", (int) text->via.str.size, text->via.str.ptr);
    return buffer;
}

//  Checks an exec's result: `result` (a repr, or NULL for nil), stdout and
//  stderr (NULL: not checked). A `result` given means no error.
static inline void
s_py_expect (const sbx_reply_t *reply, const char *result, const char *out, const char *err)
{
    static char text [4096];
    const msgpack_object *value = s_result (reply, "result");
    const msgpack_object *error = s_result (reply, "error");
    if (result) {
        if (!error || error->type != MSGPACK_OBJECT_NIL)
            cr_assert_fail ("the cell raised: %s", s_py_error_text (reply, "traceback", text, sizeof text));
        cr_assert (value && value->type == MSGPACK_OBJECT_STR, "result is not a str");
        cr_assert_str_eq (s_result_text (reply, "result", text, sizeof text, NULL), result);
    }
    else
        cr_assert (value && value->type == MSGPACK_OBJECT_NIL, "result is not nil: %.*s",
                   value && value->type == MSGPACK_OBJECT_STR ? (int) value->via.str.size : 1,
                   value && value->type == MSGPACK_OBJECT_STR ? value->via.str.ptr : "?");
    if (out)
        cr_assert_str_eq (s_result_text (reply, "stdout", text, sizeof text, NULL), out);
    if (err)
        cr_assert_str_eq (s_result_text (reply, "stderr", text, sizeof text, NULL), err);
}

//  python.exec that must succeed, with its result checked as s_py_expect
//  does.
static inline void
s_py_check (zsock_t *dealer, const s_session_t *session, const char *code, int timeout_ms,
            const char *result, const char *out, const char *err)
{
    sbx_reply_t *reply = s_py_ok (dealer, session, code, timeout_ms);
    s_py_expect (reply, result, out, err);
    sbx_reply_destroy (&reply);
}

//  Checks that the cell raised `type` (with `message`, unless NULL).
static inline void
s_py_expect_error (const sbx_reply_t *reply, const char *type, const char *message)
{
    char text [4096];
    cr_assert_str_eq (s_py_error_text (reply, "type", text, sizeof text), type);
    if (message)
        cr_assert_str_eq (s_py_error_text (reply, "message", text, sizeof text), message);
}

//  python.exec that must succeed with `result` and no output, run by an
//  interpreter that was started anew for it or not (`restarted`).
static inline void
s_py_check_restarted (zsock_t *dealer, const s_session_t *session, const char *code, const char *result,
                      bool restarted)
{
    sbx_reply_t *reply = s_py_ok (dealer, session, code, 0);
    s_py_expect (reply, result, "", NULL);
    cr_assert_eq (s_result_bool (reply, "restarted"), restarted, "'%s': restarted is not %s", code,
                  restarted ? "true" : "false");
    sbx_reply_destroy (&reply);
}

//  python.exec whose call fails with the error `type`, its message saying
//  `says` (NULL: not checked).
static inline void
s_py_fails (zsock_t *dealer, const s_session_t *session, const char *code, int timeout_ms,
            const char *type, const char *says)
{
    sbx_reply_t *reply = s_py_call (dealer, session, "exec", code, timeout_ms);
    cr_assert_str_eq (sbx_test_reply_type (reply), type, "%s: %s", code, s_why (reply));
    if (says)
        cr_assert (strstr (s_why (reply), says), "%s", s_why (reply));
    sbx_reply_destroy (&reply);
}

#endif
