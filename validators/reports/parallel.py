"""Large reports written side by side: one forked process per report file while this one prints the console.

At 10,000 nodes the JSON and the JUnit reports are ~130 and ~110 MB and each takes ~1.5 s of
pure-Python serialising, as long as the console summary: one after the other they were a third of
`validate --facts`. The report is complete before anything is written, so each file can be written
by a child process forked at that point: it inherits the report (copy-on-write, nothing pickled),
writes its file through the same :func:`~validators.reports.write_report` (atomic: a temp file
renamed in place), and tells the parent in one line whether it could not. A child that dies (killed,
out of memory) is that report's problem, named; the temp file of a writer killed outright is left as
``.NAME.*.tmp`` beside the target (Ctrl-C removes it), never the target itself half-written.

Only regular-file targets are forked: a FIFO, a device or one of plinth's own descriptors is written
by this process, after the console, so what reaches a pipe or a terminal comes in the usual order.
Small reports (under :data:`MIN_NODES` nodes) are written in-process: a fork costs more than they do;
so are all reports while another thread is alive (an SSH transport's, say): a child forked then could
wait forever on a lock that thread held at the fork.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from validators.reports import OPTION, write_reports
from validators.reports.targets import resolve
from validators.results import Report

MIN_NODES = 1000
PROBLEM_BYTES = 2048  # a child's message: one line


@dataclass
class Pending:
    """Reports being written by children, and those left for :meth:`wait` to write here."""

    report: Report
    title: str
    here: dict[str, str | Path]  # written by this process in wait()
    children: dict[str, tuple[int, int, str | Path]] = field(default_factory=dict)  # kind -> (pid, read fd, target)

    def wait(self) -> list[str]:
        """Every report written; one line per report that could not be (as write_reports says it)."""
        problems: list[str] = []
        for kind, (pid, fd, target) in self.children.items():
            with os.fdopen(fd, "rb") as pipe:
                said = pipe.read(PROBLEM_BYTES).decode("utf-8", "replace").strip()
            _, status = os.waitpid(pid, 0)
            if said:
                problems.append(said)
            elif os.waitstatus_to_exitcode(status) != 0:
                code = os.waitstatus_to_exitcode(status)
                how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
                problems.append(f"{OPTION[kind]} {target}: cannot write: the writer process ended ({how})")
        self.children.clear()
        return problems + write_reports(self.report, self.here, title=self.title)


def other_threads() -> bool:
    """Another thread is alive: it could hold a lock (a logger's, a stream's) that a forked child
    would wait on forever."""
    return threading.active_count() > 1


def _forkable(kind: str, target: str | Path) -> bool:
    try:
        return resolve(OPTION[kind], target).kind == "file"
    except Exception:  # noqa: BLE001 - not ours to judge here: write_reports says what is wrong with it
        return False


def _child(report: Report, kind: str, target: str | Path, title: str, wfd: int) -> None:
    """In the forked child: write one report, say the problem (if any) on ``wfd``, never return."""
    code = 1
    try:
        # the parent's handlers report an interrupted run; a child just stops, its temp file removed on Ctrl-C
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        said = "\n".join(write_reports(report, {kind: target}, title=title))
        os.write(wfd, said.encode("utf-8", "replace")[:PROBLEM_BYTES])
        code = 0
    except BaseException as exc:  # noqa: BLE001 - a crash in a renderer must still reach the parent as a line
        try:
            os.write(wfd, f"{OPTION[kind]} {target}: cannot write: {exc.__class__.__name__}: {exc}"[:PROBLEM_BYTES]
                     .encode("utf-8", "replace"))
        except OSError:
            pass
    finally:
        os._exit(code)  # no atexit handlers, no flushing of buffers inherited from the parent


def start(report: Report, paths: Mapping[str, str | Path | None], title: str) -> Pending:
    """Start writing ``paths`` (report kind -> target); :meth:`Pending.wait` finishes and reports."""
    wanted = {kind: target for kind, target in paths.items() if target is not None}
    pending = Pending(report, title, dict(wanted))
    if len(report.nodes) < MIN_NODES or "fork" not in multiprocessing.get_all_start_methods() or other_threads():
        return pending
    sys.stdout.flush()  # a child must not inherit (and later repeat) text still in a buffer
    sys.stderr.flush()
    for kind, target in wanted.items():
        if not _forkable(kind, target):
            continue
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            _child(report, kind, target, title, wfd)
        os.close(wfd)
        pending.children[kind] = (pid, rfd, target)
        del pending.here[kind]
    return pending


__all__ = ["MIN_NODES", "Pending", "start"]
