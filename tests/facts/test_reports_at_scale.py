"""Reports at fleet size: the console stays a page (summary, by-check table, bounded fleet table) while
the JSON and JUnit reports keep every node and every result and stay valid."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

from rich.console import Console

from policies.thresholds import get_profile
from validators.judging import assemble
from validators.reports import console, json_report, junit
from validators.reports.console import WORST_NAMED, bounded_fleet
from validators.results import CheckResult, NodeReport, Report

PROFILE = get_profile("distributed_training")


def fleet_report(nodes: int, outliers: int) -> Report:
    reports = []
    for i in range(nodes):
        gpus = 7 if i < outliers else 8
        checks = [CheckResult.make("gpu.count", "fail" if gpus < 8 else "pass", f"{gpus} GPUs", measured=gpus, threshold=8),
                  CheckResult.make("system.cpu_cores", "pass", "96 cores", measured=96, threshold=8)]
        reports.append(NodeReport(name=f"ip-10-0-{i // 256}-{i % 256}.ec2.internal", host=f"10.0.{i // 256}.{i % 256}",
                                  reachable=True, checks=checks))
    fleet = [CheckResult.make("gpu.count_outlier", "warn", f"node {i}: visible GPUs 7 is 12% below the fleet median 8",
                              measured=7, threshold=10, unit="%") for i in range(outliers)]
    fleet.append(CheckResult.make("storage.bucket_posture", "pass", "versioned, encrypted, private"))
    return assemble(reports, fleet, PROFILE, started_at=None, duration_s=1.0)


def test_console_is_bounded_and_file_reports_are_complete() -> None:
    report = fleet_report(3000, 400)
    buf = io.StringIO()
    console.render(report, Console(file=buf, width=160))
    text = buf.getvalue()
    assert len(text.splitlines()) < 80  # not 3,000 tables, not 400 fleet rows
    assert "+395 more (395 warn): every one is in the file reports" in text
    assert "3000 node(s)" in text and "400 failed" in text
    doc = json.loads(json_report.render(report))
    assert len(doc["nodes"]) == 3000 and len(doc["fleet"]) == 401
    root = ET.fromstring(junit.render(report).split("\n", 1)[1])
    assert root.get("tests") == str(3000 * 2 + 401) and root.get("failures") == "400"


def test_bounded_fleet_keeps_the_worst_first_and_small_checks_whole() -> None:
    rows = [CheckResult.make("gpu.count_outlier", "warn", f"n{i}") for i in range(8)]
    rows.insert(3, CheckResult.make("gpu.count_outlier", "error", "judge crashed"))
    rows.append(CheckResult.make("storage.bucket_posture", "fail", "not encrypted"))
    out = bounded_fleet(rows)
    outliers = [c for c in out if c.id == "gpu.count_outlier"]
    assert outliers[0].status == "error" and len(outliers) == WORST_NAMED + 1
    assert outliers[-1].message.startswith("+4 more (4 warn)")
    assert [c.message for c in out if c.id == "storage.bucket_posture"] == ["not encrypted"]
