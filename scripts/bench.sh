#!/usr/bin/env bash
# `make bench`: runs build/bench_sbx (every section in bench/, built as one
# executable) and prints one table.
set -euo pipefail
build=${1:-build}
quick=${2:-0}
bench="$build/bench_sbx"
if [ ! -x "$bench" ]; then
    echo "sbx: $bench is not built" >&2
    exit 1
fi
if [ "$quick" = 1 ]; then exec "$bench" --quick; else exec "$bench"; fi
