"""Instance catalogue: what each accelerated EC2 type should have, and what it costs.

Data lives in ``policies/data/instances.yaml`` with its public source beside every row. Components
(EFA interface count, AMI type), policies (≥100 Gbps for training, hourly cost) and validators
(8 GPUs expected on a p5.48xlarge) all read this one table.

Fabric expectations (what healthy hardware measures with nccl-tests and perftest) are a second data
file, ``policies/data/fabric.yaml``, read by :func:`fabric_catalogue` and its accessors below.
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
    source: str

    @property
    def eks_ami_type(self) -> str:
        """EKS managed node group AMI type (AL2023 accelerated variants)."""
        return "AL2023_x86_64_NEURON" if self.accelerator == "neuron" else "AL2023_x86_64_NVIDIA"


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: str
    instances: dict[str, InstanceType]

    def get(self, name: str) -> InstanceType | None:
        return self.instances.get(name)


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    raw = yaml.safe_load(CATALOGUE_FILE.read_text())
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
    return FabricCatalogue.model_validate(yaml.safe_load(FABRIC_FILE.read_text()))


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
