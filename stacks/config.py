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
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from policies.errors import ConfigError, Loc, field_path
from policies.inputs import load_yaml, read_input_text, schema_error
from stacks.network_checks import customer_gateway_ip_problem

STACKS_DIR = Path(__file__).parent
NAMESPACE = "plinth"
Strategy = Literal["cloud-first", "hybrid", "edge-centric"]
STRATEGIES: tuple[str, ...] = ("cloud-first", "hybrid", "edge-centric")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
_ZONE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d[a-z](-[a-z0-9-]+)?$")  # us-east-1a, us-west-2-lax-1a
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_IAM_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, allow_inf_nan=False)


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value)
    except ValueError:
        raise ValueError(f"not a CIDR block: {value!r}") from None
    return value


class VpnConfig(_Model):
    customer_gateway_ip: str  # required: the public IPv4 address of the on-prem router (no default)
    bgp_asn: int = Field(default=65000, ge=1, le=4294967294)  # region-specific checks: AiNetwork
    static_routes_only: bool = True

    @field_validator("customer_gateway_ip")
    @classmethod
    def _ip(cls, v: str) -> str:
        problem = customer_gateway_ip_problem(v)
        if problem:
            raise ValueError(problem)
        return v


class NetworkConfig(_Model):
    cidr: str = "10.0.0.0/16"
    az_count: int = Field(default=3, ge=1, le=6)
    # Zones by name, in the order subnets are laid out; empty: the first azCount the region offers.
    # Name them when a GPU pool must land where the capacity (or a reservation) is.
    availability_zones: list[str] = Field(default_factory=list, max_length=6)
    # One NAT per AZ by default: a GPU pool lives in one zone, and a single NAT elsewhere makes every
    # image pull cross zones (charged) and ties the pool to another zone's health. true: one, cheaper.
    single_nat_gateway: bool = False
    # one block or a list (node, pod and service ranges on-prem are often separate blocks)
    on_prem_cidr: list[str] | None = None
    vpn: VpnConfig | None = None
    # "external": on-prem reaches the VPC over a link plinth does not build (Direct Connect, a transit
    # gateway): no VPN, and the routes to onPremCidr are yours to add
    on_prem_link: Literal["vpn", "external"] = "vpn"

    _check_cidr = field_validator("cidr")(classmethod(lambda cls, v: _cidr(v)))

    @field_validator("on_prem_cidr", mode="before")
    @classmethod
    def _onprem(cls, v: Any) -> Any:
        if v is None:
            return None
        # ValueError throughout: pydantic turns it (not TypeError) into a one-line field error
        blocks = [v] if isinstance(v, str) else v
        if not isinstance(blocks, list) or not blocks or not all(isinstance(b, str) for b in blocks):
            raise ValueError("one CIDR block or a non-empty list of them")
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for b in blocks:
            net = ipaddress.ip_network(_cidr(b))
            if net.version != 4:
                raise ValueError(f"{b}: VPN routes to on-prem are IPv4 blocks")
            if any(net.overlaps(n) for n in nets):
                raise ValueError(f"{b} overlaps another on-prem block")
            nets.append(net)
        return blocks

    @model_validator(mode="after")
    def _link(self) -> NetworkConfig:
        if self.on_prem_link == "external" and self.vpn is not None:
            raise ValueError("onPremLink: external means plinth builds no VPN; remove network.vpn or the link setting")
        return self

    @field_validator("availability_zones")
    @classmethod
    def _zones(cls, v: list[str]) -> list[str]:
        for zone in v:
            if not _ZONE.match(zone):
                raise ValueError(f"not an availability zone name: {zone!r} (e.g. us-east-1a)")
        if len(set(v)) != len(v):
            raise ValueError("zones must be unique")
        return v

    @model_validator(mode="after")
    def _zone_count(self) -> NetworkConfig:
        if self.availability_zones and "az_count" in self.model_fields_set and self.az_count != len(self.availability_zones):
            raise ValueError(f"azCount {self.az_count} but {len(self.availability_zones)} availabilityZones named; "
                             "set one of them")
        return self

    @property
    def zone_count(self) -> int:
        return len(self.availability_zones) or self.az_count


class SystemNodesConfig(_Model):
    """The small on-demand node group that runs the cluster's own add-ons (CoreDNS, the autoscaler,
    device-plugin controllers): untainted, so they never wait for a GPU node."""

    instance_type: str = "m6i.large"
    min_size: int = Field(default=2, ge=1, le=10)  # two: CoreDNS keeps a replica when a zone fails
    max_size: int = Field(default=4, ge=1, le=20)

    @model_validator(mode="after")
    def _sizes(self) -> SystemNodesConfig:
        if self.min_size > self.max_size:
            raise ValueError(f"minSize {self.min_size} is above maxSize {self.max_size}")
        return self


class ClusterConfig(_Model):
    version: str = "1.33"
    # How `pulumi up` reaches the Kubernetes API it also drives (add-ons, device plugins, quotas):
    # a public endpoint limited to publicAccessCidrs (the private one stays on for the nodes), or,
    # with the public endpoint off, deployFromVpc: true to state that the deploy runs inside the VPC
    # (a runner there, a VPN). Anything else is refused before a cluster is half built.
    endpoint_public_access: bool = False
    public_access_cidrs: list[str] = Field(default_factory=list)
    deploy_from_vpc: bool = False
    admin_role_arn: str | None = None  # granted cluster-admin through an EKS access entry
    system_nodes: SystemNodesConfig = Field(default_factory=SystemNodesConfig)
    autoscaler: bool = True  # Cluster Autoscaler: pools scale up from minSize (0) and back down when idle

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return [_cidr(c) for c in v]

    @field_validator("version")
    @classmethod
    def _pinned(cls, v: str) -> str:
        from policies.eks_pins import pins

        if v not in pins().addons:  # add-ons and the autoscaler image are pinned per minor
            raise ValueError(f"no pinned EKS add-on versions for Kubernetes {v} (pinned: {', '.join(sorted(pins().addons))}; "
                             "policies/data/eks_platform.yaml says how to add one)")
        return v

    @field_validator("admin_role_arn")
    @classmethod
    def _admin(cls, v: str | None) -> str | None:
        if v is not None and not _IAM_PRINCIPAL.match(v):
            raise ValueError(f"not an IAM role or user ARN: {v!r}")
        return v

    def endpoint_problem(self) -> str | None:
        """Why this endpoint model would leave `pulumi up` unable to reach the API, as 'field: reason'."""
        if self.endpoint_public_access:
            if not self.public_access_cidrs:
                return ("publicAccessCidrs: a public endpoint needs an allow-list (the egress CIDRs of the machines "
                        "that run pulumi up); without one EKS opens it to 0.0.0.0/0")
            if self.deploy_from_vpc:
                return "deployFromVpc: set it only with endpointPublicAccess: false"
            return None
        if not self.deploy_from_vpc:
            return ("endpointPublicAccess: the API endpoint is private-only, so a laptop or CI runner outside the VPC "
                    "cannot reach the Kubernetes API that pulumi up drives; set endpointPublicAccess: true with "
                    "publicAccessCidrs, or deployFromVpc: true when pulumi up runs inside the VPC (VPN, runner in the VPC)")
        return None


class CapacityReservationConfig(_Model):
    """An On-Demand Capacity Reservation (or its resource group), or the reservation of a Capacity Block
    for ML. Reservations live in one availability zone: the pool's ``availabilityZone`` must be it."""

    id: str | None = None
    resource_group_arn: str | None = None  # an ODCR resource group (several reservations, one target)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"cr-[0-9a-f]{8,17}", v):
            raise ValueError(f"not a capacity reservation id: {v!r} (cr-…)")
        return v

    @model_validator(mode="after")
    def _one_target(self) -> CapacityReservationConfig:
        if (self.id is None) == (self.resource_group_arn is None):
            raise ValueError("set exactly one of id or resourceGroupArn")
        return self


class GpuPoolConfig(_Model):
    name: str
    instance_type: str
    min_size: int = Field(default=0, ge=0)
    max_size: int = Field(default=2, ge=1, le=1000)
    desired_size: int = Field(default=0, ge=0)
    # CAPACITY_BLOCK: a Capacity Block for ML (EKS user guide, "Create a managed node group with
    # Capacity Blocks for ML"); needs capacityReservation.id and availabilityZone.
    capacity_type: Literal["ON_DEMAND", "SPOT", "CAPACITY_BLOCK"] = "ON_DEMAND"
    # The zone this pool launches in. A distributed pool (one placement group) or a reserved one runs
    # in exactly one zone and must name it: the zone with capacity, not the alphabetically first.
    availability_zone: str | None = None
    capacity_reservation: CapacityReservationConfig | None = None
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

    @field_validator("instance_type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        from policies.catalogue import catalogue

        if catalogue().get(v) is None:  # hardware, EFA count, AMI type and price all come from the catalogue
            raise ValueError(f"unknown instance type {v!r} (known: {', '.join(sorted(catalogue().instances))})")
        return v

    @field_validator("availability_zone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None and not _ZONE.match(v):
            raise ValueError(f"not an availability zone name: {v!r} (e.g. us-east-1a)")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> GpuPoolConfig:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"sizes must satisfy minSize <= desiredSize <= maxSize (got {self.min_size} <= {self.desired_size} <= {self.max_size})"
            )
        return self

    def capacity_problem(self) -> str | None:
        """Why the pool's capacity settings can't launch, as 'field: reason' (None: fine)."""
        reservation = self.capacity_reservation
        if self.capacity_type == "CAPACITY_BLOCK" and (reservation is None or reservation.id is None):
            return "capacityReservation.id: a CAPACITY_BLOCK pool launches into its Capacity Block's reservation (cr-…)"
        if self.capacity_type == "SPOT" and reservation is not None:
            return "capacityReservation: reservations hold on-demand capacity; a SPOT pool cannot use one"
        if self.single_zone and self.availability_zone is None:
            why = ("a reservation lives in one zone" if reservation is not None
                   else "a pool that trains across nodes (or has a placement group) runs in one zone")
            return (f"availabilityZone: {why}; name the zone with capacity for {self.instance_type} "
                    "(aws ec2 describe-instance-type-offerings --location-type availability-zone)")
        return None

    @property
    def distributed(self) -> bool:
        return self.profile == "distributed_training"

    @property
    def single_zone(self) -> bool:
        """Runs in exactly one zone: it trains across nodes (all-reduce across zones pays latency and
        transfer), sits in a cluster placement group, or uses capacity reserved in one zone."""
        return self.distributed or bool(self.placement_group) or self.capacity_reservation is not None


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
    # Objects already on the cluster, as "<kind>/<name>" or "<kind>/<namespace>/<name>" (see
    # components.k8s_adopt): plinth patches its fields onto them instead of creating them.
    existing: list[str] = Field(default_factory=list)


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


class LakehouseAccess(_Model):
    """A workload identity: pods running as ``namespace/serviceAccount`` on the EKS cluster get a role
    (EKS Pod Identity) that reads the ``read`` zones and reads and writes the ``write`` zones."""

    namespace: str
    service_account: str
    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)

    @field_validator("namespace", "service_account")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not _DNS_LABEL.match(v):
            raise ValueError("must be a Kubernetes name: lowercase letters, digits and '-' (at most 63 characters)")
        return v


class LakehouseConfig(_Model):
    zones: list[str] = Field(default_factory=lambda: ["raw", "curated", "features", "models"], min_length=1)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    s3_tables: bool = False
    force_destroy: bool = False
    access: list[LakehouseAccess] = Field(default_factory=list)

    def access_problem(self) -> str | None:
        """'access[i].field: reason' for a grant on a zone that doesn't exist (None: fine)."""
        seen: set[tuple[str, str]] = set()
        for i, entry in enumerate(self.access):
            for kind in ("read", "write"):
                unknown = [z for z in getattr(entry, kind) if z not in self.zones]
                if unknown:
                    return f"access[{i}].{kind}: unknown zone {unknown[0]!r} (zones: {', '.join(self.zones)})"
            if not entry.read and not entry.write:
                return f"access[{i}]: grant at least one zone in read or write"
            key = (entry.namespace, entry.service_account)
            if key in seen:
                return f"access[{i}]: {entry.namespace}/{entry.service_account} is listed twice"
            seen.add(key)
        return None


ZoneAccess = Literal["read", "write", "read-write"]


class EdgeDevice(_Model):
    name: str
    hardware: Literal["jetson", "raspberry-pi", "intel-nuc", "other"] = "jetson"
    # The device's certificate request: PEM text, or a path to a PEM file (relative paths start at
    # the project directory). The private key never leaves the device. ``csrFile`` is the old name.
    csr: str | None = Field(default=None, validation_alias=AliasChoices("csr", "csrFile"))
    # Opt-in instead of a CSR: AWS makes the key pair and the private key lands in Pulumi state.
    generate_key_pair: bool = False
    zones: list[str] | None = None  # lakehouse zones this device reaches; None: every edge.zoneAccess zone


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
    # zone -> what devices may do under <zone bucket>/devices/<thing name>/ (samples up, models down)
    zone_access: dict[str, ZoneAccess] = Field(default_factory=lambda: {"raw": "write", "models": "read"})
    # lifetime of the credentials the IoT credentials provider hands a device (AWS: 900..43200 s)
    credential_duration_seconds: int = Field(default=3600, ge=900, le=43200)


_DIGEST = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[a-f0-9]{64}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_K8S_NODE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class InClusterValidationConfig(_Model):
    """``plinth:validation.inCluster``: ``plinth agent`` on every GPU node (components/in_cluster_validation.py)."""

    image: str  # a plinth image pinned by digest: repo/plinth-agent@sha256:<64 hex>
    mode: Literal["daemonset", "jobs"] = "daemonset"
    run_id: str = "initial"  # change it to start a new run: a new run prefix, every node probes again
    nodes: list[str] = Field(default_factory=list)  # mode jobs: one Job per node (Kubernetes node names)
    interval_minutes: int = Field(default=60, ge=1, le=10080)  # mode daemonset: probe again this often
    profile: str | None = None  # None: the stack's profile
    disk_test_mb: int = Field(default=64, ge=0, le=65536)
    mark_nodes: bool = True  # label plinth.dev/validation=<verdict>
    taint_on_fail: bool = False  # and taint NoSchedule while a node check fails
    read_kernel_log: bool = True  # /dev/kmsg for Xid errors: needs a privileged container
    runtime_class: str | None = "nvidia"  # the NVIDIA container runtime mounts nvidia-smi/NVML
    scratch_path: str = "/var/lib/plinth-agent"  # host directory for the disk test
    bucket_zone: str = "raw"  # lakehouse zone whose bucket receives the facts
    namespace: str = "plinth-validation"

    @field_validator("image")
    @classmethod
    def _pinned(cls, v: str) -> str:
        if not _DIGEST.match(v):
            raise ValueError("pin the image by digest (registry/plinth-agent@sha256:<64 hex>): a tag can move "
                             "under a running DaemonSet")
        return v

    @field_validator("run_id")
    @classmethod
    def _run(cls, v: str) -> str:
        if not _RUN_ID.match(v) or ".." in v:
            raise ValueError("letters, digits, '.', '_', '-' (at most 63: it is also a label value)")
        return v

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _K8S_NODE.match(name):
                raise ValueError(f"{name!r} is not a Kubernetes node name")
        if len(set(v)) != len(v):
            raise ValueError("a node is listed twice")
        return v

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str | None) -> str | None:
        from policies.thresholds import builtin_profiles

        if v is not None and v not in builtin_profiles():
            raise ValueError(f"unknown profile {v!r} (known: {', '.join(sorted(builtin_profiles()))})")
        return v

    @field_validator("scratch_path")
    @classmethod
    def _scratch(cls, v: str) -> str:
        if not v.startswith("/") or ".." in v.split("/") or v.rstrip("/") in ("", "/dev", "/proc", "/sys", "/etc"):
            raise ValueError("an absolute host directory for the disk test (not /, /dev, /proc, /sys, /etc)")
        return v

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("a namespace name: lowercase letters, digits and '-'")
        return v

    @model_validator(mode="after")
    def _mode(self) -> InClusterValidationConfig:
        if self.mode == "jobs" and not self.nodes:
            raise ValueError("mode jobs runs one Job per node: list them in nodes")
        if self.mode == "daemonset" and self.nodes:
            raise ValueError("nodes is for mode jobs; a DaemonSet runs on every GPU node")
        if self.taint_on_fail and not self.mark_nodes:
            raise ValueError("taintOnFail needs markNodes")
        return self


_SECURITY_GROUP_ID = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
_JUMP_HOST = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9._-]{0,31}@)?[A-Za-z0-9][A-Za-z0-9.-]{0,252}(?::\d{1,5})?$")
MIN_SSH_SOURCE_PREFIX = 8  # wider than a /8 is not a named source


class SshAccessConfig(_Model):
    """``plinth:validation.sshAccess``: let ``plinth validate --stack`` log into the GPU nodes over SSH
    (components/validator_access.py). Opt-in. The nodes accept the key pair made from ``publicKey``
    and SSH (port 22) from exactly one named source, never from anywhere."""

    public_key: str  # an OpenSSH public key line, or a path to the .pub file (never a private key)
    # The source: an EC2 Instance Connect Endpoint plinth makes in a private subnet (no open port,
    # IAM decides who may tunnel), a security group (a bastion's or a validator runner's), or CIDRs
    # (e.g. an on-prem validator reaching the nodes over the VPN).
    instance_connect_endpoint: bool = False
    source_security_group_id: str | None = None
    source_cidrs: list[str] = Field(default_factory=list)
    jump_host: str | None = None  # [user@]host[:port] of the bastion behind sourceSecurityGroupId/sourceCidrs

    @model_validator(mode="before")
    @classmethod
    def _key(cls, data: Any) -> Any:
        # Checked before the fields (and as the model) so an error names the field but never shows
        # the value: a private key pasted here must not be echoed into a log.
        from stacks.ssh_public_key import PublicKeyError, load_public_key

        key = data.get("publicKey", data.get("public_key")) if isinstance(data, dict) else None
        if not isinstance(key, str):
            return data
        try:
            normalised = load_public_key(key, STACKS_DIR.parent)
        except PublicKeyError as exc:
            raise ValueError(f"publicKey: {exc}") from None
        return {k: v for k, v in data.items() if k not in ("publicKey", "public_key")} | {"public_key": normalised}

    @field_validator("source_security_group_id")
    @classmethod
    def _group(cls, v: str | None) -> str | None:
        if v is not None and not _SECURITY_GROUP_ID.match(v):
            raise ValueError("not a security group id (sg- and 8 or 17 hex digits); name the group of the bastion "
                             "or validator host, in this VPC or a peered one")
        return v

    @field_validator("source_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for block in v:
            net = ipaddress.ip_network(_cidr(block), strict=False)
            if net.prefixlen == 0:
                raise ValueError(f"{block}: SSH from anywhere is never allowed; name the validator's own addresses")
            if net.version != 4:
                raise ValueError(f"{block}: nodes are reached on their private IPv4 addresses; give IPv4 blocks")
            if net.prefixlen < MIN_SSH_SOURCE_PREFIX:
                raise ValueError(f"{block}: wider than a /{MIN_SSH_SOURCE_PREFIX} is not a named source")
        if len(set(v)) != len(v):
            raise ValueError("a block is listed twice")
        return v

    @field_validator("jump_host")
    @classmethod
    def _jump(cls, v: str | None) -> str | None:
        if v is not None and (not _JUMP_HOST.match(v) or not 1 <= int(v.rsplit(":", 1)[1] if ":" in v else 22) <= 65535):
            raise ValueError("expected [user@]host[:port] (letters, digits, '.', '-'; no spaces or shell characters)")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> SshAccessConfig:
        sources = [self.instance_connect_endpoint, self.source_security_group_id is not None, bool(self.source_cidrs)]
        if sum(sources) != 1:
            raise ValueError("name exactly one SSH source: instanceConnectEndpoint: true, sourceSecurityGroupId (the "
                             "group of a bastion or validator host) or sourceCidrs (never 0.0.0.0/0)")
        if self.jump_host is not None and self.instance_connect_endpoint:
            raise ValueError("jumpHost: the Instance Connect Endpoint is the way in; a bastion goes with "
                             "sourceSecurityGroupId or sourceCidrs")
        return self

    @property
    def source(self) -> str:
        """How the validator arrives: instance-connect-endpoint, security-group or cidrs."""
        if self.instance_connect_endpoint:
            return "instance-connect-endpoint"
        return "security-group" if self.source_security_group_id is not None else "cidrs"


class ValidationConfig(_Model):
    in_cluster: InClusterValidationConfig | None = None
    ssh_access: SshAccessConfig | None = None


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
    validation: ValidationConfig = Field(default_factory=ValidationConfig)

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
