"""The benchmark harness, at smoke-test size: it sets up real hosts (sshd on loopback, two network
namespaces, tbf), runs every section with N=2 and 2 repetitions, and writes a Markdown table and
the raw samples. No timing is asserted (this machine is shared and noisy): only that every row
that should carry numbers does, that no host was lost, and that the document is a table.
Plus the pure pieces (statistics, rendering) and the process meters (peak RSS, open fds)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import Row, Section, Target, render
from benchmarks.stats import Series, ratios, run_measured

REPO = Path(__file__).resolve().parents[2]


def test_series_and_side_by_side_ratios() -> None:
    plinth = Series([1.0, 2.0, 4.0])
    pdsh = Series([0.5, 2.0, 1.0])
    assert (plinth.median, plinth.low, plinth.high) == (2.0, 1.0, 4.0)
    # repetition i over repetition i, not median over median
    assert ratios(plinth, pdsh).samples == [2.0, 1.0, 4.0]
    assert ratios(plinth, Series([0.0, 1.0, 1.0])).samples == [2.0, 4.0]  # a zero denominator is dropped


def test_render_writes_a_table_with_targets() -> None:
    s = Section("fanout", "Fan-out", rows=[Row("pdsh", "N=2", "s", Series([0.25, 0.5, 0.3])),
                                           Row("plinth", "N=2", "s", Series([0.5, 1.0, 0.6]), Series([2.0, 2.0, 2.0]), "pdsh"),
                                           Row("ansible", "N=2", "s", note="ansible-core not installed")],
                targets=[Target("≤2× the pdsh floor", "2.00×", True), Target("≥5× faster than ansible", "n/a", None)])
    md = render([s], {"cpu": "test cpu"}, ["preamble line"])
    assert "| pdsh | N=2 | 0.300 | 0.250–0.500 | s | 3 |" in md
    assert "2.00× (2.00–2.00) vs pdsh" in md
    assert "| ansible | N=2 | — | — | s | 0 |" in md  # no number is shown as a dash, never as 0
    assert "| Fan-out | ≤2× the pdsh floor | 2.00× | yes |" in md
    assert "- **cpu**: test cpu" in md


def test_a_partial_run_replaces_only_its_own_sections() -> None:
    from benchmarks.report import merge

    old = [Section("fanout", "Fan-out: N hosts", rows=[Row("plinth", "N=8", "s", Series([1.0]))],
                   targets=[Target("fast", "1 s", True)]),
           Section("scale", "Scale: 256 hosts", rows=[Row("wall", "256", "s", Series([20.0]))], targets=[Target("rss", "90 MB", True)])]
    doc = render(old, {"cpu": "c"}, ["preamble"])
    new = Section("scale", "Scale: 256 and 1,024 hosts", rows=[Row("wall", "1,024", "s", Series([80.0]))],
                  targets=[Target("fds bounded", "120", True)])
    merged = merge(doc, [new], {"load average at end": "1 2 3"})
    assert "| plinth | N=8 | 1.00 |" in merged and "| Fan-out: N hosts | fast | 1 s | yes |" in merged  # kept
    assert "| wall | 256 |" not in merged and "| Scale: 256 hosts | rss |" not in merged  # replaced
    assert "## Scale: 256 and 1,024 hosts" in merged and "| Scale: 256 and 1,024 hosts | fds bounded | 120 | yes |" in merged
    assert merged.count("**Partial re-run:**") == 1 and merge(merged, [new], {}).count("**Partial re-run:**") == 1
    assert "## Targets at a glance\n\n| section |" in merged
    added = merge(doc, [Section("facts", "Facts: 10 nodes", targets=[Target("t", "1", True)])], {})
    assert "_Section wall time: 0 s._\n\n## Facts: 10 nodes" in added


def test_run_measured_reads_the_childs_own_peak_rss_and_fds() -> None:
    code = ("import os, time\n"
            "b = bytearray(80 * 1024 * 1024)\n"
            "b[::4096] = b'x' * len(b[::4096])\n"  # touch every page so it is resident
            "fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(200)]\n"
            "time.sleep(0.3)\n")
    res = run_measured([sys.executable, "-c", code], sample_fds=True, timeout_s=60)
    assert res.returncode == 0, res.stderr
    assert res.maxrss_kb >= 80 * 1024
    assert res.peak_fds is not None and res.peak_fds >= 200
    assert res.wall_s >= 0.3


def test_run_measured_kills_a_child_past_its_timeout() -> None:
    res = run_measured([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5)
    assert res.returncode == -9
    assert res.wall_s < 10


@pytest.mark.root
@pytest.mark.slow
def test_quick_harness_run_writes_rows_with_numbers(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the harness needs root (sshd, network namespaces, tc)")
    if not (REPO / ".venv" / "bin" / "plinth").exists():
        pytest.skip("plinth is not installed in .venv (make bench installs it)")
    out, raw = tmp_path / "BENCH.md", tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--tools", "plinth,pdsh",
                           "--out", str(out), "--json", str(raw)], cwd=REPO, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(raw.read_text())
    sections = {s["key"]: s for s in doc["sections"]}
    assert set(sections) == {"fanout", "scale", "facts", "accuracy", "preview", "payload", "fabric"}
    assert doc["machine"]["kernel"] and "logical CPUs" in doc["machine"]["cpu"]

    def numbers(section: str, what: str) -> list[float]:
        rows = [r for r in sections[section]["rows"] if r["what"].startswith(what)]
        assert rows, f"no row {what!r} in {section}: {[r['what'] for r in sections[section]['rows']]}"
        series = rows[0]["series"]
        assert series is not None, f"{what}: no samples ({rows[0]['note']})"
        assert all(math.isfinite(x) for x in series["samples"])
        assert series["min"] <= series["median"] <= series["max"]
        return series["samples"]

    assert len(numbers("fanout", "plinth validate")) == 2
    assert all(x > 0 for x in numbers("fanout", "pdsh"))
    plinth_row = next(r for r in sections["fanout"]["rows"] if r["what"].startswith("plinth validate"))
    assert plinth_row["ratio_to"] == "pdsh" and plinth_row["ratio"]["samples"]
    assert numbers("scale", "hosts lost") == [0.0, 0.0]  # every host answered, both runs
    assert all(x > 0 for x in numbers("scale", "plinth peak RSS"))
    assert all(x > 0 for x in numbers("accuracy", "disk sequential write, plinth builtin"))
    if not any("not measured" in n for n in sections["accuracy"]["notes"]):
        assert all(50 < x < 150 for x in numbers("accuracy", "bandwidth, plinth builtin"))  # tbf at 100 Mbit/s
        assert numbers("accuracy", "latency, plinth builtin ping")
    assert numbers("preview", "plinth preview --stack edge")
    assert all(x > 0 for x in numbers("facts", "validate --facts s3:// (moto): wall time"))
    assert all(x > 0 for x in numbers("facts", "validate --facts DIR: wall time"))
    assert not [n for n in sections["facts"]["notes"] if "run " in n and ("exit" in n or "unreadable" in n)]
    assert numbers("payload", "assembled payload")[0] > 1000
    if not any("git show" in n for n in sections["payload"]["notes"]):  # a shallow clone has no reference
        assert all(x > 0 for x in numbers("payload", "assembled probe wall time (system python3, empty PATH)"))
    assert numbers("fabric", "plinth validate -p distributed_training (full)")
    if not any("not measured" in n for n in sections["fabric"]["notes"]):
        assert numbers("fabric", "ring all-reduce time")
    assert not [n for s in sections.values() for n in s["notes"] if " run " in n and "exit" in n]

    md = out.read_text()
    assert md.startswith("# plinth benchmarks")
    assert "## Machine" in md and "## Targets at a glance" in md
    assert md.count("| what | parameters | median | min–max | unit | runs |") == 7
