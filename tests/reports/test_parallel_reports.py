"""Large reports written by forked children while the console prints: the files are byte for byte what
the in-process writers give, a writer that cannot write or dies is named, and what is not a
regular file (stdout, a FIFO) is still written by plinth itself."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from tests.facts.test_reports_at_scale import fleet_report
from validators import reports
from validators.reports import parallel, write_reports


@pytest.fixture(scope="module")
def large():
    return fleet_report(parallel.MIN_NODES, 30)


@pytest.fixture(autouse=True)
def only_this_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite runs pyright in a background thread (tests/support/typecheck.py), which takes no
    lock a report writer needs; plinth itself has no other thread left when it writes reports."""
    monkeypatch.setattr(parallel, "other_threads", lambda: False)


def test_with_another_thread_alive_the_reports_are_written_in_process(large, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="ssh-transport")  # as a live run's transport thread
    other.start()
    try:
        pending = parallel.start(large, {"json": tmp_path / "r.json"}, "t")
        assert pending.children == {} and list(pending.here) == ["json"]
        assert pending.wait() == [] and (tmp_path / "r.json").stat().st_size > 1000
    finally:
        stop.set()
        other.join()


def test_forked_reports_are_the_in_process_reports_byte_for_byte(large, tmp_path: Path) -> None:
    serial = {"json": tmp_path / "s.json", "junit": tmp_path / "s.xml", "markdown": tmp_path / "s.md"}
    assert write_reports(large, serial) == []
    forked = {"json": tmp_path / "f.json", "junit": tmp_path / "f.xml", "markdown": tmp_path / "f.md"}
    pending = parallel.start(large, forked, "plinth validate")
    assert sorted(pending.children) == ["json", "junit", "markdown"] and pending.here == {}
    assert all(pid not in (0, os.getpid()) for pid, _, _ in pending.children.values())  # other processes
    assert pending.wait() == []
    for kind, path in serial.items():
        assert forked[kind].read_bytes() == path.read_bytes(), kind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_small_reports_stay_in_process(tmp_path: Path) -> None:
    small = fleet_report(10, 1)
    pending = parallel.start(small, {"json": tmp_path / "r.json"}, "t")
    assert pending.children == {} and pending.wait() == [] and (tmp_path / "r.json").stat().st_size > 0


def test_a_report_that_cannot_be_written_is_named_and_the_others_are_written(large, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(report, out) -> None:
        out.write("{")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(reports.WRITERS, "json", disk_full)  # the forked writer inherits it
    paths = {"json": tmp_path / "r.json", "junit": tmp_path / "r.xml"}
    problems = parallel.start(large, paths, "t").wait()
    assert problems == [f"--json {tmp_path / 'r.json'}: cannot write: No space left on device"]
    assert not (tmp_path / "r.json").exists() and (tmp_path / "r.xml").read_text().startswith("<?xml")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the failed writer's temp file removed


def test_a_writer_that_dies_is_named_with_its_signal(large, tmp_path: Path) -> None:
    pending = parallel.start(large, {"json": tmp_path / "r.json"}, "t")
    pid = pending.children["json"][0]
    os.kill(pid, signal.SIGKILL)  # as the OOM killer would
    problems = pending.wait()
    if not problems:  # it finished before the signal landed: nothing to judge, a complete report
        assert (tmp_path / "r.json").stat().st_size > 1000
        pytest.skip("the writer finished before it could be killed")
    assert problems == [f"--json {tmp_path / 'r.json'}: cannot write: the writer process ended (killed by signal 9)"]
    assert not (tmp_path / "r.json").exists()  # never half a report under the target's name


def test_a_fifo_is_written_by_plinth_itself_after_the_console(large, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    pending = parallel.start(large, {"json": fifo, "junit": tmp_path / "r.xml"}, "t")
    assert list(pending.children) == ["junit"] and list(pending.here) == ["json"]
    assert pending.wait() == []
    reader.join(10)
    assert got and got[0].startswith(b"{") and got[0].rstrip().endswith(b"}")
