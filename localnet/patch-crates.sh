#!/usr/bin/env bash
# Writes the three Agave 3.1.12 crates that `localnet` patches into
# ../target/localnet-patches/, from the exact crates.io tarballs (checked by SHA-256).
#
# Why patched copies: no released solana-test-validator builds beside anchor-lang 1.2.1.
# Every solana-gossip 3.x pins `solana-clock =3.0.0` and every solana-faucet 3.x pins
# `solana-instruction =3.0.0`, while anchor-lang 1.2.1 needs solana-clock ^3.0.1 (and the
# SDK crates it pulls in need newer solana-instruction); Agave 4.x needs a newer rustc than
# this project's. The copies differ from upstream only in the edits below, each checked:
#   - solana-gossip and solana-faucet: every exact pin on a Solana SDK crate
#     (`version = "=3.0.0"` and the like; the `=3.1.12` pins on Agave's own crates stay)
#     becomes a caret requirement. Two of those pins conflict with anchor-lang outright
#     (gossip's solana-clock, faucet's solana-instruction); the others would drag a dozen
#     SDK crates (solana-signature, -message, -transaction...) back to older versions than
#     the main workspace's lock holds. Relaxed, the localnet resolves to the main
#     workspace's versions;
#   - all three: their warnings are allowed (`[lints.rust] warnings = "allow"`; gossip's
#     says "deny"). Cargo caps the lints of registry crates but not of path
#     dependencies, so upstream code would otherwise fail the build (gossip) or bury our
#     own warnings under a newer rustc's complaints about theirs;
#   - solana-test-validator: JSON-RPC and PubSub bind to the validator's bind address
#     (`TestValidatorGenesis::bind_ip_addr`, loopback by default) instead of 0.0.0.0,
#     which 3.1.12 hard-codes; gossip, TPU and the rest already use the bind address.
#
# Idempotent: a copy whose stamp matches is left alone. Run from anywhere.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/../target/localnet-patches"
version=3.1.12
stamp_text="patched $version v3"

# name sha256 (from the crates.io index, `cksum` of version 3.1.12)
crates=(
  "solana-gossip 9332c7c4cccf0c20385c914fbf3ad2d320b5886195167f61d5ce4ef7411cc533"
  "solana-faucet e3c351663c8902a7c1dbd64cb4d47ef781ce16b77e3aea1bf50ac929f2a0e1bd"
  "solana-test-validator f00262f041d6141227a497f33327f93d832329fb25d8808966c0493324f82190"
)

# Replaces exactly one occurrence of a (multi-line) string in a file, or fails naming it.
replace_once() {
  local file="$1" from="$2" to="$3"
  python3 - "$file" "$from" "$to" <<'PY'
import sys
path, old, new = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
count = text.count(old)
if count != 1:
    sys.exit(f"patch-crates: expected one {old!r} in {path}, found {count}")
open(path, "w").write(text.replace(old, new))
PY
}

# Relaxes every exact pin on a non-Agave crate in a Cargo.toml to a caret requirement;
# fails unless the pins named after the file were among them (the conflicts this script
# exists for: if upstream drops them, this script is out of date).
relax_sdk_pins() {
  python3 - "$@" <<'PY'
import re, sys
path, required = sys.argv[1], sys.argv[2:]
text = open(path).read()
relaxed = []
def relax(match):
    section, name, version = match.group(1), match.group(2), match.group(3)
    if version == "3.1.12":  # Agave's own crates, released together: keep them exact
        return match.group(0)
    relaxed.append(name)
    return f'[{section}.{name}]\nversion = "{version}"'
text = re.sub(r'\[((?:dev-)?dependencies)\.([A-Za-z0-9_-]+)\]\nversion = "=([^"]+)"', relax, text)
missing = [name for name in required if name not in relaxed]
if missing:
    sys.exit(f"patch-crates: {path} no longer pins {missing} exactly; review this script")
open(path, "w").write(text)
PY
}

# Adds `[lints.rust] warnings = "allow"` to a Cargo.toml that has no lints table.
allow_warnings() {
  if grep -q '^\[lints' "$1"; then
    echo "patch-crates: $1 has a lints table now; review this script" >&2
    exit 1
  fi
  printf '\n[lints.rust]\nwarnings = "allow"\n' >>"$1"
}

patch_crate() {
  local name="$1" dir="$2"
  case "$name" in
    solana-gossip)
      relax_sdk_pins "$dir/Cargo.toml" solana-clock
      replace_once "$dir/Cargo.toml" $'[lints.rust]\nwarnings = "deny"\n' $'[lints.rust]\nwarnings = "allow"\n'
      ;;
    solana-faucet)
      relax_sdk_pins "$dir/Cargo.toml" solana-instruction
      allow_warnings "$dir/Cargo.toml"
      ;;
    solana-test-validator)
      allow_warnings "$dir/Cargo.toml"
      replace_once "$dir/src/lib.rs" $'            rpc_addrs: Some((\n                SocketAddr::new(\n                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),\n                    node.info.rpc().unwrap().port(),\n                ),\n                SocketAddr::new(\n                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),\n                    node.info.rpc_pubsub().unwrap().port(),\n                ),\n            )),' \
        $'            rpc_addrs: Some((\n                SocketAddr::new(\n                    config.node_config.bind_ip_addr,\n                    node.info.rpc().unwrap().port(),\n                ),\n                SocketAddr::new(\n                    config.node_config.bind_ip_addr,\n                    node.info.rpc_pubsub().unwrap().port(),\n                ),\n            )),'
      ;;
  esac
}

mkdir -p "$out"
for entry in "${crates[@]}"; do
  read -r name sha <<<"$entry"
  dir="$out/$name"
  if [[ -f "$dir/.localnet-patch" && "$(cat "$dir/.localnet-patch")" == "$stamp_text" ]]; then
    continue
  fi
  echo "patch-crates: fetching $name $version from crates.io" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  curl --fail --silent --show-error --location --retry 3 \
    -o "$tmp/$name.crate" "https://static.crates.io/crates/$name/$name-$version.crate"
  echo "$sha  $tmp/$name.crate" | sha256sum --check --quiet -
  tar -xzf "$tmp/$name.crate" -C "$tmp"
  patch_crate "$name" "$tmp/$name-$version"
  echo "$stamp_text" >"$tmp/$name-$version/.localnet-patch"
  rm -rf "$dir"
  mv "$tmp/$name-$version" "$dir"
  rm -rf "$tmp"
  trap - EXIT
done
