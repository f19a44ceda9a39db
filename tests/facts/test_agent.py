"""`plinth agent` in-process: the verdict decides the exit code and the node mark, every pass of the
interval loop overwrites the node's object, and a failure to store or mark is exit 1 with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from validators.agent import run_agent
from validators.node_marker import MarkError


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self.fail = fail

    def mark(self, node: str, verdict: str, taint: bool) -> None:
        self.calls.append((node, verdict, taint))
        if self.fail:
            raise MarkError("PATCH node n1: HTTP 403: forbidden")


class Stop(Exception):
    pass


def test_interval_loop_marks_every_pass_and_overwrites_the_object(tmp_path: Path) -> None:
    marker, sleeps = Recorder(), []

    def sleep(s: float) -> None:
        sleeps.append(s)
        if len(sleeps) == 2:
            raise Stop

    with pytest.raises(Stop):
        run_agent(str(tmp_path / "r1"), "n1", "single_gpu", disk_test_mb=0, mark_node=True, taint_on_fail=True,
                  interval_s=120, marker_factory=lambda: marker, sleep=sleep)
    assert marker.calls == [("n1", "fail", True), ("n1", "fail", True)]  # no GPU here: an honest fail, twice
    assert sleeps == [120, 120]
    stored = json.loads((tmp_path / "r1" / "nodes" / "n1.json").read_text())
    assert stored["verdict"] == "fail" and "pairwise" not in stored["facts"]  # the controller adds its own


def test_one_shot_exit_code_is_the_verdict_and_a_marking_failure_is_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = Recorder(fail=True)
    code = run_agent(str(tmp_path / "r2"), "n1", "edge_inference", disk_test_mb=0, mark_node=True,
                     marker_factory=lambda: marker)
    assert code == 1 and marker.calls and marker.calls[0][2] is False
    assert "cannot mark node n1: PATCH node n1: HTTP 403: forbidden" in capsys.readouterr().err
    assert (tmp_path / "r2" / "nodes" / "n1.json").exists()  # stored before marking


def test_a_store_that_cannot_be_written_is_exit_1_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "r3"
    run.mkdir()
    (run / "nodes").write_text("a file where the directory should be")
    assert run_agent(str(run), "n1", "edge_inference", disk_test_mb=0) == 1
    assert "cannot store the facts at" in capsys.readouterr().err
