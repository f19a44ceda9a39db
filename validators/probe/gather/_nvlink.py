"""Parser for ``nvidia-smi nvlink -s`` (link state and speed per GPU)."""

from __future__ import annotations

import re
from typing import Any, Dict, Optional


def parse_nvlink_status(text: str) -> Dict[int, Dict[str, Any]]:
    """`nvidia-smi nvlink -s` -> {gpu index: {total, active, note}}. 'all links are inactive'
    -> active 0, total unknown; MIG -> note, counts unknown; a GPU with no link lines -> 0/0."""
    out: Dict[int, Dict[str, Any]] = {}
    current: Optional[int] = None
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
