"""Probe payload: what one node receives and how long it takes to answer, for the assembled probe
(``validators/probe/gather/`` bundled by ``assemble.py``) against the single-file probe it replaced
(``validators/probe/node_probe.py`` at :data:`REFERENCE_COMMIT`, read with ``git show``).

Both run the same way a transport runs them (``python3 - '<options json>'``, the script on stdin)
with the options of a quick run (no disk test, no object store), alternating within each
repetition; on this GPU-less machine, with its PATH as is (``fi_info`` there costs ~0.3 s when
present) and with an empty PATH (start-up and parsing only: every tool "not found").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import Row, Section, Target, fmt
from benchmarks.stats import Series, ratios, run_measured
from benchmarks.tools import REPO

REFERENCE_COMMIT = "cdd811ad6561ea9d8e517ffaaeb33cfee1bac3a2"  # the last commit with the one-file probe
REFERENCE_PATH = "validators/probe/node_probe.py"
BOUND = 1.20  # the split may cost at most 20% in size or time
PY38 = Path.home() / ".pyenv" / "versions" / "3.8.18" / "bin" / "python3"


def reference_script() -> bytes | None:
    proc = subprocess.run(["git", "show", f"{REFERENCE_COMMIT}:{REFERENCE_PATH}"], cwd=REPO, capture_output=True, check=False)
    return proc.stdout if proc.returncode == 0 else None


def _run(python: str, script: bytes, options: str, env: dict[str, str], cwd: Path) -> float:
    with tempfile.TemporaryFile() as stdin:
        stdin.write(script)
        stdin.seek(0)
        proc = run_measured([python, "-", options], stdin=stdin, cwd=cwd, env=env, timeout_s=120)
    facts = json.loads(proc.stdout)
    if proc.returncode != 0 or facts.get("errors"):
        raise RuntimeError(f"probe exit {proc.returncode}: {facts.get('errors')} {proc.tail(200)}")
    return proc.wall_s


def run_payload(reps: int, runs_per_rep: int = 4) -> Section:
    from validators.probe import ProbeOptions, node_script, probe_command

    section = Section("payload", "Probe payload: size and wall time, assembled vs the one-file probe it replaced")
    t0 = time.monotonic()
    reference = reference_script()
    argv, assembled = probe_command(ProbeOptions(disk_test_mb=0, disk_skip_reason="quick"))
    assert assembled == node_script()
    if reference is None:
        section.notes.append(f"git show {REFERENCE_COMMIT[:12]}:{REFERENCE_PATH} failed (a shallow clone?): no comparison")
        section.rows.append(Row("assembled payload", "bytes on stdin", "bytes", Series([len(assembled)])))
        return section
    section.rows.append(Row("one-file probe (reference)", f"{REFERENCE_COMMIT[:12]}", "bytes", Series([len(reference)])))
    size = Series([len(assembled) / len(reference)])
    section.rows.append(Row("assembled payload", "bytes on stdin", "bytes", Series([len(assembled)]), ratio=size,
                            ratio_to="one-file probe (reference)"))
    section.targets.append(Target(f"payload size ≤ {BOUND:.2f}× the one-file probe", f"{fmt(size.median)}× "
                                  f"({len(assembled)} vs {len(reference)} bytes)", size.median <= BOUND))
    pythons = [("system python3", "/usr/bin/python3")] + ([("python 3.8", str(PY38))] if PY38.exists() else [])
    paths = [("PATH as on this machine", os.environ.get("PATH", "/usr/bin:/bin")), ("empty PATH", "/nonexistent")]
    with tempfile.TemporaryDirectory(prefix=f"plinth-bench-payload-{os.getpid()}-") as tmp:
        home = Path(tmp)
        for py_label, python in pythons:
            for path_label, path in paths:
                env = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8"}
                old, new = Series(), Series()
                for _ in range(reps * runs_per_rep):
                    old.add(_run(python, reference, argv[2], env, home))
                    new.add(_run(python, assembled, argv[2], env, home))
                params = f"{py_label}, {path_label}"
                ref_what = f"one-file probe wall time ({params})"
                section.rows.append(Row(ref_what, params, "s", old))
                ratio = ratios(new, old)
                section.rows.append(Row(f"assembled probe wall time ({params})", params, "s", new, ratio=ratio, ratio_to=ref_what))
                section.targets.append(Target(f"probe wall time ≤ {BOUND:.2f}× the one-file probe ({params})",
                                              f"{fmt(ratio.median)}× ({fmt(new.median)} vs {fmt(old.median)} s)",
                                              ratio.median <= BOUND))
                if path_label.startswith("PATH as"):
                    section.targets.append(Target(f"quick probe < 1 s on a CPU-only node ({py_label})",
                                                  f"{fmt(new.median)} s median", new.median < 1.0))
    section.notes.append(f"{reps * runs_per_rep} runs per figure, the two probes alternating; options "
                         f"{argv[2]} ({sys.platform}).")
    _kernel_log_flood(section, reps)
    section.wall_s = time.monotonic() - t0
    return section


def _kernel_log_flood(section: Section, reps: int) -> None:
    """The kernel-log read is bounded in bytes (a 16 MiB ring at most); this is its worst case in
    time: a ring buffer full of Xid lines (a GPU flooding Xid 13), parsed by the node's own code."""
    from validators.probe.gather.xid import parse_xid

    line = "[%12.6f] NVRM: Xid (PCI:0000:38:00): 13, pid=2897677, name=pt_main_thread, Graphics SM Warp Exception on (GPC 8, TPC 5, SM 0)\n"
    ring = "".join(line % (i * 0.001) for i in range(16 * 1024 * 1024 // len(line % 0)))
    series = Series()
    total = 0
    for _ in range(max(reps, 3)):
        t1 = time.perf_counter()
        total = parse_xid(ring, btime=time.time() - 3600)["total"]
        series.add(time.perf_counter() - t1)
    what = f"kernel log: a 16 MiB ring of {total} Xid lines parsed"
    section.rows.append(Row(what, "in-process, this Python", "s", series))
    section.targets.append(Target("the worst-case kernel log (16 MiB of Xid lines) parses in < 1 s", f"{fmt(series.median)} s median",
                                  series.median < 1.0))
