# ruff: noqa: UP006, UP035, UP045 - typing.List/Optional on purpose: this file runs on Python 3.8 nodes
"""plinth node probe: gathers one node's facts and prints them as ONE JSON object on stdout.

Streamed to the node over the transport's stdin (``python3 - '<options json>'``) and run there, so:

* stdlib only, Python 3.8+ (no ``X | Y`` at runtime, no ``match``, no 3.9+ str/dict methods);
* every section is guarded: a section that fails lands in ``facts["errors"][section]`` with the
  reason and the rest still runs — the probe never crashes and never prints anything but JSON on
  stdout (diagnostics go to stderr);
* every external command runs with a timeout (``step_timeout_s``) and is looked up on ``PATH``
  (so tests can put a recorded ``nvidia-smi`` / ``dmesg`` first on it);
* parsing happens here, on the node (one round trip); the parse functions are pure and the
  controller-side tests import this module to run them on real recorded outputs.

This file is one module on purpose (it is the unit that travels); it is laid out in sections:
helpers, parsers (nvidia-smi XML/text, nvlink, Xid, fio, fi_info, ibstat), gatherers, main.
The facts shape is documented in ``validators/probe/__init__.py``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any, Callable, Dict, List, Optional, Tuple

PROBE_VERSION = 1
MIB = 1024 * 1024
GIB = 1024 ** 3

DEFAULT_OPTIONS = {
    "object_store_endpoint": None,
    "disk_path": "/tmp",
    "disk_test_mb": 64,
    "disk_skip_reason": None,
    "use_fio": True,
    "step_timeout_s": 20.0,
    "use_pynvml": True,
    "kmsg_path": "/dev/kmsg",
    "kernel_log_paths": ["/var/log/kern.log", "/var/log/syslog", "/var/log/messages"],
}

# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "r", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _load_libc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()
PR_SET_PDEATHSIG = 1


def _die_with_probe() -> None:
    """In the child, before exec: SIGKILL it when the probe dies, even if the probe is SIGKILLed by
    the transport's timeout (children run in their own process group, out of reach of a group kill)."""
    if _LIBC is not None:
        try:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
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


def _na(value: Optional[str]) -> bool:
    return value is None or value.strip().strip("[]").lower() in ("", "n/a", "not supported", "unknown error", "none")


def to_int(value: Optional[str]) -> Optional[int]:
    """'81559 MiB' -> 81559, '16x' -> 16, 'N/A' -> None."""
    if _na(value):
        return None
    m = re.match(r"\s*(-?\d+)", value or "")
    return int(m.group(1)) if m else None


def to_float(value: Optional[str]) -> Optional[float]:
    if _na(value):
        return None
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", value or "")
    return float(m.group(1)) if m else None


def to_bool(value: Optional[str]) -> Optional[bool]:
    """Yes/Enabled/Active -> True, No/Disabled/Not Active -> False, N/A -> None."""
    if _na(value):
        return None
    v = (value or "").strip().lower()
    if v in ("yes", "enabled", "active", "true", "on"):
        return True
    if v in ("no", "disabled", "not active", "false", "off"):
        return False
    return None


def _mode(value: Optional[str]) -> Optional[str]:
    return None if _na(value) else (value or "").strip()


def _sum_known(values: List[Optional[int]]) -> Optional[int]:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _empty_device(index: int) -> Dict[str, Any]:
    return {
        "index": index, "name": None, "uuid": None, "pci": None, "memory_total_mib": None,
        "ecc_mode": None, "ecc_uncorrected_volatile": None, "ecc_uncorrected_aggregate": None,
        "retired_pages_pending": None, "retired_pages_count": None,
        "remapped_rows_failure": None, "remapped_rows_pending": None, "remapped_rows_uncorrectable": None,
        "temperature_c": None, "persistence_mode": None,
        "pcie_gen_current": None, "pcie_gen_max": None, "pcie_width_current": None, "pcie_width_max": None,
        "nvlink_links_total": None, "nvlink_links_active": None, "mig_mode": None,
    }


# ------------------------------------------------------------------------------------------
# parsers: nvidia-smi
# ------------------------------------------------------------------------------------------

NO_DRIVER_MARKERS = (
    "couldn't communicate with the nvidia driver",
    "could not communicate with the nvidia driver",
    "nvml: driver not loaded",
    "driver not loaded",
)


def classify_smi_failure(output: str) -> str:
    """A one-line reason for a failed nvidia-smi run, 'no NVIDIA driver …' when the driver is absent."""
    low = output.lower()
    first = next((line.strip() for line in output.splitlines() if line.strip()), "no output")
    if any(marker in low for marker in NO_DRIVER_MARKERS):
        return "no NVIDIA driver: " + first
    if "driver/library version mismatch" in low:
        return "NVIDIA driver/library version mismatch (reboot or reload the nvidia kernel module): " + first
    return "nvidia-smi failed: " + first


class _Node:
    __slots__ = ("children", "key", "value")

    def __init__(self, key: str, value: Optional[str]) -> None:
        self.key = key
        self.value = value
        self.children = []  # type: List[_Node]

    def get(self, *path: str) -> Optional[_Node]:
        node = self  # type: Optional[_Node]
        for part in path:
            if node is None:
                return None
            node = next((c for c in node.children if c.key == part), None)
        return node

    def val(self, *path: str) -> Optional[str]:
        node = self.get(*path)
        return node.value if node is not None else None


def parse_indented(text: str) -> _Node:
    """`nvidia-smi -q` layout ("Key   : value" lines, sections by indentation) -> a tree."""
    root = _Node("", None)
    stack = [(-1, root)]  # type: List[Tuple[int, _Node]]
    for raw in text.splitlines():
        line = raw.rstrip().expandtabs(8)
        if not line.strip() or line.lstrip().startswith("="):
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if " : " in body:
            key, _, value = body.partition(" : ")
            node = _Node(key.strip(), value.strip())
        elif body.endswith(" :"):
            node = _Node(body[:-2].strip(), "")
        else:
            node = _Node(body, None)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack[-1][1].children.append(node)
        stack.append((indent, node))
    return root


def _uncorrectable(section: Optional[_Node]) -> Optional[int]:
    """Sum of the uncorrectable counters of an ECC 'Volatile'/'Aggregate' section, across layouts:
    'DRAM Uncorrectable' + 'SRAM Uncorrectable*' (Ampere+), or 'Double Bit' > 'Total' (older)."""
    if section is None:
        return None
    values = [to_int(c.value) for c in section.children if "uncorrectable" in c.key.lower() and c.value is not None]
    double = section.val("Double Bit", "Total")
    if double is not None:
        values.append(to_int(double))
    return _sum_known(values)


def parse_nvidia_smi_text(text: str) -> Dict[str, Any]:
    """`nvidia-smi -q` (or `-q -d PAGE_RETIREMENT`) text -> {driver_version, cuda_version,
    attached_gpus, devices: [...]} in the facts' device shape."""
    root = parse_indented(text)
    devices = []
    for gpu in (c for c in root.children if c.key.startswith("GPU ") and c.value is None):
        dev = _empty_device(len(devices))
        dev["pci"] = gpu.key[4:].strip()
        dev["name"] = _mode(gpu.val("Product Name"))
        dev["uuid"] = _mode(gpu.val("GPU UUID"))
        dev["memory_total_mib"] = to_int(gpu.val("FB Memory Usage", "Total"))
        dev["ecc_mode"] = _mode(gpu.val("ECC Mode", "Current"))
        dev["ecc_uncorrected_volatile"] = _uncorrectable(gpu.get("ECC Errors", "Volatile"))
        dev["ecc_uncorrected_aggregate"] = _uncorrectable(gpu.get("ECC Errors", "Aggregate"))
        retired = gpu.get("Retired Pages")
        if retired is not None:
            counts = [to_int(c.value) for c in retired.children if c.key in ("Single Bit ECC", "Double Bit ECC")]
            dev["retired_pages_count"] = _sum_known(counts)
            pending = next((c.value for c in retired.children if c.key.startswith("Pending")), None)
            dev["retired_pages_pending"] = to_bool(pending)
        remap = gpu.get("Remapped Rows")
        if remap is not None and not (remap.value is not None and _na(remap.value)):
            dev["remapped_rows_pending"] = to_bool(remap.val("Pending"))
            dev["remapped_rows_failure"] = to_bool(remap.val("Remapping Failure Occurred"))
            dev["remapped_rows_uncorrectable"] = to_int(remap.val("Uncorrectable Error"))
        dev["temperature_c"] = to_float(gpu.val("Temperature", "GPU Current Temp"))
        dev["persistence_mode"] = to_bool(gpu.val("Persistence Mode"))
        link = gpu.get("PCI", "GPU Link Info")
        if link is not None:
            gen = link.get("PCIe Generation")
            if gen is not None:
                dev["pcie_gen_current"] = to_int(gen.val("Current"))
                dev["pcie_gen_max"] = to_int(gen.val("Max") or gen.val("Device Max"))
            dev["pcie_width_current"] = to_int(link.val("Link Width", "Current"))
            dev["pcie_width_max"] = to_int(link.val("Link Width", "Max"))
        dev["mig_mode"] = _mode(gpu.val("MIG Mode", "Current"))
        devices.append(dev)
    return {
        "driver_version": _mode(root.val("Driver Version")),
        "cuda_version": _mode(root.val("CUDA Version")),
        "attached_gpus": to_int(root.val("Attached GPUs")),
        "devices": devices,
    }


def _x(elem: Optional[ET.Element], path: str) -> Optional[str]:
    if elem is None:
        return None
    found = elem.find(path)
    return found.text.strip() if found is not None and found.text is not None else None


def _x_uncorrectable(section: Optional[ET.Element]) -> Optional[int]:
    if section is None:
        return None
    values = [to_int(c.text) for c in section if "uncorrectable" in c.tag and "threshold" not in c.tag]
    if section.find("double_bit/total") is not None:
        values.append(to_int(_x(section, "double_bit/total")))
    return _sum_known(values)


def parse_nvidia_smi_xml(text: str) -> Dict[str, Any]:
    """`nvidia-smi -q -x` -> the same shape as :func:`parse_nvidia_smi_text`."""
    start = text.find("<nvidia_smi_log")
    if start < 0:
        raise ValueError("not nvidia-smi XML (no <nvidia_smi_log>)")
    root = ET.fromstring(text[start:])  # the DOCTYPE before it names an external DTD: skip it
    devices = []
    for gpu in root.findall("gpu"):
        dev = _empty_device(len(devices))
        dev["pci"] = gpu.get("id")
        dev["name"] = _mode(_x(gpu, "product_name"))
        dev["uuid"] = _mode(_x(gpu, "uuid"))
        dev["memory_total_mib"] = to_int(_x(gpu, "fb_memory_usage/total"))
        dev["ecc_mode"] = _mode(_x(gpu, "ecc_mode/current_ecc"))
        dev["ecc_uncorrected_volatile"] = _x_uncorrectable(gpu.find("ecc_errors/volatile"))
        dev["ecc_uncorrected_aggregate"] = _x_uncorrectable(gpu.find("ecc_errors/aggregate"))
        retired = gpu.find("retired_pages")
        if retired is not None:
            dev["retired_pages_count"] = _sum_known([
                to_int(_x(retired, "multiple_single_bit_retirement/retired_count")),
                to_int(_x(retired, "double_bit_retirement/retired_count")),
            ])
            flags = [to_bool(_x(retired, "pending_retirement")), to_bool(_x(retired, "pending_blacklist"))]
            dev["retired_pages_pending"] = True if True in flags else (False if False in flags else None)
        remap = gpu.find("remapped_rows")
        if remap is not None and len(remap):
            dev["remapped_rows_pending"] = to_bool(_x(remap, "remapped_row_pending"))
            dev["remapped_rows_failure"] = to_bool(_x(remap, "remapped_row_failure"))
            dev["remapped_rows_uncorrectable"] = to_int(_x(remap, "remapped_row_unc"))
        dev["temperature_c"] = to_float(_x(gpu, "temperature/gpu_temp"))
        dev["persistence_mode"] = to_bool(_x(gpu, "persistence_mode"))
        dev["pcie_gen_current"] = to_int(_x(gpu, "pci/pci_gpu_link_info/pcie_gen/current_link_gen"))
        dev["pcie_gen_max"] = to_int(_x(gpu, "pci/pci_gpu_link_info/pcie_gen/max_link_gen"))
        dev["pcie_width_current"] = to_int(_x(gpu, "pci/pci_gpu_link_info/link_widths/current_link_width"))
        dev["pcie_width_max"] = to_int(_x(gpu, "pci/pci_gpu_link_info/link_widths/max_link_width"))
        dev["mig_mode"] = _mode(_x(gpu, "mig_mode/current_mig"))
        devices.append(dev)
    return {
        "driver_version": _mode(_x(root, "driver_version")),
        "cuda_version": _mode(_x(root, "cuda_version")),
        "attached_gpus": to_int(_x(root, "attached_gpus")),
        "devices": devices,
    }


def parse_nvlink_status(text: str) -> Dict[int, Dict[str, Any]]:
    """`nvidia-smi nvlink -s` -> {gpu index: {total, active, note}}. 'all links are inactive'
    -> active 0, total unknown; MIG -> note, counts unknown; a GPU with no link lines -> 0/0."""
    out = {}  # type: Dict[int, Dict[str, Any]]
    current = None  # type: Optional[int]
    for line in text.splitlines():
        m = re.match(r"^GPU (\d+):", line)
        if m:
            current = int(m.group(1))
            out[current] = {"total": 0, "active": 0, "note": None}
            continue
        if current is None:
            continue
        entry = out[current]
        lm = re.match(r"^\s+Link (\d+):\s*(.*)$", line)
        if lm:
            entry["total"] += 1
            if "inactive" not in lm.group(2).lower():
                entry["active"] += 1
        elif "all links are inactive" in line:
            entry.update(total=None, active=0, note=line.strip())
        elif line.strip():
            entry.update(total=None, active=None, note=line.strip())
    return out


# ------------------------------------------------------------------------------------------
# parsers: kernel log (Xid), fio, fi_info, ibstat
# ------------------------------------------------------------------------------------------

XID_RE = re.compile(r"NVRM: Xid \((?:PCI:)?([0-9a-fA-F:.]+)\):\s*(\d+)")
MAX_XID_EVENTS = 50


def parse_xid(text: str) -> Dict[str, Any]:
    """NVRM Xid lines -> {events (first MAX_XID_EVENTS), counts {xid: n}, total}. Works on dmesg,
    dmesg -T / --time-format=iso, /dev/kmsg records and syslog lines alike."""
    events = []  # type: List[Dict[str, Any]]
    counts = {}  # type: Dict[str, int]
    total = 0
    for line in text.splitlines():
        m = XID_RE.search(line)
        if not m:
            continue
        total += 1
        counts[m.group(2)] = counts.get(m.group(2), 0) + 1
        if len(events) < MAX_XID_EVENTS:
            events.append({"xid": int(m.group(2)), "pci": m.group(1), "line": line.strip()[:300]})
    return {"events": events, "counts": counts, "total": total}


def parse_fio_json(text: str) -> Dict[str, Any]:
    """fio --output-format=json (any prefix such as 'fio: terminating on signal 2' skipped) ->
    {read_mb_s, write_mb_s, read_bytes, write_bytes, error, version} summed over jobs; MB = 10^6 bytes."""
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in fio output")
    data, _ = json.JSONDecoder().raw_decode(text[start:])
    result = {"read_mb_s": None, "write_mb_s": None, "read_bytes": 0, "write_bytes": 0,
              "error": None, "version": data.get("fio version")}  # type: Dict[str, Any]
    for op in ("read", "write"):
        bw_bytes = 0.0
        seen = False
        for job in data.get("jobs", []):
            if job.get("error"):
                result["error"] = "fio job {} error {}".format(job.get("jobname"), job.get("error"))
            stats = job.get(op) or {}
            io_bytes = stats.get("io_bytes") or 0
            if not io_bytes:
                continue
            seen = True
            # fio 3 reports bw_bytes (B/s); fio 2 only bw (KiB/s)
            bw_bytes += float(stats.get("bw_bytes") or float(stats.get("bw", 0)) * 1024)
            result[op + "_bytes"] += int(io_bytes)
        if seen:
            result[op + "_mb_s"] = round(bw_bytes / 1e6, 1)
    return result


def parse_fi_info(text: str) -> Dict[str, Any]:
    """`fi_info -p efa -t FI_EP_RDM` -> {providers: n, domains: [...]}."""
    domains = []
    providers = 0
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("provider:"):
            providers += 1 if s.split(":", 1)[1].strip() == "efa" else 0
        elif s.startswith("domain:"):
            domains.append(s.split(":", 1)[1].strip())
    return {"providers": providers, "domains": domains}


def parse_ibstat(text: str) -> List[Dict[str, Any]]:
    """`ibstat` -> [{name, ports: [{port, state, rate_gbps, link_layer}]}]. Lines such as
    'ibpanic: …' after a failure are ignored (the devices listed before it are kept)."""
    devices = []  # type: List[Dict[str, Any]]
    port = None  # type: Optional[Dict[str, Any]]
    for line in text.splitlines():
        m = re.match(r"^CA '([^']+)'", line)
        if m:
            devices.append({"name": m.group(1), "ports": []})
            port = None
            continue
        if not devices:
            continue
        s = line.strip()
        pm = re.match(r"^Port (\d+):$", s)
        if pm:
            port = {"port": int(pm.group(1)), "state": None, "rate_gbps": None, "link_layer": None}
            devices[-1]["ports"].append(port)
        elif port is not None and ":" in s:
            key, _, value = s.partition(":")
            value = value.strip()
            if key == "State":
                port["state"] = value.upper()
            elif key == "Rate":
                port["rate_gbps"] = to_float(value)
            elif key == "Link layer":
                port["link_layer"] = value
    return devices


# ------------------------------------------------------------------------------------------
# gatherers: system
# ------------------------------------------------------------------------------------------


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
        core = _read(os.path.join(base, name, "topology", "core_id"))
        pkg = _read(os.path.join(base, name, "topology", "physical_package_id"))
        if core is not None:
            pairs.add((pkg, core))
    return len(pairs) or None


def _installed_memory_gib() -> Optional[float]:
    """Online memory blocks x block size: the installed size (MemTotal is smaller by what the
    kernel reserves, so a 64 GiB machine shows ~62.8 there)."""
    base = "/sys/devices/system/memory"
    size = _read(os.path.join(base, "block_size_bytes"))
    if size is None:
        return None
    try:
        block = int(size, 16)
        online = sum(1 for n in os.listdir(base) if n.startswith("memory") and _read(os.path.join(base, n, "online")) == "1")
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
        if _LIBC is None:
            raise OSError("libc not loadable")
        tx = _Timex()
        state = _LIBC.adjtimex(ctypes.byref(tx))
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
    text = _read("/etc/os-release") or ""
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.MULTILINE)
    return m.group(1) if m else platform.system()


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def gather_system(opts: Dict[str, Any]) -> Dict[str, Any]:
    cpuinfo = _read("/proc/cpuinfo") or ""
    meminfo = _read("/proc/meminfo") or ""
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
    }


# ------------------------------------------------------------------------------------------
# gatherers: GPU
# ------------------------------------------------------------------------------------------


def _gpu_pynvml() -> Dict[str, Any]:
    import pynvml  # type: ignore  # only present on some nodes

    def call(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:  # noqa: BLE001 - NVMLError_NotSupported and friends: the field stays unknown
            return None

    def text(value: Any) -> Any:
        return value.decode() if isinstance(value, bytes) else value

    pynvml.nvmlInit()
    try:
        cuda = call(pynvml.nvmlSystemGetCudaDriverVersion)
        out = {
            "driver_version": text(call(pynvml.nvmlSystemGetDriverVersion)),
            "cuda_version": f"{cuda // 1000}.{(cuda % 1000) // 10}" if cuda else None,
            "attached_gpus": pynvml.nvmlDeviceGetCount(),
            "devices": [],
        }  # type: Dict[str, Any]
        enabled = getattr(pynvml, "NVML_FEATURE_ENABLED", 1)
        for i in range(out["attached_gpus"]):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            dev = _empty_device(i)
            dev["name"] = text(call(pynvml.nvmlDeviceGetName, h))
            dev["uuid"] = text(call(pynvml.nvmlDeviceGetUUID, h))
            pci = call(pynvml.nvmlDeviceGetPciInfo, h)
            dev["pci"] = text(getattr(pci, "busId", None)) if pci is not None else None
            mem = call(pynvml.nvmlDeviceGetMemoryInfo, h)
            dev["memory_total_mib"] = int(mem.total // MIB) if mem is not None else None
            ecc = call(pynvml.nvmlDeviceGetEccMode, h)
            dev["ecc_mode"] = ("Enabled" if ecc[0] else "Disabled") if ecc else None
            unc = pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
            dev["ecc_uncorrected_volatile"] = call(pynvml.nvmlDeviceGetTotalEccErrors, h, unc, pynvml.NVML_VOLATILE_ECC)
            dev["ecc_uncorrected_aggregate"] = call(pynvml.nvmlDeviceGetTotalEccErrors, h, unc, pynvml.NVML_AGGREGATE_ECC)
            sbe = call(pynvml.nvmlDeviceGetRetiredPages, h, pynvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
            dbe = call(pynvml.nvmlDeviceGetRetiredPages, h, pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
            if sbe is not None or dbe is not None:
                dev["retired_pages_count"] = len(sbe or []) + len(dbe or [])
            pend = call(pynvml.nvmlDeviceGetRetiredPagesPendingStatus, h)
            dev["retired_pages_pending"] = None if pend is None else pend == enabled
            remap = call(pynvml.nvmlDeviceGetRemappedRows, h)
            if remap is not None:
                dev["remapped_rows_uncorrectable"] = int(remap[1])
                dev["remapped_rows_pending"] = bool(remap[2])
                dev["remapped_rows_failure"] = bool(remap[3])
            temp = call(pynvml.nvmlDeviceGetTemperature, h, pynvml.NVML_TEMPERATURE_GPU)
            dev["temperature_c"] = float(temp) if temp is not None else None
            pm = call(pynvml.nvmlDeviceGetPersistenceMode, h)
            dev["persistence_mode"] = None if pm is None else pm == enabled
            dev["pcie_gen_current"] = call(pynvml.nvmlDeviceGetCurrPcieLinkGeneration, h)
            dev["pcie_gen_max"] = call(pynvml.nvmlDeviceGetMaxPcieLinkGeneration, h)
            dev["pcie_width_current"] = call(pynvml.nvmlDeviceGetCurrPcieLinkWidth, h)
            dev["pcie_width_max"] = call(pynvml.nvmlDeviceGetMaxPcieLinkWidth, h)
            mig = call(pynvml.nvmlDeviceGetMigMode, h)
            dev["mig_mode"] = ("Enabled" if mig[0] else "Disabled") if mig else None
            total = active = 0
            for link in range(getattr(pynvml, "NVML_NVLINK_MAX_LINKS", 18)):
                state = call(pynvml.nvmlDeviceGetNvLinkState, h, link)
                if state is None:
                    continue  # link index not present on this GPU
                total += 1
                active += 1 if state == enabled else 0
            if dev["mig_mode"] != "Enabled":
                dev["nvlink_links_total"], dev["nvlink_links_active"] = total, active
            out["devices"].append(dev)
        return out
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110 - shutting down after a failure: nothing left to report
            pass


def _add_nvlink(result: Dict[str, Any], timeout: float) -> None:
    rc, out, err = run_cmd(["nvidia-smi", "nvlink", "-s"], timeout)
    if rc != 0:
        result.setdefault("notes", []).append("nvidia-smi nvlink -s: " + (err or out).strip()[:200])
        return
    links = parse_nvlink_status(out)
    for dev in result["devices"]:
        entry = links.get(dev["index"])
        if entry is not None:
            dev["nvlink_links_total"] = entry["total"]
            dev["nvlink_links_active"] = entry["active"]
            if entry["note"]:
                dev["nvlink_note"] = entry["note"]


def gather_gpu(opts: Dict[str, Any]) -> Dict[str, Any]:
    timeout = float(opts["step_timeout_s"])
    base = {"source": None, "error": None, "driver_version": None, "cuda_version": None, "devices": [], "notes": []}  # type: Dict[str, Any]
    if opts.get("use_pynvml", True):
        try:
            result = _gpu_pynvml()
            base.update(result, source="pynvml")
            return base
        except ImportError:
            base["notes"].append("pynvml not importable")
        except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound / DriverNotLoaded: try nvidia-smi
            base["notes"].append(f"pynvml: {exc.__class__.__name__}: {exc}")
    if shutil.which("nvidia-smi") is None:
        base["error"] = "no NVIDIA driver (nvidia-smi not found on PATH)"
        return base
    rc, out, err = run_cmd(["nvidia-smi", "-q", "-x"], timeout)
    if rc == 0 and "<nvidia_smi_log" in out:
        base.update(parse_nvidia_smi_xml(out), source="nvidia-smi-xml")
    else:
        if rc is None:
            base["error"] = "nvidia-smi -q -x: " + err.strip()
            return base
        failed = (out + "\n" + err).strip()
        if any(marker in failed.lower() for marker in NO_DRIVER_MARKERS + ("version mismatch",)):
            base["error"] = classify_smi_failure(failed)
            return base
        base["notes"].append(f"nvidia-smi -q -x unusable (exit {rc}), using -q text")
        rc, out, err = run_cmd(["nvidia-smi", "-q"], timeout)
        if rc != 0:
            base["error"] = classify_smi_failure((out + "\n" + err).strip()) if rc is not None else "nvidia-smi -q: " + err.strip()
            return base
        base.update(parse_nvidia_smi_text(out), source="nvidia-smi-text")
    if not base["devices"] and "no devices were found" in out.lower():
        base["notes"].append("nvidia-smi: No devices were found")
    if any(d["nvlink_links_total"] is None and d["mig_mode"] != "Enabled" for d in base["devices"]):
        _add_nvlink(base, timeout)
    return base


# ------------------------------------------------------------------------------------------
# gatherers: kernel log (Xid)
# ------------------------------------------------------------------------------------------


def _read_kmsg(path: str, limit_bytes: int = 16 * MIB) -> str:
    """Every record currently in the kernel ring buffer, without blocking (O_NONBLOCK: EAGAIN at
    the end; EPIPE when a record was overwritten while reading — skip it)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    chunks = []
    size = 0
    try:
        while size < limit_bytes:
            try:
                rec = os.read(fd, 8192)
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    break
                if exc.errno == errno.EPIPE:
                    continue
                raise
            if not rec:
                break
            chunks.append(rec.decode("utf-8", "replace"))
            size += len(rec)
    finally:
        os.close(fd)
    return "".join(chunks)


def _tail(path: str, limit_bytes: int = 8 * MIB) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        fh.seek(max(0, end - limit_bytes))
        return fh.read().decode("utf-8", "replace")


def gather_xid(opts: Dict[str, Any]) -> Dict[str, Any]:
    timeout = float(opts["step_timeout_s"])
    reasons = []
    text = None  # type: Optional[str]
    source = None  # type: Optional[str]
    rc, out, err = run_cmd(["dmesg"], timeout)
    if rc == 0:
        text, source = out, "dmesg"
    else:
        reasons.append("dmesg: " + (err.strip().splitlines() or [f"exit {rc}"])[-1])
    if text is None and opts.get("kmsg_path"):
        try:
            text, source = _read_kmsg(opts["kmsg_path"]), opts["kmsg_path"]
        except OSError as exc:
            reasons.append("{}: {}".format(opts["kmsg_path"], exc.strerror or exc))
    if text is None:
        for path in opts.get("kernel_log_paths") or []:
            try:
                text, source = _tail(path), path
                break
            except OSError as exc:
                reasons.append(f"{path}: {exc.strerror or exc}")
    if text is None:
        return {"readable": False, "source": None, "events": [], "counts": {}, "total": 0,
                "error": "kernel log not readable without root ({})".format("; ".join(reasons))}
    parsed = parse_xid(text)
    parsed.update(readable=True, source=source, error=None)
    return parsed


# ------------------------------------------------------------------------------------------
# gatherers: network interfaces, RDMA/EFA
# ------------------------------------------------------------------------------------------


def _default_route_ifaces() -> List[str]:
    names = []
    for line in (_read("/proc/net/route") or "").splitlines()[1:]:
        f = line.split()
        if len(f) > 7 and f[1] == "00000000" and f[7] == "00000000":
            names.append(f[0])
    for line in (_read("/proc/net/ipv6_route") or "").splitlines():
        f = line.split()
        if len(f) == 10 and f[0] == "0" * 32 and f[1] == "00" and f[9] != "lo":
            names.append(f[9])
    return names


def gather_nics(opts: Dict[str, Any]) -> List[Dict[str, Any]]:
    base = "/sys/class/net"
    defaults = set(_default_route_ifaces())
    nics = []
    for name in sorted(os.listdir(base)):
        path = os.path.join(base, name)
        speed = to_int(_read(os.path.join(path, "speed")))  # EINVAL while down -> None
        nics.append({
            "name": name,
            "speed_mbps": speed if speed is not None and speed > 0 else None,
            "mtu": to_int(_read(os.path.join(path, "mtu"))),
            "operstate": _read(os.path.join(path, "operstate")),
            "address": _read(os.path.join(path, "address")),
            "type": to_int(_read(os.path.join(path, "type"))),  # 1 ether, 32 infiniband, 772 loopback
            "virtual": os.path.realpath(path).startswith("/sys/devices/virtual/"),
            "default_route": name in defaults,
        })
    return nics


def gather_rdma(opts: Dict[str, Any]) -> Dict[str, Any]:
    timeout = float(opts["step_timeout_s"])
    base = "/sys/class/infiniband"
    devices = []
    source = None
    if os.path.isdir(base):
        source = "sysfs"
        for name in sorted(os.listdir(base)):
            ports = []
            ports_dir = os.path.join(base, name, "ports")
            for port in sorted(os.listdir(ports_dir), key=lambda p: int(p) if p.isdigit() else 0) if os.path.isdir(ports_dir) else []:
                pdir = os.path.join(ports_dir, port)
                state = _read(os.path.join(pdir, "state")) or ""
                ports.append({
                    "port": to_int(port),
                    "state": state.split(":", 1)[-1].strip().upper() or None,  # "4: ACTIVE"
                    "rate_gbps": to_float(_read(os.path.join(pdir, "rate"))),  # "400 Gb/sec (4X NDR)"
                    "link_layer": _read(os.path.join(pdir, "link_layer")),
                })
            driver = os.path.basename(os.path.realpath(os.path.join(base, name, "device", "driver")))
            devices.append({"name": name, "driver": driver or None, "ports": ports})
    elif shutil.which("ibstat"):
        rc, out, err = run_cmd(["ibstat"], timeout)
        devices = parse_ibstat(out)
        source = "ibstat" if devices else None
    efa = {"present": any(d.get("driver") == "efa" for d in devices), "providers": 0, "domains": [], "source": None}  # type: Dict[str, Any]
    if efa["present"]:
        efa.update(providers=sum(1 for d in devices if d.get("driver") == "efa"), source="sysfs")
    if shutil.which("fi_info"):
        rc, out, err = run_cmd(["fi_info", "-p", "efa", "-t", "FI_EP_RDM"], timeout)
        if rc == 0:
            parsed = parse_fi_info(out)
            efa.update(present=parsed["providers"] > 0, providers=parsed["providers"], domains=parsed["domains"], source="fi_info")
        else:
            efa["fi_info_error"] = (err or out).strip()[:200]
    return {"devices": devices, "source": source, "efa": efa}


# ------------------------------------------------------------------------------------------
# gatherers: mounts, disk throughput, object store
# ------------------------------------------------------------------------------------------

PSEUDO_FS = {
    "proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "ramfs", "cgroup", "cgroup2", "securityfs", "pstore",
    "bpf", "debugfs", "tracefs", "configfs", "fusectl", "mqueue", "hugetlbfs", "autofs", "binfmt_misc",
    "rpc_pipefs", "nsfs", "efivarfs", "squashfs", "fuse.lxcfs", "selinuxfs", "devfs", "overlay_tmp",
}
NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "lustre", "ceph", "glusterfs", "fuse.")


def _unescape_mount(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def _statvfs(path: str, timeout: float) -> Optional[os.statvfs_result]:
    """statvfs in a daemon thread: a hung network mount must not hang the probe."""
    box = []  # type: List[Any]

    def target() -> None:
        try:
            box.append(os.statvfs(path))
        except OSError as exc:
            box.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if not box or isinstance(box[0], OSError):
        return None
    return box[0]


def gather_mounts(opts: Dict[str, Any]) -> List[Dict[str, Any]]:
    out = []
    seen = set()
    for line in (_read("/proc/mounts") or "").splitlines():
        f = line.split()
        if len(f) < 3 or f[2] in PSEUDO_FS:
            continue
        device, path, fs = f[0], _unescape_mount(f[1]), f[2]
        remote = fs.startswith(NETWORK_FS)
        st = _statvfs(path, 2.0) if remote else _statvfs(path, float(opts["step_timeout_s"]))
        if st is None or st.f_blocks == 0:
            continue
        key = (device, st.f_blocks)  # bind mounts of one filesystem appear once
        if key in seen:
            continue
        seen.add(key)
        out.append({
            "path": path, "fs": fs, "device": device, "remote": remote,
            "total_gib": round(st.f_blocks * st.f_frsize / GIB, 2),
            "free_gib": round(st.f_bavail * st.f_frsize / GIB, 2),
            "read_only": bool(st.f_flag & os.ST_RDONLY),
        })
        if len(out) >= 64:
            break
    return out


# (ioengine, iodepth, direct): libaio with a queue is how NVMe is really driven; psync for fio builds
# without libaio; buffered (direct=0, fsync at the end) for filesystems without O_DIRECT (tmpfs)
FIO_ATTEMPTS = (("libaio", 16, "1"), ("psync", 1, "1"), ("psync", 1, "0"))


def _fio(path: str, mb: int, timeout: float) -> Dict[str, Any]:
    target = os.path.join(path, f".plinth-fio-{os.getpid()}.dat")
    common = ["--filename=" + target, "--bs=1M", f"--size={mb}M", "--output-format=json", "--numjobs=1"]
    notes = []  # type: List[str]
    failures = []  # type: List[str]
    try:
        for engine, depth, direct in FIO_ATTEMPTS:
            mode = ["--ioengine=" + engine, f"--iodepth={depth}", "--direct=" + direct]
            rc, out, err = run_cmd(["fio", "--name=plinth-write", "--rw=write", "--end_fsync=1"] + mode + common, timeout)
            if rc == 0:
                break
            failures.append(f"{engine}/direct={direct}: " + ((err or out).strip().splitlines() or [f"exit {rc}"])[-1][:120])
            if rc is None:  # timed out: a hung disk won't answer another engine either (3 tries = 3x the budget)
                raise RuntimeError("fio write failed: " + "; ".join(failures))
        else:
            raise RuntimeError("fio write failed: " + "; ".join(failures))
        if direct == "0":
            notes.append("O_DIRECT unsupported: buffered write with fsync; read may be cached")
        write = parse_fio_json(out)
        rc, out, err = run_cmd(["fio", "--name=plinth-read", "--rw=read"] + mode + common, timeout)
        if rc != 0:
            raise RuntimeError("fio read failed: " + (err or out).strip()[:200])
        read = parse_fio_json(out)
    finally:
        try:
            os.unlink(target)
        except OSError:
            pass
    return {"tool": "fio", "engine": engine, "iodepth": depth, "write_mb_s": write["write_mb_s"], "read_mb_s": read["read_mb_s"],
            "bytes": mb * MIB, "error": write["error"] or read["error"], "direct": direct == "1", "notes": notes}


def _builtin_disk(path: str, mb: int) -> Dict[str, Any]:
    """Sequential 1 MiB writes + fsync, then reads of the same file. O_DIRECT where the filesystem
    allows it (an mmap buffer is page-aligned, as O_DIRECT needs); otherwise buffered, with the
    file's pages dropped from the cache (posix_fadvise DONTNEED, no root needed) before reading."""
    import mmap

    target = os.path.join(path, f".plinth-disk-{os.getpid()}.dat")
    buf = mmap.mmap(-1, MIB)
    buf.write(os.urandom(MIB))  # incompressible, so compressing/deduplicating storage can't flatter it
    notes = []
    o_direct = getattr(os, "O_DIRECT", 0)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        try:
            fd = os.open(target, flags | o_direct, 0o600) if o_direct else os.open(target, flags, 0o600)
            direct = bool(o_direct)
            if direct:
                try:
                    os.write(fd, buf)
                    os.lseek(fd, 0, os.SEEK_SET)
                except OSError:
                    os.close(fd)
                    raise
        except OSError:
            fd = os.open(target, flags, 0o600)
            direct = False
        t0 = time.perf_counter()
        for _ in range(mb):
            os.write(fd, buf)
        os.fsync(fd)
        write_s = time.perf_counter() - t0
        os.close(fd)
        if direct:
            fd = os.open(target, os.O_RDONLY | o_direct)
        else:
            fd = os.open(target, os.O_RDONLY)
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                notes.append("O_DIRECT unsupported: page cache dropped with fadvise; read may still be cached on tmpfs/overlay")
            else:
                notes.append("read may be cached")
        t0 = time.perf_counter()
        total = 0
        while True:
            n = os.readv(fd, [buf])
            if n <= 0:
                break
            total += n
        read_s = time.perf_counter() - t0
        os.close(fd)
    finally:
        buf.close()
        try:
            os.unlink(target)
        except OSError:
            pass
    size = mb * MIB
    return {"tool": "builtin", "write_mb_s": round(size / write_s / 1e6, 1),
            "read_mb_s": round(total / read_s / 1e6, 1) if total else None,
            "bytes": size, "error": None, "direct": direct, "notes": notes}


def _remove_stale_test_files(path: str) -> None:
    """Test files of earlier probe runs that were killed before they could clean up (their PID
    is gone)."""
    for name in os.listdir(path):
        m = re.match(r"^\.plinth-(?:fio|disk)-(\d+)\.dat$", name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            try:
                os.unlink(os.path.join(path, name))
            except OSError:
                pass
        except OSError:
            pass  # alive (EPERM: another user's running probe)


def gather_disk(opts: Dict[str, Any]) -> Dict[str, Any]:
    path = opts["disk_path"]
    mb = int(opts["disk_test_mb"])
    result = {"path": path, "tool": None, "write_mb_s": None, "read_mb_s": None, "bytes": 0, "error": None, "notes": []}  # type: Dict[str, Any]
    if mb <= 0:  # the controller turned the test off (--disk-test-mb 0, --quick, no disk check in the profile)
        result["skipped"] = str(opts.get("disk_skip_reason") or "disk test not run (disk_test_mb 0)")
        return result
    if not os.path.isdir(path) or not os.access(path, os.W_OK):
        result["error"] = f"{path} is not a writable directory"
        return result
    _remove_stale_test_files(path)
    if opts.get("use_fio", True) and shutil.which("fio"):
        try:
            result.update(_fio(path, mb, float(opts["step_timeout_s"])))
            return result
        except (RuntimeError, ValueError) as exc:
            result["notes"].append(str(exc))
    builtin = _builtin_disk(path, mb)
    builtin["notes"] = result["notes"] + builtin["notes"]
    result.update(builtin)
    return result


def _median_ms(samples: List[float]) -> Optional[float]:
    return round(statistics.median(samples) * 1000, 3) if samples else None


def gather_object_store(opts: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """TCP connect time and HTTP(S) HEAD round trip to the endpoint (median of 3 each). Any HTTP
    answer (403 from S3 without credentials included) means reachable."""
    endpoint = opts.get("object_store_endpoint")
    if not endpoint:
        return None
    import http.client
    from urllib.parse import urlsplit

    timeout = min(float(opts["step_timeout_s"]), 10.0)
    url = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
    https = url.scheme == "https"
    host = url.hostname or ""
    port = url.port or (443 if https else 80)
    result = {"endpoint": endpoint, "reachable": False, "connect_ms": None, "latency_ms": None,
              "http_status": None, "error": None}  # type: Dict[str, Any]
    connects = []
    try:
        for _ in range(3):
            t0 = time.perf_counter()
            sock = socket.create_connection((host, port), timeout=timeout)
            connects.append(time.perf_counter() - t0)
            sock.close()
        result["connect_ms"] = _median_ms(connects)
        if https:
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())  # type: Any
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        heads = []
        try:
            conn.connect()  # handshake outside the timed requests: latency is one request's round trip
            for _ in range(3):
                t0 = time.perf_counter()
                conn.request("HEAD", url.path or "/", headers={"User-Agent": "plinth-probe"})
                resp = conn.getresponse()
                resp.read()
                heads.append(time.perf_counter() - t0)
                result["http_status"] = resp.status
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn.connect()
        finally:
            conn.close()
        result.update(reachable=True, latency_ms=_median_ms(heads))
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        stage = "HTTP HEAD" if len(connects) == 3 else "TCP connect"
        result["error"] = f"{stage} to {host}:{port} failed: {exc.__class__.__name__}: {exc}"
    return result


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------

SECTIONS = (
    ("system", gather_system, None),
    ("gpu", gather_gpu, None),
    ("xid", gather_xid, None),
    ("nics", gather_nics, []),
    ("rdma", gather_rdma, None),
    ("mounts", gather_mounts, []),
    ("disk", gather_disk, None),
    ("object_store", gather_object_store, None),
)


def probe(options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    opts = dict(DEFAULT_OPTIONS)
    opts.update(options or {})
    t0 = time.perf_counter()
    facts = {"probe_version": PROBE_VERSION, "hostname": socket.gethostname(), "errors": {}}  # type: Dict[str, Any]
    for name, fn, default in SECTIONS:
        try:
            facts[name] = fn(opts)
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
            facts[name] = default
            facts["errors"][name] = f"{exc.__class__.__name__}: {exc}"
    facts["duration_s"] = round(time.perf_counter() - t0, 3)
    return facts


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the `finally` blocks that remove test files


def main(argv: List[str]) -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    try:
        options = json.loads(argv[1]) if len(argv) > 1 and argv[1] else {}
        if not isinstance(options, dict):
            raise TypeError("options must be a JSON object")
    except (ValueError, TypeError) as exc:
        sys.stdout.write(json.dumps({"probe_version": PROBE_VERSION, "errors": {"options": str(exc)}}) + "\n")
        return 2
    facts = probe(options)
    sys.stdout.write(json.dumps(facts, default=str, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
