"""What RDMA fabric a node trains over, which of its ports carry it, and what they should be.

The training fabric is InfiniBand when the node has InfiniBand ports; otherwise RoCE on the
fastest model of Ethernet RDMA NIC (on an H100 node with 8x 400G ConnectX-7 and 4x 100G
ConnectX-6 Dx, the 400G ones are the GPU rails; the 100G ones carry storage and the front end);
otherwise EFA. Ports of the same NIC model on one node train alike: one that runs slower than its
siblings (HDR among NDR, 1X among 4X) has a bad cable, transceiver or switch port, whatever the
expectation.

The expectation, strongest first: the inventory (``expect: {fabric: ib_ndr400, rdma_ports: 8}``),
the profile line (``expect: ib_ndr400``), the catalogue row of the node's instance type
(``policies/data/rdma.yaml`` instances, e.g. Azure ND H100 v5: 8x NDR 400). Without one, the
siblings rule alone judges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.catalogue import InstanceFabric, RdmaFabric, rdma_catalogue
from policies.thresholds import Threshold
from validators.checks.base import CheckContext, Facts


@dataclass(frozen=True)
class Port:
    device: str
    port: int | None
    driver: str | None
    hca_type: str | None
    state: str | None
    phys_state: str | None
    rate_gbps: float | None
    width: str | None
    speed: str | None
    link_layer: str | None
    netdevs: tuple[str, ...]
    counters: Mapping[str, Any] = field(default_factory=dict)
    hw_counters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.device} port {self.port}"

    @property
    def efa(self) -> bool:
        return self.driver == "efa"

    @property
    def active(self) -> bool:
        return (self.state or "").upper() == "ACTIVE" and (self.phys_state in (None, "LinkUp"))

    @property
    def trained(self) -> str:
        """'400 Gb/s (4X NDR)' as the kernel says it, for messages."""
        rate = "?" if self.rate_gbps is None else f"{self.rate_gbps:g}"
        detail = " ".join(x for x in (self.width, self.speed) if x)
        return f"{rate} Gb/s" + (f" ({detail})" if detail else "")


def names(ports: Sequence[Port], limit: int = 6) -> str:
    shown = ", ".join(p.name for p in ports[:limit])
    return shown + (f" and {len(ports) - limit} more" if len(ports) > limit else "")


def ports(facts: Facts) -> list[Port]:
    out = []
    for dev in (facts.get("rdma") or {}).get("devices") or []:
        if not isinstance(dev, Mapping):
            continue
        for p in dev.get("ports") or []:
            if not isinstance(p, Mapping):
                continue
            out.append(Port(
                device=str(dev.get("name")), port=p.get("port"), driver=dev.get("driver"), hca_type=dev.get("hca_type"),
                state=p.get("state"), phys_state=p.get("phys_state"), rate_gbps=p.get("rate_gbps"), width=p.get("width"),
                speed=p.get("speed"), link_layer=p.get("link_layer"), netdevs=tuple(dev.get("netdevs") or ()),
                counters=p.get("counters") or {}, hw_counters=p.get("hw_counters") or {},
            ))
    return out


def _model(p: Port) -> tuple[str, str]:
    return (p.hca_type or p.device.rstrip("0123456789"), p.link_layer or "?")


def split(all_ports: Sequence[Port]) -> tuple[list[Port], list[Port], str]:
    """(training ports, other RDMA ports, the training fabric: "ib" | "roce" | "efa" | "none")."""
    verbs = [p for p in all_ports if not p.efa]
    ib = [p for p in verbs if p.link_layer == "InfiniBand"]
    if ib:
        return ib, [p for p in verbs if p.link_layer != "InfiniBand"], "ib"
    if verbs:
        best: dict[tuple[str, str], float] = {}
        for p in verbs:
            if p.active and p.rate_gbps:
                best[_model(p)] = max(best.get(_model(p), 0.0), p.rate_gbps)
        if not best:
            return verbs, [], "roce"
        top = max(best.values())
        rails = [p for p in verbs if best.get(_model(p)) == top]
        return rails, [p for p in verbs if p not in rails], "roce"
    if any(p.efa for p in all_ports):
        return [p for p in all_ports if p.efa], [], "efa"
    return [], [], "none"


def sibling_rate(p: Port, group: Sequence[Port]) -> float | None:
    """The rate the active ports of the same NIC model train at (their best), or None."""
    rates = [q.rate_gbps for q in group if q is not p and _model(q) == _model(p) and q.active and q.rate_gbps]
    return max(rates) if rates else None


def instance_name(facts: Facts, ctx: CheckContext) -> str | None:
    if ctx.expect.get("instance_type"):
        return str(ctx.expect["instance_type"])
    if ctx.instance is not None:
        return ctx.instance.name
    platform = (facts.get("system") or {}).get("platform") or {}
    name = platform.get("instance_type") if isinstance(platform, Mapping) else None
    return name if isinstance(name, str) else None


def instance_fabric(facts: Facts, ctx: CheckContext) -> tuple[str, InstanceFabric] | None:
    name = instance_name(facts, ctx)
    row = rdma_catalogue().instances.get(name) if name else None
    return (name, row) if name and row else None


@dataclass(frozen=True)
class Expectation:
    name: str
    fabric: RdmaFabric
    ports: int | None
    source: str


def expectation(facts: Facts, threshold: Threshold, ctx: CheckContext) -> Expectation | None:
    fabrics = rdma_catalogue().fabrics
    wanted = ctx.expect.get("fabric")
    if isinstance(wanted, str) and wanted in fabrics:
        ports_n = ctx.expect.get("rdma_ports")
        return Expectation(wanted, fabrics[wanted], int(ports_n) if isinstance(ports_n, int) else None, "inventory expect.fabric")
    if isinstance(threshold.expect, str) and threshold.expect in fabrics:
        return Expectation(threshold.expect, fabrics[threshold.expect], None, "profile")
    found = instance_fabric(facts, ctx)
    if found and found[1].fabric in fabrics:
        name, row = found
        return Expectation(row.fabric, fabrics[row.fabric], row.ports, f"{name} catalogue")
    return None
