"""Report files are written atomically: a reader (CI, a Prometheus textfile collector scraping
every few seconds) sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from policies.errors import ConfigError


def check_writable(option: str, path: Path) -> None:
    """Fail fast (before any node is contacted) when a report could not be written.
    ``option`` is the CLI flag, named in the one-line error: ``--json out/r.json: directory does not exist``."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory")
    if not parent.exists():
        raise ConfigError(f"{option} {path}: directory does not exist")
    if not parent.is_dir():
        raise ConfigError(f"{option} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: directory is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{option} {path}: file is not writable")


def write_atomic(path: Path, render: Callable[[TextIO], object], mode: int = 0o644) -> None:
    """Call ``render`` on a temp file in the same directory (same filesystem: os.replace is
    atomic), fsync it, then rename it over ``path``. If ``render`` raises, the temp file is removed
    and ``path`` is untouched."""
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            render(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp makes 0600; reports are for CI and collectors to read
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    write_atomic(path, lambda fh: fh.write(text), mode)
