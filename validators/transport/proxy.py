"""A local command that carries the SSH stream on its stdin/stdout (OpenSSH's ``ProxyCommand``).

The command is an argv list, started without a shell: nothing in it is ever parsed by one. Its
stdin and stdout are one end of a socket pair (what OpenSSH hands a ProxyCommand too), so paramiko
gets a real socket and no thread copies bytes. stderr is kept, bounded, for the failure message:
when ``aws ec2-instance-connect open-tunnel`` is refused, the reason it prints is the one the user
needs. The stack inventory uses it for EC2 Instance Connect Endpoint tunnels
(:func:`validators.stack_inventory.instance_connect_tunnel`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Sequence

from validators.transport.base import TransportError

MAX_STDERR = 8 * 1024  # the tail of what the command said; an error is a line or two


class ProxyCommand:
    """A started proxy command. ``sock`` is the SSH stream; :meth:`close` ends the command."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = tuple(argv)
        program = shutil.which(self.argv[0]) if self.argv else None
        if program is None:
            raise TransportError(f"proxy command {self.argv[0] if self.argv else '(empty)'!r} not found on PATH")
        ours, theirs = socket.socketpair()
        try:
            # its own session: a Ctrl-C for plinth must not kill the tunnel before plinth closes it
            self.proc = subprocess.Popen([program, *self.argv[1:]], stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=subprocess.PIPE,
                                         close_fds=True, start_new_session=True)
        except OSError as exc:
            ours.close()
            raise TransportError(f"cannot start proxy command {self.argv[0]}: {exc.strerror or exc}") from None
        finally:
            theirs.close()
        self.sock = ours
        self._stderr = bytearray()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        while chunk := os.read(stream.fileno(), 4096):
            self._stderr += chunk
            del self._stderr[:-MAX_STDERR]

    def said(self, wait_s: float = 0.5) -> str:
        """What the command printed last (one printable line, bounded) and how it ended, for a
        failure message; empty when it said nothing."""
        if self.proc.poll() is None:
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                pass
        self._reader.join(0.2)
        lines = [ln.strip() for ln in bytes(self._stderr).decode("utf-8", "replace").splitlines() if ln.strip()]
        text = "".join(ch if ch.isprintable() else "?" for ch in (lines[-1] if lines else ""))[:300]
        code = self.proc.poll()
        ended = f"{self.argv[0]} exited {code}" if code is not None else ""
        return "; ".join(p for p in (ended, text) if p)

    def close(self) -> None:
        """Close the stream and stop the command (SIGTERM, then SIGKILL): never left running."""
        try:
            self.sock.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(2.0)
        self._reader.join(1.0)  # stderr reaches EOF once the command is gone
        if self.proc.stderr is not None and not self._reader.is_alive():
            self.proc.stderr.close()
