"""Instance catalogue: what each accelerated EC2 type should have, and what it costs.

Data lives in ``policies/data/instances.yaml`` with its public source beside every row. Components
(EFA interface count, AMI type), policies (≥100 Gbps for training, hourly cost) and validators
(8 GPUs expected on a p5.48xlarge) all read this one table.

Fabric expectations (what healthy hardware measures with nccl-tests and perftest) are a second data
file, ``policies/data/fabric.yaml``, read by :func:`fabric_catalogue` and its accessors below.
What the node checks judge kernel-log events and RDMA ports against is in ``policies/data/xid.yaml``
(NVIDIA's Xid catalogue, :func:`xid_catalogue`) and ``policies/data/rdma.yaml`` (link rates,
per-instance fabrics, port-counter thresholds, platform MTUs: :func:`rdma_catalogue`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

CATALOGUE_FILE = Path(__file__).parent / "data" / "instances.yaml"


class InstanceType(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    accelerator: Literal["nvidia", "neuron"]
    gpus: int  # accelerator devices (Neuron devices for trn/inf)
    gpu_model: str
    gpu_memory_gib: float
    efa_interfaces: int
    network_gbps: float
    usd_per_hour: float
    nvme_disks: int = 0  # local NVMe instance-store volumes (0: EBS only)
    nvme_gb: float = 0  # size of each, GB
    source: str

    @property
    def eks_ami_type(self) -> str:
        """EKS managed node group AMI type (AL2023 accelerated variants)."""
        return "AL2023_x86_64_NEURON" if self.accelerator == "neuron" else "AL2023_x86_64_NVIDIA"


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~15x faster on this file (the preview loads it)


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: str
    instances: dict[str, InstanceType]

    def get(self, name: str) -> InstanceType | None:
        return self.instances.get(name)


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    raw = yaml.load(CATALOGUE_FILE.read_text(), Loader=_LOADER)
    for name, row in raw["instances"].items():
        row["name"] = name
    return Catalogue.model_validate(raw)


def instance(name: str) -> InstanceType | None:
    """The catalogue row for an instance type, or None when plinth doesn't know it."""
    return catalogue().get(name)


# --- fabric expectations (policies/data/fabric.yaml) -------------------------------------------

FABRIC_FILE = Path(__file__).parent / "data" / "fabric.yaml"


class BusbwExpectation(BaseModel):
    """What healthy hardware measures with nccl-tests all_reduce: busbw at ``at_bytes``. ``basis``:
    ``measured`` (a published run) or ``production_floor`` (a fleet health check's minimum)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gpus: int
    busbw_gbs: float
    at_bytes: int
    basis: Literal["measured", "production_floor"]
    source: str
    gpu_model: str | None = None
    interconnect: str | None = None
    fabric: str | None = None


class RdmaLink(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    link_gbps: float  # datasheet line rate per NIC, not a measurement
    source: str


class FabricCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: str
    nccl_allreduce_intranode: list[BusbwExpectation]
    nccl_allreduce_internode: dict[str, BusbwExpectation]
    rdma_links: dict[str, RdmaLink]


@lru_cache(maxsize=1)
def fabric_catalogue() -> FabricCatalogue:
    return FabricCatalogue.model_validate(yaml.load(FABRIC_FILE.read_text(), Loader=_LOADER))


def intranode_busbw(gpu_model: str, gpus: int) -> BusbwExpectation | None:
    """The all_reduce expectation for one node of ``gpus`` ``gpu_model`` GPUs on NVSwitch (the
    catalogue's model names: A100, H100, H200), or None when none is published for that shape."""
    for row in fabric_catalogue().nccl_allreduce_intranode:
        if row.gpu_model is not None and row.gpu_model.casefold() == gpu_model.strip().casefold() and row.gpus == gpus:
            return row
    return None


def internode_busbw(instance_type: str) -> BusbwExpectation | None:
    """The all_reduce expectation across nodes of ``instance_type`` (8 ranks per node), or None."""
    return fabric_catalogue().nccl_allreduce_internode.get(instance_type)


def rdma_link_gbps(link: str) -> float | None:
    """Datasheet line rate of one NIC kind (``ib_hdr``, ``ib_ndr``, ``efa_100g``, ``efa_200g``)."""
    row = fabric_catalogue().rdma_links.get(link)
    return row.link_gbps if row else None


# --- kernel-log events and RDMA fabrics (policies/data/xid.yaml, policies/data/rdma.yaml) -------

XID_FILE = Path(__file__).parent / "data" / "xid.yaml"
RDMA_FILE = Path(__file__).parent / "data" / "rdma.yaml"


class XidAction(BaseModel):
    """What plinth does with one of NVIDIA's resolution buckets: the status and what it means."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["pass", "warn", "fail"]
    does: str


class XidCatalogue(BaseModel):
    """NVIDIA's Xid codes with plinth's action for each (sources in the data file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: str
    actions: dict[str, XidAction]
    xids: dict[int, tuple[str, str] | tuple[str, str, str]]  # meaning, action, optional note
    unknown: tuple[str, str]
    recovery_actions: dict[int, tuple[str, str]]
    sxid: dict[Literal["fatal", "non_fatal"], str]

    def xid(self, code: int) -> tuple[str, str, str]:
        """(meaning, action name, note) for an Xid code; unknown codes get the `unknown` row."""
        row = self.xids.get(code, self.unknown)
        return row[0], row[1], row[2] if len(row) > 2 else ""


@lru_cache(maxsize=1)
def xid_catalogue() -> XidCatalogue:
    cat = XidCatalogue.model_validate(yaml.safe_load(XID_FILE.read_text()))
    rows = [*cat.xids.values(), cat.unknown, *cat.recovery_actions.values()]
    missing = {row[1] for row in rows} - set(cat.actions) | set(cat.sxid.values()) - set(cat.actions)
    if missing:
        raise ValueError(f"{XID_FILE}: actions used but not defined: {sorted(missing)}")
    return cat


class RdmaFabric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    link_layer: Literal["InfiniBand", "Ethernet"]
    rate_gbps: float
    width: str | None = None
    source: str


class InstanceFabric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fabric: str  # a key of RdmaCatalogue.fabrics, or "efa" (counted by instances.yaml efa_interfaces)
    gpudirect_rdma: bool
    ports: int | None = None
    source: str


class CounterLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max: int
    severity: Literal["warn", "fail"]
    what: str


class PlatformMtu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max: int
    source: str


class RdmaCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: str
    ib_speeds: dict[str, float]
    fabrics: dict[str, RdmaFabric]
    instances: dict[str, InstanceFabric]
    port_counters: dict[str, CounterLimit]
    efa_counters: dict[str, CounterLimit]
    roce_min_mtu: int
    platform_mtu: dict[str, PlatformMtu]


@lru_cache(maxsize=1)
def rdma_catalogue() -> RdmaCatalogue:
    cat = RdmaCatalogue.model_validate(yaml.safe_load(RDMA_FILE.read_text()))
    bad = [n for n, row in cat.instances.items() if row.fabric != "efa" and row.fabric not in cat.fabrics]
    if bad:
        raise ValueError(f"{RDMA_FILE}: instances name unknown fabrics: {bad}")
    return cat
GPU_MODELS_FILE = Path(__file__).parent / "data" / "gpu_models.yaml"


class GpuModel(BaseModel):
    """What a healthy GPU of one model reports (``policies/data/gpu_models.yaml``, sources there)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    match: tuple[str, ...]
    architecture: str
    nvlink_links: int | None  # links a healthy GPU trains; None: no NVLink or an optional bridge
    nvswitch_min_gpus: int | None  # from this many GPUs per node: an NVSwitch baseboard (Fabric Manager)
    multi_node_nvlink: bool  # NVLink domain across trays (GB200 NVL72): clique and cluster UUID must be set
    source: str

    def on_nvswitch_board(self, gpus_on_node: int) -> bool:
        return self.nvswitch_min_gpus is not None and gpus_on_node >= self.nvswitch_min_gpus


class GpuModels(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: str
    models: tuple[GpuModel, ...]


@lru_cache(maxsize=1)
def gpu_models() -> GpuModels:
    return GpuModels.model_validate(yaml.safe_load(GPU_MODELS_FILE.read_text()))


@lru_cache(maxsize=256)  # every GPU judge asks, per node: a fleet has a handful of product names
def gpu_model(product_name: str | None) -> GpuModel | None:
    """The catalogue row for an nvidia-smi / NVML product name ("NVIDIA H100 80GB HBM3"), or None."""
    name = (product_name or "").casefold()
    if not name:
        return None
    return next((m for m in gpu_models().models if any(p.casefold() in name for p in m.match)), None)
