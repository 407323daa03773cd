#!/usr/bin/env bash
# Measures a running `localnet` (built by scripts/localnet.sh build): seconds from start
# to its ready file, then over SECONDS_IDLE (30) of idling its resident memory and the
# cores it keeps busy (user + system CPU time from /proc, divided by the wall time).
# Prints the figures the README's "Build and test times" gives for localnet.
set -euo pipefail
cd "$(dirname "$0")/.."
idle="${SECONDS_IDLE:-30}"
binary=localnet/target/debug/localnet
[ -x "$binary" ] || { echo "build it first: scripts/localnet.sh build" >&2; exit 1; }
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"; rm -rf "$work"' EXIT

start=$(date +%s.%N)
"$binary" --rpc-port 0 --ready-file "$work/ready.json" >"$work/log" 2>&1 &
pid=$!
until [ -f "$work/ready.json" ]; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
    sleep 0.05
done
ready=$(date +%s.%N)

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks)
sleep "$idle"
after=$(ticks)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")

python3 - "$start" "$ready" "$before" "$after" "$hz" "$idle" "$rss_kb" "$(stat -c %s "$binary")" <<'PY'
import sys
start, ready, before, after, hz, idle, rss_kb, size = map(float, sys.argv[1:])
print(f"start to serving: {ready - start:.1f} s")
print(f"resident memory after {idle:.0f} s idle: {rss_kb / 1024 / 1024:.2f} GiB")
print(f"cores busy while idle: {(after - before) / hz / idle:.2f}")
print(f"binary: {size / 1e6:.0f} MB")
PY
