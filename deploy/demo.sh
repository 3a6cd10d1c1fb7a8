#!/usr/bin/env bash
# `make demo`: checks the demo configuration, creates the demo's operator account the first time
# (a supervisor named `demo` with a random password kept in var/demo-password, readable by you
# only), prints how to log in, and runs the engine. There is no default password in Vigie itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./target/release/vigie
cfg=deploy/demo.toml
mkdir -p var
"$bin" check-config "$cfg"
if [ ! -s var/demo-password ] && "$bin" user list --config "$cfg" | grep -q '^no account yet'; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' > var/demo-password)
    "$bin" user add demo --role supervisor --config "$cfg" --password-stdin < var/demo-password
fi
if [ -s var/demo-password ]; then
    echo "Console login: demo / $(cat var/demo-password)   (password kept in var/demo-password)"
fi
exec "$bin" run "$cfg"
