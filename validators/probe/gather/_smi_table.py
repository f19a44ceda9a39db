"""Parser for plain ``nvidia-smi`` (the default table): the probe's last resort when ``-q -x`` and
``-q`` are unusable, and how operators paste a node's state into tickets. It carries less than
``-q``: name, persistence mode, bus id, volatile uncorrectable ECC, temperature, performance state,
memory, utilisation and MIG mode per GPU. Both table widths (drivers up to 525 and 530+). Pure."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from ._device import empty_device
from ._util import text_or_none, to_float, to_int

HEADER = re.compile(r"Driver Version:\s*(\S+)\s+CUDA Version:\s*(\S+)")
# "|   0  NVIDIA H100 80GB HBM3          Off |   00000000:19:00.0 Off |                    0 |"
ROW1 = re.compile(r"^\|\s*(\d+)\s+(.+?)\s+(On|Off)\s*\|\s*([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.\d)\s+\S+\s*\|\s*(\S+)\s*\|")
# "| N/A   38C    P0             70W /  700W |       1MiB /  81559MiB |      0%      Default |"
ROW2 = re.compile(r"^\|\s*(\S+)\s+(\S+)\s+(\S+)\s+.*?\|\s*(\d+)MiB\s*/\s*(\d+)MiB\s*\|\s*(\S+)\s+.*\|")
ROW3 = re.compile(r"^\|\s*\|\s*\|\s*(\S+(?: \S+)?)\s*\|")


def parse_nvidia_smi_table(text: str) -> Dict[str, Any]:
    """Default ``nvidia-smi`` output -> {driver_version, cuda_version, attached_gpus (None: the table
    does not say), devices, notes}. Raises ValueError when the text is not that table."""
    header = HEADER.search(text)
    if header is None:
        raise ValueError("not nvidia-smi's table (no 'Driver Version: … CUDA Version:' header)")
    devices: List[Dict[str, Any]] = []
    notes: List[str] = []
    current: Optional[Dict[str, Any]] = None
    row = 0
    for line in text.splitlines():
        if "MIG devices:" in line or "Processes:" in line:
            break  # the per-GPU table ends here
        m1 = ROW1.match(line)
        if m1:
            current = empty_device(int(m1.group(1)))
            current.update(name=m1.group(2).strip(), persistence_mode=m1.group(3) == "On", pci=m1.group(4))
            ecc = m1.group(5)
            current["ecc_uncorrected_volatile"] = to_int(ecc) if ecc.isdigit() else None
            devices.append(current)
            row = 2
            continue
        if current is None:
            continue
        m2 = ROW2.match(line) if row == 2 else None
        if m2:
            fan, temp, pstate = m2.group(1), m2.group(2), m2.group(3)
            if fan.upper().startswith("ERR"):
                notes.append(f"GPU {current['index']}: the fan reads {fan} in nvidia-smi")
            current["temperature_c"] = to_float(temp.rstrip("C")) if temp.endswith("C") else None
            current["performance_state"] = text_or_none(pstate)
            current["memory_total_mib"] = int(m2.group(5))
            util = m2.group(6)
            current["utilization_gpu_pct"] = to_int(util.rstrip("%")) if util.endswith("%") else None
            row = 3
            continue
        m3 = ROW3.match(line) if row == 3 else None
        if m3:
            current["mig_mode"] = text_or_none(m3.group(1))
            row = 0
    return {"driver_version": header.group(1), "cuda_version": header.group(2), "attached_gpus": None,
            "devices": devices, "notes": notes}
