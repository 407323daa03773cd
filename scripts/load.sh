#!/usr/bin/env bash
# Load harness of the keeper daemon (keeper/examples/load.rs): builds it in release and
# runs the daemon against an in-process bank holding 10,000 threads that fall due within
# one simulated minute (10,000 due per minute), then prints executions per second,
# due-to-submit delay (p50/p99, with where the time went), memory per tracked thread and
# idle RPC calls per scheduler tick with N threads against N/10 in the same run. The
# README records the latest figures with the command that made them.
#
#   scripts/load.sh                  # the README's figures (about 4 minutes after the build)
#   scripts/load.sh --quick          # 1,000 threads due over 6 s: a smoke run (~30 s)
#   scripts/load.sh --tick-ms 100    # extra flags go to the harness (--help lists them)
set -euo pipefail
cd "$(dirname "$0")/.."

args=(--threads 10000 --spread-secs 60 --idle-secs 10 --drain-secs 60)
if [[ "${1:-}" == "--quick" ]]; then
    shift
    args=(--threads 1000 --spread-secs 6 --idle-secs 3 --drain-secs 20)
fi

exec cargo run --release -p keeper --example load -- "${args[@]}" "$@"
