#!/usr/bin/env python3
"""Checks the shape of src/ that docs/ARCHITECTURE.md describes, so it stays
true as the code grows:

- layers: each module imports only from its own layer or those below it
  (LAYERS, lowest first); a `crate::` path to a higher layer is an error;
- no circle: the graph of modules (one per file) has no cycle;
- at most MAX_TOP_FILES files at the top of src/, the rest in folders;
- no function longer than MAX_FUNCTION_LINES lines;
- every `src/...` path, and every `name.rs` in backticks, named in
  README.md and docs/ exists.

Run by scripts/test.sh; prints what is wrong and exits 1, or prints a
one-line summary.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

# Lowest first. A module may use its own layer and any layer before it.
LAYERS = [
    ["config"],
    ["metrics"],
    ["db"],
    ["catalog"],
    ["import"],
    ["generate"],
    ["http"],
    ["admin"],
    ["app"],
    ["main"],
]
MAX_TOP_FILES = 8
MAX_FUNCTION_LINES = 100


def layer_of(module):
    top = module.split("::")[0]
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    return None


def module_of(path):
    """src/db/pool.rs -> db::pool; src/db/mod.rs -> db; src/main.rs -> main."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return "::".join(parts)


def strip_comments(text):
    """The code without comments and string literals' contents (roughly:
    enough that a path in a doc comment or a message is not an import)."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#"(.*?)"#', '""', text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text, flags=re.S)
    return text


def referenced(module, code, modules):
    """The modules `module` names: crate:: and atelier:: paths (and super::),
    each resolved to the longest module it starts with; `use crate::{a, b}`
    groups are expanded one level."""
    paths = []
    for prefix, body in re.findall(r"\b(crate|atelier)::\{([^}]*)\}", code):
        paths += [p.strip() for p in body.split(",") if p.strip()]
    paths += re.findall(r"\b(?:crate|atelier)::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", code)
    parent = module.rsplit("::", 1)[0] if "::" in module else ""
    for rel in re.findall(r"\bsuper::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", code):
        paths.append(f"{parent}::{rel}" if parent else rel)
    found = set()
    for path in paths:
        parts = path.split("::")
        for n in range(len(parts), 0, -1):
            candidate = "::".join(parts[:n])
            if candidate in modules:
                if candidate != module:
                    found.add(candidate)
                break
    return found


def function_lengths(path, text):
    """(name, first line, lines) of every fn with a body, by brace matching
    on the code without comments and strings."""
    code = strip_comments(text)
    lines = code.split("\n")
    out = []
    for match in re.finditer(r"\bfn\s+([a-zA-Z_][a-zA-Z0-9_]*)", code):
        start = match.start()
        depth = 0
        i = start
        # The body starts at the first `{` before a `;` (a declaration
        # without a body ends at `;`).
        while i < len(code) and code[i] not in "{;":
            i += 1
        if i >= len(code) or code[i] == ";":
            continue
        for j in range(i, len(code)):
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
                if depth == 0:
                    first = code.count("\n", 0, start) + 1
                    last = code.count("\n", 0, j) + 1
                    out.append((match.group(1), first, last - first + 1))
                    break
    del lines
    return out


def find_cycle(graph):
    """One cycle of the graph as a list of nodes, or None."""
    white, grey, black = 0, 1, 2
    colour = {node: white for node in graph}
    stack = []

    def visit(node):
        colour[node] = grey
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour.get(nxt, black) == grey:
                return stack[stack.index(nxt):] + [nxt]
            if colour.get(nxt) == white:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        colour[node] = black
        return None

    for node in sorted(graph):
        if colour[node] == white:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def main():
    problems = []
    files = sorted(SRC.rglob("*.rs"))
    modules = {module_of(f): f for f in files if f.name != "lib.rs"}
    texts = {m: f.read_text() for m, f in modules.items()}

    graph = {}
    for module, text in texts.items():
        code = strip_comments(text)
        graph[module] = referenced(module, code, modules)
        own = layer_of(module)
        if own is None:
            problems.append(f"src/{modules[module].relative_to(SRC)}: module {module} is in no layer of {__file__}")
            continue
        for used in sorted(graph[module]):
            theirs = layer_of(used)
            if theirs is not None and theirs > own:
                problems.append(f"{modules[module].relative_to(ROOT)}: {module} (layer {LAYERS[own][0]}) uses {used} (layer {LAYERS[theirs][0]}), above it")

    cycle = find_cycle(graph)
    if cycle:
        problems.append("modules that use each other in a circle: " + " -> ".join(cycle))

    top = sorted(p.name for p in SRC.iterdir() if p.is_file())
    if len(top) > MAX_TOP_FILES:
        problems.append(f"src/ has {len(top)} files at its top (at most {MAX_TOP_FILES}): {', '.join(top)}")

    longest = 0
    for module, text in texts.items():
        for name, line, length in function_lengths(modules[module], text):
            longest = max(longest, length)
            if length > MAX_FUNCTION_LINES:
                problems.append(f"{modules[module].relative_to(ROOT)}:{line}: fn {name} is {length} lines (at most {MAX_FUNCTION_LINES})")

    docs = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    # A Rust file named in `backticks` without its folder must still be one
    # (`writes.rs`), or be one under src/ or tests/ (`http/cache.rs`).
    rust_files = set()
    for base in (SRC, ROOT / "tests"):
        for f in base.rglob("*.rs"):
            rel = f.relative_to(base).parts
            for k in range(len(rel)):
                rust_files.add("/".join(rel[k:]))
    named = 0
    for doc in docs:
        text = doc.read_text()
        for path in sorted(set(re.findall(r"\bsrc/[A-Za-z0-9_/.-]*[A-Za-z0-9_]", text))):
            named += 1
            if not (ROOT / path).exists():
                problems.append(f"{doc.relative_to(ROOT)} names {path}, which does not exist")
        for name in sorted(set(re.findall(r"`([A-Za-z0-9_/]+\.rs)`", text))):
            if name.startswith("src/"):
                continue
            named += 1
            if name not in rust_files and not (ROOT / name).exists():
                problems.append(f"{doc.relative_to(ROOT)} names `{name}`, which is no file of src/ or tests/")

    if problems:
        print("\n".join(problems))
        return 1
    edges = sum(len(v) for v in graph.values())
    print(f"layout: {len(graph)} modules, {edges} uses, no upward use, no circle; "
          f"{len(top)} files at the top of src/; longest function {longest} lines; "
          f"{named} src/ paths named in the docs, all present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
