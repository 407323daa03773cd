#!/usr/bin/env bash
# Benchmarks the keeper's transaction builder against a bare ed25519 signature measured
# in the same run (keeper/benches/build.rs), then prints both medians and their ratio.
# Only the ratio is comparable between machines; the README records the latest figures.
#
#   scripts/bench-builder.sh                         # the README's figures
#   scripts/bench-builder.sh --measurement-time 20   # extra arguments go to criterion
set -euo pipefail
cd "$(dirname "$0")/.."

group=builder
build=build_and_sign_durable
sign=bare_ed25519_sign

cargo bench -p keeper --bench build -- "$@"

criterion="${CRITERION_HOME:-${CARGO_TARGET_DIR:-target}/criterion}"
python3 - "$criterion/$group" "$build" "$sign" <<'PY'
import json
import os
import sys

group_dir, build, sign = sys.argv[1:4]

def median_us(name):
    path = os.path.join(group_dir, name, "new", "estimates.json")
    with open(path) as f:
        median = json.load(f)["median"]
    ci = median["confidence_interval"]
    return median["point_estimate"] / 1e3, ci["lower_bound"] / 1e3, ci["upper_bound"] / 1e3

b, b_lo, b_hi = median_us(build)
s, s_lo, s_hi = median_us(sign)
ratio = b / s
print()
print(f"{build:<24} median {b:8.2f} µs  (95% CI {b_lo:.2f} .. {b_hi:.2f})")
print(f"{sign:<24} median {s:8.2f} µs  (95% CI {s_lo:.2f} .. {s_hi:.2f})")
print(f"{'ratio build/sign':<24}        {ratio:8.2f}")
print(f"targets: median < 50 µs: {'met' if b < 50 else 'MISSED'};"
      f" within 2x of the bare signature: {'met' if ratio <= 2 else 'MISSED'}")
PY
