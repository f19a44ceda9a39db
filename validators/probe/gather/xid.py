"""Kernel-log facts: NVIDIA GPU Xid and NVSwitch SXid events of this boot, each with its time.

Line formats, as the drivers print them:

* ``NVRM: Xid (PCI:0000:19:00): 48, pid=…, name=…, <message>`` (open-gpu-kernel-modules
  src/nvidia/src/kernel/gpu/rc/kernel_rc.c); on a MIG GPU the parenthesis also names the instance:
  ``(PCI:0000:3b:00 GPU-I:05)`` or ``(PCI:0000:3b:00 GPU-I:01 GPU-CI:02)``;
* Xid 154 states the recovery it needs: ``154, GPU recovery action changed from 0x0 (None) to
  0x2 (Node Reboot Required)``;
* ``nvidia-nvswitch3: SXid (PCI:0000:05:00.0): 12028, Non-fatal, Link 32 …`` (the NVSwitch
  driver; the severity is printed with the code).

Only this boot's events are kept (see ``_kernlog``); the judge applies the profile's window to
their timestamps. Per code the newest ``KEEP_PER_CODE`` events travel back with their counts.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Dict, Optional

from ._kernlog import BOOT_SLACK_S, boot_time, date_lines, kernel_ring, lines_with

SECTION = "xid"
DEFAULT = None

# codes are bounded (a line is data: a 5000-digit "code" is not one)
XID_RE = re.compile(r"NVRM: Xid \((?:PCI:)?([0-9a-fA-F:.]{1,16})(?: GPU-I:(\d{1,3}))?(?: GPU-CI:(\d{1,3}))?\):\s*(\d{1,5})(?!\d)")
SXID_RE = re.compile(r"(nvidia-nvswitch\d{1,3}):? SXid \((?:PCI:)?([0-9a-fA-F:.]{1,16})\):\s*(\d{1,6})(?!\d)(?:,\s*(Fatal|Non-fatal))?",
                     re.IGNORECASE)
RECOVERY_RE = re.compile(r"recovery action changed from\s+(0x[0-9a-fA-F]{1,8}|\d{1,6})\s*(?:\(([^)]{0,80})\))?\s+to\s+"
                         r"(0x[0-9a-fA-F]{1,8}|\d{1,6})(?![0-9a-fA-F])\s*(?:\(([^)]{0,80})\))?")
KEEP_PER_CODE = 10
MAX_LINE = 300
NVSWITCH_PROC = "/proc/driver/nvidia-nvswitch/devices"


def _code(text: str) -> int:
    return int(text, 16) if text.lower().startswith("0x") else int(text)


def _parse_event(line: str) -> Optional[Dict[str, Any]]:
    m = XID_RE.search(line)
    if m:
        event: Dict[str, Any] = {"kind": "xid", "xid": int(m.group(4)), "pci": m.group(1)}
        if m.group(2) is not None:
            event["gpu_instance"] = int(m.group(2))
        if m.group(3) is not None:
            event["compute_instance"] = int(m.group(3))
        r = RECOVERY_RE.search(line, m.end())
        if r:
            event["recovery_action"] = _code(r.group(3))
            event["recovery_text"] = (r.group(4) or "").strip()[:80]
        return event
    m = SXID_RE.search(line)
    if m:
        severity = (m.group(4) or "").lower()
        return {"kind": "sxid", "sxid": int(m.group(3)), "pci": m.group(2), "switch": m.group(1),
                "fatal": None if not severity else severity == "fatal"}
    return None


def parse_xid(text: str, btime: Optional[float] = None, now: Optional[float] = None,
              since_boot: bool = True) -> Dict[str, Any]:
    """Xid and SXid lines of a kernel log -> facts["xid"] minus the source fields.

    ``since_boot`` False (a log file spanning boots): lines dated before ``btime`` are counted in
    ``before_boot`` and dropped. Works on dmesg (raw, -T, --time-format=iso, --decode), /dev/kmsg
    records, journalctl short-unix and syslog lines alike."""
    now = time.time() if now is None else now
    groups: Dict[str, Dict[str, Any]] = {}
    before_boot = 0
    for ts, line in date_lines(lines_with(text, ("Xid",)), btime, now):
        event = _parse_event(line)
        if event is None:
            continue
        if not since_boot and ts is not None and btime is not None and ts < btime - BOOT_SLACK_S:
            before_boot += 1
            continue
        event["ts"] = ts
        event["line"] = line.strip()[:MAX_LINE]
        key = "{}:{}".format(event["kind"], event.get("xid", event.get("sxid")))
        group = groups.setdefault(key, {"count": 0, "events": []})
        group["count"] += 1
        group["events"].append(event)
        del group["events"][:-KEEP_PER_CODE]  # the newest few per code: a flood of Xid 13 can't hide an Xid 79
    counts = {k.split(":", 1)[1]: g["count"] for k, g in groups.items() if k.startswith("xid:")}
    sxid_counts = {k.split(":", 1)[1]: g["count"] for k, g in groups.items() if k.startswith("sxid:")}
    events = sorted((e for g in groups.values() for e in g["events"] if e["kind"] == "xid"),
                    key=lambda e: (e["ts"] is None, e["ts"] or 0))
    sxid_events = sorted((e for g in groups.values() for e in g["events"] if e["kind"] == "sxid"),
                         key=lambda e: (e["ts"] is None, e["ts"] or 0))
    for e in events + sxid_events:
        del e["kind"]
    return {
        "events": events, "counts": counts, "total": sum(counts.values()),
        "sxid_events": sxid_events, "sxid_counts": sxid_counts,
        "before_boot": before_boot, "boot_time": btime, "now": round(now, 3),
    }


def _nvswitches() -> Optional[int]:
    try:
        return len(os.listdir(NVSWITCH_PROC))
    except OSError:
        return None  # no NVSwitch driver loaded (PCIe or NVLink-bridge GPUs, or no GPU)


def gather(opts: Dict[str, Any]) -> Dict[str, Any]:
    ring = kernel_ring(opts)
    if ring["text"] is None:
        return {"readable": False, "source": None, "since_boot": True, "error": ring["error"],
                "events": [], "counts": {}, "total": 0, "sxid_events": [], "sxid_counts": {},
                "before_boot": 0, "boot_time": boot_time(), "now": round(time.time(), 3), "nvswitches": _nvswitches()}
    parsed = parse_xid(ring["text"], boot_time(), time.time(), since_boot=ring["since_boot"])
    parsed.update(readable=True, source=ring["source"], since_boot=ring["since_boot"], error=None, nvswitches=_nvswitches())
    return parsed
