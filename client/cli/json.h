/*  json - how the `sbx` tool shows msgpack as JSON, and reads JSON args.

    JSON has no bytes, msgpack does (`bin`: fs.read's result, shell.run's
    output when it is not UTF-8). The tool writes a bin value as a string
    when its bytes are valid UTF-8 (so text files read as text), and
    otherwise as a one-key object

        {"$base64": "AAEC/w=="}

    holding the bytes in standard base64 (RFC 4648, padded). Reading args,
    the same object is packed back as bin, so what `sbx call` prints can
    be sent again as it is. An ext value prints like bin. Strings may hold
    NUL (`"\u0000"`): they stay msgpack str.

    (cli.h's sbx_cli_print_json prints reals with 15 significant digits:
    16.665, not 16.664999999999999.)
*/
#ifndef SBX_CLI_JSON_H
#define SBX_CLI_JSON_H

#include <jansson.h>
#include <msgpack.h>

//  The key of the object that stands for bytes.
#define SBX_CLI_JSON_BYTES "$base64"

//  The JSON form of a msgpack object, with bytes as above. Caller owns the
//  reference. Map keys that are not strings become their JSON text.
json_t *
    sbx_cli_json_from_mp (const msgpack_object *object);

//  Packs a JSON value as msgpack, {"$base64": "..."} as bin. Returns 0,
//  or -1 when such an object does not hold valid base64 (nothing usable
//  is packed then; *bad_p names the offending text, borrowed from json).
int
    sbx_cli_json_to_mp (msgpack_packer *packer, const json_t *json, const char **bad_p);

#endif
