#!/usr/bin/env python3
"""Builds the thread program's IDL and its TypeScript type on stable Rust, without the
Anchor CLI, into idl/ (committed: what clients load).

Runs the program's idl-build tests the way `anchor build` does with `[features]
resolution = true` in Anchor.toml (ANCHOR_IDL_BUILD_RESOLUTION, so the IDL carries
PDAs, fixed addresses and relations), and assembles the sections they print: the
address filled in, events and errors merged, crate paths stripped from type names
("thread::state::trigger::Trigger" -> "Trigger"), and the program's own `resolution`
section (programs/thread/src/idl.rs) applied: the create instructions' thread PDA and
the event-CPI accounts' addresses, which Anchor's derive cannot emit here.

    scripts/idl.py           writes idl/thread.json and idl/thread.ts
    scripts/idl.py --check   fails when the committed files differ from a fresh build
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROGRAM_DIR = ROOT / "programs" / "thread"
IDL_JSON = ROOT / "idl" / "thread.json"
IDL_TS = ROOT / "idl" / "thread.ts"
TYPE_NAME = "Thread"

# The keys whose values @anchor-lang/core turns to camelCase when it loads an IDL
# (`convertIdlToCamelCase`); the TypeScript type describes the IDL as the client holds it.
CAMEL_CASE_KEYS = ("name", "path", "account", "relations", "generic")


def sections(output: str):
    for kind, body in re.findall(r"--- IDL begin (\w+) ---\n(.*?)--- IDL end \1 ---", output, re.S):
        yield kind, json.loads(body)


def short_names(value):
    """Replaces every crate-qualified type name with its last path segment."""
    text = json.dumps(value)
    text = re.sub(r'"(?:[A-Za-z_][A-Za-z0-9_]*::)+([A-Za-z_][A-Za-z0-9_]*)"', r'"\1"', text)
    return json.loads(text)


def run_idl_build() -> str:
    env = dict(os.environ,
               ANCHOR_IDL_BUILD_RESOLUTION="TRUE",
               ANCHOR_IDL_BUILD_PROGRAM_PATH=str(PROGRAM_DIR))
    run = subprocess.run(
        ["cargo", "test", "-p", "thread", "--features", "idl-build", "--lib", "--",
         "__anchor_private_print_idl", "print_idl_resolution",
         "--nocapture", "--test-threads=1"],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-4000:])
        raise SystemExit("idl: the idl-build tests failed")
    return run.stdout


def instruction_account(idl, instruction: str, account: str):
    for ix in idl["instructions"]:
        if ix["name"] == instruction:
            for item in ix["accounts"]:
                if item["name"] == account:
                    return item
    raise SystemExit(f"idl: no account {account!r} in instruction {instruction!r}")


def apply_resolution(idl, resolution):
    """Adds what the program's resolution section declares, refusing to overwrite
    anything Anchor emitted itself: two sources for one fact could disagree."""
    for entry in resolution["pdas"]:
        item = instruction_account(idl, entry["instruction"], entry["account"])
        if "pda" in item or "address" in item:
            raise SystemExit(f"idl: Anchor already resolves {entry['instruction']}.{entry['account']}")
        item["pda"] = entry["pda"]
    for name, address in resolution["addresses"].items():
        for ix in idl["instructions"]:
            item = instruction_account(idl, ix["name"], name)
            if item.get("address", address) != address or "pda" in item:
                raise SystemExit(f"idl: Anchor resolves {ix['name']}.{name} differently")
            # Keeps Anchor's key order (address before pda and relations).
            rebuilt = {k: v for k, v in item.items() if k in ("name", "docs", "writable", "signer", "optional")}
            rebuilt["address"] = address
            rebuilt.update((k, v) for k, v in item.items() if k not in rebuilt)
            item.clear()
            item.update(rebuilt)


def build_idl(output: str):
    idl, events, types, errors, address, resolution = None, [], [], [], "", None
    for kind, body in sections(output):
        if kind == "program":
            idl = body
        elif kind == "address":
            address = json.loads(body) if isinstance(body, str) and body.startswith('"') else body
        elif kind == "event":
            events.append(body["event"])
            types.extend(body.get("types", []))
        elif kind == "errors":
            errors = body
        elif kind == "resolution":
            resolution = body
    if idl is None or resolution is None:
        raise SystemExit("idl: the program or resolution section is missing from the output")
    idl["address"] = address
    if events:
        idl["events"] = events
    known = {t["name"] for t in idl.get("types", [])}
    idl.setdefault("types", []).extend(t for t in types if t["name"] not in known)
    if errors:
        idl["errors"] = errors
    idl = short_names(idl)
    apply_resolution(idl, resolution)
    return idl


def camel_case(name: str) -> str:
    words = [w for w in name.split("_") if w]
    if not words:
        return name
    head = words[0][0].lower() + words[0][1:]
    return head + "".join(w[0].upper() + w[1:] for w in words[1:])


def camel_case_idl(value):
    if isinstance(value, list):
        return [camel_case_idl(v) for v in value]
    if not isinstance(value, dict):
        return value
    converted = {}
    for key, val in value.items():
        if key in CAMEL_CASE_KEYS and isinstance(val, str):
            converted[key] = ".".join(camel_case(part) for part in val.split("."))
        elif key in CAMEL_CASE_KEYS and isinstance(val, list) and all(isinstance(v, str) for v in val):
            converted[key] = [".".join(camel_case(p) for p in v.split(".")) for v in val]
        else:
            converted[key] = camel_case_idl(val)
    return converted


def typescript_type(idl) -> str:
    body = json.dumps(camel_case_idl(idl), indent=2)
    return (
        "/**\n"
        " * Program IDL in camelCase format in order to be used in JS/TS.\n"
        " *\n"
        " * Note that this is only a type helper and is not the actual IDL. The original\n"
        " * IDL can be found at `idl/thread.json`. Generated by scripts/idl.py.\n"
        " */\n"
        f"export type {TYPE_NAME} = {body};\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare the committed idl/ files with a fresh build instead of writing")
    check = parser.parse_args().check
    idl = build_idl(run_idl_build())
    fresh = {IDL_JSON: json.dumps(idl, indent=2) + "\n", IDL_TS: typescript_type(idl)}
    if check:
        stale = [p for p, text in fresh.items() if not p.exists() or p.read_text() != text]
        for path in stale:
            print(f"idl: {path.relative_to(ROOT)} differs from a fresh build", file=sys.stderr)
        if stale:
            print("idl: run scripts/idl.py and commit idl/", file=sys.stderr)
            return 1
        print(f"idl: {', '.join(str(p.relative_to(ROOT)) for p in fresh)} match a fresh build")
        return 0
    for path, text in fresh.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"idl: wrote idl/ ({len(idl['instructions'])} instructions, "
          f"{len(idl.get('events', []))} events, {len(idl.get('errors', []))} errors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
