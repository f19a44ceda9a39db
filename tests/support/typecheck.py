"""pyright, started in the background as soon as the test session knows it will be asked for.

pyright over the whole project is ~1-1.5 min of one core; most of the suite waits on sockets,
sshd and shaped links with a core to spare. Started when collection finishes, the check runs beside
those tests and its test only collects the answer (tests/test_typecheck.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_FILE = "tests/test_typecheck.py"
TIMEOUT_S = 600


class PyrightRun:
    def __init__(self, argv: list[str]) -> None:
        # to a file, not a pipe: nobody reads a pipe while other tests run, and a full pipe stalls pyright
        self._out = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115  (lives as long as the run; stop() closes it)
        self._proc = subprocess.Popen(argv, cwd=ROOT, stdout=self._out, stderr=subprocess.DEVNULL, text=True)

    def result(self) -> str:
        """pyright's JSON output once it has finished (TimeoutExpired past the bound)."""
        try:
            self._proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        self._out.seek(0)
        return self._out.read()

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._out.close()


_run: PyrightRun | None = None


def pyright_argv() -> list[str] | None:
    local = Path(sys.executable).parent / "pyright"
    if local.exists():
        return [str(local), "--outputjson"]
    found = shutil.which("pyright")
    return [found, "--outputjson"] if found else None


def pyright_run() -> PyrightRun | None:
    """The background run if one was started, else a run started now (None: pyright not installed)."""
    global _run
    if _run is None:
        argv = pyright_argv()
        _run = PyrightRun(argv) if argv else None
    return _run


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.nodeid.startswith(TEST_FILE) for item in session.items):
        pyright_run()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _run is not None:
        _run.stop()
