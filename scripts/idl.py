#!/usr/bin/env python3
"""Builds the thread program's IDL on stable Rust, without the Anchor CLI.

Runs the program's idl-build tests, which print the IDL in sections (program,
address, errors, one per event), and assembles them the way `anchor build` does:
the address filled in, events and errors merged, and crate paths stripped from type
names ("thread::state::trigger::Trigger" -> "Trigger"). Writes target/idl/thread.json.
"""
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "idl" / "thread.json"


def sections(output: str):
    for kind, body in re.findall(r"--- IDL begin (\w+) ---\n(.*?)--- IDL end \1 ---", output, re.S):
        yield kind, json.loads(body)


def short_names(value):
    """Replaces every crate-qualified type name with its last path segment."""
    text = json.dumps(value)
    text = re.sub(r'"(?:[A-Za-z_][A-Za-z0-9_]*::)+([A-Za-z_][A-Za-z0-9_]*)"', r'"\1"', text)
    return json.loads(text)


def main() -> int:
    run = subprocess.run(
        ["cargo", "test", "-p", "thread", "--features", "idl-build", "--lib", "--",
         "__anchor_private_print_idl", "--nocapture", "--test-threads=1"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-4000:])
        print("idl: the idl-build tests failed", file=sys.stderr)
        return 1
    idl, events, types, errors, address = None, [], [], [], ""
    for kind, body in sections(run.stdout):
        if kind == "program":
            idl = body
        elif kind == "address":
            address = json.loads(body) if isinstance(body, str) and body.startswith('"') else body
        elif kind == "event":
            events.append(body["event"])
            types.extend(body.get("types", []))
        elif kind == "errors":
            errors = body
    if idl is None:
        print("idl: no program section in the output", file=sys.stderr)
        return 1
    idl["address"] = address
    if events:
        idl["events"] = events
    known = {t["name"] for t in idl.get("types", [])}
    idl.setdefault("types", []).extend(t for t in types if t["name"] not in known)
    if errors:
        idl["errors"] = errors
    idl = short_names(idl)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(idl, indent=2) + "\n")
    print(f"idl: wrote {OUT.relative_to(ROOT)} ({len(idl['instructions'])} instructions, "
          f"{len(idl.get('events', []))} events, {len(idl.get('errors', []))} errors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
