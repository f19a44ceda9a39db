"""Reports at fleet size: the console stays a page (summary, by-check table, bounded fleet table) while
the JSON and JUnit reports keep every node and every result and stay valid."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console

from policies.thresholds import get_profile
from validators.judging import assemble
from validators.reports import console, json_report, junit, write_reports
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


def test_file_reports_are_streamed_as_the_documents_the_renderers_give(tmp_path: Path) -> None:
    """JSON and JUnit go to their files piece by piece (never whole in memory), byte for byte what
    render() gives -- also for an empty run and odd names."""
    odd = assemble([NodeReport(name='gpu-"0"', host="10.0.0.1", reachable=True,
                               checks=[CheckResult.make("gpu.count", "fail", "7 GPUs; é", measured=7, threshold=8)])],
                   [], PROFILE, started_at=None, duration_s=None)
    empty = assemble([], [], PROFILE, started_at=None, duration_s=None)
    for report in (fleet_report(50, 5), odd, empty):
        problems = write_reports(report, {"json": tmp_path / "r.json", "junit": tmp_path / "r.xml"})
        assert problems == []
        assert (tmp_path / "r.json").read_text(encoding="utf-8") == json_report.render(report)
        assert (tmp_path / "r.xml").read_text(encoding="utf-8") == junit.render(report)
        ET.parse(tmp_path / "r.xml")


def test_junit_carries_hostile_text_as_well_formed_xml() -> None:
    """A node's message with terminal escapes, NUL, a lone surrogate, quotes and markup: the file
    still parses (ElementTree used to write the control characters raw), markup and quotes come back
    exactly as text, escape sequences are gone and other characters XML or a terminal must not get
    are U+FFFD -- the same clean() every renderer applies (validators/reports/common.py)."""
    message = 'GPU "0" <b>&\x1b[31mred\x1b[0m\x00\ud800\ttab\nline'
    node = NodeReport(name="n<&>\x07", host='h"', reachable=True,
                      checks=[CheckResult.make("gpu.count", status, message, remediation="rm -rf <x>\x1b")
                              for status in ("fail", "error", "warn", "skip", "pass")])
    root = ET.fromstring(junit.render(assemble([node], [], PROFILE, started_at=None, duration_s=1.0)).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "n<&>\ufffd" and suite.get("hostname") == 'h"'
    shown = 'GPU "0" <b>&red\ufffd\ufffd tab'
    # an attribute is one line (readers show it as a summary); the detail text keeps the line break
    assert [e.get("message") for e in root.iter() if e.tag in ("failure", "error", "skipped")] == [f"{shown} line"] * 3
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and failure.text == f"{shown}\nline\nremediation: rm -rf <x>"
    out = root.find("testsuite/testcase/system-out")
    assert out is not None and out.text == f"WARNING: {shown}\nline\nremediation: rm -rf <x>"
