#!/usr/bin/env bash
# `make run`: starts sbxd on its embedded default configuration, in the
# foreground. It prints where it listens; Ctrl-C shuts it down gracefully.
set -euo pipefail
build=${1:-build}
if [ ! -x "$build/sbxd" ]; then
    echo "sbx: $build/sbxd was not built (see the build output above)" >&2
    exit 1
fi
echo "sbx: starting $build/sbxd (Ctrl-C to stop; 'sbxd --help' for options)"
exec "$build/sbxd" ${SBXD_ARGS:-}
