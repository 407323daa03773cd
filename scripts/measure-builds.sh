#!/usr/bin/env bash
# Measures the two builds of the `keeper` binary from scratch, each in a fresh target
# directory: the lean operator build (--no-default-features: no in-process bank, no
# test harness) and the default build (with `keeper sandbox`). Prints one Markdown table
# row per build for the README: crates in the dependency graph, wall time, CPU time and
# the stripped binary's size. Usage: scripts/measure-builds.sh [PROFILE] (default: release).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-release}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

measure() {
    local name="$1"; shift
    local crates
    crates=$(cargo tree -p keeper "$@" -e normal,build --prefix none | sort -u | wc -l)
    local start end
    start=$(date +%s)
    /usr/bin/time -f "%U %S" -o "$work/cpu" \
        env CARGO_TARGET_DIR="$work/$name" cargo build --quiet --profile "$profile" -p keeper --bin keeper "$@"
    end=$(date +%s)
    local dir="$profile"; [ "$profile" = dev ] && dir=debug
    local bin="$work/$name/$dir/keeper"
    strip -o "$work/keeper-$name" "$bin"
    read -r user sys < "$work/cpu"
    printf '| %s | `cargo build --profile %s -p keeper%s` | %s | %d min %02d s | %.0f min | %.1f MB |\n' \
        "$name" "$profile" "${*:+ $*}" "$crates" $(((end - start) / 60)) $(((end - start) % 60)) \
        "$(awk "BEGIN { print ($user + $sys) / 60 }")" \
        "$(awk "BEGIN { print $(stat -c %s "$work/keeper-$name") / 1000000 }")"
    rm -rf "${work:?}/$name"
}

echo "| build | command | crates | wall | CPU | binary (stripped) |"
echo "|---|---|---|---|---|---|"
measure lean --no-default-features
measure full
