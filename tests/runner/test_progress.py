"""Progress off a terminal: a line per finished node for small fleets, at most one line per interval
for big ones (a 10,000-node log stays short), node text made inert, nothing when disabled."""

from __future__ import annotations

import io

from validators.progress import INTERVAL_S, LINE_PER_NODE_UP_TO, Lines, Progress, progress_for


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_small_fleet_gets_a_line_per_node_with_its_reason() -> None:
    buf, clock = io.StringIO(), Clock()
    with Lines(3, buf, clock) as p:
        clock.t += 1.25
        p.node_done("gpu-0", "probed", None, 1.2)
        p.node_done("gpu-2", "unreachable", "10.0.1.12:22: connection refused", 0.01)
        p.node_done("gpu-1", "not probed", "probe failed: \x1b]0;owned\x07python3: not found", 3.0)
    assert buf.getvalue().splitlines() == [
        "[1/3 1.2s] gpu-0: probed (1.2s)",
        "[2/3 1.2s] gpu-2: unreachable (0.0s): 10.0.1.12:22: connection refused",
        "[3/3 1.2s] gpu-1: not probed (3.0s): probe failed: python3: not found",  # the escape sequence is gone
    ]


def test_a_big_fleet_gets_at_most_one_line_per_interval_naming_the_problem_nodes() -> None:
    n = 10_000
    buf, clock = io.StringIO(), Clock()
    with Lines(n, buf, clock) as p:
        for i in range(n):
            clock.t += 0.01  # 100 nodes a second: 100 s in all
            p.node_done(f"n{i}", "unreachable" if i % 1000 == 7 else "probed", "refused", 0.5)
    lines = buf.getvalue().splitlines()
    assert n > LINE_PER_NODE_UP_TO
    assert len(lines) <= 100 / INTERVAL_S + 2, len(lines)
    assert lines[-1].startswith(f"[{n}/{n} ")  # the last node always closes the count
    assert sum(int(line.split("] +")[1].split(" nodes")[0]) for line in lines) == n  # every node in some line
    assert any("1 unreachable (n7)" in line for line in lines)


def test_describe_flushes_the_pending_nodes_first() -> None:
    buf, clock = io.StringIO(), Clock()
    p = Lines(100, buf, clock)
    p.node_done("a", "probed", None, 0.1)
    p.describe("pairwise network rounds")
    assert [line.split("] ")[1] for line in buf.getvalue().splitlines()] == ["+1 nodes: 1 probed", "pairwise network rounds"]


def test_disabled_progress_is_silent_and_a_pipe_gets_lines() -> None:
    assert type(progress_for(False, 5)) is Progress
    assert isinstance(progress_for(None, 5), Lines)  # pytest's stderr is not a terminal
