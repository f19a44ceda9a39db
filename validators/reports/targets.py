"""Where a report goes, decided and checked before any node is contacted, and how it is written.

A report target is ``-`` (stdout) or a path. What plinth does with each kind of path:

==========================================  ===================================================
target                                      how the report is written
==========================================  ===================================================
``-``, ``/dev/stdout``, ``/dev/stderr``,    to that file descriptor of plinth itself (never
``/dev/fd/N``, ``/proc/self/fd/N``          reopened: reopening ``/dev/stdout`` redirected to a
                                            file would truncate what was already written there)
a regular file, or a new name               temp file in the same directory, fsync, rename
                                            (:mod:`.atomic`): readers see the old report or the
                                            new one. A symlink is followed: the file it points
                                            at is replaced, the link stays.
a character device (``/dev/null``, a tty)   opened and written directly, never replaced (as
                                            root, a rename over ``/dev/null`` would replace the
                                            device with a file)
a FIFO (``mkfifo``, ``>(jq .)``)            written directly, non-blocking: no reader when the
                                            report is written, or a reader that stops reading
                                            for :data:`FIFO_STALL_S` s, is a write error, not a hang
a directory, block device or socket         refused (exit 2): a report over a disk is a disaster
a new name under ``/dev`` or ``/proc``      refused (exit 2): a typo there is not a report path
the same file as an input (inventory,       refused (exit 2): a report must never overwrite
stack outputs, profile, policy config,      what plinth reads
stack file, SSH key, known_hosts)
the same target as another report           refused (exit 2): two documents in one file parse
                                            as neither
==========================================  ===================================================

The same rules hold for every report kind (JSON, JUnit, Markdown, Prometheus, the preview JSON).
"""

from __future__ import annotations

import errno
import io
import os
import re
import select
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from policies.errors import ConfigError
from validators.reports.atomic import check_writable, write_atomic, write_text_atomic

STDOUT = "-"
FIFO_STALL_S = 30.0  # a FIFO reader that takes no data for this long is gone, not slow
_OWN_FD = re.compile(r"^/(?:dev/(?:fd/(\d+)|(stdin|stdout|stderr))|proc/(?:self|thread-self|\d+)/fd/(\d+))$")
_NAMED_FD = {"stdin": 0, "stdout": 1, "stderr": 2}

TargetKind = Literal["fd", "file", "device", "fifo"]


@dataclass(frozen=True)
class Target:
    """A checked report target. ``fd`` is set for ``kind == "fd"``; ``path`` otherwise."""

    option: str  # the CLI flag, for messages: --json
    shown: str  # as the user wrote it
    kind: TargetKind
    path: Path | None = None
    fd: int | None = None


def _own_fd(path: str) -> int | None:
    """The descriptor a path like /dev/stdout or /proc/self/fd/3 names in this process."""
    m = _OWN_FD.match(os.path.abspath(path)) if path.startswith("/") else None
    if m is None:
        return None
    if m.group(2):
        return _NAMED_FD[m.group(2)]
    fd = int(m.group(1) or m.group(3))
    if path.startswith("/proc/") and not path.startswith(("/proc/self/", "/proc/thread-self/", f"/proc/{os.getpid()}/")):
        return None  # another process's descriptor: judged as the file it points at
    return fd


def resolve(option: str, target: str | Path) -> Target:
    """Check one target (ConfigError, exit 2, naming the flag and the path) and say how it will be
    written. Nothing is created or truncated here."""
    shown = str(target)
    if shown == STDOUT:
        return Target(option, "stdout", "fd", fd=1)
    if not shown or "\x00" in shown:
        raise ConfigError(f"{option} {shown!r}: not a file name")
    fd = _own_fd(shown)
    if fd is not None:
        try:
            os.fstat(fd)
        except OSError:
            raise ConfigError(f"{option} {shown}: file descriptor {fd} is not open") from None
        if fd == 0:
            raise ConfigError(f"{option} {shown}: that is standard input")
        return Target(option, shown, "fd", fd=fd)
    path = Path(shown).expanduser()
    try:
        st = os.stat(path)  # follows symlinks: the kind of what would be written
    except (FileNotFoundError, NotADirectoryError):  # a new name; check_writable says what is wrong with its directory
        st = None
    except OSError as exc:
        raise ConfigError(f"{option} {shown}: cannot use: {exc.strerror or exc}") from None
    real = Path(os.path.realpath(path))
    if st is None:
        if str(real).startswith(("/dev/", "/proc/", "/sys/")):
            raise ConfigError(f"{option} {shown}: no such device (plinth creates no files under /dev, /proc or /sys)")
        check_writable(option, path)
        return Target(option, shown, "file", path=real)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        if str(real).startswith(("/proc/", "/sys/")):
            raise ConfigError(f"{option} {shown}: a kernel file, not a report path")
        check_writable(option, path)
        return Target(option, shown, "file", path=real)
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{option} {shown}: is a directory")
    if stat.S_ISCHR(mode):
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{option} {shown}: device is not writable")
        return Target(option, shown, "device", path=path)
    if stat.S_ISFIFO(mode):
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{option} {shown}: FIFO is not writable")
        return Target(option, shown, "fifo", path=path)
    what = "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
    raise ConfigError(f"{option} {shown}: is {what}; refusing to write a report there")


def _same(a: Target, b: Target) -> bool:
    if a.kind == "fd" or b.kind == "fd":
        return a.kind == b.kind == "fd" and a.fd == b.fd
    if a.kind == "device" or b.kind == "device":
        return False  # /dev/null twice is fine; other devices are the user's business
    assert a.path is not None and b.path is not None
    return a.path == b.path or _same_inode(a.path, b.path)


def _same_inode(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_targets(targets: Mapping[str, str | Path | None], inputs: Mapping[str, Path | None] | None = None) -> dict[str, Target]:
    """Check every report target (by CLI flag: ``{"--json": "r.json", "--junit": None}``) against
    the others and against the run's input files (by what they are: ``{"inventory": Path(...)}``).
    Returns the resolved targets; ConfigError (exit 2) before any node is contacted otherwise."""
    resolved = {option: resolve(option, t) for option, t in targets.items() if t is not None}
    seen: list[Target] = []
    for t in resolved.values():
        other = next((o for o in seen if _same(o, t)), None)
        if other is not None:
            raise ConfigError(f"{t.option} {t.shown}: {other.option} writes there too; give each report its own target")
        seen.append(t)
        if t.path is None or t.kind == "device":
            continue
        for what, source in (inputs or {}).items():
            if source is None:
                continue
            src = Path(source).expanduser()
            if t.path == Path(os.path.realpath(src)) or _same_inode(t.path, src):
                raise ConfigError(f"{t.option} {t.shown}: is the {what} ({source}); a report must not overwrite an input")
    return resolved


def write_stream(target: Target, write: Callable[[TextIO], object]) -> None:
    """Write a report that ``write`` produces piece by piece: straight into the temp file for a
    file target (the whole text is never in memory), rendered to text first for the others."""
    if target.kind == "file":
        assert target.path is not None
        write_atomic(target.path, write)
        return
    buf = io.StringIO()
    write(buf)
    write_text(target, buf.getvalue())


def write_text(target: Target, text: str) -> None:
    """Write one rendered report to its target; OSError when it cannot be written."""
    if target.kind == "file":
        assert target.path is not None
        write_text_atomic(target.path, text)
        return
    data = text.encode("utf-8")
    if target.kind == "fd":
        assert target.fd is not None
        if target.fd in (1, 2):  # what rich or print() may have buffered must come out first
            (sys.stdout if target.fd == 1 else sys.stderr).flush()
        _write_all(target.fd, data, stall_s=None)
        return
    assert target.path is not None
    flags = os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC | (os.O_NONBLOCK if target.kind == "fifo" else 0)
    try:
        fd = os.open(target.path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO and target.kind == "fifo":  # O_NONBLOCK on a FIFO nobody reads
            raise OSError(errno.ENXIO, "no process is reading the FIFO") from None
        raise
    try:
        _write_all(fd, data, stall_s=FIFO_STALL_S if target.kind == "fifo" else None)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes, stall_s: float | None) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view[:65536])
        except BlockingIOError:
            n = 0
        if n:
            view = view[n:]
            continue
        poller = select.poll()  # not select(): a controller with hundreds of SSH connections has fds > 1024
        poller.register(fd, select.POLLOUT)
        if not poller.poll(None if stall_s is None else stall_s * 1000):
            raise OSError(errno.ETIMEDOUT, f"the reader took nothing for {stall_s:g} s")


__all__ = ["FIFO_STALL_S", "STDOUT", "Target", "check_targets", "resolve", "write_text"]
