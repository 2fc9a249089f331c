/*  The conformance runner: replays every scenario of the project's own
    tests/conformance/ and, when the folder exists beside the checkout, of
    ../shared/conformance/ (format in tests/conformance/README.md) against a
    real sbxd over real sockets, and compares the event log, rendered in the
    text form, line for line. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <glob.h>
#include <sys/stat.h>

#include "testutil.h"
#include "messages/mp.h"

#define S_OWN_DIR SBX_SOURCE_DIR "/tests/conformance"
#define S_SHARED_DIR SBX_SHARED_DIR "/conformance"

typedef struct {
    char path [512];
} s_scenario_t;

ParameterizedTestParameters (conformance, scenario)
{
    glob_t found;
    int rc = glob (S_OWN_DIR "/*.json", 0, NULL, &found);
    if (rc == 0 || rc == GLOB_NOMATCH)
        glob (S_SHARED_DIR "/*.json", rc == 0 ? GLOB_APPEND : 0, NULL, &found);
    size_t count = found.gl_pathc;
    s_scenario_t *scenarios = cr_malloc (sizeof (s_scenario_t) * (count ? count : 1));
    for (size_t i = 0; i < count; i++)
        snprintf (scenarios [i].path, sizeof scenarios [i].path, "%s", found.gl_pathv [i]);
    globfree (&found);
    return cr_make_param_array (s_scenario_t, scenarios, count);
}

//  Replaces every string "$var" in `value` by what was saved under var.
static json_t *
s_substitute (const json_t *value, json_t *vars)
{
    if (json_is_string (value) && json_string_value (value) [0] == '$') {
        json_t *saved = json_object_get (vars, json_string_value (value) + 1);
        cr_assert (saved, "step uses %s before it was saved", json_string_value (value));
        return json_incref (saved);
    }
    if (json_is_object (value)) {
        json_t *copy = json_object ();
        const char *key;
        json_t *item;
        json_object_foreach ((json_t *) value, key, item)
            json_object_set_new (copy, key, s_substitute (item, vars));
        return copy;
    }
    if (json_is_array (value)) {
        json_t *copy = json_array ();
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item)
            json_array_append_new (copy, s_substitute (item, vars));
        return copy;
    }
    return json_deep_copy (value);
}

static bool
s_expected (const json_t *expect, const char *got)
{
    if (!expect)
        return streq (got, "ok");
    if (json_is_string (expect))
        return streq (json_string_value (expect), "any") || streq (json_string_value (expect), got);
    size_t index;
    json_t *item;
    json_array_foreach (expect, index, item)
        if (json_is_string (item) && (streq (json_string_value (item), "any")
                                      || streq (json_string_value (item), got)))
            return true;
    return false;
}

static void
s_run_step (const char *name, size_t number, const json_t *step, zsock_t *dealer,
            sbx_test_daemon_t *daemon, json_t *vars)
{
    const json_t *wait = json_object_get (step, "wait_log");
    if (wait) {
        const char *line = json_string_value (json_object_get (wait, "line"));
        json_int_t nth = json_integer_value (json_object_get (wait, "nth"));
        json_int_t timeout = json_integer_value (json_object_get (wait, "timeout_ms"));
        cr_assert (line, "%s step %zu: wait_log without a line", name, number);
        cr_assert (sbx_test_wait_log (daemon, line, nth ? (int) nth : 1, timeout ? (int) timeout : 10000),
                   "%s step %zu: '%s' did not appear %lld time(s) in the log", name, number, line,
                   (long long) (nth ? nth : 1));
        return;
    }
    json_t *request = json_object ();
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) step, key, value) {
        if (!streq (key, "expect") && !streq (key, "expect_result") && !streq (key, "save"))
            json_object_set_new (request, key, s_substitute (value, vars));
    }
    char *text = json_dumps (request, JSON_COMPACT);
    json_decref (request);
    sbx_reply_t *reply = sbx_test_request (dealer, text, 30000);
    cr_assert (reply, "%s step %zu: no reply to %s", name, number, text);
    const char *got = sbx_test_reply_type (reply);
    const json_t *expect = json_object_get (step, "expect");
    if (!s_expected (expect, got)) {
        char *want = expect ? json_dumps (expect, JSON_ENCODE_ANY) : strdup ("\"ok\"");
        cr_log_error ("%s step %zu: %s answered %s (%s), expected %s", name, number, text, got,
                      sbx_reply_is_ok (reply) ? "" : sbx_error_message (sbx_reply_get_error (reply)), want);
        free (want);
        cr_assert_fail ("%s step %zu: unexpected answer %s", name, number, got);
    }
    const json_t *expect_result = json_object_get (step, "expect_result");
    if (expect_result) {
        const msgpack_object *result = sbx_reply_get (reply, "result");
        json_t *actual = result ? sbx_mp_to_json (result) : json_null ();
        char *want = json_dumps (expect_result, JSON_ENCODE_ANY);
        char *have = json_dumps (actual, JSON_ENCODE_ANY);
        cr_assert (json_equal (actual, (json_t *) expect_result),
                   "%s step %zu: result %s, expected %s", name, number, have, want);
        free (want);
        free (have);
        json_decref (actual);
    }
    const json_t *save = json_object_get (step, "save");
    json_object_foreach ((json_t *) save, key, value) {
        const msgpack_object *saved = sbx_reply_get (reply, json_string_value (value));
        if (saved)
            json_object_set_new (vars, key, sbx_mp_to_json (saved));
    }
    free (text);
    sbx_reply_destroy (&reply);
}

ParameterizedTest (s_scenario_t *scenario, conformance, scenario, .timeout = 120)
{
    json_error_t problem;
    json_t *spec = json_load_file (scenario->path, 0, &problem);
    cr_assert (spec, "cannot read %s: %s", scenario->path, problem.text);
    const char *name = json_string_value (json_object_get (spec, "name"));
    if (!name)
        name = scenario->path;
    cr_log_info ("scenario %s", name);

    sbx_test_daemon_t *daemon = sbx_test_daemon_start (json_object_get (spec, "config"), NULL);
    cr_assert (daemon, "%s: sbxd did not start", name);
    zsock_t *dealer = sbx_test_connect (daemon);
    json_t *vars = json_object ();
    size_t number;
    json_t *step;
    json_array_foreach (json_object_get (spec, "steps"), number, step)
        s_run_step (name, number + 1, step, dealer, daemon, vars);
    json_decref (vars);
    zsock_destroy (&dealer);

    int code = sbx_test_daemon_shutdown (daemon);
    //  expect_exit: "any", or (the project's scenarios) the exit code.
    const json_t *expect_exit = json_object_get (spec, "expect_exit");
    if (json_is_string (expect_exit) && streq (json_string_value (expect_exit), "any"))
        cr_expect (code >= 0, "%s: sbxd did not exit", name);
    else {
        int want = json_is_integer (expect_exit) ? (int) json_integer_value (expect_exit) : 0;
        cr_expect_eq (code, want, "%s: sbxd exited with %d, expected %d", name, code, want);
    }

    size_t count = 0;
    char **lines = sbx_test_log_lines (daemon, &count);
    const json_t *expected = json_object_get (spec, "expected_log");
    size_t want = json_array_size (expected);
    bool same = count == want;
    for (size_t i = 0; same && i < want; i++)
        same = streq (lines [i], json_string_value (json_array_get (expected, i)));
    if (!same) {
        //  Print both logs side by side so the first difference is plain.
        size_t rows = count > want ? count : want;
        for (size_t i = 0; i < rows; i++) {
            const char *have = i < count ? lines [i] : "";
            const char *need = i < want ? json_string_value (json_array_get (expected, i)) : "";
            cr_log_error ("%s %-60s | %s", streq (have, need) ? " " : "!", need, have);
        }
    }
    cr_expect (same, "%s: event log differs from expected_log (expected | got above)", name);
    sbx_test_lines_free (&lines);
    sbx_test_daemon_destroy (&daemon);
    json_decref (spec);
}

//  Zero scenarios would pass every parameterized run: the project's own
//  copy must be there, and the shared folder, when it exists, must hold some.
Test (conformance, scenarios_found)
{
    glob_t found;
    cr_assert_eq (glob (S_OWN_DIR "/*.json", 0, NULL, &found), 0, "no scenarios under %s", S_OWN_DIR);
    cr_assert_gt (found.gl_pathc, 10);
    globfree (&found);
    struct stat info;
    if (stat (S_SHARED_DIR, &info) == 0) {
        cr_assert_eq (glob (S_SHARED_DIR "/*.json", 0, NULL, &found), 0,
                      "%s exists but holds no scenarios", S_SHARED_DIR);
        globfree (&found);
    }
    else
        cr_log_info ("%s: not there, replaying the project's own scenarios only", S_SHARED_DIR);
}
