"""Helpers every gatherer shares: reading files, running commands with a timeout, and turning
nvidia-smi-style values ('81559 MiB', 'N/A', 'Enabled') into numbers and booleans."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
from typing import Any, List, Optional, Tuple

PROBE_VERSION = 1
MIB = 1024 * 1024
GIB = 1024 ** 3


def read_file(path: str) -> Optional[str]:
    try:
        with open(path, "r", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _load_libc() -> Any:
    try:  # glibc by its soname first: find_library runs `ldconfig -p` (milliseconds on every probe)
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        pass
    from ctypes.util import find_library

    try:
        name = find_library("c")
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


LIBC = _load_libc()
PR_SET_PDEATHSIG = 1


def _die_with_probe() -> None:
    """In the child, before exec: SIGKILL it when the probe dies, even if the probe is SIGKILLed by
    the transport's timeout (children run in their own process group, out of reach of a group kill)."""
    if LIBC is not None:
        try:
            LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (AttributeError, OSError):
            pass


def run_cmd(argv: List[str], timeout: float) -> Tuple[Optional[int], str, str]:
    """Run a command found on PATH; (returncode, stdout, stderr). returncode None: not found or
    timed out (the reason is in stderr)."""
    exe = shutil.which(argv[0])
    if exe is None:
        return None, "", f"{argv[0]}: not found on PATH"
    try:
        # own process group: on timeout the whole tree goes (a `sleep` or a hung nvidia-smi child
        # must not outlive the probe on the node)
        proc = subprocess.Popen(
            [exe] + list(argv[1:]), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=_die_with_probe if sys.platform.startswith("linux") else None,  # noqa: PLW1509 - no locks taken
        )
    except OSError as exc:
        return None, "", f"{argv[0]}: {exc}"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        return None, "", f"{argv[0]}: timed out after {timeout:g} s"
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def is_na(value: Optional[str]) -> bool:
    return value is None or value.strip().strip("[]").lower() in ("", "n/a", "not supported", "unknown error", "none")


def to_int(value: Optional[str]) -> Optional[int]:
    """'81559 MiB' -> 81559, '16x' -> 16, 'N/A' -> None."""
    if is_na(value):
        return None
    m = re.match(r"\s*(-?\d+)", value or "")
    return int(m.group(1)) if m else None


def to_float(value: Optional[str]) -> Optional[float]:
    if is_na(value):
        return None
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", value or "")
    return float(m.group(1)) if m else None


def to_bool(value: Optional[str]) -> Optional[bool]:
    """Yes/Enabled/Active -> True, No/Disabled/Not Active -> False, N/A -> None."""
    if is_na(value):
        return None
    v = (value or "").strip().lower()
    if v in ("yes", "enabled", "active", "true", "on"):
        return True
    if v in ("no", "disabled", "not active", "false", "off"):
        return False
    return None


def text_or_none(value: Optional[str]) -> Optional[str]:
    return None if is_na(value) else (value or "").strip()


def sum_known(values: List[Optional[int]]) -> Optional[int]:
    known = [v for v in values if v is not None]
    return sum(known) if known else None
