"""Reading the extra input files an inventory brings along (an SSH config and its Includes, an
Ansible inventory's group_vars/ and host_vars/): regular files only, bounded, never a device or a
FIFO that would block or never end."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from policies.errors import ConfigError

MAX_BYTES = 4 * 1024 * 1024


def read_text(path: Path, what: str, limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of ``path``; ConfigError ``<path>: <what> …`` when it is not a readable
    regular file of at most ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{path}: {what} is not a regular file")
        data = b""
        while chunk := os.read(fd, min(1 << 20, limit + 1 - len(data))):
            data += chunk
            if len(data) > limit:
                raise ConfigError(f"{path}: {what} is larger than {limit // (1024 * 1024)} MiB")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None
