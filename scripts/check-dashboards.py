#!/usr/bin/env python3
"""Checks that every metric the Grafana dashboards and alert rules use is exported.

Reads every PromQL `expr` in grafana/dashboards/*.json and deploy/prometheus/alerts.yml, collects
the identifiers that start with `router_`, and compares them with the metric names that the given
live /metrics endpoints (or exposition-format files) export.

    # live endpoints (URLs, or files that list one URL per line)
    scripts/check-dashboards.py http://127.0.0.1:10000/metrics http://127.0.0.1:10001/metrics \
        http://127.0.0.1:10002/metrics --known core/src/telemetry.rs

    # exposition text saved in files (tests)
    scripts/check-dashboards.py --names-from-file metrics.txt

A counter that was never incremented is absent from a live /metrics page, so `--known FILE`
names metrics that exist in the code but may not have been observed yet: any `router_*`
identifier in FILE counts (a plain list, one name per line, or core/src/telemetry.rs itself).

A histogram family `X` also covers `X_bucket`, `X_sum` and `X_count`, and the reverse.

Exit status: 0 when every referenced name is exported or known; 1 when some are neither (they are
listed); 2 on a usage error or an endpoint that cannot be fetched. Standard library only.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.request

SUFFIXES = ("_bucket", "_sum", "_count")
# An identifier starting with router_ that is not the tail of a longer identifier.
REF_RE = re.compile(r"(?<![A-Za-z0-9_:])router_[A-Za-z0-9_:]*")
SAMPLE_RE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{|\s)")
META_RE = re.compile(r"^#\s*(?:HELP|TYPE)\s+([A-Za-z_:][A-Za-z0-9_:]*)(?:\s+(\S+))?")


def family_of(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class Exported:
    """Metric names from exposition-format text: raw sample names and family names."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def add_text(self, text: str) -> None:
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                m = META_RE.match(line)
                if m:
                    self.names.add(m.group(1))
                continue
            m = SAMPLE_RE.match(line + " ")
            if m:
                name = m.group(1)
                self.names.add(name)
                self.names.add(family_of(name))

    def covers(self, ref: str) -> bool:
        return ref in self.names or family_of(ref) in self.names


def read_known(path: str) -> set[str]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    names: set[str] = set()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        names.update(REF_RE.findall(line))
    return names


def fetch(url: str, timeout: float) -> str:
    req = urllib.request.Request(url, headers={"Accept": "text/plain; version=0.0.4"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (operator-given URL)
        return resp.read().decode("utf-8", errors="replace")


def expand_targets(args: list[str]) -> list[str]:
    """URLs as given; any other argument is a file with one URL per line."""
    urls: list[str] = []
    for arg in args:
        if re.match(r"^https?://", arg):
            urls.append(arg)
            continue
        try:
            with open(arg, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        urls.append(line)
        except OSError as e:
            raise SystemExit(f"check-dashboards: {arg!r} is neither an http(s) URL nor a readable file ({e})")
    return urls


def dashboard_exprs(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    return out


def alert_exprs(path: str) -> list[str]:
    """`expr:` values of a Prometheus rules file: inline, quoted, or block scalars (| or >)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)(?:-\s+)?expr:\s*(.*)$", line)
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        value = m.group(2).strip()
        if value[:1] in ("|", ">"):
            block: list[str] = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            out.append("\n".join(block))
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out.append(value)
        i += 1
    return out


def strip_strings(expr: str) -> str:
    """Drops quoted label values so `{job="router_x"}` is not mistaken for a metric."""
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)


def main() -> int:
    root_default = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(
        description="Fail when a Grafana dashboard or alert rule uses a router_* metric that no endpoint exports.",
    )
    p.add_argument("targets", nargs="*", help="/metrics URLs, or files listing one URL per line")
    p.add_argument("--names-from-file", action="append", default=[], metavar="FILE",
                   help="exposition-format text to read instead of (or as well as) live endpoints; repeatable")
    p.add_argument("--known", action="append", default=[], metavar="FILE",
                   help="names that exist but may not be observed yet (any router_* identifier in FILE); repeatable")
    p.add_argument("--root", default=root_default,
                   help="repository root holding grafana/dashboards/ and deploy/prometheus/alerts.yml (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per endpoint (default: %(default)s)")
    args = p.parse_args()

    if not args.targets and not args.names_from_file:
        p.error("give /metrics URLs (or a file of URLs) or --names-from-file FILE")

    exported = Exported()
    for url in expand_targets(args.targets):
        try:
            exported.add_text(fetch(url, args.timeout))
        except (urllib.error.URLError, OSError, ValueError) as e:
            print(f"check-dashboards: cannot fetch {url}: {e}", file=sys.stderr)
            return 2
        print(f"fetched {url}")
    for path in args.names_from_file:
        try:
            with open(path, encoding="utf-8") as f:
                exported.add_text(f.read())
        except OSError as e:
            print(f"check-dashboards: cannot read {path}: {e}", file=sys.stderr)
            return 2

    known: set[str] = set()
    for path in args.known:
        try:
            known |= read_known(path)
        except OSError as e:
            print(f"check-dashboards: cannot read {path}: {e}", file=sys.stderr)
            return 2

    sources = sorted(glob.glob(os.path.join(args.root, "grafana", "dashboards", "*.json")))
    alerts = os.path.join(args.root, "deploy", "prometheus", "alerts.yml")
    if os.path.exists(alerts):
        sources.append(alerts)
    if not sources:
        print(f"check-dashboards: no dashboards or alert rules under {args.root}", file=sys.stderr)
        return 2

    refs: dict[str, set[str]] = {}
    for path in sources:
        exprs = alert_exprs(path) if path.endswith((".yml", ".yaml")) else dashboard_exprs(path)
        for expr in exprs:
            for name in REF_RE.findall(strip_strings(expr)):
                refs.setdefault(name, set()).add(os.path.relpath(path, args.root))

    known_families = known | {family_of(k) for k in known}
    missing: list[str] = []
    only_known: list[str] = []
    for name in sorted(refs):
        if exported.covers(name):
            continue
        if name in known_families or family_of(name) in known_families:
            only_known.append(name)
        else:
            missing.append(name)

    observed = len(refs) - len(missing) - len(only_known)
    print(f"{len(refs)} router_* metric names referenced in {len(sources)} file(s); "
          f"{observed} exported, {len(only_known)} only known, {len(missing)} missing")
    for name in only_known:
        print(f"  known, not yet observed: {name}  ({', '.join(sorted(refs[name]))})")
    for name in missing:
        print(f"  MISSING: {name}  ({', '.join(sorted(refs[name]))})")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
