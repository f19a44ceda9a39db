"""Preview: wall time of ``plinth preview --stack S --json …`` (the stack program under Pulumi SDK
mocks plus the full policy pack, offline) for each shipped stack; the stacks alternate within each
repetition so a noisy moment does not land on one stack only."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import Row, Section, Target, fmt
from benchmarks.stats import Series, run_measured
from benchmarks.tools import PLINTH, REPO

TARGET_S = 3.0


def shipped_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (REPO / "stacks").glob("Pulumi.*.yaml"))


def import_breakdown(stack: str, out: Path) -> tuple[float, list[tuple[str, float]]]:
    """One extra run under ``python -X importtime``: seconds spent importing in total, and the
    heaviest packages (self time summed by the first two dotted components)."""
    proc = run_measured([sys.executable, "-X", "importtime", "-m", "validators.cli", "preview", "--stack", stack,
                         "--json", str(out)], cwd=REPO, env={**os.environ, "CI": "1"}, timeout_s=300)
    by_pkg: dict[str, float] = {}
    total = 0.0
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)", line)
        if not m:
            continue
        us, module = int(m.group(1)), m.group(2)
        total += us / 1e6
        pkg = ".".join(module.split(".")[:2])
        by_pkg[pkg] = by_pkg.get(pkg, 0.0) + us / 1e6
    return total, sorted(by_pkg.items(), key=lambda kv: -kv[1])[:4]


def run_preview(stacks: list[str], reps: int) -> Section:
    section = Section("preview", "Preview: `plinth preview --stack S` (offline, full policy pack)")
    t0 = time.monotonic()
    wall = {s: Series() for s in stacks}
    rss = {s: Series() for s in stacks}
    resources: dict[str, int] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"plinth-bench-preview-{os.getpid()}-") as d:
        for rep in range(reps):
            order = stacks[rep % len(stacks):] + stacks[:rep % len(stacks)]
            for stack in order:
                out = Path(d) / f"{stack}.json"
                proc = run_measured([str(PLINTH), "preview", "--stack", stack, "--json", str(out)], cwd=REPO,
                                    env={**os.environ, "CI": "1"}, timeout_s=300)
                try:
                    resources[stack] = len(json.loads(out.read_text())["resources"])
                except (OSError, ValueError, KeyError):
                    resources[stack] = 0
                if proc.returncode not in (0, 1) or not resources[stack]:  # 1: a mandatory violation is a result
                    failures.append(f"{stack} run {rep + 1}: exit {proc.returncode}: {proc.tail(200)}")
                    continue
                wall[stack].add(proc.wall_s)
                rss[stack].add(proc.maxrss_kb / 1024)
        breakdown = {s: import_breakdown(s, Path(d) / f"{s}-importtime.json") for s in stacks}
    for stack in stacks:
        params = f"{resources.get(stack, 0)} resources"
        section.rows.append(Row(f"plinth preview --stack {stack}", params, "s", wall[stack] if wall[stack].n else None,
                                note="" if wall[stack].n else "failed"))
        section.rows.append(Row(f"plinth preview --stack {stack}: peak RSS", params, "MB",
                                rss[stack] if rss[stack].n else None))
        total, top = breakdown[stack]
        if total:
            heavy = ", ".join(f"{pkg} {fmt(sec)} s" for pkg, sec in top)
            section.rows.append(Row(f"plinth preview --stack {stack}: time spent importing", params, "s", Series([total]),
                                    note=f"one run under -X importtime (which inflates it a little); heaviest: {heavy}"))
        if wall[stack].n:
            section.targets.append(Target(f"preview {stack} ≤ {TARGET_S:g} s", f"{fmt(wall[stack].median)} s median",
                                          wall[stack].median <= TARGET_S))
        else:
            section.targets.append(Target(f"preview {stack} ≤ {TARGET_S:g} s", "did not run (see notes)", None))
    section.notes += failures
    section.wall_s = time.monotonic() - t0
    return section


__all__ = ["run_preview", "shipped_stacks"]
