"""JUnit XML: one <testsuite> per node (plus one "fleet" suite for cross-node checks), one
<testcase> per check. fail → <failure>, error → <error>, skip → <skipped>; pass and warn are
plain passing testcases (a warning's message goes to <system-out> so it is still visible).

Readers (GitLab, Jenkins, GitHub test reporters) count tests/failures/errors/skipped from the
suite attributes, so those are computed here, not left to the reader.

Written as a stream of lines (:func:`lines`), not built as an ElementTree: at 10,000 nodes a tree
of 350,000 elements took seconds and hundreds of megabytes before the first byte was written.
Every string goes through :func:`~validators.reports.common.clean` first (escape sequences gone,
other controls U+FFFD, bounded), then XML escaping; anything XML 1.0 still cannot carry (a lone
surrogate) becomes a visible ``#xD800``, as pytest's own JUnit writer does (src/_pytest/junitxml.py,
bin_xml_escape). ElementTree wrote control characters raw, which no reader can parse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import TextIO

from validators.reports.common import clean
from validators.results import CheckResult, Report

ATTR_LIMIT = 500  # characters of a message in an attribute (readers show it as a one-line summary)
TEXT_LIMIT = 4000  # characters of the detail text
NAME_LIMIT = 200
BODIES_KEPT = 65536  # escaped testcase bodies remembered while writing (~20 MB at most)

_NOT_XML = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"  # outside XML 1.0's Char production
_BAD = re.compile(f"[{_NOT_XML}]")
_TEXT_SPECIAL = re.compile(f"[&<>{_NOT_XML}]")
_ATTR_SPECIAL = re.compile(f"[&<>\"\n\r\t{_NOT_XML}]")
_TAG = {"fail": "failure", "error": "error", "skip": "skipped"}


def _visible(m: re.Match[str]) -> str:
    return f"#x{ord(m.group()):02X}"


def _text(s: str) -> str:
    if _TEXT_SPECIAL.search(s) is None:  # most text: one scan in C, nothing to replace
        return s
    return _BAD.sub(_visible, s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _attr(s: str, limit: int = NAME_LIMIT) -> str:
    # check ids and messages repeat on every node: short ones are escaped once
    return _remembered_attr(s, limit) if len(s) <= 1024 else _escaped_attr(s, limit)


def _escaped_attr(s: str, limit: int) -> str:
    s = clean(s, limit)
    if _ATTR_SPECIAL.search(s) is None:
        return s
    s = _text(s).replace('"', "&quot;")
    return s.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#09;")


_remembered_attr = functools.lru_cache(maxsize=4096)(_escaped_attr)


def _detail(c: CheckResult) -> str:
    lines = [c.message]
    if c.measured is not None or c.threshold is not None:
        unit = f" {c.unit}" if c.unit else ""
        lines.append(f"measured: {c.measured}{unit}; threshold: {c.threshold}{unit}")
    if c.remediation:
        lines.append(f"remediation: {c.remediation}")
    return clean("\n".join(lines), TEXT_LIMIT, multiline=True)


def _case_body(c: CheckResult) -> str:
    """A testcase's text after its name: the same for every node that got this result."""
    tag = _TAG.get(c.status)
    if tag == "skipped":
        return f'>\n      <skipped message="{_attr(c.message, ATTR_LIMIT)}" type="skip" />\n    </testcase>\n'
    if tag is not None:
        return (f'>\n      <{tag} message="{_attr(c.message, ATTR_LIMIT)}" type="{c.status}">{_text(_detail(c))}</{tag}>\n'
                "    </testcase>\n")
    if c.status == "warn":
        return f">\n      <system-out>WARNING: {_text(_detail(c))}</system-out>\n    </testcase>\n"
    return " />\n"


def _suite(name: str, checks: list[CheckResult], time_s: float | None, hostname: str,
           bodies: dict[int, str]) -> Iterator[str]:
    count = dict.fromkeys(("fail", "error", "skip"), 0)
    for c in checks:
        if c.status in count:
            count[c.status] += 1
    name_attr = _attr(name)
    yield (f'  <testsuite name="{name_attr}" hostname="{_attr(hostname)}" tests="{len(checks)}" '
           f'failures="{count["fail"]}" errors="{count["error"]}" skipped="{count["skip"]}" time="{time_s or 0:.3f}"')
    if not checks:
        yield " />\n"
        return
    yield ">\n"
    case = f'    <testcase classname="plinth.{name_attr}" name="'
    for c in checks:
        # identical results are one object across nodes (CheckResult.make): at 10,000 nodes ~50,000
        # distinct of ~360,000, so each body is escaped once. Keyed by id(): every result stays
        # alive in the report for the whole document.
        body = bodies.get(id(c))
        if body is None:
            body = _case_body(c)
            if len(bodies) < BODIES_KEPT:
                bodies[id(c)] = body
        yield f'{case}{_attr(c.id)}" time="0"{body}'
    yield "  </testsuite>\n"


def lines(report: Report) -> Iterator[str]:
    """The document, piece by piece (what :func:`write` streams to a file)."""
    s = report.summary
    tests = sum(len(n.checks) for n in report.nodes) + len(report.fleet)
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield (f'<testsuites name="plinth {_attr(report.profile)}" tests="{tests}" failures="{s.failed}" '
           f'errors="{s.errors}" skipped="{s.skipped}" time="{report.duration_s or 0:.3f}"')
    if not report.nodes and not report.fleet:
        yield " />\n"
        return
    yield ">\n"
    bodies: dict[int, str] = {}
    for node in report.nodes:
        yield from _suite(node.name, node.checks, node.duration_s, node.host, bodies)
    if report.fleet:
        yield from _suite("fleet", report.fleet, None, "controller", bodies)
    yield "</testsuites>\n"


def write(report: Report, out: TextIO) -> None:
    out.writelines(lines(report))


def render(report: Report) -> str:
    return "".join(lines(report))
