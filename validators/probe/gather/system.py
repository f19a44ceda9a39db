"""System facts: CPU cores, memory, kernel and OS, clock synchronisation, the Python data stack and
the platform the node runs on (cloud instance or bare metal)."""

from __future__ import annotations

import ctypes
import os
import platform
import re
from typing import Any, Dict, Optional, Tuple

from ._platform import read_platform
from ._util import GIB, LIBC, read_file, run_cmd

SECTION = "system"
DEFAULT = None


def physical_cores(cpuinfo: str) -> Optional[int]:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo; None when the file has no core ids
    (ARM, some VMs)."""
    pairs = set()
    phys, core = "0", None
    for line in cpuinfo.splitlines() + [""]:
        if not line.strip():
            if core is not None:
                pairs.add((phys, core))
            phys, core = "0", None
            continue
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            phys = value.strip()
        elif key == "core id":
            core = value.strip()
    return len(pairs) or None


def _sysfs_physical_cores() -> Optional[int]:
    base = "/sys/devices/system/cpu"
    pairs = set()
    try:
        names = [n for n in os.listdir(base) if re.match(r"^cpu\d+$", n)]
    except OSError:
        return None
    for name in names:
        core = read_file(os.path.join(base, name, "topology", "core_id"))
        pkg = read_file(os.path.join(base, name, "topology", "physical_package_id"))
        if core is not None:
            pairs.add((pkg, core))
    return len(pairs) or None


def _installed_memory_gib() -> Optional[float]:
    """Online memory blocks x block size: the installed size (MemTotal is smaller by what the
    kernel reserves, so a 64 GiB machine shows ~62.8 there)."""
    base = "/sys/devices/system/memory"
    size = read_file(os.path.join(base, "block_size_bytes"))
    if size is None:
        return None
    try:
        block = int(size, 16)
        online = sum(1 for n in os.listdir(base) if n.startswith("memory") and read_file(os.path.join(base, n, "online")) == "1")
    except (OSError, ValueError):
        return None
    return round(block * online / GIB, 2) if online else None


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long), ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
        ("_pad", ctypes.c_int * 11),
    ]


STA_UNSYNC = 0x0040
TIME_ERROR = 5


def clock_sync(timeout: float) -> Tuple[Optional[bool], Optional[str]]:
    """(synchronised, how we know). The kernel's NTP state via adjtimex (read-only, no root; what
    `timedatectl` itself reports), else timedatectl, else chronyc; (None, None) when unknown."""
    try:
        if LIBC is None:
            raise OSError("libc not loadable")
        tx = _Timex()
        state = LIBC.adjtimex(ctypes.byref(tx))
        if state >= 0:
            return (state != TIME_ERROR and not tx.status & STA_UNSYNC), "adjtimex"
    except (OSError, AttributeError):
        pass
    rc, out, _ = run_cmd(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], timeout)
    if rc == 0 and out.strip() in ("yes", "no"):
        return out.strip() == "yes", "timedatectl"
    if os.path.exists("/run/systemd/timesync/synchronized"):
        return True, "systemd-timesyncd"
    rc, out, _ = run_cmd(["chronyc", "tracking"], timeout)
    if rc == 0:
        m = re.search(r"Leap status\s*:\s*(.+)", out)
        if m:
            return m.group(1).strip() != "Not synchronised", "chronyc"
    return None, None


def _os_name() -> str:
    text = read_file("/etc/os-release") or ""
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.MULTILINE)
    return m.group(1) if m else platform.system()


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def gather(opts: Dict[str, Any]) -> Dict[str, Any]:
    cpuinfo = read_file("/proc/cpuinfo") or ""
    meminfo = read_file("/proc/meminfo") or ""
    m = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE)
    synced, source = clock_sync(float(opts["step_timeout_s"]))
    geteuid = getattr(os, "geteuid", None)
    return {
        "cpu_physical_cores": physical_cores(cpuinfo) or _sysfs_physical_cores() or os.cpu_count(),
        "cpu_logical": os.cpu_count(),
        "memory_gib": round(int(m.group(1)) * 1024 / GIB, 2) if m else None,
        "memory_installed_gib": _installed_memory_gib(),
        "kernel": platform.release(),
        "os": _os_name(),
        "clock_synced": synced,
        "clock_source": source,
        "python": platform.python_version(),
        # find_spec, not import: importing torch takes seconds; "importable by the node's python3"
        "data_stack": {name: _importable(name) for name in ("numpy", "pandas", "pyarrow", "torch")},
        "is_root": bool(geteuid and geteuid() == 0) if geteuid else False,
        "platform": read_platform(cpuinfo),
    }
