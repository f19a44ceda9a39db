"""The whole stack config: one :class:`StackConfig` of every pillar, and the rules that span pillars
(what each strategy needs, pools in the network's zones, EKS's two zones)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from stacks.config.base import NAME, ConfigModel, known_profile
from stacks.config.cluster import ClusterConfig
from stacks.config.edge import EdgeConfig
from stacks.config.gpu_pools import GpuPoolConfig
from stacks.config.kubernetes import KubernetesConfig
from stacks.config.lakehouse import LakehouseConfig
from stacks.config.network import NetworkConfig
from stacks.config.validation import ValidationConfig

Strategy = Literal["cloud-first", "hybrid", "edge-centric"]
STRATEGIES: tuple[str, ...] = ("cloud-first", "hybrid", "edge-centric")


class StackConfig(ConfigModel):
    strategy: Strategy
    profile: str = "distributed_training"
    prefix: str = "plinth"
    region: str = "us-east-1"  # read from aws:region
    tags: dict[str, str] = Field(default_factory=dict)
    budget_usd_per_hour: float | None = Field(default=None, gt=0)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    gpu_pools: list[GpuPoolConfig] = Field(default_factory=list)
    kubernetes: KubernetesConfig | None = None
    lakehouse: LakehouseConfig = Field(default_factory=LakehouseConfig)
    edge: EdgeConfig | None = None
    validation: ValidationConfig = Field(default_factory=ValidationConfig)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not NAME.match(v) or len(v) > 20:
            raise ValueError("must be lowercase letters, digits and '-' (at most 20 characters)")
        return v

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        return known_profile(v)

    @model_validator(mode="after")
    def _per_strategy(self) -> StackConfig:
        if self.strategy == "hybrid":
            if self.kubernetes is None:
                raise ValueError("strategy hybrid needs plinth:kubernetes (the existing cluster to enable GPUs on)")
            if self.network.on_prem_cidr is None:
                raise ValueError("strategy hybrid needs plinth:network.onPremCidr")
        if self.strategy == "edge-centric" and self.edge is None:
            raise ValueError("strategy edge-centric needs plinth:edge with at least one device")
        in_cluster = self.validation.in_cluster
        if in_cluster is not None:
            if self.strategy == "edge-centric" or not self.gpu_pools and self.strategy == "hybrid":
                raise ValueError("plinth:validation.inCluster: needs the EKS cluster plinth creates (cloud-first, or hybrid "
                                 "with gpuPools): its agents authenticate to S3 through EKS Pod Identity")
            if in_cluster.bucket_zone not in self.lakehouse.zones:
                raise ValueError(f"plinth:validation.inCluster.bucketZone: {in_cluster.bucket_zone!r} is not a lakehouse zone "
                                 f"({', '.join(self.lakehouse.zones)})")
        if self.validation.ssh_access is not None and not self.gpu_pools:
            raise ValueError("plinth:validation.sshAccess: there are no gpuPools whose nodes it would open to the validator")
        names = [p.name for p in self.gpu_pools]
        if len(set(names)) != len(names):
            raise ValueError("gpuPools: pool names must be unique")
        for i, pool in enumerate(self.gpu_pools):
            problem = pool.capacity_problem()
            if problem:
                raise ValueError(f"plinth:gpuPools[{i}].{problem}")
            zones = self.network.availability_zones
            if pool.availability_zone and zones and pool.availability_zone not in zones:
                raise ValueError(f"plinth:gpuPools[{i}].availabilityZone: {pool.availability_zone} is not one of "
                                 f"network.availabilityZones ({', '.join(zones)})")
        problem = self.lakehouse.access_problem()
        if problem:
            raise ValueError(f"plinth:lakehouse.{problem}")
        if self.builds_eks:
            if self.network.zone_count < 2:
                field = "availabilityZones" if self.network.availability_zones else "azCount"
                raise ValueError(f"plinth:network.{field}: EKS needs subnets in at least two availability zones "
                                 f"(got {self.network.zone_count}); a single-zone GPU pool still runs in one of them")
            problem = self.cluster.endpoint_problem()
            if problem:
                raise ValueError(f"plinth:cluster.{problem}")
        return self

    @property
    def builds_eks(self) -> bool:
        """cloud-first always runs an EKS cluster; hybrid and edge-centric only for their GPU pools."""
        return self.strategy == "cloud-first" or bool(self.gpu_pools)

    def labels(self) -> dict[str, str]:
        return {"plinth.dev/strategy": self.strategy, "plinth.dev/profile": self.profile}

    def resource_tags(self, **extra: str) -> dict[str, str]:
        return {**self.tags, "strategy": self.strategy, "plinth:stack-profile": self.profile, **extra}
