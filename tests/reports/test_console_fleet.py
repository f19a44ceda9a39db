"""Console report for fleets: above 8 nodes one line of counts per check with the worst nodes named
beneath (with their value) and remediation grouped by check; up to 8 nodes, a block per node. Both
read at 80 columns: no line wider, unreachable nodes named once with their reason."""

from __future__ import annotations

import io
import re

from rich.console import Console

from validators.reports import console
from validators.results import CheckResult, NodeReport, Report
from validators.runner import summarize

C = CheckResult.make
GPU_FIX = "Reseat the GPU or replace the node; check `nvidia-smi` and dmesg for Xid 79."
DOWN = {"gpu-07", "gpu-21"}
NO_GPU = {"gpu-03": 0, "gpu-11": 4, "gpu-30": 6}  # measured GPUs on the failing nodes
SLOW_NIC = {f"gpu-{i:02d}" for i in range(30, 37)}  # 7 warnings: more than the 5 named


def node(i: int) -> NodeReport:
    name = f"gpu-{i:02d}"
    if name in DOWN:
        reason = f"unreachable: 10.0.1.{i}:22: connection refused"
        return NodeReport(name=name, host=f"10.0.1.{i}", reachable=False, checks=[
            C(cid, "error", reason) for cid in ("gpu.count", "system.cpu_cores", "network.nic_speed", "network.bandwidth")])
    gpus = NO_GPU.get(name, 8)
    checks = [
        C("gpu.count", "fail" if gpus < 8 else "pass", f"{gpus} of 8 GPUs visible", measured=gpus, threshold=8, unit="GPUs",
          remediation=GPU_FIX if gpus < 8 else None),
        C("system.cpu_cores", "pass", "96 physical cores", measured=96, threshold=8, unit="cores"),
        C("network.nic_speed", "warn" if name in SLOW_NIC else "pass", "primary NIC speed", measured=100 if name in SLOW_NIC else 400,
          threshold=100, unit="Gbps", remediation="Check the EFA/ENA driver and instance type." if name in SLOW_NIC else None),
        C("network.bandwidth", "skip", "pairwise network tests not run (--quick)"),
    ]
    return NodeReport(name=name, host=f"10.0.1.{i}", reachable=True, checks=checks, duration_s=0.2)


def fleet_report(n: int) -> Report:
    nodes = [node(i) for i in range(n)]
    fleet = [C("gpu.count_outlier", "warn", "gpu-03: visible GPUs 0 GPUs is 100% below the fleet median 8 GPUs",
               measured=100, threshold=10, unit="%", remediation="A GPU fell off the bus.")]
    return Report(summary=summarize(nodes, fleet), profile="distributed_training", nodes=nodes, fleet=fleet)


def rendered(report: Report, width: int = 80, **kw: bool) -> str:
    con = Console(width=width, record=True, file=io.StringIO())
    console.render(report, con, **kw)
    return con.export_text()


def row(text: str, check_id: str) -> tuple[list[str], str]:
    """A check's counts (pass, warn, fail, error, skip) and the worst-nodes line beneath it ("" if none)."""
    lines = text.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.split()[:1] == [check_id])
    worst = []
    for ln in lines[i + 1:]:
        if not ln.startswith("  ") or ln.split()[0] in ("WARN", "FAIL", "ERROR"):
            break
        worst.append(ln.strip())
    return lines[i].split()[1:], " ".join(worst)


def test_40_nodes_get_one_line_per_check_with_counts_and_worst_nodes() -> None:
    text = rendered(fleet_report(40))
    assert "40 nodes (38 reachable)" in text
    # the unreachable nodes: one line each with the reason, not counted again under every check
    assert "gpu-07 (10.0.1.7) unreachable: 10.0.1.7:22: connection refused" in text.splitlines()
    assert "gpu-21 (10.0.1.21) unreachable: 10.0.1.21:22: connection refused" in text.splitlines()
    assert text.count("gpu-07") == 2  # its line and the recap
    gpu, worst = row(text, "gpu.count")
    assert gpu == ["35", "·", "3", "·", "·"]
    # fails first, the biggest miss first, each with its value
    assert worst == "gpu-03 0 GPUs; gpu-11 4 GPUs; gpu-30 6 GPUs"
    nic, worst = row(text, "network.nic_speed")
    assert nic == ["31", "7", "·", "·", "·"]
    # 7 warnings: 5 named with their shared value, the rest counted
    assert worst == "gpu-30, gpu-31, gpu-32, gpu-33, gpu-34 100 Gbps +2 more"
    assert row(text, "system.cpu_cores") == (["38", "·", "·", "·", "·"], "")
    assert "skipped on every node: network.bandwidth" in text  # not a row of dots
    assert row(rendered(fleet_report(40), verbose=True), "network.bandwidth")[0] == ["·", "·", "·", "·", "38"]
    assert "gaps: NO_GPU_DETECTED on 1 node(s)" in text  # gpu-03 alone has none; unreachable nodes are not "gaps"
    assert "gpu-00 (10.0.1.0)" not in text  # no per-node blocks
    assert max(len(ln) for ln in text.splitlines()) <= 80
    assert all(ln == ln.rstrip() for ln in text.splitlines())  # no padding to the width


def test_40_nodes_what_to_do_is_grouped_by_check_and_the_recap_by_outcome() -> None:
    text = rendered(fleet_report(40))
    todo = " ".join(text.split("What to do")[1].split("Recap")[0].split())  # lines wrapped at 80 columns, joined
    assert todo.count(GPU_FIX) == 1  # once for the check, not once per failing node
    assert "gpu.count (3 fail: gpu-03, gpu-11, gpu-30): " + GPU_FIX in todo
    assert "network.nic_speed (7 warn: gpu-30, gpu-31, gpu-32, gpu-33, gpu-34 +2 more)" in todo
    assert "gpu.count_outlier (1 warn: fleet)" in todo
    recap = text.split("Recap")[1]
    assert recap.startswith(": 40 nodes, 3 failed, 6 warn, 29 ok, 2 unreachable")
    assert "unreachable (2): gpu-07, gpu-21" in recap and "failed (3): gpu-03, gpu-11, gpu-30" in recap
    summary = " ".join(" ".join(text.split("Recap")[1].splitlines()[4:]).split())
    assert re.search(r"distributed_training: 40 node\(s\), 104 passed, 8 warnings, 3 failed, 8 errors, 38 skipped — "
                     r"readiness score \d+/100: [a-z ]+; 2 unreachable node\(s\) score 0", summary), summary


def test_compact_output_is_far_shorter_than_the_per_node_blocks() -> None:
    report = fleet_report(40)
    compact = rendered(report).splitlines()
    detailed = rendered(report, details=True).splitlines()
    assert len(compact) < 40, len(compact)
    assert len(detailed) > 3 * len(compact)
    assert sum(ln.startswith("gpu-00 (10.0.1.0)") for ln in detailed) == 1  # --details: the per-node blocks are back


def test_up_to_8_nodes_keep_the_per_node_blocks() -> None:
    for n in (1, 8):
        report = fleet_report(n)
        text = rendered(report)
        assert text == rendered(report, details=True)
        assert sum(bool(re.match(r"^gpu-\d\d \(10\.0\.1\.\d+\)", ln)) for ln in text.splitlines()) == n
        assert "results by check" not in text
    assert "results by check" in rendered(fleet_report(9))


def test_the_fleet_view_is_bounded_whatever_the_fleet() -> None:
    """500 unreachable nodes and an outlier check with a result per slow node: 10 unreachable lines,
    5 outliers per check, everything else counted; the file reports keep every one."""
    down = [NodeReport(name=f"n{i}", host=f"10.1.{i // 250}.{i % 250}", reachable=False,
                       checks=[C("gpu.count", "error", f"unreachable: 10.1.0.{i}:22: timed out")]) for i in range(500)]
    up = [node(i) for i in range(100)]
    fleet = [C("network.bandwidth_outlier", "warn", f"gpu-{i:02d}: slow", measured=50, threshold=10, unit="%") for i in range(60)]
    report = Report(summary=summarize(up + down, fleet), profile="p", nodes=up + down, fleet=fleet)
    text = rendered(report)
    assert sum(" unreachable: " in ln for ln in text.splitlines()) == 10  # gpu-07, gpu-21, n0 … n7
    assert "+492 more not checked: n8, n9, n10, n11, n12 +487 more" in " ".join(text.split())
    assert sum(ln.lstrip().startswith("WARN") for ln in text.splitlines()) == 5 + 1  # and the "+N more" line
    assert "+55 more (55 warn): every one is in the file reports" in " ".join(text.split())
    assert len(text.splitlines()) < 70
