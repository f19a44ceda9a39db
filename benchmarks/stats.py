"""Measurements and the way they are run: samples → median / min / max, a process timer that also
reads the child's own peak RSS (``os.wait4``), and a /proc sampler for open file descriptors.

Why ``wait4`` and not ``resource.getrusage(RUSAGE_CHILDREN)``: the harness has many children at
once (sshd servers, earlier tools); RUSAGE_CHILDREN's ``ru_maxrss`` is the maximum over all of them,
while ``wait4`` returns the rusage of exactly the process being measured.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Series:
    """Repeated samples of one figure (seconds, Mbit/s, …)."""

    samples: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.samples.append(float(value))

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)


def ratios(numerator: Series, denominator: Series) -> Series:
    """Per-repetition ratios of two series measured side by side (sample i with sample i), so
    machine noise that hits one repetition hits both sides of its ratio."""
    return Series([a / b for a, b in zip(numerator.samples, denominator.samples) if b > 0])


@dataclass
class ProcResult:
    argv: list[str]
    returncode: int
    wall_s: float
    stdout: str
    stderr: str
    maxrss_kb: int  # the child's own peak resident set (ru_maxrss, KiB on Linux)
    peak_fds: int | None = None  # only when sampled (see run_measured(sample_fds=True))
    cpu_s: float | None = None  # user + system CPU of the child and the children it waited for

    def tail(self, limit: int = 300) -> str:
        text = (self.stderr.strip() or self.stdout.strip())
        return text[-limit:]


def _count_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class _FdSampler(threading.Thread):
    """Polls /proc/<pid>/fd every ``interval_s`` while the process lives; keeps the maximum."""

    def __init__(self, pid: int, interval_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval_s = interval_s
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            n = _count_fds(self.pid)
            if n is None:
                return
            self.peak = max(self.peak, n)
            self._halt.wait(self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=2)


def run_measured(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 timeout_s: float = 300.0, sample_fds: bool = False, stdin: IO[bytes] | None = None) -> ProcResult:
    """Run ``argv`` to completion; wall time from fork to reap. Output goes to temp files (not
    pipes), so a chatty tool never blocks on a full pipe and no reader thread competes for CPU.
    ``stdin``: a file to read from (e.g. a script for ``python3 -``); /dev/null by default."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=out, stderr=err,
                                env=dict(env) if env is not None else None, cwd=cwd)
        sampler = _FdSampler(proc.pid) if sample_fds else None
        if sampler is not None:
            sampler.start()
        deadline = t0 + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        if sampler is not None:
            sampler.stop()
        out.seek(0)
        err.seek(0)
        return ProcResult(list(argv), proc.returncode, wall, out.read().decode("utf-8", "replace"),
                          err.read().decode("utf-8", "replace"), int(usage.ru_maxrss),
                          sampler.peak if sampler is not None else None, usage.ru_utime + usage.ru_stime)


__all__ = ["ProcResult", "Series", "ratios", "run_measured"]
