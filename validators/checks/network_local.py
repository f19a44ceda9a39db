"""Node-local network judges: the MTU of the interfaces training crosses, link speed of the
primary interface, RDMA/EFA device count.
(Bandwidth and latency between nodes: validators/checks/network_pairwise.py.)

The primary interface is the one carrying the default route; without one, the fastest interface
that is up, physical before virtual. Loopback never counts. Virtual interfaces (veth, bridges)
are not excluded outright: inside a container or network namespace they ARE the node's network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policies.catalogue import rdma_catalogue
from policies.thresholds import Threshold
from validators.checks import _fabric
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import at_least, not_applicable, not_run, section_problem
from validators.checks.remedy import platform_kind
from validators.results import CheckResult

LOOPBACK_TYPE = 772


def primary_nic(nics: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    up = [n for n in nics if n.get("type") != LOOPBACK_TYPE and n.get("name") != "lo"
          and str(n.get("operstate")).lower() in ("up", "unknown")]
    if not up:
        return None
    routed = [n for n in up if n.get("default_route")]
    pool = routed or up
    return max(pool, key=lambda n: (not n.get("virtual"), n.get("speed_mbps") or 0, -len(str(n.get("name")))))


def _primary(check_id: str, facts: Facts, threshold: Threshold) -> tuple[Mapping[str, Any] | None, CheckResult | None]:
    problem = section_problem(facts, "nics")
    if problem:
        return None, not_run(check_id, problem, threshold=threshold)
    nic = primary_nic(facts["nics"])
    if nic is None:
        return None, not_run(check_id, "no network interface is up (besides loopback)", threshold=threshold)
    return nic, None


def _mtu_fix(facts: Facts, iface: str, bound: int) -> str:
    """How to raise an interface's MTU, in the words and numbers of the node's platform."""
    kind = platform_kind(facts)
    plat = rdma_catalogue().platform_mtu.get(kind)
    persist = "and persist it (netplan, NetworkManager or systemd-networkd)"
    if kind == "aws":
        return (f"`ip link set dev {iface} mtu 9001` {persist}; AWS allows 9001 within a VPC, 1500 through an internet gateway, "
                "VPN or inter-region peering.")
    if kind == "gcp":
        return ("Set the VPC network's MTU (`gcloud compute networks update NETWORK --mtu=8896`, 1300-8896) and restart the "
                "instances so DHCP gives it to them; every VM on the network gets the same MTU.")
    if kind == "azure" and plat is not None:
        return (f"`ip link set dev {iface} mtu {plat.max}` {persist}; Azure carries more than 1500 bytes only inside the virtual "
                f"network ({plat.max} on Mellanox accelerated networking).")
    return (f"`ip link set dev {iface} mtu {bound}` {persist}; every switch port and every peer on the path needs the same "
            "MTU or large packets are dropped.")


@check("network.mtu")
def mtu(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    """The MTU of the interfaces training traffic crosses. RoCE netdevs need room for a 4096-byte
    RoCE MTU; InfiniBand and EFA carry NCCL outside IP (verbs, SRD), so there the front end only
    carries storage and bootstrap traffic and a 1500 there is a note, or (EFA, where AWS allows
    9001 in the VPC) a warning. Without an RDMA fabric, training rides the front end, which must
    reach the profile's jumbo MTU as far as the platform allows (AWS 9001, Google Cloud 8896,
    Azure 3900 inside a VNet; bare metal: the profile's number)."""
    nic, early = _primary("network.mtu", facts, threshold)
    if early or nic is None:
        return early or not_run("network.mtu", "no primary interface", threshold=threshold)
    unit = threshold.unit or "bytes"
    plat = rdma_catalogue().platform_mtu.get(platform_kind(facts))
    want = int(threshold.min) if threshold.min is not None else None
    bound = min(want, plat.max) if want is not None and plat is not None else want
    training, _, fabric = _fabric.split(_fabric.ports(facts)) if facts.get("rdma") else ([], [], "none")
    front = f"front end {nic['name']} MTU {nic.get('mtu')}"
    if fabric == "roce":
        by_name = {n.get("name"): n for n in facts.get("nics") or []}
        netdevs = sorted({d for p in training for d in p.netdevs if d in by_name})
        if not netdevs:
            return not_run("network.mtu", f"RoCE ports ({_fabric.names(training)}) but none of their interfaces found in /sys/class/net",
                           threshold=threshold)
        floor = rdma_catalogue().roce_min_mtu
        low = [n for n in netdevs if (by_name[n].get("mtu") or 0) < floor]
        lowest = min(int(by_name[n].get("mtu") or 0) for n in netdevs)
        if low:
            return CheckResult.make(
                "network.mtu", "fail", f"RoCE interfaces below {floor}: " + ", ".join(f"{n} {by_name[n].get('mtu')}" for n in low[:8])
                + f" (RoCE then falls back to a 1024-byte or smaller RDMA MTU); {front}",
                measured=lowest, threshold=floor, unit=unit, remediation=_mtu_fix(facts, low[0], want or 9000))
        return CheckResult.make("network.mtu", "pass", f"{len(netdevs)} RoCE interfaces at MTU >= {floor} (lowest {lowest}: room for "
                                f"a 4096-byte RoCE MTU); {front}", measured=lowest, threshold=floor, unit=unit)
    if bound is None:
        return not_run("network.mtu", "the profile gives no minimum for network.mtu (set `min:`)", threshold=threshold)
    value = nic.get("mtu")
    if value is None:
        return not_run("network.mtu", f"MTU of {nic['name']} could not be read", threshold=threshold)
    where = f" (the platform allows {plat.max})" if plat is not None and plat.max < (want or 0) else ""
    if value >= bound:
        return CheckResult.make("network.mtu", "pass", f"MTU of {nic['name']}: {value} (>= {bound}{where})",
                                measured=value, threshold=bound, unit=unit)
    if fabric == "ib":
        ipoib = sorted({d for p in training for d in p.netdevs})
        return CheckResult.make("network.mtu", "pass", f"training traffic uses InfiniBand verbs, not IP; {front} (below {bound}: "
                                f"storage and bootstrap traffic only)" + (f"; IPoIB: {', '.join(ipoib[:8])}" if ipoib else ""),
                                measured=value, threshold=bound, unit=unit)
    fix = _mtu_fix(facts, nic["name"], bound)
    if fabric == "efa":
        return CheckResult.make("network.mtu", "warn", f"{front}, below {bound}{where}: NCCL traffic rides EFA (SRD, not IP), but "
                                "storage, data loading and bootstrap traffic use this interface", measured=value, threshold=bound,
                                unit=unit, remediation=fix)
    return CheckResult.make("network.mtu", "fail", f"MTU of {nic['name']}: {value}, needs >= {bound}{where}: without an RDMA "
                            "fabric, gradients cross this interface", measured=value, threshold=bound, unit=unit, remediation=fix)


@check("network.nic_speed")
def nic_speed(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    nic, early = _primary("network.nic_speed", facts, threshold)
    if early or nic is None:
        return early or not_run("network.nic_speed", "no primary interface", threshold=threshold)
    speed = nic.get("speed_mbps")
    if speed is None:
        return not_applicable("network.nic_speed", f"{nic['name']} does not report a link speed (virtual NIC, e.g. ENA/virtio); "
                              "network.bandwidth measures the real rate", threshold=threshold)
    return at_least("network.nic_speed", round(speed / 1000, 3), threshold, what=f"link speed of {nic['name']}", unit=threshold.unit or "Gbps",
                    warn=False, remediation="Use an instance type / NIC with a faster link, or check for a link negotiated down (cable, switch port).")


@check("network.rdma")
def rdma(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    problem = section_problem(facts, "rdma")
    if problem:
        return not_run("network.rdma", problem, threshold=threshold)
    info = facts["rdma"]
    devices = info.get("devices") or []
    active = [d for d in devices if any(str(p.get("state")).upper() == "ACTIVE" for p in d.get("ports") or [])]
    down_ports = [f"{d['name']} port {p.get('port')} {p.get('state')}" for d in devices for p in d.get("ports") or []
                  if str(p.get("state")).upper() != "ACTIVE"]
    efa = info.get("efa") or {}
    efa_count = int(efa.get("providers") or 0) if efa.get("source") == "fi_info" else 0
    measured = max(len(active), efa_count)
    floor = int(threshold.min or 0)
    source = "profile minimum"
    if ctx.instance is not None and ctx.instance.efa_interfaces > floor:
        floor, source = ctx.instance.efa_interfaces, f"{ctx.instance.name} catalogue (EFA interfaces)"
    if floor == 0:
        return not_applicable("network.rdma", "no RDMA devices expected", threshold=threshold)
    result = at_least("network.rdma", measured, threshold, what="active RDMA/EFA devices", floor=floor, warn=False,
                      unit=threshold.unit or "devices",
                      remediation="Launch with EFA interfaces (EFA-enabled instance, `interface_type=efa` in the launch template, "
                                  "EFA installer on the AMI) or bring up the InfiniBand ports (`ibstat`, subnet manager).")
    detail = f"{measured} active RDMA/EFA devices, expected {floor} ({source})"
    if efa_count:
        detail += f"; fi_info lists {efa_count} EFA endpoints"
    if down_ports:
        detail += f"; not active: {', '.join(down_ports[:6])}"
    if not devices and not efa_count:
        detail += "; no /sys/class/infiniband devices"
    if down_ports and result.status == "pass":
        return result.model_copy(update={"status": "warn", "message": detail})
    return result.model_copy(update={"message": detail})
