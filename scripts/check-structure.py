#!/usr/bin/env python3
"""Structure checks of the redesign (issue 13), run by CI:

1. **Crate graph**: the binaries (`router-api`, `router-worker`, `router-scheduler`) depend on
   `router-core`, never on each other (read from `cargo metadata`).
2. **No import circle inside a crate**: between sibling modules (the top-level modules of a crate,
   and the submodules of each directory module), an edge A -> B is a use of `crate::...::B` or
   `super::B` from any file of A. A cycle among siblings fails. A child using its parent's items
   (`super::x`) is the normal Rust layout and is not an edge.
3. **Function length**: no function body over 80 lines in production code (every crate's `src/`,
   except the test-only crates `tests`, `testing`, `fakes` and the `bench` programs, and
   `#[cfg(test)]` modules). The exceptions kept are listed in `ALLOWED_LONG` with the reason.
4. **No entered span guards** in production code (`span.enter()`, `.entered()`): in async code a
   guard held across an `.await` leaves a stale span on a thread's stack, and tracing's registry
   then panics a worker thread ("tried to clone a span that already closed",
   tokio-rs/tracing#3514). Attach spans with `Instrument::instrument` instead.

Relies on rustfmt's layout (a function ends at the `}` on its own line at the `fn`'s indent),
which `cargo fmt --check` enforces before this runs.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 80
BINARIES = {"router-api", "router-worker", "router-scheduler"}
# Crates that are test or benchmark infrastructure, not production code.
NOT_PRODUCTION = {"tests", "testing", "fakes", "bench"}
# file:function -> why it stays longer than MAX_LINES.
TEMPLATE = "one admin page as a maud template: the page's markup reads top to bottom in one place"
ALLOWED_LONG: dict[str, str] = {
    "api/src/admin/accounts.rs:show": TEMPLATE,
    "api/src/admin/conversations.rs:show": TEMPLATE,
    "api/src/admin/deliveries.rs:show": TEMPLATE,
    "api/src/admin/dlq.rs:list": TEMPLATE,
    "api/src/admin/overview.rs:show": TEMPLATE,
    "api/src/openapi.rs:constrain_schemas": "a flat list of schema constraints, one statement per handler check, "
    "kept together so they can be reviewed against the handlers",
}

problems: list[str] = []


def crate_graph() -> None:
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )
    for pkg in meta["packages"]:
        if pkg["name"] not in BINARIES:
            continue
        for dep in pkg["dependencies"]:
            if dep["name"] in BINARIES and dep.get("kind") in (None, "build"):
                problems.append(f"crate graph: {pkg['name']} depends on the binary crate {dep['name']}")


def production_crates() -> list[Path]:
    crates = []
    for toml in sorted(ROOT.glob("*/Cargo.toml")):
        if toml.parent.name in NOT_PRODUCTION or not (toml.parent / "src").is_dir():
            continue
        crates.append(toml.parent / "src")
    return crates


def strip_tests(text: str) -> str:
    """Blanks `#[cfg(test)]` items (a `mod tests { ... }` block or a single item)."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "#[cfg(test)]":
            indent = len(lines[i]) - len(lines[i].lstrip())
            j = i + 1
            if lines[j].rstrip().endswith(";"):
                i = j + 1
                continue
            while j < len(lines) and not (lines[j].startswith(" " * indent + "}") and
                                          len(lines[j]) - len(lines[j].lstrip()) == indent):
                j += 1
            out.extend([""] * (j - i + 1))
            i = j + 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


COMMENT_RE = re.compile(r"^\s*//.*$|\s//\s.*$", re.M)


def code_only(text: str) -> str:
    """The file without `#[cfg(test)]` items and comments (doc links are not imports)."""
    return COMMENT_RE.sub("", strip_tests(text))


def module_of(src: Path, file: Path) -> tuple[str, ...]:
    rel = file.relative_to(src).with_suffix("")
    parts = rel.parts
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


USE_RE = re.compile(r"\b(crate|super)((?:::\w+)+)")


def import_circles() -> None:
    for src in production_crates():
        files = [f for f in src.rglob("*.rs")]
        modules = {module_of(src, f) for f in files}
        # Sibling edges: (parent, a) -> (parent, b).
        edges: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
        for f in files:
            me = module_of(src, f)
            if not me:
                continue
            text = code_only(f.read_text())
            for m in USE_RE.finditer(text):
                base, rest = m.group(1), [p for p in m.group(2).split("::") if p]
                if base == "crate":
                    target = tuple(rest)
                else:
                    # super:: from a file: relative to its parent module (mod.rs files are the module).
                    parent = me[:-1]
                    while rest and rest[0] == "super":
                        parent, rest = parent[:-1], rest[1:]
                    target = parent + tuple(rest)
                # The longest known module that prefixes the target.
                while target and target not in modules:
                    target = target[:-1]
                if not target:
                    continue
                # Compare at the first level where the two paths diverge: siblings under a parent.
                k = 0
                while k < min(len(me), len(target)) and me[k] == target[k]:
                    k += 1
                if k == len(me) or k == len(target):
                    continue  # ancestor or descendant: not a sibling edge
                a, b = me[: k + 1], target[: k + 1]
                edges.setdefault(a, set()).add(b)
        # Cycles in the sibling graph (DFS).
        seen_cycles = set()
        state: dict[tuple[str, ...], int] = {}
        stack: list[tuple[str, ...]] = []

        def dfs(n: tuple[str, ...]) -> None:
            state[n] = 1
            stack.append(n)
            for m in sorted(edges.get(n, ())):
                if state.get(m) == 1:
                    cyc = stack[stack.index(m):] + [m]
                    key = frozenset(cyc)
                    if key not in seen_cycles:
                        seen_cycles.add(key)
                        crate = src.parent.name
                        problems.append(f"import circle in {crate}: " + " -> ".join("::".join(c) for c in cyc))
                elif state.get(m) is None:
                    dfs(m)
            stack.pop()
            state[n] = 2

        for n in sorted(edges):
            if state.get(n) is None:
                dfs(n)


FN_RE = re.compile(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+\"C\"\s+)?fn\s+(\w+)")


def long_functions() -> None:
    for src in production_crates():
        for f in sorted(src.rglob("*.rs")):
            lines = strip_tests(f.read_text()).split("\n")
            i = 0
            while i < len(lines):
                m = FN_RE.match(lines[i])
                if not m:
                    i += 1
                    continue
                indent, name = m.group(1), m.group(2)
                # The signature may span lines; a `;` before any `{` is a declaration.
                j = i
                while j < len(lines) and "{" not in lines[j] and not lines[j].rstrip().endswith(";"):
                    j += 1
                if j >= len(lines) or lines[j].rstrip().endswith(";"):
                    i = j + 1
                    continue
                if lines[j].rstrip().endswith("}") and lines[j].count("{") == lines[j].count("}"):
                    i = j + 1  # one-line function
                    continue
                k = j + 1
                while k < len(lines) and lines[k] != indent + "}":
                    k += 1
                length = k - i + 1
                key = f"{f.relative_to(ROOT)}:{name}"
                if length > MAX_LINES and key not in ALLOWED_LONG:
                    problems.append(f"function over {MAX_LINES} lines: {key} ({length} lines)")
                i = j + 1  # nested fns are checked too


ENTER_RE = re.compile(r"\.enter(ed)?\(\)")


def entered_spans() -> None:
    for src in production_crates():
        for f in sorted(src.rglob("*.rs")):
            for n, line in enumerate(code_only(strip_tests(f.read_text())).split("\n"), 1):
                if ENTER_RE.search(line):
                    problems.append(f"entered span guard (use Instrument): {f.relative_to(ROOT)}:{n}")


def main() -> int:
    crate_graph()
    import_circles()
    long_functions()
    entered_spans()
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check-structure: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("check-structure: crate graph, import circles, function lengths and span guards OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
