"""Node-local network judges: MTU and link speed of the primary interface, RDMA/EFA devices.
(Bandwidth and latency between nodes: validators/checks/network_pairwise.py.)

The primary interface is the one carrying the default route; without one, the fastest interface
that is up, physical before virtual. Loopback never counts. Virtual interfaces (veth, bridges)
are not excluded outright: inside a container or network namespace they ARE the node's network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policies.thresholds import Threshold
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import at_least, not_applicable, not_run, section_problem
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


@check("network.mtu")
def mtu(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    nic, early = _primary("network.mtu", facts, threshold)
    if early or nic is None:
        return early or not_run("network.mtu", "no primary interface", threshold=threshold)
    return at_least("network.mtu", nic.get("mtu"), threshold, what=f"MTU of {nic['name']}", unit=threshold.unit or "bytes", warn=False,
                    remediation=f"Set jumbo frames: `ip link set {nic['name']} mtu 9001` (AWS) / 9000, and persist it "
                                "(netplan/systemd-networkd); every hop and peer needs the same MTU.")


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
