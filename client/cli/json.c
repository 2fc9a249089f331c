/*  json - msgpack as JSON and back for the `sbx` tool: see json.h */
#include "json.h"

#include <czmq.h>
#include <string.h>

//  Bytes as a JSON string when they are UTF-8 (jansson checks), else as
//  {"$base64": ...}.
static json_t *
s_bytes (const char *data, size_t size)
{
    json_t *text = json_stringn (size ? data : "", size);
    if (text)
        return text;
    zarmour_t *armour = zarmour_new ();
    zarmour_set_mode (armour, ZARMOUR_MODE_BASE64_STD);
    char *encoded = zarmour_encode (armour, (const byte *) data, size);
    zarmour_destroy (&armour);
    json_t *object = json_pack ("{s:s}", SBX_CLI_JSON_BYTES, encoded ? encoded : "");
    free (encoded);
    return object;
}

json_t *
sbx_cli_json_from_mp (const msgpack_object *object)
{
    if (!object)
        return json_null ();
    switch (object->type) {
        case MSGPACK_OBJECT_NIL:
            return json_null ();
        case MSGPACK_OBJECT_BOOLEAN:
            return json_boolean (object->via.boolean);
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            //  jansson's integers are signed 64-bit: larger ones as reals.
            return object->via.u64 > INT64_MAX ? json_real ((double) object->via.u64)
                                               : json_integer ((json_int_t) object->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return json_integer ((json_int_t) object->via.i64);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return json_real (object->via.f64);
        case MSGPACK_OBJECT_STR:
            return s_bytes (object->via.str.ptr, object->via.str.size);
        case MSGPACK_OBJECT_BIN:
            return s_bytes (object->via.bin.ptr, object->via.bin.size);
        case MSGPACK_OBJECT_EXT:
            return s_bytes (object->via.ext.ptr, object->via.ext.size);
        case MSGPACK_OBJECT_ARRAY: {
            json_t *array = json_array ();
            for (uint32_t i = 0; i < object->via.array.size; i++)
                json_array_append_new (array, sbx_cli_json_from_mp (&object->via.array.ptr [i]));
            return array;
        }
        case MSGPACK_OBJECT_MAP: {
            json_t *map = json_object ();
            for (uint32_t i = 0; i < object->via.map.size; i++) {
                const msgpack_object *key = &object->via.map.ptr [i].key;
                json_t *value = sbx_cli_json_from_mp (&object->via.map.ptr [i].val);
                char *name = NULL;
                if (key->type == MSGPACK_OBJECT_STR)
                    name = strndup (key->via.str.ptr, key->via.str.size);
                else {
                    json_t *text = sbx_cli_json_from_mp (key);
                    name = json_dumps (text, JSON_ENCODE_ANY | JSON_COMPACT);
                    json_decref (text);
                }
                //  A key with a NUL in it is cut there: JSON object keys
                //  are C strings in jansson.
                if (name)
                    json_object_set_new (map, name, value);
                else
                    json_decref (value);
                free (name);
            }
            return map;
        }
    }
    return json_null ();
}

//  Standard base64, padded: the bytes followed by a NUL (zarmour adds
//  one), or NULL when `text` is not that.
static zchunk_t *
s_base64_decode (const char *text)
{
    size_t length = strlen (text);
    if (length % 4)
        return NULL;
    size_t padding = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text [i];
        if (c == '=' && i >= length - 2)
            padding++;
        else
        if (padding || !(isalnum ((unsigned char) c) || c == '+' || c == '/'))
            return NULL;
    }
    zarmour_t *armour = zarmour_new ();
    zarmour_set_mode (armour, ZARMOUR_MODE_BASE64_STD);
    zchunk_t *chunk = zarmour_decode (armour, text);
    zarmour_destroy (&armour);
    return chunk;
}

int
sbx_cli_json_to_mp (msgpack_packer *packer, const json_t *json, const char **bad_p)
{
    switch (json_typeof (json)) {
        case JSON_NULL:
            msgpack_pack_nil (packer);
            return 0;
        case JSON_TRUE:
            msgpack_pack_true (packer);
            return 0;
        case JSON_FALSE:
            msgpack_pack_false (packer);
            return 0;
        case JSON_INTEGER:
            msgpack_pack_int64 (packer, json_integer_value (json));
            return 0;
        case JSON_REAL:
            msgpack_pack_double (packer, json_real_value (json));
            return 0;
        case JSON_STRING:
            msgpack_pack_str_with_body (packer, json_string_value (json), json_string_length (json));
            return 0;
        case JSON_ARRAY: {
            msgpack_pack_array (packer, json_array_size (json));
            size_t i;
            json_t *item;
            json_array_foreach (json, i, item)
                if (sbx_cli_json_to_mp (packer, item, bad_p) != 0)
                    return -1;
            return 0;
        }
        case JSON_OBJECT: {
            const json_t *bytes = json_object_get (json, SBX_CLI_JSON_BYTES);
            if (bytes && json_object_size (json) == 1) {
                zchunk_t *chunk = json_is_string (bytes) ? s_base64_decode (json_string_value (bytes)) : NULL;
                if (!chunk) {
                    *bad_p = json_is_string (bytes) ? json_string_value (bytes) : "(not a string)";
                    return -1;
                }
                size_t size = zchunk_size (chunk);
                msgpack_pack_bin_with_body (packer, zchunk_data (chunk), size ? size - 1 : 0);
                zchunk_destroy (&chunk);
                return 0;
            }
            msgpack_pack_map (packer, json_object_size (json));
            const char *key;
            json_t *value;
            json_object_foreach ((json_t *) json, key, value) {
                msgpack_pack_str_with_body (packer, key, strlen (key));
                if (sbx_cli_json_to_mp (packer, value, bad_p) != 0)
                    return -1;
            }
            return 0;
        }
    }
    return 0;
}
