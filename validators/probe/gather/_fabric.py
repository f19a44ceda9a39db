"""The NVSwitch fabric seen from the node: NVSwitch devices on the PCI bus, whether
nvidia-fabricmanager runs and which version, and what its log says since it last started.

NVIDIA Fabric Manager user guide: on NVSwitch systems (HGX/DGX A100, H100, H200 8-GPU boards) the
GPUs cannot use NVLink until Fabric Manager has configured the switches, and its version must equal
the driver's. Its log (``/var/log/fabricmanager.log`` by default) announces each start with "Fabric
Manager version X is running" and records NVSwitch errors as "detected NVSwitch [non-]fatal error".
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Optional

from ._util import MIB, run_cmd

PCI_DIR = "/sys/bus/pci/devices"
NVIDIA_VENDOR = "0x10de"
BRIDGE_CLASS = "0x0680"  # NVSwitch enumerates as "Bridge: other" (GPUs are 0x0300/0x0302)
FM_COMM = "nv-fabricmanage"
HOST_INITS = ("systemd", "init")  # /proc/<pid>/comm keeps 15 characters of "nv-fabricmanager"
FM_START = re.compile(r"Fabric Manager version (\d+(?:\.\d+)+) is running")
FM_VERSION = re.compile(r"version(?: is)?\s*:?\s*(\d+(?:\.\d+)+)", re.IGNORECASE)
FM_TIME = re.compile(r"^\[([^\]]+)\]")
MAX_ERROR_LINES = 5


def _read_small(path: str) -> Optional[str]:
    try:
        with open(path, "r", errors="replace") as fh:
            return fh.read(256).strip()
    except OSError:
        return None


def count_nvswitches(pci_dir: str = PCI_DIR) -> Optional[int]:
    """NVIDIA bridge-class PCI functions; None when sysfs cannot be listed (containers without it)."""
    try:
        names = os.listdir(pci_dir)
    except OSError:
        return None
    count = 0
    for name in names:
        base = os.path.join(pci_dir, name)
        if _read_small(os.path.join(base, "vendor")) == NVIDIA_VENDOR and (_read_small(os.path.join(base, "class")) or "").startswith(BRIDGE_CLASS):
            count += 1
    return count


def fabric_manager_running(proc_dir: str = "/proc") -> Optional[bool]:
    """An nv-fabricmanager process on the host. None when that cannot be told: /proc not listable, or
    a container's own PID namespace (PID 1 is not an init system), where the host's daemons are
    invisible and "not found" would be a false alarm."""
    if _read_small(os.path.join(proc_dir, "1", "comm")) not in HOST_INITS:
        return None
    try:
        pids = [p for p in os.listdir(proc_dir) if p.isdigit()]
    except OSError:
        return None
    return any(_read_small(os.path.join(proc_dir, pid, "comm")) == FM_COMM for pid in pids)


def parse_fabricmanager_log(text: str) -> Dict[str, Any]:
    """fabricmanager.log -> {version, started, nonfatal_errors, fatal_errors, other_errors,
    errors_before_start, error_lines}: error counts since the last "Fabric Manager version X is
    running" (the whole text when the log holds no start), and how many came before it."""
    lines = text.splitlines()
    start = None
    for i, line in enumerate(lines):
        if FM_START.search(line):
            start = i
    after = lines[start:] if start is not None else lines
    version = started = None
    if start is not None:
        m = FM_START.search(lines[start])
        version = m.group(1) if m else None
        t = FM_TIME.match(lines[start])
        started = t.group(1) if t else None
    result: Dict[str, Any] = {"version": version, "started": started, "nonfatal_errors": 0, "fatal_errors": 0,
                              "other_errors": 0, "errors_before_start": 0, "error_lines": []}
    for line in after:
        if "[ERROR]" not in line:
            continue
        low = line.lower()
        if "non-fatal error" in low:
            result["nonfatal_errors"] += 1
        elif "fatal error" in low:
            result["fatal_errors"] += 1
        else:
            result["other_errors"] += 1
        if len(result["error_lines"]) < MAX_ERROR_LINES:
            result["error_lines"].append(line.strip()[:300])
    if start is not None:
        result["errors_before_start"] = sum(1 for line in lines[:start] if "[ERROR]" in line)
    return result


def _tail_text(path: str, limit: int = MIB) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - limit))
        return fh.read().decode("utf-8", "replace")


def read_fabric(opts: Dict[str, Any], timeout: float) -> Dict[str, Any]:
    """facts["gpu"]["fabric"]; gathered only on nodes that have GPUs."""
    out: Dict[str, Any] = {"nvswitches": count_nvswitches(), "fm_running": fabric_manager_running(),
                           "fm_systemd": None, "fm_version": None, "fm_log": None, "notes": []}
    rc, text, err = run_cmd(["systemctl", "is-active", "nvidia-fabricmanager"], timeout)
    if rc is not None and text.strip():
        out["fm_systemd"] = text.strip().splitlines()[0][:40]  # active / inactive / failed / activating
    path = str(opts.get("fabricmanager_log") or "/var/log/fabricmanager.log")
    try:
        out["fm_log"] = dict(parse_fabricmanager_log(_tail_text(path)), path=path)
        out["fm_version"] = out["fm_log"]["version"]
    except OSError as exc:
        if os.path.exists(path) or out["nvswitches"]:
            out["notes"].append(f"{path}: {exc.strerror or exc}")
    if out["fm_version"] is None and (out["nvswitches"] or out["fm_running"]):
        rc, text, err = run_cmd(["nv-fabricmanager", "--version"], timeout)
        m = FM_VERSION.search(text + "\n" + err) if rc == 0 else None
        out["fm_version"] = m.group(1) if m else None
    return out

