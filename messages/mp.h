/*  sbx_mp - msgpack helpers shared by the codecs: a bounded validator that
    runs before anything is decoded, string packing, error values on the
    wire, map lookup, and msgpack <-> JSON conversion.

    No sockets here. All functions are reentrant.
*/
#ifndef SBX_MP_H
#define SBX_MP_H

#include <msgpack.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sbx/error.h>

//  Deepest nesting a body may have (the top-level map is depth 1): 32, the
//  most msgpack-c's unpacker can open (MSGPACK_EMBED_STACK_SIZE).
#define SBX_MP_MAX_DEPTH 32

//  Checks that `data` holds exactly one well-formed msgpack object, nested
//  at most `max_depth` deep, whose every array/map count is possible given
//  the bytes that remain (so a header claiming 2^31 items is refused before
//  anything is allocated), and whose every str is valid UTF-8. Returns NULL
//  when it is, else a BadRequest error naming the byte offset. Allocates
//  nothing on success; does not recurse (constant stack).
sbx_error_t *
    sbx_mp_check (const void *data, size_t size, unsigned max_depth);
//  sbx_mp_check for a reply or event body: SBX_MP_MAX_DEPTH deep at most,
//  and never deeper than msgpack-c's unpacker can open.
sbx_error_t *
    sbx_mp_check_body (const void *data, size_t size);

//  Packs a C string (NULL packs nil).
void
    sbx_mp_pack_str (msgpack_packer *pk, const char *s);
//  Packs a C string as a map key or value of known length.
void
    sbx_mp_pack_strn (msgpack_packer *pk, const char *s, size_t len);

//  Packs an error as {type, message, sandbox?, errors?}; NULL packs nil.
void
    sbx_mp_pack_error (msgpack_packer *pk, const sbx_error_t *error);
//  Unpacks an error map. Returns NULL (and sets *problem_p to a static
//  description when given) when `o` is not a well-formed error.
sbx_error_t *
    sbx_mp_unpack_error (const msgpack_object *o, const char **problem_p);

//  Hands `error` to the caller through `error_p`, or destroys it when
//  `error_p` is NULL (the caller does not want it).
void
    sbx_mp_give_error (sbx_error_t *error, sbx_error_t **error_p);

//  Looks up `key` in a map object; NULL when `o` is not a map or the key
//  is absent. With duplicate keys, the last one wins.
const msgpack_object *
    sbx_mp_map_get (const msgpack_object *o, const char *key);
//  Index of `name` (`len` bytes, not NUL-terminated) in a table of
//  `count` names; -1 when absent. For the op and event-kind tables.
int
    sbx_mp_name_index (const char *const *names, int count, const char *name, size_t len);
//  The name at `index` in a table of `count` names; NULL when out of range.
const char *
    sbx_mp_name_at (const char *const *names, int count, int index);

//  The name of an object's type, for messages ("integer", "string").
const char *
    sbx_mp_type_name (const msgpack_object *o);
//  True when `o` is NULL (absent key) or nil: optional keys treat both so.
bool
    sbx_mp_absent (const msgpack_object *o);
//  Finds an optional key of a map: *o_p is its object, or NULL when it is
//  absent or nil; a BadRequest naming the key when it is not of `type`
//  (`what` names the type for the message: "a string").
sbx_error_t *
    sbx_mp_get_object (const msgpack_object *map, const char *key, msgpack_object_type type,
                       const char *what, const msgpack_object **o_p);
//  Reads an optional string key of a map into a new C string (caller
//  frees). Absent or nil: *field_p is left alone and NULL is returned; not
//  a string, or holding a NUL byte: a BadRequest naming the key.
sbx_error_t *
    sbx_mp_get_str (const msgpack_object *map, const char *key, char **field_p);
//  Finds a required string key of a map and sets *o_p to it; a BadRequest
//  naming the key when it is absent, nil or not a string.
sbx_error_t *
    sbx_mp_get_name (const msgpack_object *map, const char *key, const msgpack_object **o_p);
//  Reads an optional map key into a new msgpack encoding of it (caller
//  frees *data_p), so that it outlives the buffer it was decoded from.
//  Absent or nil: nothing is set and NULL is returned; not a map: a
//  BadRequest naming the key.
sbx_error_t *
    sbx_mp_get_map (const msgpack_object *map, const char *key, uint8_t **data_p,
                    size_t *size_p);

//  Copies a str object into a new C string (caller frees); NULL if `o` is
//  not a str or holds a NUL byte.
char *
    sbx_mp_strdup (const msgpack_object *o);
//  True when `o` is a str equal to `s`.
bool
    sbx_mp_str_eq (const msgpack_object *o, const char *s);

//  True when s [0 .. len) is strict UTF-8 (RFC 3629: no overlong forms, no
//  surrogates, nothing above U+10FFFF), as msgpack `str` values must be.
bool
    sbx_mp_utf8_valid (const uint8_t *s, size_t len);

//  Converts a msgpack object to JSON (caller owns the reference). Maps keep
//  their order; non-string keys are rendered as their JSON text, cut to 128
//  bytes (nested keys would otherwise double in size per level); bin and
//  ext become strings when they are UTF-8, else arrays of byte values.
json_t *
    sbx_mp_to_json (const msgpack_object *o);
//  Packs a JSON value as msgpack (objects keep their key order; integers
//  stay integers, reals become float64).
void
    sbx_mp_from_json (msgpack_packer *pk, const json_t *json);

#endif
