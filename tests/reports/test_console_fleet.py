"""Console report for fleets: above 8 nodes one table grouped by check (counts, worst nodes named
with their value) and remediation grouped by check; up to 8 nodes, a table per node as before."""

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
               measured=0, threshold=10, unit="%", remediation="A GPU fell off the bus.")]
    return Report(summary=summarize(nodes, fleet), profile="distributed_training", nodes=nodes, fleet=fleet)


def rendered(report: Report, **kw: bool) -> str:
    con = Console(width=160, record=True, file=io.StringIO())
    console.render(report, con, **kw)
    return con.export_text()


def row(text: str, check_id: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if re.match(rf"^│ {re.escape(check_id)} ", ln))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_40_nodes_get_one_table_by_check_with_counts_and_worst_nodes() -> None:
    text = rendered(fleet_report(40))
    assert "40 nodes (38 reachable)" in text
    # check | pass | warn | fail | error | skip | worst nodes
    gpu = row(text, "gpu.count")
    assert gpu[1:6] == ["35", "·", "3", "2", "·"]
    # fails before errors, the biggest miss first, each with its value
    assert gpu[6] == "gpu-03 0 GPUs; gpu-11 4 GPUs; gpu-30 6 GPUs; gpu-07, gpu-21 unreachable"
    nic = row(text, "network.nic_speed")
    assert nic[1:6] == ["31", "7", "·", "2", "·"]
    # 2 errors + 7 warnings = 9 not passing: the 2 errors and 3 warnings are named, the rest counted
    assert nic[6] == "gpu-07, gpu-21 unreachable; gpu-30, gpu-31, gpu-32 100 Gbps +4 more"
    assert row(text, "system.cpu_cores")[6] == "gpu-07, gpu-21 unreachable"
    assert row(text, "network.bandwidth")[1:6] == ["·", "·", "·", "2", "38"]
    assert row(text, "system.cpu_cores")[1:6] == ["38", "·", "·", "2", "·"]
    assert "unreachable: 2 node(s): gpu-07, gpu-21" in text
    assert "gpu-00 (10.0.1.0)" not in text  # no per-node tables


def test_40_nodes_what_to_do_is_grouped_by_check() -> None:
    text = rendered(fleet_report(40))
    todo = text.split("What to do")[1]
    assert todo.count(GPU_FIX) == 1  # once for the check, not once per failing node
    assert "gpu.count (3 fail: gpu-03, gpu-11, gpu-30): " + GPU_FIX in " ".join(todo.split())
    assert "network.nic_speed (7 warn: gpu-30, gpu-31, gpu-32, gpu-33, gpu-34 +2 more)" in todo
    assert "gpu.count_outlier (1 warn: fleet)" in todo
    assert re.search(r"distributed_training: 40 node\(s\), 104 passed, 8 warnings, 3 failed, 8 errors, 38 skipped — "
                     r"readiness score \d+/100", text)


def test_compact_output_is_far_shorter_than_the_per_node_tables() -> None:
    report = fleet_report(40)
    compact = rendered(report).splitlines()
    detailed = rendered(report, details=True).splitlines()
    assert len(compact) < 40, len(compact)
    assert len(detailed) > 10 * len(compact)
    assert sum("gpu-00 (10.0.1.0)" in ln for ln in detailed) == 1  # --details: the per-node tables are back


def test_up_to_8_nodes_keep_the_per_node_tables_unchanged() -> None:
    for n in (1, 8):
        report = fleet_report(n)
        text = rendered(report)
        assert text == rendered(report, details=True)
        assert sum(bool(re.match(r"^gpu-\d\d \(10\.0\.1\.\d+\)", ln)) for ln in text.splitlines()) == n
        assert "results by check" not in text
    assert "results by check" in rendered(fleet_report(9))
