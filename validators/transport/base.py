"""What every transport offers. The runner, the probe and the pairwise network rounds talk to a
node only through this interface, so ``local`` (audit) and ``ssh`` (validate) are interchangeable.

Commands are argv lists. A transport that needs a shell string (SSH exec) joins them with
``shlex.join``: nothing from an inventory ever reaches a shell unquoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class TransportError(Exception):
    """The node could not be reached or the command could not be run. ``str(exc)`` is the reason
    shown in the report (no secrets)."""


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

    def wait(self, timeout: float) -> CommandResult: ...

    def stop(self) -> None: ...


class Transport(Protocol):
    name: str

    def connect(self, timeout: float) -> None: ...

    def run(self, argv: Sequence[str], stdin: bytes | None = None, timeout: float = 60.0) -> CommandResult: ...

    def start(self, argv: Sequence[str], stdin: bytes | None = None) -> RunningCommand: ...

    def close(self) -> None: ...
