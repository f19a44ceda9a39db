"""What every transport offers. The runner, the probe and the pairwise network rounds talk to a
node only through this interface, so ``local`` (audit) and ``ssh`` (validate) are interchangeable.

Commands are argv lists. A transport that needs a shell string (SSH exec) joins them with
``shlex.join``: nothing from an inventory ever reaches a shell unquoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# What a transport reads from one command, at most. A node's answer is data of a known size (the
# probe's facts are tens of KiB on an 8-GPU node with hundreds of mounts and NICs); a node that
# streams forever (a broken tool, a hostile node) is cut here, so the controller's memory stays
# bounded by --concurrency x these caps whatever the fleet sends.
MAX_STDOUT = 8 * 1024 * 1024
MAX_STDERR = 1024 * 1024


class TransportError(Exception):
    """The node could not be reached or the command could not be run. ``str(exc)`` is the reason
    shown in the report (no secrets)."""


class OutputTooLarge(TransportError):
    """A command wrote more than the transport reads (:data:`MAX_STDOUT` / :data:`MAX_STDERR`); it
    was stopped at the cap and its output dropped."""

    def __init__(self, stream: str, cap: int) -> None:
        super().__init__(f"output exceeded {cap / (1024 * 1024):g} MiB on {stream}: the command was stopped")
        self.stream = stream
        self.cap = cap


class OutputSink:
    """Collects one stream up to ``cap`` bytes; past it, ``overflow`` is set and nothing more is kept."""

    def __init__(self, name: str, cap: int) -> None:
        self.name = name
        self.cap = cap
        self.data = bytearray()
        self.overflow = False

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; False once the cap is passed (the reader should stop the command)."""
        if len(self.data) + len(chunk) > self.cap:
            self.overflow = True
            self.data.clear()
            return False
        self.data += chunk
        return True

    def error(self) -> OutputTooLarge:
        return OutputTooLarge(self.name, self.cap)


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None  # None: killed on timeout
    stdout: bytes
    stderr: bytes
    duration_s: float

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


class RunningCommand(Protocol):
    """A command started in the background (e.g. a bandwidth listener)."""

    def wait(self, timeout: float) -> CommandResult:
        """Raises :class:`OutputTooLarge` when the command wrote more than the caps."""
        ...

    def stop(self) -> None: ...


class Transport(Protocol):
    name: str

    def connect(self, timeout: float) -> None: ...

    def run(self, argv: Sequence[str], stdin: bytes | None = None, timeout: float = 60.0) -> CommandResult: ...

    def start(self, argv: Sequence[str], stdin: bytes | None = None) -> RunningCommand: ...

    def close(self) -> None: ...
