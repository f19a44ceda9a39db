"""Local transport: the same interface as SSH for ``plinth audit`` (this machine, no login).

argv goes straight to ``subprocess`` (no shell). Each command gets its own process group so a
timeout or Ctrl-C kills the whole tree it started (fio, nvidia-smi, a listener), not just its head.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

from validators.transport.base import CommandResult, TransportError


class LocalCommand:
    def __init__(self, argv: Sequence[str], stdin: bytes | None) -> None:
        self._started = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
        self._output: tuple[bytes, bytes] = (b"", b"")
        # communicate() feeds stdin and drains both pipes together: no pipe-full deadlock
        self._thread = threading.Thread(target=self._communicate, args=(stdin,), daemon=True)
        self._thread.start()

    def _communicate(self, stdin: bytes | None) -> None:
        try:
            self._output = self._proc.communicate(stdin or b"")
        except (OSError, ValueError):
            pass

    def _result(self, exit_code: int | None) -> CommandResult:
        out, err = self._output
        return CommandResult(exit_code, out, err, time.monotonic() - self._started)

    def wait(self, timeout: float) -> CommandResult:
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.stop()
            return self._result(None)
        return self._result(self._proc.returncode)

    def stop(self) -> None:
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._thread.join(5.0)


class LocalTransport:
    name = "local"

    def __init__(self) -> None:
        self._live: list[LocalCommand] = []
        self._lock = threading.Lock()

    def connect(self, timeout: float = 0.0) -> None:
        return None

    def start(self, argv: Sequence[str], stdin: bytes | None = None) -> LocalCommand:
        if not argv:
            raise TransportError("empty command")
        cmd = LocalCommand(argv, stdin)
        with self._lock:
            self._live = [c for c in self._live if c._proc.poll() is None] + [cmd]
        return cmd

    def run(self, argv: Sequence[str], stdin: bytes | None = None, timeout: float = 60.0) -> CommandResult:
        return self.start(argv, stdin).wait(timeout)

    def close(self) -> None:
        """Kill every command still running (Ctrl-C, node timeout)."""
        with self._lock:
            live, self._live = self._live, []
        for cmd in live:
            cmd.stop()
