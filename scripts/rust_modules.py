"""Reads a Rust crate's module tree from its source, for the checks in this folder.

Owns: a tokenizer that knows Rust's comments, strings, raw strings, chars and lifetimes;
the module tree from `mod` declarations (files and inline modules, `#[path]` included);
for every module the items it defines, its `use` declarations, the paths its code names,
and the lines that only build under test. `module-sizes.py` counts lines with it,
`module-cycles.py` follows imports with it.

Must not: expand macros, run cargo or guess at items it cannot see. What a macro
generates (Anchor's `instruction::*`, `accounts::*`, `declare_id!`'s `ID`) resolves to the
module that invokes the macro, which is where a reader would look for it.

Test-only code is an item whose `#[cfg(...)]` cannot hold in a production build (`test`
false, feature `test_utils` off, anything else possibly on), an item marked `#[test]` or
`#[<runtime>::test]`, and every module declared through such an item.
"""

import os
import re
from dataclasses import dataclass, field

# Features that only tests and harnesses turn on; a build an operator runs has them off.
TEST_FEATURES = {"test_utils"}

KEYWORDS_PATH_START = {"crate", "super", "self"}

# Item keywords whose item ends at a `;` at depth 0, never at a closing brace (the
# initializer `T { .. }` of a const is followed by its `;`).
SEMICOLON_ITEMS = {"const", "static", "type", "use"}
BRACE_OR_SEMICOLON_ITEMS = {"fn", "struct", "enum", "trait", "impl", "union", "mod", "extern"}


@dataclass
class Token:
    kind: str  # "ident", "punct", "lit"
    text: str
    line: int


_IDENT = re.compile(r"(?:r#)?[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9][0-9A-Za-z_]*(?:\.[0-9][0-9A-Za-z_]*)?")
_CHAR = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F_]+\}|.)|[^\\'\n])'")
_MULTI_PUNCT = ("::", "->", "=>")


def tokenize(src):
    """Tokens of `src` with their 1-based line numbers; comments and whitespace dropped."""
    tokens = []
    i, line, n = 0, 1, len(src)
    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = n if end < 0 else end
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += src[i] == "\n"
                    i += 1
        elif m := re.compile(r'b?r(#*)"').match(src, i):
            closing = '"' + m.group(1)
            end = src.find(closing, m.end())
            end = n if end < 0 else end + len(closing)
            tokens.append(Token("lit", src[i:end], line))
            line += src.count("\n", i, end)
            i = end
        elif c == '"' or src.startswith('b"', i):
            j = i + (2 if c == "b" else 1)
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            end = min(j + 1, n)
            tokens.append(Token("lit", src[i:end], line))
            line += src.count("\n", i, end)
            i = end
        elif c == "'" or src.startswith("b'", i):
            start = i + (1 if c == "b" else 0)
            if m := _CHAR.match(src, start):
                tokens.append(Token("lit", src[i : m.end()], line))
                i = m.end()
            else:  # a lifetime or label: `'a`
                m = _IDENT.match(src, i + 1)
                end = m.end() if m else i + 1
                tokens.append(Token("lit", src[i:end], line))
                i = end
        elif m := _IDENT.match(src, i):
            tokens.append(Token("ident", m.group(0).removeprefix("r#"), line))
            i = m.end()
        elif m := _NUMBER.match(src, i):
            tokens.append(Token("lit", m.group(0), line))
            i = m.end()
        else:
            punct = next((p for p in _MULTI_PUNCT if src.startswith(p, i)), c)
            tokens.append(Token("punct", punct, line))
            i += len(punct)
    return tokens


def matching(tokens, i):
    """Index of the bracket closing the one at `i`."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    for j in range(i, len(tokens)):
        t = tokens[j].text
        if tokens[j].kind != "punct":
            continue
        if t in pairs:
            stack.append(pairs[t])
        elif stack and t == stack[-1]:
            stack.pop()
            if not stack:
                return j
    return len(tokens) - 1


def _parse_cfg(tokens, i):
    """(value, next index) of the cfg predicate at `i`: True, False or None (may hold)."""
    name = tokens[i].text
    if i + 1 < len(tokens) and tokens[i + 1].text == "=":
        value = tokens[i + 2].text.strip('"')
        if name == "feature" and value in TEST_FEATURES:
            return False, i + 3
        return None, i + 3
    if i + 1 < len(tokens) and tokens[i + 1].text == "(":
        close = matching(tokens, i + 1)
        args, j = [], i + 2
        while j < close:
            value, j = _parse_cfg(tokens, j)
            args.append(value)
            if tokens[j].text == ",":
                j += 1
        if name == "not":
            return (None if args[0] is None else not args[0]), close + 1
        if name == "any":
            if True in args:
                return True, close + 1
            return (None if None in args else False), close + 1
        if name == "all":
            if False in args:
                return False, close + 1
            return (None if None in args else True), close + 1
        return None, close + 1
    if name == "test":
        return False, i + 1
    return None, i + 1


def attribute_is_test_only(attr):
    """Whether an attribute's tokens (inside `#[...]`) keep its item out of production."""
    if not attr:
        return False
    if attr[0].text == "cfg" and len(attr) > 2 and attr[1].text == "(":
        value, _ = _parse_cfg(attr, 2)
        return value is False
    # `#[test]`, `#[tokio::test]`, `#[tokio::test(flavor = ...)]`
    path_end = next((k for k, t in enumerate(attr) if t.text == "("), len(attr))
    return attr[path_end - 1].text == "test"


@dataclass
class Use:
    segments: list  # path as written, e.g. ["crate", "chain", "Chain"]
    alias: str  # the name it binds, or "*" for a glob
    line: int
    test_only: bool
    public: bool


@dataclass
class PathRef:
    segments: list
    line: int
    test_only: bool


@dataclass
class Module:
    name: str
    file: str
    parent: "Module | None"
    test_only: bool
    children: dict = field(default_factory=dict)
    items: set = field(default_factory=set)
    uses: list = field(default_factory=list)
    paths: list = field(default_factory=list)
    # (first line, last line) of each test-only item written in this module.
    test_ranges: list = field(default_factory=list)

    @property
    def qualified(self):
        names, m = [], self
        while m.parent is not None:
            names.append(m.name)
            m = m.parent
        return "::".join(["crate"] + names[::-1])

    def ancestors(self):
        m = self.parent
        while m is not None:
            yield m
            m = m.parent


def _parse_use_tree(tokens, i, prefix, out):
    """Appends (segments, alias) for the use tree at `i`; returns the index after it."""
    segments = list(prefix)
    while True:
        t = tokens[i]
        if t.text == "::":
            i += 1
            continue
        if t.text == "*":
            out.append((segments, "*"))
            return i + 1
        if t.text == "{":
            close = matching(tokens, i)
            j = i + 1
            while j < close:
                j = _parse_use_tree(tokens, j, segments, out)
                if tokens[j].text == ",":
                    j += 1
            return close + 1
        if t.kind == "ident":
            segments.append(t.text)
            i += 1
            if tokens[i].text == "::":
                continue
            alias = segments[-1]
            if tokens[i].text == "as":
                alias = tokens[i + 1].text
                i += 2
            if alias == "self":
                segments, alias = segments[:-1], segments[-2]
            elif segments[-1] == "self":
                segments = segments[:-1]
            out.append((segments, alias))
            return i
        return i + 1


def _collect_paths(tokens, start, end, module, test_only):
    """Records every path in tokens[start:end] (code of an item), and nested `use`s."""
    i = start
    while i < end:
        t = tokens[i]
        if t.kind == "ident" and t.text == "use" and (i == start or tokens[i - 1].text in ";{}"):
            stop = i
            while stop < end and tokens[stop].text != ";":
                stop += 1
            found = []
            _parse_use_tree(tokens[: stop + 1], i + 1, [], found)
            for segments, alias in found:
                module.uses.append(Use(segments, alias, t.line, test_only, False))
            i = stop + 1
            continue
        previous = tokens[i - 1].text if i > 0 else ""
        if t.kind == "ident" and previous not in ("::", "."):
            segments = [t.text]
            j = i + 1
            while j + 1 < end and tokens[j].text == "::" and tokens[j + 1].kind == "ident":
                segments.append(tokens[j + 1].text)
                j += 2
            module.paths.append(PathRef(segments, t.line, test_only))
            i = j
            continue
        i += 1


class Crate:
    """The module tree below one crate root (`lib.rs` or `main.rs`)."""

    def __init__(self, root_file):
        self.root_file = root_file
        self.files = {}  # file path -> its top Module
        self.root = self._load_file("crate", root_file, None, False, os.path.dirname(root_file))

    def _load_file(self, name, path, parent, test_only, child_dir):
        with open(path, encoding="utf-8") as f:
            src = f.read()
        tokens = tokenize(src)
        module = Module(name, path, parent, test_only)
        self.files[path] = module
        self._parse_scope(tokens, 0, len(tokens), module, child_dir, test_only)
        return module

    def _parse_scope(self, tokens, i, end, module, child_dir, test_only):
        while i < end:
            attrs, first = [], i
            while i < end and tokens[i].text == "#":
                bracket = i + 2 if tokens[i + 1].text == "!" else i + 1
                close = matching(tokens, bracket)
                attrs.append(tokens[bracket + 1 : close])
                i = close + 1
            if i >= end:
                break
            item_test_only = test_only or any(attribute_is_test_only(a) for a in attrs)
            public = False
            if tokens[i].text == "pub":
                public = True
                i += 1
                if i < end and tokens[i].text == "(":
                    i = matching(tokens, i) + 1
            while i + 1 < end and (
                tokens[i].text in ("unsafe", "async", "default")
                or (tokens[i].text == "const" and tokens[i + 1].text in ("fn", "unsafe", "async"))
            ):
                i += 1
            kw = tokens[i]
            is_mod = kw.text == "mod" and i + 2 < end
            if is_mod and tokens[i + 2].text == ";":
                name = tokens[i + 1].text
                path_attr = next(
                    (a[2].text.strip('"') for a in attrs if a and a[0].text == "path"), None
                )
                if path_attr:
                    path = os.path.join(os.path.dirname(module.file), path_attr)
                else:
                    path = os.path.join(child_dir, name + ".rs")
                    if not os.path.exists(path):
                        path = os.path.join(child_dir, name, "mod.rs")
                grand_dir = os.path.join(os.path.dirname(path), name)
                if os.path.basename(path) == "mod.rs":
                    grand_dir = os.path.dirname(path)
                if os.path.exists(path):
                    child = self._load_file(name, path, module, item_test_only, grand_dir)
                    module.children[name] = child
                if item_test_only and not test_only:
                    module.test_ranges.append((tokens[first].line, tokens[i + 2].line))
                i += 3
                continue
            if is_mod and tokens[i + 2].text == "{":
                name = tokens[i + 1].text
                close = matching(tokens, i + 2)
                child = Module(name, module.file, module, item_test_only)
                module.children[name] = child
                self._parse_scope(
                    tokens, i + 3, close, child, os.path.join(child_dir, name), item_test_only
                )
                if item_test_only and not test_only:
                    module.test_ranges.append((tokens[first].line, tokens[close].line))
                i = close + 1
                continue
            if kw.text == "use":
                stop = i
                while tokens[stop].text != ";":
                    stop += 1
                found = []
                _parse_use_tree(tokens, i + 1, [], found)
                for segments, alias in found:
                    module.uses.append(Use(segments, alias, kw.line, item_test_only, public))
                if item_test_only and not test_only:
                    module.test_ranges.append((tokens[first].line, tokens[stop].line))
                i = stop + 1
                continue
            stop = self._item_end(tokens, i, end)
            if kw.text in SEMICOLON_ITEMS | BRACE_OR_SEMICOLON_ITEMS | {"macro_rules"}:
                name_at = i + 2 if kw.text == "macro_rules" else i + 1
                if kw.text not in ("impl", "extern") and tokens[name_at].kind == "ident":
                    module.items.add(tokens[name_at].text)
            _collect_paths(tokens, i, stop + 1, module, item_test_only)
            if item_test_only and not test_only:
                module.test_ranges.append((tokens[first].line, tokens[stop].line))
            i = stop + 1

    @staticmethod
    def _item_end(tokens, i, end):
        """Index of an item's last token: its `;` or the brace closing its body."""
        semicolon_only = tokens[i].text in SEMICOLON_ITEMS
        j = i
        while j < end:
            t = tokens[j]
            if t.kind == "punct" and t.text in "([":
                j = matching(tokens, j) + 1
                continue
            if t.text == ";":
                return j
            if t.text == "{":
                close = matching(tokens, j)
                if not semicolon_only:
                    return close
                j = close + 1
                continue
            j += 1
        return end - 1

    def modules(self):
        stack = [self.root]
        while stack:
            m = stack.pop()
            yield m
            stack.extend(m.children.values())


def crate_roots(source_dirs):
    """The crate roots (`lib.rs`, `main.rs`) directly in each source directory."""
    roots = []
    for d in source_dirs:
        for name in ("lib.rs", "main.rs"):
            path = os.path.join(d, name)
            if os.path.exists(path):
                roots.append(path)
    return roots


def rust_files(source_dirs):
    files = []
    for d in source_dirs:
        for dirpath, _, names in os.walk(d):
            files.extend(os.path.join(dirpath, n) for n in names if n.endswith(".rs"))
    return sorted(files)
