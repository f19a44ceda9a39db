"""Text a node sends is data in every report: rich markup is shown, not parsed; terminal escapes
never reach the terminal; XML stays well-formed; Markdown/HTML structure cannot be injected."""

from __future__ import annotations

import io

from rich.console import Console

from validators.reports import console
from validators.results import CheckResult, NodeReport, Report
from validators.runner import summarize

C = CheckResult.make
# what a hostile (or broken) node can put in a GPU name, a message, a remediation
MARKUP = "[/] [bold red]H100[/bold red] [link=http://x]"
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31mRED\x1b[0m\x07"


def hostile_report(nodes: int = 1) -> Report:
    out = []
    for i in range(nodes):
        out.append(NodeReport(name=f"gpu-{i}", host="10.0.0.1", reachable=True, checks=[
            C("gpu.model", "fail", f"GPU 0 is {MARKUP}{ESCAPES}", measured=MARKUP + ESCAPES, threshold="H100",
              remediation=f"replace {MARKUP} </details>{ESCAPES}"),
            C("gpu.count", "pass", "8 GPUs", measured=8, threshold=8, unit="GPUs"),
        ]))
    return Report(summary=summarize(out, []), profile="[red]p[/]", nodes=out)


def _console_text(report: Report) -> str:
    buf = io.StringIO()
    console.render(report, Console(file=buf, width=400, force_terminal=True, color_system="truecolor"))
    return buf.getvalue()


def test_console_shows_markup_from_a_node_literally_and_passes_no_escape_sequence() -> None:
    for nodes in (1, 12):  # per-node tables and the compact fleet view
        text = _console_text(hostile_report(nodes))
        assert "[/] [bold red]H100[/bold red]" in text or nodes > 8  # shown as typed, not parsed
        assert "[red]p[/]" in text
        assert "owned" not in text and "\x1b]" not in text and "\x07" not in text and "\x1b[2J" not in text
