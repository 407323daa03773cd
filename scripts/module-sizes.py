#!/usr/bin/env python3
"""Prints each Rust file's production line count, largest first; `--max N` fails above N.

Production lines are every line of a file outside its test-only code: blank lines,
comments and doc comments count (they are part of what a reader has to hold), while a
`#[cfg(test)]` item (attribute line through its closing brace), a `#[test]` function and
every file declared through a test-only `mod` (`#[cfg(test)] mod tests;`, the
`test_utils` harness) count zero. What "test-only" means is in `rust_modules.py`.

Usage: scripts/module-sizes.py [--max N] [DIR ...]   (default: keeper/src programs/thread/src localnet/src)
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rust_modules  # noqa: E402

DEFAULT_DIRS = ["keeper/src", "programs/thread/src", "localnet/src"]


def test_only_lines(module_of_file):
    """Line numbers of a file's test-only items, from every module written in it."""
    lines = set()
    stack = [module_of_file]
    while stack:
        m = stack.pop()
        for first, last in m.test_ranges:
            lines.update(range(first, last + 1))
        stack.extend(c for c in m.children.values() if c.file == m.file)
    return lines


def production_lines(source_dirs):
    """[(file, production lines, total lines, note)] for every .rs file in the dirs."""
    top_module = {}
    for root in rust_modules.crate_roots(source_dirs):
        top_module.update(rust_modules.Crate(root).files)
    rows = []
    for path in rust_modules.rust_files(source_dirs):
        with open(path, encoding="utf-8") as f:
            total = len(f.read().splitlines())
        module = top_module.get(path)
        if module is None:
            rows.append((path, total, total, "not declared by any `mod`"))
        elif module.test_only:
            rows.append((path, 0, total, "test-only module"))
        else:
            tests = test_only_lines(module)
            rows.append((path, total - len(tests), total, ""))
    rows.sort(key=lambda r: (-r[1], r[0]))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", default=DEFAULT_DIRS)
    parser.add_argument("--max", type=int, help="exit 1 when a file has more production lines")
    args = parser.parse_args()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

    rows = production_lines(args.dirs)
    print(f"{'production':>10} {'total':>6}  file")
    for path, production, total, note in rows:
        print(f"{production:>10} {total:>6}  {path}" + (f"  ({note})" if note else ""))
    if args.max is None:
        return 0
    over = [r for r in rows if r[1] > args.max]
    for path, production, _, _ in over:
        print(f"{path}: {production} production lines, over the limit of {args.max}; "
              "split it by responsibility", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
