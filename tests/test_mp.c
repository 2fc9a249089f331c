/*  Tests of sbx_mp: the validator, packing helpers, errors on the wire,
    and msgpack <-> JSON. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "messages/mp.h"
#include "testutil.h"

//  A byte sample with its size (string literals may hold NULs).
typedef struct {
    const char *name;
    const char *bytes;
    size_t size;
} sample_t;

#define SAMPLE(name, lit) { name, lit, sizeof (lit) - 1 }

//  One sample per msgpack format, each a complete object.
static const sample_t s_formats [] = {
    SAMPLE ("positive fixint", "\x05"),
    SAMPLE ("positive fixint max", "\x7f"),
    SAMPLE ("negative fixint", "\xe0"),
    SAMPLE ("negative fixint -1", "\xff"),
    SAMPLE ("nil", "\xc0"),
    SAMPLE ("false", "\xc2"),
    SAMPLE ("true", "\xc3"),
    SAMPLE ("uint 8", "\xcc\xff"),
    SAMPLE ("uint 16", "\xcd\x01\x00"),
    SAMPLE ("uint 32", "\xce\x00\x01\x00\x00"),
    SAMPLE ("uint 64", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
    SAMPLE ("int 8", "\xd0\x80"),
    SAMPLE ("int 16", "\xd1\x80\x00"),
    SAMPLE ("int 32", "\xd2\x80\x00\x00\x00"),
    SAMPLE ("int 64", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
    SAMPLE ("float 32", "\xca\x3f\x80\x00\x00"),
    SAMPLE ("float 64", "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"),
    SAMPLE ("fixstr empty", "\xa0"),
    SAMPLE ("fixstr", "\xa3" "abc"),
    SAMPLE ("str 8", "\xd9\x03" "abc"),
    SAMPLE ("str 16", "\xda\x00\x03" "abc"),
    SAMPLE ("str 32", "\xdb\x00\x00\x00\x03" "abc"),
    SAMPLE ("str utf-8", "\xa9" "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
    SAMPLE ("bin 8", "\xc4\x02\x00\xff"),
    SAMPLE ("bin 16", "\xc5\x00\x02\x00\xff"),
    SAMPLE ("bin 32", "\xc6\x00\x00\x00\x02\x00\xff"),
    SAMPLE ("fixarray empty", "\x90"),
    SAMPLE ("fixarray", "\x92\x01\xc0"),
    SAMPLE ("array 16", "\xdc\x00\x02\x01\x02"),
    SAMPLE ("array 32", "\xdd\x00\x00\x00\x02\x01\x02"),
    SAMPLE ("fixmap empty", "\x80"),
    SAMPLE ("fixmap", "\x81\xa1" "a" "\x01"),
    SAMPLE ("map 16", "\xde\x00\x01\xa1" "a" "\x01"),
    SAMPLE ("map 32", "\xdf\x00\x00\x00\x01\xa1" "a" "\x01"),
    SAMPLE ("map with int key", "\x81\x01\x02"),
    SAMPLE ("fixext 1", "\xd4\x01\xaa"),
    SAMPLE ("fixext 2", "\xd5\x01\xaa\xbb"),
    SAMPLE ("fixext 4", "\xd6\x01\xaa\xbb\xcc\xdd"),
    SAMPLE ("fixext 8", "\xd7\xff\x01\x02\x03\x04\x05\x06\x07\x08"),
    SAMPLE ("fixext 16", "\xd8\x01" "0123456789abcdef"),
    SAMPLE ("ext 8", "\xc7\x02\x05\x01\x02"),
    SAMPLE ("ext 16", "\xc8\x00\x02\x05\x01\x02"),
    SAMPLE ("ext 32", "\xc9\x00\x00\x00\x02\x05\x01\x02"),
    SAMPLE ("ext 8 empty", "\xc7\x00\x05"),
    SAMPLE ("nested", "\x82\xa1" "a" "\x92\x81\xa1" "b" "\x90\xc0\xa1" "c" "\x80"),
};
#define FORMAT_COUNT (sizeof s_formats / sizeof s_formats [0])

static void
s_assert_bad (sbx_error_t *error, const char *needle)
{
    cr_assert_not_null (error, "expected an error with '%s'", needle);
    cr_assert_str_eq (sbx_error_type (error), SBX_BAD_REQUEST);
    cr_assert (strstr (sbx_error_message (error), needle),
               "message '%s' lacks '%s'", sbx_error_message (error), needle);
    sbx_error_destroy (&error);
}

static bool
s_unpacks (const void *data, size_t size)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    int rc = msgpack_unpack_next (&unpacked, (const char *) data, size, &offset);
    msgpack_unpacked_destroy (&unpacked);
    return rc == MSGPACK_UNPACK_SUCCESS && offset == size;
}

//  A body of `depth` nested one-item arrays around a nil.
static uint8_t *
s_nested (size_t depth, size_t *size_p)
{
    uint8_t *data = (uint8_t *) malloc (depth + 1);
    memset (data, 0x91, depth);
    data [depth] = 0xc0;
    *size_p = depth + 1;
    return data;
}

Test (mp, check_accepts_every_format)
{
    for (size_t i = 0; i < FORMAT_COUNT; i++) {
        const sample_t *s = &s_formats [i];
        sbx_error_t *error = sbx_mp_check (s->bytes, s->size, SBX_MP_MAX_DEPTH);
        cr_assert_null (error, "%s: %s", s->name, sbx_error_message (error));
        //  msgpack-c agrees that it is one whole object.
        cr_assert (s_unpacks (s->bytes, s->size), "%s does not unpack", s->name);
    }
}

Test (mp, check_rejects_every_truncation)
{
    for (size_t i = 0; i < FORMAT_COUNT; i++) {
        const sample_t *s = &s_formats [i];
        for (size_t cut = 0; cut < s->size; cut++) {
            sbx_error_t *error = sbx_mp_check (s->bytes, cut, SBX_MP_MAX_DEPTH);
            cr_assert_not_null (error, "%s cut at %zu accepted", s->name, cut);
            const char *message = sbx_error_message (error);
            cr_assert (strstr (message, "truncated at byte offset")
                    || strstr (message, "claims"), "%s: %s", s->name, message);
            sbx_error_destroy (&error);
        }
    }
}

Test (mp, check_rejects_trailing_bytes)
{
    for (size_t i = 0; i < FORMAT_COUNT; i++) {
        const sample_t *s = &s_formats [i];
        char buffer [64];
        cr_assert (s->size + 1 <= sizeof buffer);
        memcpy (buffer, s->bytes, s->size);
        buffer [s->size] = (char) 0xc0;
        char needle [64];
        snprintf (needle, sizeof needle, "trailing bytes at offset %zu", s->size);
        s_assert_bad (sbx_mp_check (buffer, s->size + 1, SBX_MP_MAX_DEPTH), needle);
    }
}

Test (mp, check_rejects_c1)
{
    s_assert_bad (sbx_mp_check ("\xc1", 1, 64), "0xc1 at byte offset 0");
    s_assert_bad (sbx_mp_check ("\x92\x01\xc1", 3, 64), "0xc1 at byte offset 2");
}

Test (mp, check_rejects_empty)
{
    s_assert_bad (sbx_mp_check ("", 0, 64), "truncated at byte offset 0");
    s_assert_bad (sbx_mp_check (NULL, 0, 64), "truncated at byte offset 0");
}

Test (mp, check_truncation_names_offset)
{
    //  {"op": "hel... cut inside the value string at offset 4.
    s_assert_bad (sbx_mp_check ("\x81\xa2op\xa5hel", 8, 64),
                  "truncated at byte offset 4");
    //  A map that ends before its second value.
    s_assert_bad (sbx_mp_check ("\x82\xa1" "a" "\x01\xa1" "b", 6, 64),
                  "truncated at byte offset 6");
    //  A uint 32 with two of its four bytes.
    s_assert_bad (sbx_mp_check ("\x91\xce\x00\x01", 4, 64),
                  "truncated at byte offset 1");
}

Test (mp, check_rejects_huge_counts)
{
    s_assert_bad (sbx_mp_check ("\xdd\x80\x00\x00\x00", 5, 64),
                  "array at byte offset 0 claims 2147483648 items but only 0 bytes remain");
    s_assert_bad (sbx_mp_check ("\x91\xdc\xff\xff\x01\x02", 6, 64),
                  "array at byte offset 1 claims 65535 items but only 2 bytes remain");
    s_assert_bad (sbx_mp_check ("\xdf\xff\xff\xff\xff\x01", 6, 64),
                  "map at byte offset 0 claims 4294967295 entries but only 1 bytes remain");
    //  A map needs two bytes per entry at least.
    s_assert_bad (sbx_mp_check ("\x82\x01\x02\x03", 4, 64),
                  "map at byte offset 0 claims 2 entries but only 3 bytes remain");
    s_assert_bad (sbx_mp_check ("\xdb\xff\xff\xff\xff" "ab", 7, 64),
                  "str claims 4294967295 bytes but only 2 remain");
    s_assert_bad (sbx_mp_check ("\xc6\x7f\xff\xff\xff", 5, 64),
                  "truncated at byte offset 0");
    s_assert_bad (sbx_mp_check ("\xc9\x7f\xff\xff\xff\x01", 6, 64),
                  "truncated at byte offset 0");
}

Test (mp, check_depth_limit)
{
    size_t size;
    uint8_t *data = s_nested (SBX_MP_MAX_DEPTH, &size);
    sbx_error_t *error = sbx_mp_check (data, size, SBX_MP_MAX_DEPTH);
    cr_assert_null (error, "%s", sbx_error_message (error));
    free (data);

    data = s_nested (SBX_MP_MAX_DEPTH + 1, &size);
    s_assert_bad (sbx_mp_check (data, size, SBX_MP_MAX_DEPTH), "nesting deeper than 32 at byte offset 32");
    free (data);

    //  Limits above SBX_MP_MAX_DEPTH are clamped to it.
    data = s_nested (SBX_MP_MAX_DEPTH + 1, &size);
    s_assert_bad (sbx_mp_check (data, size, 1000), "nesting deeper than 32");
    free (data);

    //  An empty container counts as a level too.
    s_assert_bad (sbx_mp_check ("\x91\x90", 2, 1), "nesting deeper than 1 at byte offset 1");
    s_assert_bad (sbx_mp_check ("\x81\xa1" "a" "\x80", 4, 1),
                  "nesting deeper than 1 at byte offset 3");
}

Test (mp, check_nesting_10000_deep)
{
    size_t size;
    uint8_t *data = s_nested (10000, &size);
    s_assert_bad (sbx_mp_check (data, size, SBX_MP_MAX_DEPTH),
                  "nesting deeper than 32 at byte offset 32");
    free (data);
    //  Deep maps too.
    data = (uint8_t *) malloc (3 * 10000 + 1);
    for (size_t i = 0; i < 10000; i++)
        memcpy (data + 3 * i, "\x81\xa1k", 3);
    data [30000] = 0xc0;
    s_assert_bad (sbx_mp_check (data, 30001, SBX_MP_MAX_DEPTH),
                  "nesting deeper than 32 at byte offset 96");
    free (data);
}

Test (mp, check_utf8)
{
    static const sample_t good [] = {
        SAMPLE ("ascii", "hello"),
        SAMPLE ("2-byte", "\xc2\x80\xdf\xbf"),
        SAMPLE ("3-byte", "\xe0\xa0\x80\xef\xbf\xbf"),
        SAMPLE ("before surrogates", "\xed\x9f\xbf"),
        SAMPLE ("after surrogates", "\xee\x80\x80"),
        SAMPLE ("4-byte", "\xf0\x90\x80\x80"),
        SAMPLE ("U+10FFFF", "\xf4\x8f\xbf\xbf"),
        SAMPLE ("NUL is valid UTF-8", "a\x00" "b"),
    };
    static const sample_t bad [] = {
        SAMPLE ("lone continuation", "\x80"),
        SAMPLE ("overlong 2-byte", "\xc0\x80"),
        SAMPLE ("overlong 2-byte c1", "\xc1\xbf"),
        SAMPLE ("overlong 3-byte", "\xe0\x80\x80"),
        SAMPLE ("overlong 3-byte high", "\xe0\x9f\xbf"),
        SAMPLE ("overlong 4-byte", "\xf0\x80\x80\x80"),
        SAMPLE ("overlong 4-byte high", "\xf0\x8f\xbf\xbf"),
        SAMPLE ("surrogate low", "\xed\xa0\x80"),
        SAMPLE ("surrogate high", "\xed\xbf\xbf"),
        SAMPLE ("above U+10FFFF", "\xf4\x90\x80\x80"),
        SAMPLE ("f5", "\xf5\x80\x80\x80"),
        SAMPLE ("ff", "\xff"),
        SAMPLE ("cut sequence", "\xe2\x82"),
        SAMPLE ("bad continuation", "\xe2\x28\xa1"),
        SAMPLE ("bad 4th byte", "\xf0\x90\x80\x28"),
        SAMPLE ("ascii then bad", "abc\xc3"),
    };
    char buffer [64];
    for (size_t i = 0; i < sizeof good / sizeof good [0]; i++) {
        buffer [0] = (char) (0xa0 | good [i].size);
        memcpy (buffer + 1, good [i].bytes, good [i].size);
        sbx_error_t *error = sbx_mp_check (buffer, good [i].size + 1, 64);
        cr_assert_null (error, "%s: %s", good [i].name, sbx_error_message (error));
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        //  Inside a map value, so the offset is not 0: ["x", <bad>]
        memcpy (buffer, "\x92\xa1x", 3);
        buffer [3] = (char) (0xa0 | bad [i].size);
        memcpy (buffer + 4, bad [i].bytes, bad [i].size);
        sbx_error_t *error = sbx_mp_check (buffer, bad [i].size + 4, 64);
        cr_assert_not_null (error, "%s accepted", bad [i].name);
        cr_assert (strstr (sbx_error_message (error),
                           "invalid UTF-8 in string at byte offset 3"),
                   "%s: %s", bad [i].name, sbx_error_message (error));
        sbx_error_destroy (&error);
    }
    //  Map keys are strings too; bin is not checked.
    s_assert_bad (sbx_mp_check ("\x81\xa1\xff\x01", 4, 64),
                  "invalid UTF-8 in string at byte offset 1");
    cr_assert_null (sbx_mp_check ("\xc4\x01\xff", 3, 64));
}

//  Random bytes: whatever the validator accepts, msgpack-c must unpack as
//  exactly one object (the property the decoders rely on).
Test (mp, check_agrees_with_msgpack_on_random_input)
{
    uint32_t state = 12345;
    uint8_t data [24];
    size_t accepted = 0;
    for (int round = 0; round < 200000; round++) {
        size_t size = 1 + round % sizeof data;
        for (size_t i = 0; i < size; i++) {
            state = state * 1103515245u + 12345u;
            //  Bias toward small headers so containers actually close.
            uint8_t b = (uint8_t) (state >> 16);
            data [i] = (state & 0x100) ? (uint8_t) (b & 0x93) : b;
        }
        sbx_error_t *error = sbx_mp_check (data, size, 32);
        if (!error) {
            accepted++;
            cr_assert (s_unpacks (data, size), "accepted but does not unpack");
        }
        sbx_error_destroy (&error);
    }
    cr_assert_gt (accepted, 1000);
}

Test (mp, pack_str)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    sbx_mp_pack_str (&pk, "ab");
    sbx_mp_pack_str (&pk, NULL);
    sbx_mp_pack_strn (&pk, "xyz", 2);
    cr_assert_eq (buffer.size, 7);
    cr_assert (memcmp (buffer.data, "\xa2" "ab" "\xc0\xa2" "xy", 7) == 0);
    msgpack_sbuffer_destroy (&buffer);
}

//  Packs an error and unpacks it again.
static sbx_error_t *
s_error_round_trip (const sbx_error_t *error)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    sbx_mp_pack_error (&pk, error);
    cr_assert_null (sbx_mp_check (buffer.data, buffer.size, 64));
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    cr_assert_eq (msgpack_unpack_next (&unpacked, buffer.data, buffer.size, &offset),
                  MSGPACK_UNPACK_SUCCESS);
    const char *problem = NULL;
    sbx_error_t *copy = sbx_mp_unpack_error (&unpacked.data, &problem);
    cr_assert_not_null (copy, "%s", problem);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);
    return copy;
}

Test (mp, error_round_trip)
{
    sbx_error_t *error = sbx_error_new ("ValueError", "bad value %d", 42);
    sbx_error_t *copy = s_error_round_trip (error);
    cr_assert_str_eq (sbx_error_type (copy), "ValueError");
    cr_assert_str_eq (sbx_error_message (copy), "bad value 42");
    cr_assert_null (sbx_error_sandbox (copy));
    cr_assert_eq (sbx_error_count (copy), 0);
    sbx_error_destroy (&copy);
    sbx_error_destroy (&error);

    error = sbx_error_new (SBX_FEATURE_TEARDOWN_ERROR, "teardown failed");
    sbx_error_set_sandbox (error, "testing-env/0:0");
    sbx_error_t *sub = sbx_error_new (SBX_STATE_ERROR, "disk gone");
    sbx_error_add (error, "feature1", &sub);
    sub = sbx_error_new ("ValueError", "oops");
    sbx_error_add (error, "feature2", &sub);
    copy = s_error_round_trip (error);
    cr_assert_str_eq (sbx_error_type (copy), SBX_FEATURE_TEARDOWN_ERROR);
    cr_assert_str_eq (sbx_error_sandbox (copy), "testing-env/0:0");
    cr_assert_eq (sbx_error_count (copy), 2);
    const char *feature = NULL;
    const sbx_error_t *at = sbx_error_at (copy, 0, &feature);
    cr_assert_str_eq (feature, "feature1");
    cr_assert (sbx_error_is_state (at));
    cr_assert_str_eq (sbx_error_message (at), "disk gone");
    at = sbx_error_at (copy, 1, &feature);
    cr_assert_str_eq (feature, "feature2");
    cr_assert_str_eq (sbx_error_type (at), "ValueError");
    cr_assert (sbx_error_has_user (copy));
    sbx_error_destroy (&copy);
    sbx_error_destroy (&error);
}

Test (mp, pack_error_nil)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    sbx_mp_pack_error (&pk, NULL);
    cr_assert_eq (buffer.size, 1);
    cr_assert_eq ((uint8_t) buffer.data [0], 0xc0);
    msgpack_sbuffer_destroy (&buffer);
}

//  Packs a JSON text (for building test bodies) and unpacks it.
typedef struct {
    msgpack_sbuffer buffer;
    msgpack_unpacked unpacked;
} packed_t;

static const msgpack_object *
s_pack_json (packed_t *packed, const char *text)
{
    json_error_t json_error;
    json_t *json = json_loads (text, JSON_DECODE_ANY, &json_error);
    cr_assert_not_null (json, "%s: %s", text, json_error.text);
    msgpack_sbuffer_init (&packed->buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &packed->buffer, msgpack_sbuffer_write);
    sbx_mp_from_json (&pk, json);
    json_decref (json);
    msgpack_unpacked_init (&packed->unpacked);
    size_t offset = 0;
    cr_assert_eq (msgpack_unpack_next (&packed->unpacked, packed->buffer.data,
                                       packed->buffer.size, &offset),
                  MSGPACK_UNPACK_SUCCESS);
    return &packed->unpacked.data;
}

static void
s_packed_destroy (packed_t *packed)
{
    msgpack_unpacked_destroy (&packed->unpacked);
    msgpack_sbuffer_destroy (&packed->buffer);
}

Test (mp, unpack_error_problems)
{
    static const struct {
        const char *json;
        const char *problem;
    } cases [] = {
        { "[1]", "error is not a map" },
        { "{\"message\": \"m\"}", "error has no string 'type'" },
        { "{\"type\": 1, \"message\": \"m\"}", "error has no string 'type'" },
        { "{\"type\": \"T\"}", "error has no string 'message'" },
        { "{\"type\": \"T\", \"message\": \"m\", \"sandbox\": 3}",
          "error 'sandbox' is not a string" },
        { "{\"type\": \"T\", \"message\": \"m\", \"errors\": [1]}",
          "error 'errors' is not a map" },
        { "{\"type\": \"T\", \"message\": \"m\", \"errors\": {\"f\": 1}}",
          "error is not a map" },
        { "{\"type\": \"T\", \"message\": \"m\", \"errors\": {\"f\": {\"type\": \"X\"}}}",
          "error has no string 'message'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        packed_t packed;
        const msgpack_object *o = s_pack_json (&packed, cases [i].json);
        const char *problem = NULL;
        sbx_error_t *error = sbx_mp_unpack_error (o, &problem);
        cr_assert_null (error, "%s accepted", cases [i].json);
        cr_assert_str_eq (problem, cases [i].problem, "%s", cases [i].json);
        //  problem_p is optional
        cr_assert_null (sbx_mp_unpack_error (o, NULL));
        s_packed_destroy (&packed);
    }
    //  nil sandbox and errors count as absent; unknown keys are ignored.
    packed_t packed;
    const msgpack_object *o = s_pack_json (&packed,
        "{\"type\": \"T\", \"message\": \"m\", \"sandbox\": null, \"errors\": null,"
        " \"extra\": [1, 2]}");
    sbx_error_t *error = sbx_mp_unpack_error (o, NULL);
    cr_assert_not_null (error);
    cr_assert_null (sbx_error_sandbox (error));
    sbx_error_destroy (&error);
    s_packed_destroy (&packed);

    //  Composite errors nest only a bounded number of levels.
    o = s_pack_json (&packed,
        "{\"type\":\"T\",\"message\":\"m\",\"errors\":{\"a\":"
        "{\"type\":\"T\",\"message\":\"m\",\"errors\":{\"b\":"
        "{\"type\":\"T\",\"message\":\"m\",\"errors\":{\"c\":"
        "{\"type\":\"T\",\"message\":\"m\",\"errors\":{\"d\":"
        "{\"type\":\"T\",\"message\":\"m\",\"errors\":{\"e\":"
        "{\"type\":\"T\",\"message\":\"m\"}}}}}}}}}}}");
    const char *problem = NULL;
    cr_assert_null (sbx_mp_unpack_error (o, &problem));
    cr_assert_str_eq (problem, "error 'errors' nested too deep");
    s_packed_destroy (&packed);
}

Test (mp, map_get_strdup_str_eq)
{
    packed_t packed;
    const msgpack_object *o = s_pack_json (&packed,
        "{\"a\": \"x\", \"bb\": 2, \"a2\": \"y\", \"empty\": \"\"}");
    const msgpack_object *a = sbx_mp_map_get (o, "a");
    cr_assert_not_null (a);
    cr_assert (sbx_mp_str_eq (a, "x"));
    cr_assert_not (sbx_mp_str_eq (a, "xx"));
    cr_assert_not (sbx_mp_str_eq (a, ""));
    cr_assert_not (sbx_mp_str_eq (sbx_mp_map_get (o, "bb"), "2"));
    cr_assert_null (sbx_mp_map_get (o, "b"));
    cr_assert_null (sbx_mp_map_get (o, "bbb"));
    cr_assert_null (sbx_mp_map_get (a, "a"));     //  not a map
    cr_assert_null (sbx_mp_map_get (NULL, "a"));
    char *s = sbx_mp_strdup (sbx_mp_map_get (o, "a2"));
    cr_assert_str_eq (s, "y");
    free (s);
    s = sbx_mp_strdup (sbx_mp_map_get (o, "empty"));
    cr_assert_str_eq (s, "");
    free (s);
    cr_assert (sbx_mp_str_eq (sbx_mp_map_get (o, "empty"), ""));
    cr_assert_null (sbx_mp_strdup (sbx_mp_map_get (o, "bb")));
    cr_assert_null (sbx_mp_strdup (NULL));
    s_packed_destroy (&packed);

    //  Of duplicate keys the last wins, as in a JSON object.
    o = s_pack_json (&packed, "{\"k\": 1, \"x\": 2}");
    packed.unpacked.data.via.map.ptr [1].key = packed.unpacked.data.via.map.ptr [0].key;
    cr_assert_eq (sbx_mp_map_get (o, "k")->via.u64, 2);
    s_packed_destroy (&packed);

    //  A str holding NUL is refused.
    msgpack_object nul = { .type = MSGPACK_OBJECT_STR,
                           .via.str = { .size = 3, .ptr = "a\0b" } };
    cr_assert_null (sbx_mp_strdup (&nul));
    cr_assert_not (sbx_mp_str_eq (&nul, "a"));
}

static void
s_assert_json (const msgpack_object *o, const char *expected)
{
    json_t *json = sbx_mp_to_json (o);
    char *text = json_dumps (json, JSON_ENCODE_ANY | JSON_COMPACT);
    cr_assert_str_eq (text, expected);
    free (text);
    json_decref (json);
}

Test (mp, to_json_every_type)
{
    static const struct {
        const char *bytes;
        size_t size;
        const char *json;
    } cases [] = {
        { "\xc0", 1, "null" },
        { "\xc3", 1, "true" },
        { "\xc2", 1, "false" },
        { "\x05", 1, "5" },
        { "\xff", 1, "-1" },
        { "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9, "-9223372036854775808" },
        { "\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9, "9223372036854775807" },
        { "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", 9, "1.5" },
        { "\xca\x3f\xc0\x00\x00", 5, "1.5" },
        { "\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 9, "null" },      //  NaN
        { "\xa3" "abc", 4, "\"abc\"" },
        { "\xc4\x02" "hi", 4, "\"hi\"" },
        { "\xc4\x02\xff\x00", 4, "[255,0]" },
        { "\xd4\x01\x41", 3, "\"A\"" },
        { "\x93\x01\xa1" "a\x90", 5, "[1,\"a\",[]]" },
        { "\x83\xa1z\x01\xa1" "a\x02\xa1m\x03", 10, "{\"z\":1,\"a\":2,\"m\":3}" },
        { "\x82\x01\xa1x\xc0\xa1y", 7, "{\"1\":\"x\",\"null\":\"y\"}" },
        { "\x81\x92\x01\x02\xc3", 5, "{\"[1,2]\":true}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        msgpack_unpacked unpacked;
        msgpack_unpacked_init (&unpacked);
        size_t offset = 0;
        cr_assert_eq (msgpack_unpack_next (&unpacked, cases [i].bytes, cases [i].size,
                                           &offset), MSGPACK_UNPACK_SUCCESS);
        s_assert_json (&unpacked.data, cases [i].json);
        msgpack_unpacked_destroy (&unpacked);
    }
    //  Beyond int64 a number can only be a real.
    msgpack_object big = { .type = MSGPACK_OBJECT_POSITIVE_INTEGER,
                           .via.u64 = UINT64_MAX };
    json_t *json = sbx_mp_to_json (&big);
    cr_assert (json_is_real (json));
    json_decref (json);
    json = sbx_mp_to_json (NULL);
    cr_assert (json_is_null (json));
    json_decref (json);
}

//  Maps as keys of maps as keys...: each level escapes the one inside, so
//  uncut key texts would double per level (fuzzing found a 546-byte reply
//  that asked jansson for gigabytes).
Test (mp, to_json_cuts_long_keys)
{
    //  [1, 2, ..., 60] as a key: its text is cut at 128 bytes.
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 1);
    msgpack_pack_array (&pk, 60);
    for (int i = 1; i <= 60; i++)
        msgpack_pack_int (&pk, i);
    msgpack_pack_nil (&pk);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    cr_assert_eq (msgpack_unpack_next (&unpacked, buffer.data, buffer.size, &offset),
                  MSGPACK_UNPACK_SUCCESS);
    json_t *json = sbx_mp_to_json (&unpacked.data);
    const char *key = json_object_iter_key (json_object_iter (json));
    cr_assert_eq (strlen (key), 128);
    cr_assert (strncmp (key, "[1,2,3,", 7) == 0);
    cr_assert_str_eq (key + 125, "...");
    json_decref (json);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);

    //  16 levels of {<key>: 1}, innermost key {"\"": "\\"}: uncut, ~330 KB
    //  of JSON, doubling with every further level.
    msgpack_sbuffer_init (&buffer);
    for (int i = 0; i < 16; i++)
        msgpack_sbuffer_write (&buffer, "\x81", 1);
    msgpack_sbuffer_write (&buffer, "\xa1\"\xa1\\", 4);
    for (int i = 0; i < 15; i++)
        msgpack_sbuffer_write (&buffer, "\x01", 1);
    cr_assert_null (sbx_mp_check (buffer.data, buffer.size, 32));
    msgpack_unpacked_init (&unpacked);
    offset = 0;
    cr_assert_eq (msgpack_unpack_next (&unpacked, buffer.data, buffer.size, &offset),
                  MSGPACK_UNPACK_SUCCESS);
    json = sbx_mp_to_json (&unpacked.data);
    char *text = json_dumps (json, JSON_COMPACT);
    cr_assert_lt (strlen (text), 1024, "%zu bytes", strlen (text));
    free (text);
    json_decref (json);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);

    //  Multi-byte characters are not cut in the middle.
    msgpack_sbuffer_init (&buffer);
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 1);
    msgpack_pack_array (&pk, 1);
    char euros [3 * 60];
    for (int i = 0; i < 60; i++)
        memcpy (euros + 3 * i, "\xe2\x82\xac", 3);
    sbx_mp_pack_strn (&pk, euros, sizeof euros);
    msgpack_pack_nil (&pk);
    msgpack_unpacked_init (&unpacked);
    offset = 0;
    cr_assert_eq (msgpack_unpack_next (&unpacked, buffer.data, buffer.size, &offset),
                  MSGPACK_UNPACK_SUCCESS);
    json = sbx_mp_to_json (&unpacked.data);
    key = json_object_iter_key (json_object_iter (json));
    cr_assert_not_null (key, "the cut key is still valid UTF-8");
    cr_assert_leq (strlen (key), 128);
    cr_assert_str_eq (key + strlen (key) - 3, "...");
    json_decref (json);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&buffer);
}

Test (mp, json_round_trip)
{
    const char *texts [] = {
        "{\"op\":\"call\",\"args\":{\"code\":\"echo \\\"hi\\\"\",\"n\":-3,\"f\":0.25,"
        "\"l\":[true,false,null,{}],\"u\":\"\xc3\xa9\xe2\x82\xac\"}}",
        "[]",
        "{}",
        "\"x\"",
        "12345678901",
        "{\"z\":1,\"y\":2,\"x\":{\"b\":[1,[2,[3]]],\"a\":\"\"}}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts [0]; i++) {
        packed_t packed;
        const msgpack_object *o = s_pack_json (&packed, texts [i]);
        json_t *back = sbx_mp_to_json (o);
        char *text = json_dumps (back, JSON_ENCODE_ANY | JSON_COMPACT);
        cr_assert_str_eq (text, texts [i]);
        free (text);
        json_decref (back);
        s_packed_destroy (&packed);
    }
}

Test (mp, from_json_types)
{
    json_t *json = json_pack ("{s:i, s:f, s:s, s:b, s:n}", "i", 300, "f", 0.5,
                              "s", "str", "b", 1, "n");
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
    sbx_mp_from_json (&pk, json);
    sbx_mp_from_json (&pk, NULL);
    static const char expected [] =
        "\x85\xa1i\xcd\x01\x2c\xa1" "f\xcb\x3f\xe0\x00\x00\x00\x00\x00\x00"
        "\xa1s\xa3str\xa1" "b\xc3\xa1n\xc0" "\xc0";
    cr_assert_eq (buffer.size, sizeof expected - 1);
    cr_assert (memcmp (buffer.data, expected, buffer.size) == 0);
    msgpack_sbuffer_destroy (&buffer);
    json_decref (json);
}
