#!/bin/sh
# `cmake --install` into a temporary prefix, then what a user of it does:
# pkg-config finds libsbx-client, a small client builds against it (shared
# and static) and says hello to the installed sbxd, which runs a command
# with the installed sbx-init; the manual pages render and the systemd
# unit names the installed sbxd.
#
#   tests/test_install.sh BUILD_DIR
#
# SBX_TEST_CFLAGS adds compiler flags (the sanitizer build's). Waits on
# sbxd's output, never on time.
set -eu
build=$(cd "${1:?usage: test_install.sh BUILD_DIR}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sbx-install-XXXXXX")
# Sandboxes run as uids of their own when sbxd is root: they must be able
# to pass through the directory that holds their root_dir.
chmod 0711 "$work"
prefix="$work/prefix"
daemon=""
cleanup () {
    if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
        kill -KILL "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
fail () {
    echo "test_install: FAIL: $*" >&2
    exit 1
}

echo "test_install: cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log" >&2; fail "cmake --install"; }
for file in bin/sbxd bin/sbx-init bin/sbx lib/libsbx-client.a lib/libsbx-client.so \
            include/sbx/client.h include/sbx/error.h include/sbx/event.h lib/pkgconfig/sbx.pc \
            share/man/man1/sbx.1 share/man/man8/sbxd.8 lib/systemd/system/sbxd.service; do
    [ -e "$prefix/$file" ] || fail "$file is not installed"
done
[ -x "$prefix/bin/sbxd" ] && [ -x "$prefix/bin/sbx-init" ] && [ -x "$prefix/bin/sbx" ] || fail "programs not executable"

# The unit runs the sbxd of this prefix.
grep -q "^ExecStart=$prefix/bin/sbxd " "$prefix/lib/systemd/system/sbxd.service" \
    || fail "sbxd.service does not start $prefix/bin/sbxd"
if command -v systemd-analyze >/dev/null 2>&1; then
    # Offline: only the unit's syntax and its ExecStart.
    out=$(systemd-analyze verify "$prefix/lib/systemd/system/sbxd.service" 2>&1) || true
    if echo "$out" | grep -q "sbxd.service:.*\(Unknown key\|Invalid\|Failed to parse\|Missing\)"; then
        echo "$out" >&2
        fail "systemd-analyze verify"
    fi
fi
# The manual pages render without warnings.
if command -v groff >/dev/null 2>&1; then
    for page in "$prefix/share/man/man1/sbx.1" "$prefix/share/man/man8/sbxd.8"; do
        warnings=$(groff -man -ww -z "$page" 2>&1)
        [ -z "$warnings" ] || fail "$page: $warnings"
    done
fi

# A client, as docs/install.md shows it.
cat >"$work/hello.c" <<'EOF'
#include <sbx/client.h>
#include <stdio.h>

int
main (int argc, char *argv [])
{
    sbx_error_t *error = NULL;
    sbx_client_t *client = sbx_client_new (argc > 1 ? argv [1] : NULL, NULL, &error);
    if (!client) {
        fprintf (stderr, "%s: %s\n", sbx_error_type (error), sbx_error_message (error));
        sbx_error_destroy (&error);
        return 1;
    }
    const json_t *hello = sbx_client_hello (client);
    printf ("hello from environment '%s' (protocol %d)\n",
            json_string_value (json_object_get (hello, "environment")),
            (int) json_integer_value (json_object_get (hello, "protocol")));
    sbx_client_destroy (&client);
    return 0;
}
EOF
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pkg-config --exists sbx || fail "pkg-config does not find sbx in $PKG_CONFIG_PATH"
[ "$(pkg-config --variable=prefix sbx)" = "$prefix" ] || fail "sbx.pc's prefix is not $prefix"
cc=${CC:-cc}
# shellcheck disable=SC2046,SC2086
$cc -std=c11 ${SBX_TEST_CFLAGS:-} -o "$work/hello" "$work/hello.c" $(pkg-config --cflags --libs sbx) \
    || fail "cc hello.c \$(pkg-config --cflags --libs sbx)"
# The archive, with the libraries it stands on shared (as the system has
# them: their own static forms need half the distribution).
# shellcheck disable=SC2046,SC2086
$cc -std=c11 ${SBX_TEST_CFLAGS:-} -o "$work/hello-static" "$work/hello.c" $(pkg-config --cflags sbx) \
    "$prefix/lib/libsbx-client.a" $(pkg-config --libs libczmq libzmq msgpack jansson) -lpthread -lm \
    || fail "cc hello.c libsbx-client.a"

# The installed sbxd, on free ports, its sandboxes under $work.
cat >"$work/sbxd.json" <<EOF
{"environment": {"id": "install-$$", "pool": {"min": 1, "max": 1}, "root_dir": "$work/root",
                 "keepalive_interval_s": null, "stats_report_interval_s": null},
 "sandbox": {"kind": "process"},
 "features": {"shell": {"kind": "shell"}, "fs": {"kind": "fs"}},
 "endpoints": {"requests": "tcp://127.0.0.1:*", "events": "tcp://127.0.0.1:*",
               "metrics": "http://127.0.0.1:0/metrics"}}
EOF
"$prefix/bin/sbxd" --check -c "$work/sbxd.json" >/dev/null || fail "sbxd --check"
mkfifo "$work/sbxd.out"
"$prefix/bin/sbxd" -c "$work/sbxd.json" >"$work/sbxd.out" 2>"$work/sbxd.err" &
daemon=$!
exec 3<"$work/sbxd.out"
line=""
read -r line <&3 || true
case "$line" in
    *" listening: requests="*) ;;
    *) cat "$work/sbxd.err" >&2; fail "sbxd did not say where it listens: '$line'" ;;
esac
endpoint=${line#* requests=}
endpoint=${endpoint%% *}

out=$(LD_LIBRARY_PATH="$prefix/lib" "$work/hello" "$endpoint") || fail "hello (shared): $out"
[ "$out" = "hello from environment 'install-$$' (protocol 1)" ] || fail "hello said '$out'"
out=$(env -u LD_LIBRARY_PATH "$work/hello-static" "$endpoint") || fail "hello (static): $out"
[ "$out" = "hello from environment 'install-$$' (protocol 1)" ] || fail "hello-static said '$out'"
# The shared client really is the installed library.
if command -v ldd >/dev/null 2>&1; then
    LD_LIBRARY_PATH="$prefix/lib" ldd "$work/hello" | grep -q "$prefix/lib/libsbx-client.so" \
        || fail "hello does not use $prefix/lib/libsbx-client.so"
fi
# A command runs: the installed sbxd found the installed sbx-init.
out=$(echo installed | "$prefix/bin/sbx" --endpoint "$endpoint" run -- cat) || fail "sbx run: $out"
[ "$out" = "installed" ] || fail "sbx run printed '$out'"

kill -TERM "$daemon"
code=0
wait "$daemon" || code=$?
daemon=""
exec 3<&-
[ "$code" -eq 0 ] || { cat "$work/sbxd.err" >&2; fail "sbxd exited $code after SIGTERM"; }
[ ! -e "$work/root/install-$$" ] || fail "sbxd left $work/root/install-$$ behind"
cat "$work/sbxd.err" >&2
echo "test_install: ok"
