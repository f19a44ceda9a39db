"""RDMA facts: InfiniBand/RoCE/EFA devices from sysfs (else ``ibstat``) and EFA endpoints from
``fi_info -p efa``."""

from __future__ import annotations

import os
import re
import shutil
from typing import Any, Dict, List, Optional

from ._util import read_file, run_cmd, to_float, to_int

SECTION = "rdma"
DEFAULT = None


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
    devices: List[Dict[str, Any]] = []
    port: Optional[Dict[str, Any]] = None
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


def gather(opts: Dict[str, Any]) -> Dict[str, Any]:
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
                state = read_file(os.path.join(pdir, "state")) or ""
                ports.append({
                    "port": to_int(port),
                    "state": state.split(":", 1)[-1].strip().upper() or None,  # "4: ACTIVE"
                    "rate_gbps": to_float(read_file(os.path.join(pdir, "rate"))),  # "400 Gb/sec (4X NDR)"
                    "link_layer": read_file(os.path.join(pdir, "link_layer")),
                })
            driver = os.path.basename(os.path.realpath(os.path.join(base, name, "device", "driver")))
            devices.append({"name": name, "driver": driver or None, "ports": ports})
    elif shutil.which("ibstat"):
        rc, out, err = run_cmd(["ibstat"], timeout)
        devices = parse_ibstat(out)
        source = "ibstat" if devices else None
    efa: Dict[str, Any] = {"present": any(d.get("driver") == "efa" for d in devices), "providers": 0, "domains": [], "source": None}
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
