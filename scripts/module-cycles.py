#!/usr/bin/env python3
"""Fails when two Rust files import from each other, directly or around a loop.

A file depends on the file that *defines* what it names: each `use` and each path in its
code (`crate::a::B`, `super::B`, `self::a::B`, a child module's `a::B`, and a bare name
brought in by a glob `use`) is followed through re-exports (`pub use x::B` in a `mod.rs`)
to the file where `B` is written. Naming a module only as a step of a longer path is no
dependency on the module's file; a re-export is no use of what it re-exports.

The rule: dependencies between a file and its own ancestors or descendants in the module
tree do not count. A parent composes its children, and children share the parent's types
(one type's `impl` split over a folder works that way), so those pairs always point both
ways and say nothing about layering. A cycle among any other files is reported, also when
it only shows after following a re-export: `rpc.rs` naming `super::Event`, which
`chain/mod.rs` re-exports from `pubsub.rs`, depends on `pubsub.rs`.

Test-only code (see `rust_modules.py`) is left out: a test may reach anywhere.
Macro-generated items resolve to the module that invokes the macro.

Usage: scripts/module-cycles.py [DIR ...]   (default: keeper/src programs/thread/src localnet/src)
Exit 1 when a cycle exists, with each import that closes it.
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rust_modules  # noqa: E402

DEFAULT_DIRS = ["keeper/src", "programs/thread/src", "localnet/src"]
# A chain of re-exports longer than this is a loop the compiler would reject anyway.
MAX_DEPTH = 40


class Resolver:
    """Follows names through one crate's modules, uses and re-exports."""

    def __init__(self, crate):
        self.crate = crate

    def lookup(self, module, name, visiting):
        """("module" | "item", Module) for `name` as seen inside `module`, or None.

        `visiting` holds the (module, name) pairs being looked up, so that two globs
        importing each other (`state/mod.rs` re-exports `thread.rs`, which imports from
        `super`) end in "not here" rather than in a loop.
        """
        key = (id(module), name)
        if key in visiting or len(visiting) > MAX_DEPTH:
            return None
        visiting = visiting | {key}
        if name in module.children:
            return ("module", module.children[name])
        if name in module.items:
            return ("item", module)
        production_uses = [u for u in module.uses if not u.test_only]
        for use in production_uses:
            # `use anchor_lang;` names a crate by itself: nothing inside this crate.
            if use.alias == name and use.segments != [name]:
                found = self.resolve(module, use.segments, visiting, fallback=False)
                if found:
                    return found
        for use in production_uses:
            if use.alias == "*":
                source = self.resolve(module, use.segments, visiting, fallback=False)
                if source and source[0] == "module" and source[1] is not module:
                    found = self.lookup(source[1], name, visiting)
                    if found:
                        return found
        return None

    def resolve(self, module, segments, visiting=frozenset(), fallback=True):
        """Where `segments`, written in `module`, lead: ("module" | "item", Module) or None.

        With `fallback`, a name a module does not show (made by a macro, or a method)
        resolves to that module, which is where a reader would look for it.
        """
        if not segments:
            return None
        i, current = 0, None
        while i < len(segments) and segments[i] in rust_modules.KEYWORDS_PATH_START:
            step = segments[i]
            base = current or module
            if step == "crate":
                current = self.crate.root
            elif step == "super":
                current = base.parent
            else:
                current = base
            if current is None:
                return None
            i += 1
        if current is None:
            found = self.lookup(module, segments[0], visiting)
            if found is None:
                return None
            i = 1
        else:
            found = ("module", current)
        while i < len(segments) and found[0] == "module":
            step = self.lookup(found[1], segments[i], visiting)
            if step is None:
                return ("item", found[1]) if fallback else None
            found = step
            i += 1
        return found


def ancestors_or_self(crate, path):
    module = crate.files[path]
    return {module.file} | {a.file for a in module.ancestors()}


def dependencies(crate):
    """{(from file, to file): [(line, path text)]} between files not nested in each other."""
    resolver = Resolver(crate)
    edges = {}
    for module in crate.modules():
        if module.test_only:
            continue
        refs = [(u.segments, u.line) for u in module.uses if not u.test_only and u.alias != "*"]
        refs += [(p.segments, p.line) for p in module.paths if not p.test_only]
        for segments, line in refs:
            found = resolver.resolve(module, segments)
            if found is None or found[0] != "item":
                continue
            source, target = module.file, found[1].file
            if source == target:
                continue
            if source in ancestors_or_self(crate, target) or target in ancestors_or_self(
                crate, source
            ):
                continue
            edges.setdefault((source, target), []).append((line, "::".join(segments)))
    return edges


def strongly_connected(nodes, successors):
    """Tarjan's components of more than one node."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in successors.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", default=DEFAULT_DIRS)
    args = parser.parse_args()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

    cycles = 0
    for root in rust_modules.crate_roots(args.dirs):
        crate = rust_modules.Crate(root)
        edges = dependencies(crate)
        successors = {}
        for source, target in edges:
            successors.setdefault(source, set()).add(target)
        for component in strongly_connected(crate.files, successors):
            cycles += 1
            print(f"import cycle in {root}: {' <-> '.join(component)}")
            for (source, target), uses in sorted(edges.items()):
                if source in component and target in component:
                    line, text = uses[0]
                    more = f" (+{len(uses) - 1} more)" if len(uses) > 1 else ""
                    print(f"  {source}:{line} names {text} from {target}{more}")
    if cycles:
        print(f"{cycles} import cycle(s); move what both sides need into one of them "
              "or into a module both import", file=sys.stderr)
        return 1
    print("no import cycles between files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
