"""What healthy hardware of a node's kind measures in the fabric tests, from the catalogue
(policies/data/fabric.yaml via policies/catalogue.py): the NCCL busbw within a node (per GPU
model and count), across nodes (per instance type) and the RDMA line rate per NIC. None when the
catalogue does not know the hardware: the judges then fall back to the profile's floor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from policies.catalogue import instance


class Expectation(Protocol):
    busbw_gbs: float
    at_bytes: int
    source: str


def _catalogue() -> Any:
    """policies.catalogue's fabric functions, or None on a build without them."""
    import policies.catalogue as cat

    return cat if hasattr(cat, "intranode_busbw") else None


def gpu_model(facts: Mapping[str, Any], instance_type: str | None, expected: str | None = None) -> str | None:
    """The node's GPU model in the catalogue's words (A100, H100, H200): the inventory's
    expectation, the instance type's, else the one the GPU names contain."""
    if expected:
        return expected
    row = instance(instance_type) if instance_type else None
    if row is not None:
        return row.gpu_model
    names = {str(d.get("name") or "") for d in ((facts.get("gpu") or {}).get("devices") or []) if isinstance(d, Mapping)}
    for model in ("H200", "H100", "A100"):  # the models the catalogue has NCCL figures for
        if names and all(model.casefold() in n.casefold() for n in names):
            return model
    return None


def intranode(facts: Mapping[str, Any], instance_type: str | None, expected_model: str | None = None) -> Expectation | None:
    cat = _catalogue()
    devices = (facts.get("gpu") or {}).get("devices")
    model = gpu_model(facts, instance_type, expected_model)
    if cat is None or model is None or not isinstance(devices, list):
        return None
    return cat.intranode_busbw(model, len(devices))


def internode(instance_types: Sequence[str | None]) -> Expectation | None:
    """Across nodes of ``instance_types``: the catalogue's figure when they all share one known type."""
    cat = _catalogue()
    types = set(instance_types)
    if cat is None or len(types) != 1:
        return None
    only = types.pop()
    return cat.internode_busbw(only) if only else None


def rdma_link_gbps(facts: Mapping[str, Any], instance_type: str | None) -> float | None:
    """Line rate of one NIC of the node's fabric: the active InfiniBand/RoCE port's rate (HDR 200,
    NDR 400), or EFA's per-interface share of the instance's network bandwidth."""
    cat = _catalogue()
    if cat is None:
        return None
    rdma = facts.get("rdma") or {}
    if (rdma.get("efa") or {}).get("present"):
        row = instance(instance_type) if instance_type else None
        if row is None or not row.efa_interfaces:
            return None
        per_nic = row.network_gbps / row.efa_interfaces
        return cat.rdma_link_gbps("efa_200g" if per_nic >= 200 else "efa_100g")
    for dev in rdma.get("devices") or []:
        for port in dev.get("ports") or []:
            rate = port.get("rate_gbps")
            if "ACTIVE" in str(port.get("state", "")).upper() and isinstance(rate, (int, float)):
                return cat.rdma_link_gbps("ib_ndr" if rate >= 400 else "ib_hdr") if rate >= 200 else float(rate)
    return None


__all__ = ["Expectation", "gpu_model", "internode", "intranode", "rdma_link_gbps"]
