"""What a hostile node sends, and what every report must still be when it did: parseable, inert
(no markup parsed, no terminal escape, no HTML), and honest (no pass built on a NaN)."""

from __future__ import annotations

import io
import json
import math
import re
import xml.etree.ElementTree as ET
from typing import Any

from rich.console import Console

from validators.reports import console, html, json_report, junit, markdown, prometheus
from validators.results import Report

MARKUP = "[/] [bold red]H100[/bold red] [link=http://evil]x[/link]"
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[H\x1b]52;c;Y3VybCBldmls\x07\x9b31m"
CONTROL = "ok\x08\x08no\x00\x7f\r\x0b"
HTML = "</details><img src=x onerror=alert(1)><script>alert(1)</script>"
MARKDOWN = "| a | b |\n---\n[click](http://evil) `x` **bold** ~~s~~"
TEXT_PAYLOADS = [MARKUP, ESCAPES, CONTROL, HTML, MARKDOWN, "\ud800\udfff lone surrogates", "admin\u202egnp.exe",
                 "x" * 100_000, "\ufffe\uffff", ""]
NUMBER_PAYLOADS: list[Any] = [math.nan, math.inf, -math.inf, 10**30, -(10**30), 10**400, 1e308, -0.0]


def nested(depth: int) -> Any:
    out: Any = 1
    for _ in range(depth):
        out = [out]
    return out


# Prometheus exposition format: name{label="value",...} number
PROM_LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="(\\.|[^"\\\n])*",?)*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|NaN|[+-]Inf)$')
_SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own colours: the only escape sequence allowed out


def _no_control(text: str, allowed: str = "\n") -> None:
    bad = [c for c in text if (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F) and c not in allowed]
    assert not bad, f"control characters in output: {bad[:5]!r}"


def assert_reports_inert(report: Report) -> dict[str, str]:
    """Render every format and check each is well-formed and carries nothing a node could use to
    act on a reader: returns the rendered texts."""
    out: dict[str, str] = {}
    text = json_report.render(report)
    data = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(AssertionError(f"JSON has {c}")))
    assert Report.model_validate(data).summary == report.summary
    out["json"] = text

    text = junit.render(report)
    ET.fromstring(text.encode("utf-8"))  # well-formed XML 1.0, or this raises
    _no_control(text, "\n")
    out["junit"] = text

    text = markdown.render(report)
    assert text.count("<details>") == 1 and text.count("</details>") == 1, "a node opened or closed a <details>"
    for tag in ("<img", "<script", "<a ", "](http"):
        assert tag not in text, f"{tag} reached the Markdown as markup"
    assert len(text.encode("utf-8")) <= markdown.MAX_BYTES
    _no_control(text)
    for line in text.splitlines():
        if line.startswith("|"):  # every row has as many cells as its header: no pipe got through
            assert len(re.findall(r"(?<!\\)\|", line)) in (7, 9), line
    out["markdown"] = text

    text = prometheus.render(report, now=1.0)
    for line in text.splitlines():
        assert line.startswith("# ") or PROM_LINE.match(line), line
    text.encode("utf-8")
    out["prometheus"] = text

    text = html.render(report)
    for tag in ("<img", "<script"):  # shown as &lt;img …, never as a tag
        assert tag not in text, f"{tag} from a node reached the HTML report as markup"
    _no_control(text)
    out["html"] = text

    buf = io.StringIO()
    console.render(report, Console(file=buf, width=160, force_terminal=True, color_system="truecolor"))
    text = buf.getvalue()
    plain = _SGR.sub("", text)
    assert "\x1b" not in plain and "\x9b" not in plain, "a terminal escape sequence from a node reached the console"
    _no_control(plain)
    out["console"] = text
    return out


def assert_honest(report: Report) -> None:
    """No result passes on a value that is not a number, and every status is one of the five."""
    for c in [c for n in report.nodes for c in n.checks] + report.fleet:
        assert c.status in ("pass", "warn", "fail", "error", "skip") and c.message
        for v in (c.measured, c.threshold):
            assert not (isinstance(v, float) and not math.isfinite(v)), c
