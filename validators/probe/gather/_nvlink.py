"""Parsers for NVLink state: ``nvidia-smi nvlink -s`` (links per GPU), ``nvidia-smi nvlink -e`` (error
counters) and ``nvidia-smi topo -m`` (links between GPU pairs). Pure."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Set


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


NVLINK_ERROR_LINE = re.compile(r"^\s*Link (\d+):\s*(.+)$")
# `nvidia-smi nvlink -e` counter names -> the facts' categories (DCGM's NVLink health watch uses the
# same three: CRC flit/data, replay, recovery)
NVLINK_ERROR_KINDS = (("replay", ("replay errors",)), ("recovery", ("recovery errors", "link recovery failed events")),
                      ("crc", ("crc errors", "crc flit errors", "crc data errors")))


def parse_nvlink_errors(text: str) -> Dict[int, Dict[str, Any]]:
    """`nvidia-smi nvlink -e` -> {gpu index: {"replay", "recovery", "crc": summed over links (None when
    the driver prints none of that kind), "links": links seen}}. Accepts one counter per line
    ("Link 0: Replay Errors: 0") and several per line ("Link 1: Replay Errors: 142, CRC Errors: 891")."""
    out: Dict[int, Dict[str, Any]] = {}
    current: Optional[int] = None
    links: Set[str] = set()
    for line in text.splitlines():
        m = re.match(r"^GPU (\d+):", line)
        if m:
            current = int(m.group(1))
            out[current] = {"replay": None, "recovery": None, "crc": None, "links": 0}
            links = set()
            continue
        lm = NVLINK_ERROR_LINE.match(line)
        if current is None or not lm:
            continue
        links.add(lm.group(1))
        out[current]["links"] = len(links)
        for part in lm.group(2).split(","):
            name, _, value = part.partition(":")
            number = re.match(r"\s*(\d+)\s*$", value)
            if number is None:
                continue
            for kind, names in NVLINK_ERROR_KINDS:
                if name.strip().lower() in names:
                    out[current][kind] = (out[current][kind] or 0) + int(number.group(1))
    return out


ANSI = re.compile(r"\x1b\[[0-9;]*m")
DEVICE_COLUMN = re.compile(r"^(GPU\d+|NIC\d+|mlx\S+)$")


def parse_topo_matrix(text: str) -> Dict[int, Dict[int, int]]:
    """`nvidia-smi topo -m` -> {gpu: {peer gpu: NVLink links between them}} for the NV# cells only
    (PIX/PXB/NODE/SYS pairs are absent). Tabs or spaces, with or without nvidia-smi's ANSI
    underline around the header."""
    header: Optional[List[str]] = None
    out: Dict[int, Dict[int, int]] = {}
    for raw in text.splitlines():
        tokens = ANSI.sub("", raw).split()
        if header is None:
            if tokens and tokens[0] == "GPU0":
                header = []
                for token in tokens:
                    if not DEVICE_COLUMN.match(token):
                        break
                    header.append(token)
            continue
        if not tokens or not re.match(r"^GPU\d+$", tokens[0]):
            if out:
                break  # the legend after the matrix
            continue
        gpu = int(tokens[0][3:])
        peers = out.setdefault(gpu, {})
        for column, cell in zip(header, tokens[1:1 + len(header)]):
            nv = re.match(r"^NV(\d+)$", cell)
            if nv and column.startswith("GPU"):
                peers[int(column[3:])] = int(nv.group(1))
    return out
