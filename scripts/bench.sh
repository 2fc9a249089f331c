#!/usr/bin/env bash
# `make bench`: runs build/bench_sbx (every section in bench/, built as one
# executable) and prints one table, then the Python client's section
# (bench/bench_python.py, beside a bare pyzmq round trip).
set -euo pipefail
build=${1:-build}
quick=${2:-0}
bench="$build/bench_sbx"
if [ ! -x "$bench" ]; then
    echo "sbx: $bench is not built" >&2
    exit 1
fi
if [ "$quick" = 1 ]; then "$bench" --quick; else "$bench"; fi
echo
echo "13. the Python client (sb.shell(...) beside a bare pyzmq DEALER, same daemon)"
here=$(cd "$(dirname "$0")/.." && pwd)
if /usr/bin/python3 -c 'import zmq, msgpack' 2>/dev/null; then
    if [ "$quick" = 1 ]; then rounds=(--rounds 4 --calls 200); else rounds=(); fi
    /usr/bin/python3 "$here/bench/bench_python.py" "$build" "${rounds[@]}"
else
    echo "  not run: /usr/bin/python3 lacks zmq or msgpack (apt-get install python3-zmq python3-msgpack)"
fi
