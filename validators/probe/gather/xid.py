"""Kernel-log facts: NVRM Xid events from ``dmesg``, else ``/dev/kmsg``, else the syslog files."""

from __future__ import annotations

import errno
import os
import re
from typing import Any, Dict, List, Optional

from ._util import MIB, run_cmd

SECTION = "xid"
DEFAULT = None


XID_RE = re.compile(r"NVRM: Xid \((?:PCI:)?([0-9a-fA-F:.]+)\):\s*(\d+)")
MAX_XID_EVENTS = 50


def parse_xid(text: str) -> Dict[str, Any]:
    """NVRM Xid lines -> {events (first MAX_XID_EVENTS), counts {xid: n}, total}. Works on dmesg,
    dmesg -T / --time-format=iso, /dev/kmsg records and syslog lines alike."""
    events: List[Dict[str, Any]] = []
    counts: Dict[str, int] = {}
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


def gather(opts: Dict[str, Any]) -> Dict[str, Any]:
    timeout = float(opts["step_timeout_s"])
    reasons = []
    text: Optional[str] = None
    source: Optional[str] = None
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
