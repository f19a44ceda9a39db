"""The Markdown step summary stays under GitHub's 1 MiB limit for any fleet (a summary over it is
dropped whole: "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of 1024k"),
shows failures first, and says how much it left out."""

from __future__ import annotations

import re
import time

import pytest

from validators.reports import markdown
from validators.results import CheckResult, NodeReport, Report
from validators.runner import summarize

C = CheckResult.make
GITHUB_LIMIT = 1024 * 1024


def fleet(n: int, message: str = "MTU 1500 on eth0, below 9001 (jumbo frames needed for EFA)") -> Report:
    nodes = []
    for i in range(n):
        bad = i % 3 != 2  # two thirds of the fleet failing, the rest warning
        nodes.append(NodeReport(name=f"gpu-{i:05d}", host=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", reachable=True, checks=[
            C("gpu.count", "pass", "8 of 8 GPUs", measured=8, threshold=8, unit="GPUs"),
            C("network.mtu", "fail" if bad else "warn", message, measured=1500, threshold=9001, unit="bytes",
              remediation="ip link set eth0 mtu 9001"),
            C("gpu.ecc_errors", "error" if i % 7 == 0 else "pass", "nvidia-smi: timed out after 20 s" if i % 7 == 0 else "0 errors"),
        ]))
    nodes.append(NodeReport(name="gpu-down", host="10.9.9.9", reachable=False, checks=[
        C("gpu.count", "error", "unreachable: connection refused")]))
    return Report(summary=summarize(nodes, []), profile="distributed_training", nodes=nodes)


@pytest.mark.parametrize("size", [256, 10_000])
def test_summary_is_under_the_github_limit_worst_first_with_the_rest_counted(size: int) -> None:
    report = fleet(size)
    t0 = time.monotonic()
    text = markdown.render(report)
    took = time.monotonic() - t0
    size_bytes = len(text.encode("utf-8"))
    assert size_bytes <= markdown.MAX_BYTES < GITHUB_LIMIT, size_bytes
    assert took < 30, took  # a hang guard; 10,000 nodes render in about half a second here
    assert text.rstrip().endswith("</details>")  # the document is closed, not cut mid-table
    # worst nodes first: the unreachable one leads the node table
    node_rows = text.split("| node | host |")[1].split("\n\n")[0].splitlines()[2:]
    assert node_rows[0].startswith("| gpu-down | 10.9.9.9 | **no** |")
    # failures before errors before warnings, in "Needs attention"
    attention = text.split("### Needs attention")[1].split("<details>")[0]
    statuses = re.findall(r"\| (?:❌|🛑|⚠️) (fail|error|warn) \|", attention)
    assert statuses == sorted(statuses, key=["fail", "error", "warn"].index) and statuses[0] == "fail"
    # what was left out is counted, exactly
    shown_nodes = sum(1 for r in node_rows if r.startswith("| gpu-"))
    assert f"… and {len(report.nodes) - shown_nodes:,} more nodes (see the JSON report)" in text
    bad = sum(1 for n in report.nodes for c in n.checks if c.status in ("fail", "error", "warn"))
    assert f"… and {bad - len(statuses):,} more results (see the JSON report)" in text


def test_huge_messages_cannot_blow_the_budget() -> None:
    """Every message at the cell limit and full of characters that grow when escaped (<, |, 4-byte
    emoji): the byte budget, not the row cap, is what keeps it under the limit."""
    report = fleet(2_000, message=("<|" + "\U0001f525") * 5_000)
    text = markdown.render(report)
    assert len(text.encode("utf-8")) <= markdown.MAX_BYTES
    assert text.rstrip().endswith("</details>") and "more results (see the JSON report)" in text


def test_a_small_fleet_is_shown_whole() -> None:
    text = markdown.render(fleet(5))
    assert "more nodes" not in text and "more results" not in text
    assert text.count("| gpu-0") == 5 + 6 + 5 * 3  # node table, attention (5 MTU + 1 ECC), all checks
