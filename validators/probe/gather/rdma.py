"""RDMA facts: InfiniBand, RoCE and EFA devices and ports (state, trained rate and width, error
counters) from sysfs, else ``ibstat``; EFA endpoints from ``fi_info -p efa``; link flaps of the
IPoIB / RoCE interfaces from the kernel and system logs.

sysfs layout (Linux Documentation/ABI/stable/sysfs-class-infiniband)::

    /sys/class/infiniband/<dev>/hca_type, board_id, fw_ver, device/driver, device/net/<netdev>
    /sys/class/infiniband/<dev>/ports/<n>/state       "4: ACTIVE"
                                          phys_state  "5: LinkUp"
                                          rate        "400 Gb/sec (4X NDR)"
                                          link_layer  "InfiniBand" | "Ethernet" (RoCE) | "Unknown" (EFA:
                                                      IB_LINK_LAYER_UNSPECIFIED, which
                                                      core/sysfs.c link_layer_show prints so;
                                                      ibv_devinfo says "Unspecified")
                                          counters/<name>     PMA port counters (symbol_error …)
                                          hw_counters/<name>  driver statistics (EFA: rx_drops …)
"""

from __future__ import annotations

import os
import re
import shutil
import time
from typing import Any, Dict, List, Optional, Tuple

from ._kernlog import BOOT_SLACK_S, boot_time, date_lines, kernel_ring, lines_with, system_log
from ._util import read_file, run_cmd, to_int

SECTION = "rdma"
DEFAULT = None

# the PMA PortCounters ibqueryerrors judges (infiniband-diags error_thresholds); port_xmit_wait is
# congestion, not an error, and is not read
PORT_COUNTERS = (
    "symbol_error", "link_error_recovery", "link_downed", "port_rcv_errors", "port_rcv_remote_physical_errors",
    "port_rcv_switch_relay_errors", "port_xmit_discards", "port_xmit_constraint_errors", "port_rcv_constraint_errors",
    "local_link_integrity_errors", "excessive_buffer_overrun_errors", "VL15_dropped",
)
EFA_COUNTERS = ("rx_drops", "retrans_timeout_events")
FI_INFO_PATHS = ("fi_info", "/opt/amazon/efa/bin/fi_info")  # the EFA installer's bin is not on a login shell's PATH
RATE_RE = re.compile(r"^\s*(\d{1,6}(?:\.\d{1,3})?)\s*Gb/sec(?:\s*\((\d{1,2})X\s*([A-Z0-9]{1,8})\))?")
# carrier lost on an interface: systemd-networkd and NetworkManager in the system log, the mlx5
# driver (RoCE netdevs) in the kernel log. Each log is searched for its own writers only: a syslog
# file also holds the kernel's lines, which the kernel log already counted.
DAEMON_FLAPS = ((re.compile(r"(?:systemd-networkd\S*|networkd\S*):\s+([^\s:]{1,16}): [Ll]ost carrier"), "ost carrier"),
                (re.compile(r"device \(([^\s)]{1,16})\): state change: \S+ -> unavailable \(reason 'carrier-changed'"), "carrier-changed"))
KERNEL_FLAPS = ((re.compile(r"mlx5_core \S+ ([^\s:]{1,16}): Link down"), "Link down"),)
KEEP_FLAPS = 10
MAX_FIELD = 64  # sysfs and ibstat strings travel back as data; none is longer on a real HCA


def parse_rate(text: Optional[str]) -> Tuple[Optional[float], Optional[str], Optional[str]]:
    """'400 Gb/sec (4X NDR)' -> (400.0, '4X', 'NDR'); ibstat's bare '400' -> (400.0, None, None)."""
    if not text:
        return None, None, None
    m = RATE_RE.match(text)
    if m:
        return float(m.group(1)), (m.group(2) + "X") if m.group(2) else None, m.group(3)
    m = re.match(r"^\s*(\d{1,6}(?:\.\d{1,3})?)\s*$", text)
    return (float(m.group(1)) if m else None), None, None


def _state(text: Optional[str]) -> Optional[str]:
    """'4: ACTIVE' -> 'ACTIVE', '5: LinkUp' -> 'LinkUp' (ibstat prints the name alone)."""
    if not text:
        return None
    return text.split(":", 1)[-1].strip()[:MAX_FIELD] or None


def _field(text: Optional[str]) -> Optional[str]:
    return text[:MAX_FIELD] if text else None


def parse_fi_info(text: str) -> Dict[str, Any]:
    """`fi_info -p efa -t FI_EP_RDM` -> {providers: n, domains: [...]}: the EFA devices libfabric
    offers an RDM endpoint on. libfabric 2.x (EFA installer 1.38+) lists each device twice, once
    per RDM fabric (``efa`` and ``efa-direct``, same domain ``rdmapXsY-rdm``: libfabric's
    prov/efa/src/efa_prov_info.c copies the device's rdm_info), so devices are counted by domain."""
    domains: List[str] = []
    provider = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("provider:"):
            provider = s.split(":", 1)[1].strip()
        elif s.startswith("domain:") and provider == "efa":
            domain = s.split(":", 1)[1].strip()[:MAX_FIELD]
            if domain and domain not in domains:
                domains.append(domain)
    return {"providers": len(domains), "domains": domains}


def parse_ibstat(text: str) -> List[Dict[str, Any]]:
    """`ibstat` -> [{name, hca_type, ports: [{port, state, phys_state, rate_gbps, link_layer}]}].
    Lines such as 'ibpanic: …' after a failure are ignored (the devices listed before it are kept;
    :func:`ibstat_problem` says the listing is incomplete)."""
    devices: List[Dict[str, Any]] = []
    port: Optional[Dict[str, Any]] = None
    for line in text.splitlines():
        m = re.match(r"^CA '([^']{1,64})'", line)
        if m:
            devices.append({"name": m.group(1), "driver": None, "hca_type": None, "ports": []})
            port = None
            continue
        if not devices:
            continue
        s = line.strip()
        pm = re.match(r"^Port (\d+):$", s)
        if pm:
            port = {"port": int(pm.group(1)), "state": None, "phys_state": None, "rate_gbps": None,
                    "width": None, "speed": None, "link_layer": None}
            devices[-1]["ports"].append(port)
            continue
        key, _, value = s.partition(":")
        value = value.strip()
        if port is None:
            if key == "CA type":
                devices[-1]["hca_type"] = _field(value)
            continue
        if key == "State":
            port["state"] = _field(value.upper())
        elif key == "Physical state":
            port["phys_state"] = _field(value)
        elif key == "Rate":
            port["rate_gbps"] = parse_rate(value)[0]
        elif key == "Link layer":
            port["link_layer"] = _field(value)
    return devices


def ibstat_problem(text: str, rc: Optional[int]) -> Optional[str]:
    """Why an ibstat listing can't be trusted as complete, or None."""
    panic = next((line.strip() for line in text.splitlines() if line.strip().startswith("ibpanic:")), None)
    if panic:
        return f"ibstat stopped part-way ({panic[:200]}): the devices after it are missing"
    if rc != 0:
        return f"ibstat exited {rc}"
    return None


def _counters(pdir: str, sub: str, names: Tuple[str, ...]) -> Dict[str, int]:
    out = {}
    for name in names:
        value = to_int(read_file(os.path.join(pdir, sub, name)))
        if value is not None:
            out[name] = value
    return out


def read_sysfs(base: str) -> List[Dict[str, Any]]:
    devices = []
    for name in sorted(os.listdir(base)):
        ddir = os.path.join(base, name)
        ports = []
        ports_dir = os.path.join(ddir, "ports")
        names = sorted(os.listdir(ports_dir), key=lambda p: int(p) if p.isdigit() else 0) if os.path.isdir(ports_dir) else []
        driver = os.path.basename(os.path.realpath(os.path.join(ddir, "device", "driver"))) or None
        for port in names:
            pdir = os.path.join(ports_dir, port)
            rate, width, speed = parse_rate(read_file(os.path.join(pdir, "rate")))
            entry: Dict[str, Any] = {
                "port": to_int(port),
                "state": (_state(read_file(os.path.join(pdir, "state"))) or "").upper() or None,
                "phys_state": _state(read_file(os.path.join(pdir, "phys_state"))),
                "rate_gbps": rate, "width": width, "speed": speed,
                "link_layer": _field(read_file(os.path.join(pdir, "link_layer"))),
                "counters": _counters(pdir, "counters", PORT_COUNTERS),
            }
            if driver == "efa":
                entry["hw_counters"] = _counters(pdir, "hw_counters", EFA_COUNTERS)
            ports.append(entry)
        try:
            netdevs = sorted(os.listdir(os.path.join(ddir, "device", "net")))
        except OSError:
            netdevs = []
        devices.append({
            "name": name, "driver": driver if driver != "driver" else None,
            "hca_type": _field(read_file(os.path.join(ddir, "hca_type"))), "board_id": _field(read_file(os.path.join(ddir, "board_id"))),
            "fw_ver": _field(read_file(os.path.join(ddir, "fw_ver"))), "netdevs": netdevs[:16], "ports": ports,
        })
    return devices


def parse_flaps(text: str, interfaces: List[str], btime: Optional[float], now: float, since_boot: bool,
                patterns: Tuple[Tuple[Any, str], ...] = DAEMON_FLAPS + KERNEL_FLAPS) -> Dict[str, Any]:
    """Carrier losses of the given interfaces (and any ``ibN``) -> {counts, events, before_boot}."""
    wanted = set(interfaces)
    counts: Dict[str, int] = {}
    events: Dict[str, List[Dict[str, Any]]] = {}
    before_boot = 0
    for ts, line in date_lines(lines_with(text, tuple(needle for _, needle in patterns)), btime, now):
        iface = next((m.group(1) for m in (r.search(line) for r, _ in patterns) if m), None)
        if iface is None or not (iface in wanted or re.match(r"^ib\d+$", iface)):
            continue
        if not since_boot and ts is not None and btime is not None and ts < btime - BOOT_SLACK_S:
            before_boot += 1
            continue
        counts[iface] = counts.get(iface, 0) + 1
        kept = events.setdefault(iface, [])
        kept.append({"iface": iface, "ts": ts, "line": line.strip()[:300]})
        del kept[:-KEEP_FLAPS]
    return {"counts": counts, "events": [e for kept in events.values() for e in kept], "before_boot": before_boot}


def _flaps(opts: Dict[str, Any], interfaces: List[str]) -> Dict[str, Any]:
    now, btime = time.time(), boot_time()
    texts, sources, errors = [], [], []
    since_boot = True
    for log, patterns in ((kernel_ring(opts), KERNEL_FLAPS), (system_log(opts, ["systemd-networkd", "NetworkManager"]), DAEMON_FLAPS)):
        if log["text"] is None:
            errors.append(log["error"])
            continue
        texts.append((log["text"], log["since_boot"], patterns))
        sources.append(log["source"])
        since_boot = since_boot and log["since_boot"]
    result: Dict[str, Any] = {"counts": {}, "events": [], "before_boot": 0}
    for text, in_boot, patterns in texts:
        part = parse_flaps(text, interfaces, btime, now, in_boot, patterns)
        for iface, n in part["counts"].items():
            result["counts"][iface] = result["counts"].get(iface, 0) + n
        result["events"] += part["events"]
        result["before_boot"] += part["before_boot"]
    result.update(sources=sources, since_boot=since_boot, error="; ".join(e for e in errors if e) or None,
                  interfaces=sorted(set(interfaces)), now=round(now, 3), boot_time=btime)
    return result


def _efa(devices: List[Dict[str, Any]], timeout: float) -> Dict[str, Any]:
    efa_devs = [d for d in devices if d.get("driver") == "efa"]
    efa: Dict[str, Any] = {"present": bool(efa_devs), "providers": len(efa_devs), "domains": [],
                           "source": "sysfs" if efa_devs else None}
    if not efa_devs:
        return efa  # fi_info costs ~0.5 s and can only find what the efa driver exposes
    exe = next((p for p in FI_INFO_PATHS if shutil.which(p)), None)
    if exe is None:
        efa["fi_info_error"] = "fi_info not found (PATH, /opt/amazon/efa/bin): libfabric's EFA provider not installed?"
        return efa
    rc, out, err = run_cmd([exe, "-p", "efa", "-t", "FI_EP_RDM"], timeout)
    if rc == 0:
        parsed = parse_fi_info(out)
        efa.update(providers=parsed["providers"], domains=parsed["domains"], source="fi_info")
    else:
        efa["fi_info_error"] = (err or out).strip()[:200] or f"fi_info exited {rc}"
    return efa


def gather(opts: Dict[str, Any]) -> Dict[str, Any]:
    timeout = float(opts["step_timeout_s"])
    base = (opts.get("host_root") or "") + "/sys/class/infiniband"
    devices: List[Dict[str, Any]] = []
    source = None
    error = None
    if os.path.isdir(base):
        source = "sysfs"
        devices = read_sysfs(base)
    elif shutil.which("ibstat"):
        rc, out, err = run_cmd(["ibstat"], timeout)
        devices = parse_ibstat(out + "\n" + err)
        source = "ibstat"
        error = (err.strip()[:200] or "ibstat failed") if rc is None else ibstat_problem(out + "\n" + err, rc)
    facts: Dict[str, Any] = {"devices": devices, "source": source, "error": error, "efa": _efa(devices, timeout), "flaps": None}
    netdevs = [n for d in devices if d.get("driver") != "efa" for n in d.get("netdevs") or []]
    if any(d.get("driver") != "efa" for d in devices):
        facts["flaps"] = _flaps(opts, netdevs)
    return facts
