#!/usr/bin/env python3
"""Keeps source files small enough to read in one sitting.

Counts the production lines of every Rust file under crates/, services/ and tools/ (a trailing
`#[cfg(test)] mod tests { ... }` block, and files that are tests or test fixtures, do not count)
and fails when one is over the limit.

Usage: .ci/file-sizes.py [limit]   (default 450)
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEST_BLOCK = re.compile(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{")


def production_lines(text):
    match = TEST_BLOCK.search(text)
    if match:
        text = text[: match.start()]
    return text.count("\n")


def main():
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 450
    over = []
    for top in ("crates", "services", "tools"):
        for path in sorted((ROOT / top).rglob("*.rs")):
            rel = path.relative_to(ROOT)
            if "tests" in rel.parts or rel.name in ("tests.rs", "fixtures.rs") or "target" in rel.parts:
                continue
            lines = production_lines(path.read_text())
            if lines > limit:
                over.append((lines, rel))
    for lines, rel in sorted(over, reverse=True):
        print(f"{rel}: {lines} production lines (limit {limit})")
    if over:
        return 1
    print(f"every source file within {limit} production lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
