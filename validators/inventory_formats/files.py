"""Reading the extra input files an inventory brings along (an SSH config and its Includes, an
Ansible inventory's group_vars/ and host_vars/): regular files only, bounded, never a device or a
FIFO that would block or never end."""

from __future__ import annotations

from pathlib import Path

from policies.inputs import read_input_text

MAX_BYTES = 4 * 1024 * 1024


def read_text(path: Path, what: str, limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of ``path``; ConfigError ``<path>: <what> …`` when it is not a readable
    regular file of at most ``limit`` bytes (policies/inputs: the one way plinth reads an input file)."""
    return read_input_text(path, what, limit)
