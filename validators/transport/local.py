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
from typing import IO

from validators.transport.base import MAX_STDERR, MAX_STDOUT, CommandResult, OutputSink, TransportError


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
        self._out = OutputSink("stdout", MAX_STDOUT)
        self._err = OutputSink("stderr", MAX_STDERR)
        # stdin is fed and both pipes drained by threads of their own: no pipe-full deadlock, and
        # each stream is kept only up to its cap (a process that streams forever is killed there)
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._drain, args=(self._proc.stdout, self._out), daemon=True),
            threading.Thread(target=self._drain, args=(self._proc.stderr, self._err), daemon=True),
        ]
        for t in self._readers:
            t.start()
        threading.Thread(target=self._feed, args=(stdin,), daemon=True).start()

    def _feed(self, stdin: bytes | None) -> None:
        pipe = self._proc.stdin
        assert pipe is not None
        try:
            if stdin:
                pipe.write(stdin)
            pipe.close()
        except (OSError, ValueError):
            pass  # the process exited (or was killed) before reading all of stdin

    def _drain(self, pipe: IO[bytes], sink: OutputSink) -> None:
        try:
            while chunk := os.read(pipe.fileno(), 65536):
                if not sink.add(chunk):
                    self._kill()
                    return
        except (OSError, ValueError):
            pass

    def _result(self, exit_code: int | None) -> CommandResult:
        return CommandResult(exit_code, bytes(self._out.data), bytes(self._err.data), time.monotonic() - self._started)

    def wait(self, timeout: float) -> CommandResult:
        deadline = time.monotonic() + timeout
        for t in self._readers:
            t.join(max(0.0, deadline - time.monotonic()))
        overflow = next((s.error() for s in (self._out, self._err) if s.overflow), None)
        if overflow is not None:
            self.stop()
            raise overflow
        try:
            if any(t.is_alive() for t in self._readers):
                raise subprocess.TimeoutExpired(self._proc.args, timeout)
            code = self._proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
            return self._result(None)
        return self._result(code)

    def _kill(self) -> None:
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        self._kill()
        for t in self._readers:
            if t is not threading.current_thread():
                t.join(5.0)
        try:
            self._proc.wait(5.0)
        except subprocess.TimeoutExpired:
            pass
        if not any(t.is_alive() for t in self._readers):
            for pipe in (self._proc.stdout, self._proc.stderr):
                if pipe is not None:
                    pipe.close()


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
