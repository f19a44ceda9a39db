"""A real S3 API for tests and benchmarks: ``moto_server`` on 127.0.0.1 at a free port, stopped by PID."""

from __future__ import annotations

import os
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


# moto answers ec2:GetConsoleOutput with one fixed text for every instance
# (moto/ec2/responses/general.py, SAMPLE_CONSOLE_OUTPUT). A server started with ``console_output``
# answers with that text instead: what a test needs to put a cloud-init host key block where EC2
# keeps it. The rest of the EC2 API is moto's own.
_CONSOLE_LAUNCHER = (
    "import sys\n"
    "import moto.ec2.responses.general as general\n"
    "assert hasattr(general, 'SAMPLE_CONSOLE_OUTPUT'), 'moto moved its console output'\n"
    "general.SAMPLE_CONSOLE_OUTPUT = open(sys.argv[1], encoding='utf-8').read()\n"
    "from moto.server import main\n"
    "main(sys.argv[2:])\n"
)


@contextmanager
def moto_server(startup_s: float = 20.0, console_output: Path | None = None,
                env: dict[str, str] | None = None) -> Iterator[str]:
    """Yield the endpoint URL of a fresh moto server (its own empty state). ``console_output``: a
    file whose text every instance's GetConsoleOutput returns. ``env``: moto settings, e.g.
    ``INITIAL_NO_AUTH_ACTION_COUNT`` (after that many requests moto checks each request's access key
    and SigV4 signature against its IAM, as S3 does)."""
    port = free_port()
    argv = [str(moto_server_path()), "-H", "127.0.0.1", "-p", str(port)]
    if console_output is not None:
        argv = [sys.executable, "-c", _CONSOLE_LAUNCHER, str(console_output), *argv[1:]]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
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
