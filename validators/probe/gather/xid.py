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
from collections import Counter
from typing import Any, Dict, Iterator, List, Optional

from ._kernlog import (
    BOOT_SLACK_S,
    boot_time,
    dated_newest_first,
    kernel_ring,
    local_time,
    newest_first,
    stamp,
)

SECTION = "xid"
DEFAULT = None

# codes are bounded (a line is data: a 5000-digit "code" is not one)
XID_RE = re.compile(r"NVRM: Xid \((?:PCI:)?([0-9a-fA-F:.]{1,16})(?: GPU-I:(\d{1,3}))?(?: GPU-CI:(\d{1,3}))?\):\s*(\d{1,5})(?!\d)")
SXID_RE = re.compile(r"(nvidia-nvswitch\d{1,3}):? SXid \((?:PCI:)?([0-9a-fA-F:.]{1,16})\):\s*(\d{1,6})(?!\d)(?:,\s*(Fatal|Non-fatal))?",
                     re.IGNORECASE)
RECOVERY_RE = re.compile(r"recovery action changed from\s+(0x[0-9a-fA-F]{1,8}|\d{1,6})\s*(?:\(([^)]{0,80})\))?\s+to\s+"
                         r"(0x[0-9a-fA-F]{1,8}|\d{1,6})(?![0-9a-fA-F])\s*(?:\(([^)]{0,80})\))?")
# the same lines, capturing only the code: counted by findall + Counter, at C speed (a flood of
# 100k Xid lines is counted in a fraction of a second)
XID_CODE_RE = re.compile(r"NVRM: Xid \((?:PCI:)?[0-9a-fA-F:.]{1,16}(?: GPU-I:\d{1,3})?(?: GPU-CI:\d{1,3})?\):\s*(\d{1,5})(?!\d)")
SXID_CODE_RE = re.compile(r"nvidia-nvswitch\d{1,3}:? SXid \((?:PCI:)?[0-9a-fA-F:.]{1,16}\):\s*(\d{1,6})(?!\d)")
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


def _count(regex: re.Pattern[str], text: str) -> int:
    return len(regex.findall(text)) if text else 0


def _undated_year(partial: tuple, now: float) -> Optional[float]:
    """An RFC 3164 stamp of this boot: this year's, unless that is in the future."""
    year = time.localtime(now).tm_year
    ts = local_time(year, *partial)
    return local_time(year - 1, *partial) if ts is not None and ts > now + 86400 else ts


def parse_xid(text: str, btime: Optional[float] = None, now: Optional[float] = None,
              since_boot: bool = True) -> Dict[str, Any]:
    """Xid and SXid lines of a kernel log -> facts["xid"] minus the source fields.

    ``since_boot`` False (a log file spanning boots): lines dated before ``btime`` are counted in
    ``before_boot`` and dropped. Works on dmesg (raw, -T, --time-format=iso, --decode), /dev/kmsg
    records, journalctl short-unix and syslog lines alike. Codes are counted by one findall over the
    matching lines; only the newest few per code are parsed and dated (a log file spanning boots is
    dated back to the boot, no further)."""
    now = time.time() if now is None else now
    cut = 0  # where this boot starts in ``text``
    if not since_boot and btime is not None:
        offsets: List[int] = []

        def lines() -> Iterator[str]:
            for offset, line in newest_first(text, "Xid"):
                offsets.append(offset)
                yield line

        for ts, line in dated_newest_first(lines(), btime, now):
            if ts is not None and ts < btime - BOOT_SLACK_S:
                cut = offsets[-1] + len(line)  # log order: this line and every older one are from earlier boots
                break
    older, this_boot = text[:cut], text[cut:]
    before_boot = _count(XID_CODE_RE, older) + _count(SXID_CODE_RE, older)
    totals: Dict[str, int] = {}
    for kind, regex, marker in (("xid", XID_CODE_RE, "NVRM: Xid"), ("sxid", SXID_CODE_RE, "SXid")):
        if marker in this_boot:  # a clean log costs one substring search per kind
            for code, n in Counter(regex.findall(this_boot)).items():
                key = f"{kind}:{int(code)}"
                totals[key] = totals.get(key, 0) + n
    # the newest few events per code (a flood of Xid 13 can't hide an Xid 79), dated one by one
    groups: Dict[str, Dict[str, Any]] = {k: {"count": n, "events": []} for k, n in totals.items()}
    missing = sum(min(n, KEEP_PER_CODE) for n in totals.values())
    for _, line in newest_first(this_boot, "Xid"):
        if not missing:
            break
        event = _parse_event(line)
        if event is None:
            continue
        group = groups.get("{}:{}".format(event["kind"], event.get("xid", event.get("sxid"))))
        if group is None or len(group["events"]) >= KEEP_PER_CODE:  # (the counting regexes match the same lines)
            continue
        ts, partial = stamp(line, btime)
        event["ts"] = _undated_year(partial, now) if ts is None and partial else ts
        event["line"] = line.strip()[:MAX_LINE]
        group["events"].append(event)
        missing -= 1
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
