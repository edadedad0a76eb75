#!/usr/bin/env python3
"""Finds import cycles between the modules of each crate in the workspace.

For every module, its child modules form a graph: an edge from child A to child B when any file
inside A names anything inside B (through `crate::`, `super::` or `self::` paths). Any strongly
connected group of two or more children is a cycle and is reported, with one file-level reference
for each edge, so the fix is easy to find. A parent naming its own children (and children naming
their parent) is how Rust modules are built and is not a cycle.

Usage: .ci/module-cycles.py [crate source directory ...]; with none, every crate of the workspace.
Exits 1 when a cycle is found.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def crate_sources():
    for manifest in sorted(ROOT.glob("*/*/Cargo.toml")) + sorted(ROOT.glob("*/Cargo.toml")):
        src = manifest.parent / "src"
        if src.is_dir() and "vendor" not in manifest.parts:
            yield src


def module_files(src):
    """Maps each module path (a tuple of names, () for the crate root) to its file."""
    modules = {}
    for root_name in ("lib.rs", "main.rs"):
        if (src / root_name).exists():
            modules[("#" + root_name,) if root_name == "main.rs" and (src / "lib.rs").exists() else ()] = src / root_name
    for path in src.rglob("*.rs"):
        rel = path.relative_to(src)
        if rel.name in ("lib.rs", "main.rs") and len(rel.parts) == 1:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "mod":
            parts.pop()
        modules[tuple(parts)] = path
    return modules


def strip_tests(text):
    """Drops `#[cfg(test)] mod ... { ... }` blocks: tests may reach anywhere."""
    out, i = [], 0
    pattern = re.compile(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{")
    while True:
        m = pattern.search(text, i)
        if not m:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


PATH = re.compile(r"\b(crate|super|self)((?:\s*::\s*\{?\s*\w+)+)")
GROUP = re.compile(r"\b(crate|super|self)\s*::\s*\{([^;]*?)\};", re.S)


def references(module, text, modules):
    """The modules a file names, resolved to the longest module prefix of each path."""
    found = set()

    def resolve(anchor, segments):
        if anchor == "crate":
            base = []
        elif anchor == "super":
            base = list(module[:-1])
        else:
            base = list(module)
        while segments and segments[0] == "super":
            base = base[:-1]
            segments = segments[1:]
        path = base + segments
        for n in range(len(path), -1, -1):
            if tuple(path[:n]) in modules:
                return tuple(path[:n])
        return ()

    for m in GROUP.finditer(text):
        for item in re.split(r",(?![^{]*\})", m.group(2)):
            segs = re.findall(r"\w+", item.split(" as ")[0])
            if segs:
                found.add(resolve(m.group(1), segs[:3] if segs[0] != "self" else []))
    for m in PATH.finditer(text):
        segs = re.findall(r"\w+", m.group(2))
        found.add(resolve(m.group(1), segs))
    return found


def strongly_connected(nodes, edges):
    index, low, stack, on, groups, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in nodes:
        if v not in index:
            visit(v)
    return groups


def check(src):
    modules = module_files(src)
    refs = {}
    for module, path in modules.items():
        text = strip_comments(strip_tests(path.read_text()))
        refs[module] = {r for r in references(module, text, modules) if r != module}
    cycles = []
    for parent in modules:
        children = {m for m in modules if len(m) == len(parent) + 1 and m[: len(parent)] == parent}
        edges, why = {}, {}
        for source, targets in refs.items():
            if source[: len(parent)] != parent or len(source) <= len(parent):
                continue
            a = source[: len(parent) + 1]
            for target in targets:
                if target[: len(parent)] != parent or len(target) <= len(parent):
                    continue
                b = target[: len(parent) + 1]
                if a != b and a in children and b in children:
                    edges.setdefault(a, set()).add(b)
                    why.setdefault((a, b), (source, target))
        for group in strongly_connected(sorted(children), edges):
            lines = []
            for a in group:
                for b in group:
                    if (a, b) in why:
                        s, t = why[(a, b)]
                        lines.append(f"    {'::'.join(s)} uses {'::'.join(t)}")
            cycles.append((src, group, lines))
    return cycles


def main():
    sources = [pathlib.Path(a).resolve() for a in sys.argv[1:]] or list(crate_sources())
    found = 0
    for src in sources:
        for src, group, lines in check(src):
            found += 1
            print(f"{src.relative_to(ROOT)}: {' <-> '.join('::'.join(g) for g in group)}")
            print("\n".join(lines))
    if found:
        print(f"{found} import cycle(s) between modules")
        return 1
    print("no import cycles between modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
