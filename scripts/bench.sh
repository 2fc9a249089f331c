#!/usr/bin/env bash
# `make bench`: runs every benchmark in bench/ and prints one table.
set -euo pipefail
build=${1:-build}
quick=${2:-0}
shopt -s nullglob
benches=("$build"/bench_*)
if [ ${#benches[@]} -eq 0 ]; then
    echo "sbx: no benchmarks are built yet (bench/ is empty)" >&2
    exit 1
fi
for b in "${benches[@]}"; do
    [ -x "$b" ] || continue
    if [ "$quick" = 1 ]; then "$b" --quick; else "$b"; fi
done
