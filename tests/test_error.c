/*  Tests of sbx_error: the error value of SPEC.md §2. */
#include <criterion/criterion.h>
#include <string.h>

#include <sbx/error.h>
#include "testutil.h"

Test (error, new_formats_message)
{
    sbx_error_t *error = sbx_error_new ("ValueError", "bad %s %d", "value", 7);
    cr_assert_str_eq (sbx_error_type (error), "ValueError");
    cr_assert_str_eq (sbx_error_message (error), "bad value 7");
    cr_assert_null (sbx_error_sandbox (error));
    cr_assert_eq (sbx_error_count (error), 0);
    cr_assert_null (sbx_error_at (error, 0, NULL));
    sbx_error_destroy (&error);
    cr_assert_null (error);
}

Test (error, empty_type_becomes_error)
{
    sbx_error_t *error = sbx_error_new ("", "x");
    cr_assert_str_eq (sbx_error_type (error), "Error");
    sbx_error_destroy (&error);
    error = sbx_error_new (NULL, "x");
    cr_assert_str_eq (sbx_error_type (error), "Error");
    sbx_error_destroy (&error);
}

Test (error, long_message_is_truncated)
{
    char big [10000];
    memset (big, 'x', sizeof big - 1);
    big [sizeof big - 1] = 0;
    sbx_error_t *error = sbx_error_new ("T", "%s", big);
    cr_assert_eq (strlen (sbx_error_message (error)), 4095);
    sbx_error_destroy (&error);
}

Test (error, destroy_is_safe_twice_and_on_null)
{
    sbx_error_t *error = sbx_error_new ("T", "m");
    sbx_error_destroy (&error);
    sbx_error_destroy (&error);
    sbx_error_destroy (NULL);
    cr_assert_null (error);
}

Test (error, null_accessors)
{
    cr_assert_null (sbx_error_type (NULL));
    cr_assert_null (sbx_error_message (NULL));
    cr_assert_null (sbx_error_sandbox (NULL));
    cr_assert_eq (sbx_error_count (NULL), 0);
    cr_assert_null (sbx_error_at (NULL, 0, NULL));
    cr_assert_null (sbx_error_dup (NULL));
    cr_assert_not (sbx_error_is_state (NULL));
    cr_assert_not (sbx_error_is_user (NULL));
    cr_assert_not (sbx_error_has_user (NULL));
    cr_assert_not (sbx_error_is (NULL, "T"));
}

Test (error, sandbox)
{
    sbx_error_t *error = sbx_error_new (SBX_STATE_ERROR, "broken");
    sbx_error_set_sandbox (error, "testing-env/0:0");
    cr_assert_str_eq (sbx_error_sandbox (error), "testing-env/0:0");
    sbx_error_set_sandbox (error, "testing-env/0:1");
    cr_assert_str_eq (sbx_error_sandbox (error), "testing-env/0:1");
    sbx_error_set_sandbox (error, NULL);
    cr_assert_null (sbx_error_sandbox (error));
    sbx_error_destroy (&error);
}

Test (error, is_state_is_user_is)
{
    sbx_error_t *state = sbx_error_new (SBX_STATE_ERROR, "broken");
    sbx_error_t *user = sbx_error_new ("ValueError", "oops");
    sbx_error_t *bad = sbx_error_new (SBX_BAD_REQUEST, "no");
    cr_assert (sbx_error_is_state (state));
    cr_assert_not (sbx_error_is_user (state));
    cr_assert_not (sbx_error_has_user (state));
    cr_assert_not (sbx_error_is_state (user));
    cr_assert (sbx_error_is_user (user));
    cr_assert (sbx_error_has_user (user));
    //  Protocol errors are user errors too (anything but a state error).
    cr_assert (sbx_error_is_user (bad));
    cr_assert (sbx_error_is (bad, SBX_BAD_REQUEST));
    cr_assert_not (sbx_error_is (bad, SBX_NOT_FOUND));
    cr_assert_not (sbx_error_is (bad, NULL));
    sbx_error_destroy (&state);
    sbx_error_destroy (&user);
    sbx_error_destroy (&bad);
}

Test (error, add_takes_ownership_in_order)
{
    sbx_error_t *error = sbx_error_new (SBX_SESSION_TEARDOWN_ERROR, "teardown");
    sbx_error_t *sub = sbx_error_new ("ValueError", "one");
    sbx_error_add (error, "feature1", &sub);
    cr_assert_null (sub);
    sub = sbx_error_new (SBX_STATE_ERROR, "two");
    sbx_error_add (error, "feature2", &sub);
    sub = sbx_error_new ("KeyError", "three");
    sbx_error_add (error, NULL, &sub);
    cr_assert_eq (sbx_error_count (error), 3);
    const char *feature = NULL;
    cr_assert_str_eq (sbx_error_message (sbx_error_at (error, 0, &feature)), "one");
    cr_assert_str_eq (feature, "feature1");
    cr_assert_str_eq (sbx_error_message (sbx_error_at (error, 1, &feature)), "two");
    cr_assert_str_eq (feature, "feature2");
    cr_assert_str_eq (sbx_error_message (sbx_error_at (error, 2, &feature)), "three");
    cr_assert_str_eq (feature, "");
    cr_assert_null (sbx_error_at (error, 3, &feature));
    //  feature_p is optional.
    cr_assert_not_null (sbx_error_at (error, 0, NULL));
    sbx_error_destroy (&error);
}

Test (error, has_user_on_composites)
{
    //  Only state errors inside: swallowed (SPEC §2).
    sbx_error_t *error = sbx_error_new (SBX_FEATURE_TEARDOWN_ERROR, "teardown");
    sbx_error_t *sub = sbx_error_new (SBX_STATE_ERROR, "a");
    sbx_error_add (error, "feature1", &sub);
    sub = sbx_error_new (SBX_STATE_ERROR, "b");
    sbx_error_add (error, "feature2", &sub);
    cr_assert_not (sbx_error_has_user (error));
    //  The composite itself is not a state error.
    cr_assert (sbx_error_is_user (error));
    //  One user error makes the composite reach the caller.
    sub = sbx_error_new ("ValueError", "c");
    sbx_error_add (error, "feature3", &sub);
    cr_assert (sbx_error_has_user (error));
    sbx_error_destroy (&error);

    //  A composite with an empty map is judged by its own type.
    error = sbx_error_new (SBX_SESSION_TEARDOWN_ERROR, "empty");
    cr_assert (sbx_error_has_user (error));
    sbx_error_destroy (&error);

    //  Nested composites are searched too.
    error = sbx_error_new (SBX_SESSION_TEARDOWN_ERROR, "outer");
    sbx_error_t *inner = sbx_error_new (SBX_FEATURE_TEARDOWN_ERROR, "inner");
    sub = sbx_error_new (SBX_STATE_ERROR, "x");
    sbx_error_add (inner, "f", &sub);
    sbx_error_add (error, "g", &inner);
    cr_assert_not (sbx_error_has_user (error));
    sbx_error_destroy (&error);
}

Test (error, dup_is_deep)
{
    sbx_error_t *error = sbx_error_new (SBX_FEATURE_TEARDOWN_ERROR, "teardown");
    sbx_error_set_sandbox (error, "testing-env/0:0");
    sbx_error_t *sub = sbx_error_new (SBX_STATE_ERROR, "a");
    sbx_error_set_sandbox (sub, "testing-env/0:0");
    sbx_error_add (error, "feature1", &sub);
    sub = sbx_error_new ("ValueError", "b");
    sbx_error_add (error, "feature2", &sub);

    sbx_error_t *copy = sbx_error_dup (error);
    sbx_error_destroy (&error);
    cr_assert_str_eq (sbx_error_type (copy), SBX_FEATURE_TEARDOWN_ERROR);
    cr_assert_str_eq (sbx_error_message (copy), "teardown");
    cr_assert_str_eq (sbx_error_sandbox (copy), "testing-env/0:0");
    cr_assert_eq (sbx_error_count (copy), 2);
    const char *feature = NULL;
    const sbx_error_t *at = sbx_error_at (copy, 0, &feature);
    cr_assert_str_eq (feature, "feature1");
    cr_assert (sbx_error_is_state (at));
    cr_assert_str_eq (sbx_error_sandbox (at), "testing-env/0:0");
    at = sbx_error_at (copy, 1, &feature);
    cr_assert_str_eq (feature, "feature2");
    cr_assert_str_eq (sbx_error_message (at), "b");
    sbx_error_destroy (&copy);
}
