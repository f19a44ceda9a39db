"""A real S3 API for tests and benchmarks: ``moto_server`` on 127.0.0.1 at a free port, stopped by PID."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.sshd import free_port


class MotoUnavailable(RuntimeError):
    """moto_server is not installed: tests skip with this reason."""


def moto_server_path() -> Path:
    exe = Path(sys.executable).with_name("moto_server")
    if exe.exists():
        return exe
    found = shutil.which("moto_server")
    if found is None:
        raise MotoUnavailable("moto_server not installed (pip install 'moto[server]')")
    return Path(found)


@contextmanager
def moto_server(startup_s: float = 20.0) -> Iterator[str]:
    """Yield the endpoint URL of a fresh moto server (its own empty state)."""
    port = free_port()
    proc = subprocess.Popen([str(moto_server_path()), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()  # by PID: only the server this helper started
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
