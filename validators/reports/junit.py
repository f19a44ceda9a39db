"""JUnit XML: one <testsuite> per node (plus one "fleet" suite for cross-node checks), one
<testcase> per check. fail → <failure>, error → <error>, skip → <skipped>; pass and warn are
plain passing testcases (a warning's message goes to <system-out> so it is still visible).

Readers (GitLab, Jenkins, GitHub test reporters) count tests/failures/errors/skipped from the
suite attributes, so those are computed here, not left to the reader.

Every string goes through :func:`~validators.reports.common.clean` first: ElementTree escapes
``&<>"`` but writes control characters raw, and one ESC from a node makes the whole file
not well-formed XML 1.0 (pytest's junitxml has ``bin_xml_escape`` for the same reason).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from validators.reports.common import clean
from validators.results import CheckResult, Report

ATTR_LIMIT = 500  # characters of a message in an attribute (readers show it as a one-line summary)
TEXT_LIMIT = 4000  # characters of the detail text


def _detail(c: CheckResult) -> str:
    lines = [c.message]
    if c.measured is not None or c.threshold is not None:
        unit = f" {c.unit}" if c.unit else ""
        lines.append(f"measured: {c.measured}{unit}; threshold: {c.threshold}{unit}")
    if c.remediation:
        lines.append(f"remediation: {c.remediation}")
    return clean("\n".join(lines), TEXT_LIMIT, multiline=True)


def _suite(parent: ET.Element, name: str, checks: list[CheckResult], time_s: float | None, hostname: str) -> None:
    count = {s: sum(1 for c in checks if c.status == s) for s in ("fail", "error", "skip")}
    suite = ET.SubElement(parent, "testsuite", {
        "name": clean(name, 200), "hostname": clean(hostname, 260), "tests": str(len(checks)), "failures": str(count["fail"]),
        "errors": str(count["error"]), "skipped": str(count["skip"]), "time": f"{time_s or 0:.3f}",
    })
    for c in checks:
        case = ET.SubElement(suite, "testcase", {"classname": clean(f"plinth.{name}", 200), "name": clean(c.id, 200), "time": "0"})
        tag = {"fail": "failure", "error": "error", "skip": "skipped"}.get(c.status)
        if tag is not None:
            el = ET.SubElement(case, tag, {"message": clean(c.message, ATTR_LIMIT), "type": c.status})
            if tag != "skipped":
                el.text = _detail(c)
        elif c.status == "warn":
            ET.SubElement(case, "system-out").text = f"WARNING: {_detail(c)}"


def render(report: Report) -> str:
    root = ET.Element("testsuites", {
        "name": clean(f"plinth {report.profile}", 200),
        "tests": str(sum(len(n.checks) for n in report.nodes) + len(report.fleet)),
        "failures": str(report.summary.failed), "errors": str(report.summary.errors),
        "skipped": str(report.summary.skipped), "time": f"{report.duration_s or 0:.3f}",
    })
    for node in report.nodes:
        _suite(root, node.name, node.checks, node.duration_s, node.host)
    if report.fleet:
        _suite(root, "fleet", report.fleet, None, "controller")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
