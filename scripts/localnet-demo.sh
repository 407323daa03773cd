#!/usr/bin/env bash
# `scripts/setup.sh --localnet`: the real pipeline over the wire. Starts `localnet` (a
# validator with the thread program, on loopback) with example threads created over
# JSON-RPC, runs `keeper run` against it for LOCALNET_SECONDS (60), then stops both and
# prints what the keeper executed. Extra arguments go to `keeper run`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }
seconds="${LOCALNET_SECONDS:-60}"
rpc_port="${LOCALNET_RPC_PORT:-8899}"
health="${KEEPER_HEALTH_ADDR:-127.0.0.1:9464}"
run=target/localnet-run

step "localnet build (the first one takes ~20-30 min on 2 cores)"
scripts/localnet.sh build

mkdir -p "$run"
# The ledger is new each time, so an old store would only hold executions of threads
# that no longer exist.
rm -f "$run/ready.json" "$run/keeper.sqlite" "$run/keeper.sqlite-wal" "$run/keeper.sqlite-shm"

step "localnet on 127.0.0.1:$rpc_port (log: $run/localnet.log)"
localnet/target/debug/localnet --rpc-port "$rpc_port" --example-threads \
    --keeper-keypair "$run/keeper-keypair.json" --ready-file "$run/ready.json" \
    >"$run/localnet.log" 2>&1 &
localnet_pid=$!
keeper_pid=""
stop_all() {
    [ -n "$keeper_pid" ] && kill -TERM "$keeper_pid" 2>/dev/null && wait "$keeper_pid" || true
    kill -TERM "$localnet_pid" 2>/dev/null && wait "$localnet_pid" || true
}
trap stop_all EXIT

for _ in $(seq 1 900); do
    [ -f "$run/ready.json" ] && break
    if ! kill -0 "$localnet_pid" 2>/dev/null; then
        cat "$run/localnet.log" >&2
        echo "localnet stopped before serving (log above)" >&2
        exit 1
    fi
    sleep 0.2
done
[ -f "$run/ready.json" ] || { echo "localnet did not serve within 180 s" >&2; exit 1; }
grep -v '^\[' "$run/localnet.log" | grep -v '^localnet: starting' >&2 || true

field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$run/ready.json" "$1"; }
rpc_url=$(field rpc_url)
ws_url=$(field websocket_url)

step "keeper run against $rpc_url for $seconds s (health and metrics on http://$health)"
./target/debug/keeper --rpc-url "$rpc_url" --ws-url "$ws_url" \
    --keypair "$run/keeper-keypair.json" --store "$run/keeper.sqlite" \
    run --health-addr "$health" "$@" &
keeper_pid=$!
sleep "$seconds"

step "what the keeper did (from /metrics)"
python3 - "$health" <<'PY' || true
import sys, urllib.request
body = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=5).read().decode()
wanted = ("keeper_executions_submitted_total", "keeper_executions_confirmed_total",
          "keeper_executions_failed_total", "keeper_dead_lettered_total", "keeper_active_nonces")
for line in body.splitlines():
    # Counters that stayed at zero say nothing here; the confirmed count always shows.
    if line.startswith(wanted) and (not line.endswith(" 0") or "confirmed" in line):
        print("  " + line)
PY

step "stopping the keeper, then localnet"
kill -TERM "$keeper_pid"
wait "$keeper_pid" || true
keeper_pid=""
