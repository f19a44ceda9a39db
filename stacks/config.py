"""Stack configuration: the pydantic model of ``stacks/Pulumi.<stack>.yaml``.

Keys are Pulumi config keys in the ``plinth`` namespace (camelCase, e.g. ``plinth:gpuPools``) plus
``aws:region``. The same model is filled from the live Pulumi config in a real run
(:func:`from_pulumi_config`) and from the stack file offline (:func:`load_stack_file`); offline
preview also feeds the file to the program as Pulumi config, so both worlds share one code path.
Every error is one line naming the stack file and the field.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from policies.errors import ConfigError, Loc, field_path
from policies.inputs import load_yaml, read_input_text, schema_error

STACKS_DIR = Path(__file__).parent
NAMESPACE = "plinth"
Strategy = Literal["cloud-first", "hybrid", "edge-centric"]
STRATEGIES: tuple[str, ...] = ("cloud-first", "hybrid", "edge-centric")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, allow_inf_nan=False)


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value)
    except ValueError:
        raise ValueError(f"not a CIDR block: {value!r}") from None
    return value


class VpnConfig(_Model):
    customer_gateway_ip: str
    bgp_asn: int = Field(default=65000, ge=1, le=4294967294)
    static_routes_only: bool = True

    @field_validator("customer_gateway_ip")
    @classmethod
    def _ip(cls, v: str) -> str:
        ipaddress.ip_address(v)
        return v


class NetworkConfig(_Model):
    cidr: str = "10.0.0.0/16"
    az_count: int = Field(default=3, ge=1, le=6)
    single_nat_gateway: bool = True  # one NAT is cheaper; set false for one per AZ (HA)
    on_prem_cidr: str | None = None
    vpn: VpnConfig | None = None

    _check_cidr = field_validator("cidr")(classmethod(lambda cls, v: _cidr(v)))

    @field_validator("on_prem_cidr")
    @classmethod
    def _onprem(cls, v: str | None) -> str | None:
        return None if v is None else _cidr(v)


class ClusterConfig(_Model):
    version: str = "1.33"
    endpoint_public_access: bool = False
    public_access_cidrs: list[str] = Field(default_factory=list)
    admin_role_arn: str | None = None  # granted cluster-admin through an EKS access entry


class GpuPoolConfig(_Model):
    name: str
    instance_type: str
    min_size: int = Field(default=0, ge=0)
    max_size: int = Field(default=2, ge=1, le=1000)
    desired_size: int = Field(default=0, ge=0)
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    profile: str = "distributed_training"
    interruptible: bool = False  # only interruptible (checkpointing) work may run on SPOT
    root_volume_gb: int = Field(default=200, ge=20, le=16384)
    efa: bool | None = None  # None: on when the instance type has EFA and the pool trains distributed
    placement_group: bool | None = None  # None: on for distributed training

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be lowercase letters, digits and '-' (at most 40 characters)")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> GpuPoolConfig:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"sizes must satisfy minSize <= desiredSize <= maxSize (got {self.min_size} <= {self.desired_size} <= {self.max_size})"
            )
        return self

    @property
    def distributed(self) -> bool:
        return self.profile == "distributed_training"


class TeamQuota(_Model):
    name: str
    gpus: int = Field(ge=0)


class KubernetesConfig(_Model):
    """An existing cluster (on-prem or elsewhere) reached through a kubeconfig context."""

    context: str | None = None
    kubeconfig: str | None = None  # path; None = the provider's default (KUBECONFIG / ~/.kube/config)
    gpu_operator: bool = False
    gpu_operator_version: str = "v25.3.0"
    device_plugin_image: str = "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"
    teams: list[TeamQuota] = Field(default_factory=list)


class LifecycleConfig(_Model):
    standard_ia_days: int = Field(default=30, ge=30)  # S3 minimum for STANDARD_IA transitions
    glacier_ir_days: int = Field(default=90, ge=1)
    deep_archive_days: int = Field(default=365, ge=1)
    noncurrent_expiry_days: int = Field(default=90, ge=1)

    @model_validator(mode="after")
    def _ascending(self) -> LifecycleConfig:
        if not self.standard_ia_days < self.glacier_ir_days < self.deep_archive_days:
            raise ValueError("tier days must ascend: standardIaDays < glacierIrDays < deepArchiveDays")
        return self


class LakehouseConfig(_Model):
    zones: list[str] = Field(default_factory=lambda: ["raw", "curated", "features", "models"], min_length=1)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    s3_tables: bool = False
    force_destroy: bool = False


class EdgeDevice(_Model):
    name: str
    hardware: Literal["jetson", "raspberry-pi", "intel-nuc", "other"] = "jetson"
    csr_file: str | None = None  # PEM CSR; the private key then never leaves the device


class EdgeWorkload(_Model):
    name: str = "edge-inference"
    image: str
    kind: Literal["Deployment", "DaemonSet"] = "DaemonSet"
    replicas: int = Field(default=1, ge=1)
    node_selector: dict[str, str] = Field(default_factory=lambda: {"plinth.dev/edge": "true"})
    cpu: str = "1"
    memory: str = "1Gi"
    gpus: int = Field(default=0, ge=0)
    max_input_mb: int = Field(default=10, ge=1)  # seed: inputs over 10 MB are rejected at the edge
    kubeconfig: str | None = None
    context: str | None = None


class EdgeConfig(_Model):
    group: str = "edge-fleet"
    topic_prefix: str = "plinth"
    devices: list[EdgeDevice] = Field(min_length=1)
    workload: EdgeWorkload | None = None


class StackConfig(_Model):
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

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not _NAME.match(v) or len(v) > 20:
            raise ValueError("must be lowercase letters, digits and '-' (at most 20 characters)")
        return v

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        from policies.thresholds import builtin_profiles

        if v not in builtin_profiles():
            raise ValueError(f"unknown profile {v!r} (known: {', '.join(sorted(builtin_profiles()))})")
        return v

    @model_validator(mode="after")
    def _per_strategy(self) -> StackConfig:
        if self.strategy == "hybrid":
            if self.kubernetes is None:
                raise ValueError("strategy hybrid needs plinth:kubernetes (the existing cluster to enable GPUs on)")
            if self.network.on_prem_cidr is None:
                raise ValueError("strategy hybrid needs plinth:network.onPremCidr")
        if self.strategy == "edge-centric" and self.edge is None:
            raise ValueError("strategy edge-centric needs plinth:edge with at least one device")
        names = [p.name for p in self.gpu_pools]
        if len(set(names)) != len(names):
            raise ValueError("gpuPools: pool names must be unique")
        return self

    def labels(self) -> dict[str, str]:
        return {"plinth.dev/strategy": self.strategy, "plinth.dev/profile": self.profile}

    def resource_tags(self, **extra: str) -> dict[str, str]:
        return {**self.tags, "strategy": self.strategy, "plinth:stack-profile": self.profile, **extra}


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def _display(loc: Loc) -> str:
    """A location as the user writes it in a stack file: plinth:gpuPools[0].instanceType."""
    if not loc:
        return "config"
    if loc[0] == "region":
        return "aws:region" + field_path(loc[1:]).removeprefix("(top level)")
    return f"{NAMESPACE}:{field_path(loc)}"


def _in_file(loc: Loc) -> Loc:
    """The same location among the stack file's keys (everything sits under ``config:``)."""
    if not loc:
        return ("config",)
    head = "aws:region" if loc[0] == "region" else f"{NAMESPACE}:{loc[0]}"
    return ("config", head, *loc[1:])


def _validate(data: dict[str, Any], where: str, node: yaml.Node | None = None) -> StackConfig:
    try:
        return StackConfig.model_validate(data)
    except ValidationError as exc:
        # fields as the user writes them (plinth:gpuPools[0].instanceType), at their line in the file
        raise schema_error(where, exc, StackConfig, node, to_yaml=_in_file, display=_display) from None


def config_from_mapping(config: dict[str, Any], where: str, node: yaml.Node | None = None) -> StackConfig:
    """Build the model from a Pulumi ``config:`` mapping ({"plinth:strategy": ..., "aws:region": ...})."""
    data: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str) or ":" not in key:
            raise ConfigError(f"{where}: {field_path(('config', key))}: keys must be namespaced (plinth:<key> or aws:region)")
        ns, name = key.split(":", 1)
        if ns == NAMESPACE:
            data[name] = value
        elif key == "aws:region":
            data["region"] = value
    return _validate(data, where, node)


def _stack_document(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    data, node = load_yaml(read_input_text(path, "stack file"), str(path))
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise ConfigError(f"{path}: config: a stack file needs a 'config:' mapping")
    return data["config"], node


def stack_config_mapping(path: Path) -> dict[str, Any]:
    """The raw ``config:`` mapping of a stack file."""
    return _stack_document(path)[0]


def load_stack_file(path: Path) -> StackConfig:
    config, node = _stack_document(path)
    return config_from_mapping(config, str(path), node)


def load_stack(stack: str) -> StackConfig:
    """Offline: ``stacks/Pulumi.<stack>.yaml`` (or a path to any stack file)."""
    path = Path(stack)
    # a path with a directory is read as given (read_input says why it can't be), never stat()ed
    # here: on a hung mount that alone would block
    if not (path.suffix in {".yaml", ".yml"} and ("/" in stack or path.exists())):
        path = stack_file(stack)
    return load_stack_file(path)


def from_pulumi_config() -> StackConfig:
    """In a Pulumi program: read every field from the live config (``pulumi.Config``)."""
    import pulumi

    cfg = pulumi.Config(NAMESPACE)
    data: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        key = field.alias or name
        if key == "region":
            continue
        value = cfg.get_object(key) if field.annotation not in (str, Strategy) else cfg.get(key)
        if value is None:
            value = cfg.get(key)
        if value is not None:
            data[key] = value
    region = pulumi.Config("aws").get("region")
    if region:
        data["region"] = region
    return _validate(data, str(stack_file(pulumi.get_stack())))
