"""Network interface facts from ``/sys/class/net`` (speed, MTU, state, type) and the default route."""

from __future__ import annotations

import os
from typing import Any, Dict, List

from ._util import read_file, to_int

SECTION = "nics"
DEFAULT: List[Dict[str, Any]] = []


def _default_route_ifaces() -> List[str]:
    names = []
    for line in (read_file("/proc/net/route") or "").splitlines()[1:]:
        f = line.split()
        if len(f) > 7 and f[1] == "00000000" and f[7] == "00000000":
            names.append(f[0])
    for line in (read_file("/proc/net/ipv6_route") or "").splitlines():
        f = line.split()
        if len(f) == 10 and f[0] == "0" * 32 and f[1] == "00" and f[9] != "lo":
            names.append(f[9])
    return names


def gather(opts: Dict[str, Any]) -> List[Dict[str, Any]]:
    base = "/sys/class/net"
    defaults = set(_default_route_ifaces())
    nics = []
    for name in sorted(os.listdir(base)):
        path = os.path.join(base, name)
        speed = to_int(read_file(os.path.join(path, "speed")))  # EINVAL while down -> None
        nics.append({
            "name": name,
            "speed_mbps": speed if speed is not None and speed > 0 else None,
            "mtu": to_int(read_file(os.path.join(path, "mtu"))),
            "operstate": read_file(os.path.join(path, "operstate")),
            "address": read_file(os.path.join(path, "address")),
            "type": to_int(read_file(os.path.join(path, "type"))),  # 1 ether, 32 infiniband, 772 loopback
            "virtual": os.path.realpath(path).startswith("/sys/devices/virtual/"),
            "default_route": name in defaults,
        })
    return nics
