"""What healthy hardware of a node's kind measures in the fabric tests, from the catalogue
(policies/data/fabric.yaml via policies/catalogue.py): the NCCL busbw within a node (per GPU
model and count), across nodes (per instance type) and the InfiniBand/RoCE line rate. None when the
catalogue does not know the hardware: the judges then fall back to the profile's floor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policies.catalogue import BusbwExpectation, instance, internode_busbw, intranode_busbw
from policies.catalogue import rdma_link_gbps as link_gbps


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


def intranode(facts: Mapping[str, Any], instance_type: str | None, expected_model: str | None = None) -> BusbwExpectation | None:
    devices = (facts.get("gpu") or {}).get("devices")
    model = gpu_model(facts, instance_type, expected_model)
    if model is None or not isinstance(devices, list):
        return None
    return intranode_busbw(model, len(devices))


def internode(instance_types: Sequence[str | None]) -> BusbwExpectation | None:
    """Across nodes of ``instance_types``: the catalogue's figure when they all share one known type."""
    types = set(instance_types)
    if len(types) != 1:
        return None
    only = types.pop()
    return internode_busbw(only) if only else None


def fabric_port(facts: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """(device, port) of the RDMA fabric the fabric tests measure: the first active InfiniBand port,
    else the first active Ethernet (RoCE) one. InfiniBand first because an Ethernet RDMA device beside
    IB HCAs is the front-end (Azure's accelerated-networking mlx5_an0 sorts before mlx5_ib0; a bonded
    Ethernet port beside 8 NDR HCAs), as Azure/azurehpc-health-checks' determine_IB_devices keeps
    only link_layer InfiniBand."""
    rdma = facts.get("rdma")
    devices = rdma.get("devices") if isinstance(rdma, Mapping) else None
    active = [(str(dev.get("name")), port) for dev in devices or [] if isinstance(dev, Mapping)
              for port in dev.get("ports") or []
              if isinstance(port, Mapping) and "ACTIVE" in str(port.get("state", "")).upper()]
    ib = [(name, port) for name, port in active if str(port.get("link_layer", "")).lower() != "ethernet"]
    return (ib or active or [None])[0]


def rdma_link_gbps(facts: Mapping[str, Any]) -> float | None:
    """Line rate of the fabric's active InfiniBand/RoCE port (:func:`fabric_port`; HDR 200, NDR 400:
    the catalogue's figure; another rate as the port reports it). EFA has none here: fi_pingpong, its
    tool, is latency-bound and proves the path, not the bandwidth (network.nccl_internode judges that)."""
    found = fabric_port(facts)
    rate = found[1].get("rate_gbps") if found else None
    if not isinstance(rate, (int, float)) or isinstance(rate, bool):
        return None
    return link_gbps("ib_ndr" if rate >= 400 else "ib_hdr") if rate >= 200 else float(rate)


__all__ = ["fabric_port", "gpu_model", "internode", "intranode", "rdma_link_gbps"]
