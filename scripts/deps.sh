#!/usr/bin/env bash
# Installs the Debian packages sbx needs, when run as root; otherwise
# prints the one command that would. Quiet when everything is there.
set -euo pipefail
pkgs="libzmq3-dev libczmq-dev libmsgpack-dev libcriterion-dev libjansson-dev
libncurses-dev libedit-dev bubblewrap pkg-config cmake clang python3-zmq python3-msgpack
python3-pytest libmicrohttpd-dev prometheus python3-prometheus-client"
missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "sbx: missing packages:$missing" >&2
    echo "sbx: install them with: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "sbx: installing missing packages:$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
