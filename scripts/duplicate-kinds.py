#!/usr/bin/env python3
"""Sorts the pairs the `duplicates` tool lists into kinds, to tell copied logic from
code that only looks alike. A heuristic that reads both sides of each row:

  anchor constraints  both sides in program instructions, mostly `#[account(...)]` lines
  struct fields       mostly `name: Type,` lines (events, views, rows, literals)
  tests               both sides in test code
  fn signatures       mostly the lines of a function signature (trait implementations)
  generated           idl/ (written by scripts/idl.py)
  other code          the rest: the place to look for logic written twice

Usage, from the repository root:
  duplicates --most 200 --seconds 300 > /tmp/dups.txt
  python3 scripts/duplicate-kinds.py /tmp/dups.txt [KIND]   (KIND: list that kind's rows)
"""
import collections
import re
import sys

FIELD = re.compile(r"^\s*(pub(\(crate\))? )?\w+: [^=;]*,$")
ANCHOR = re.compile(
    r"#\[account|#\[event_cpi\]|#\[derive\(Accounts\)\]|<'info>|seeds =|bump =|has_one|constraint =|^\s*mut,$"
)
SIGNATURE = re.compile(r"^\s*(pub )?(async )?fn \w+|^\s*&self,$|^\s*\w+: &?[\w\[\]<>&:, ]+,$|^\s*\) -> ")
PUNCTUATION = {"{", "}", "(", ")", ")]", "};", "},", "});", "})", ");"}
ROW = re.compile(r"^(D\d+) (\S+) ~ (\S+)")


def lines(side):
    """The path and the meaningful lines of one side, `path:first-last`."""
    path, span = side.rsplit(":", 1)
    first, last = map(int, span.split("-"))
    with open(path, encoding="utf-8") as f:
        text = f.read().split("\n")[first - 1 : last]
    kept = [l for l in text if l.strip() and not l.strip().startswith("//")]
    return path, [l for l in kept if l.strip() not in PUNCTUATION]


def is_test(path, text):
    joined = "\n".join(text)
    return (
        "/tests/" in path
        or path.startswith("tests/")
        or path.endswith("tests.rs")
        or "test_utils" in path
        or "#[test]" in joined
        or "tokio::test" in joined
        or "assert" in joined
    )


def share(pattern, text, least):
    return sum(bool(pattern.search(l)) for l in text) >= len(text) * least


def kind(a, b):
    (path_a, text_a), (path_b, text_b) = a, b
    both = text_a + text_b
    if path_a.startswith("idl/"):
        return "generated"
    if "instructions/" in path_a and "instructions/" in path_b and share(ANCHOR, both, 0.3):
        return "anchor constraints"
    if share(FIELD, both, 0.6):
        return "struct fields"
    if is_test(path_a, text_a) and is_test(path_b, text_b):
        return "tests"
    if share(SIGNATURE, both, 0.6):
        return "fn signatures"
    return "other code"


def main():
    counts, rows = collections.Counter(), collections.defaultdict(list)
    with open(sys.argv[1], encoding="utf-8") as f:
        for row in f:
            m = ROW.match(row)
            if not m:
                continue
            k = kind(lines(m.group(2)), lines(m.group(3)))
            counts[k] += 1
            rows[k].append(f"{m.group(1)} {m.group(2)} ~ {m.group(3)}")
    for k, n in counts.most_common():
        print(f"{n:4d}  {k}")
    if len(sys.argv) > 2:
        for row in rows[sys.argv[2]]:
            print("   ", row)


if __name__ == "__main__":
    main()
