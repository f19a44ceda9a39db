"""``plinth:validation``: how the stack's nodes get validated — ``inCluster`` (``plinth agent`` on every
GPU node) and ``sshAccess`` (``plinth validate --stack`` logging into them)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from stacks.config.base import NAME, PROJECT_DIR, ConfigModel, cidr_block, known_profile

_DIGEST = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[a-f0-9]{64}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_K8S_NODE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class InClusterValidationConfig(ConfigModel):
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
        return None if v is None else known_profile(v)

    @field_validator("scratch_path")
    @classmethod
    def _scratch(cls, v: str) -> str:
        if not v.startswith("/") or ".." in v.split("/") or v.rstrip("/") in ("", "/dev", "/proc", "/sys", "/etc"):
            raise ValueError("an absolute host directory for the disk test (not /, /dev, /proc, /sys, /etc)")
        return v

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        if not NAME.match(v):
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


class SshAccessConfig(ConfigModel):
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
            normalised = load_public_key(key, PROJECT_DIR)
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
            net = ipaddress.ip_network(cidr_block(block), strict=False)
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


class ValidationConfig(ConfigModel):
    in_cluster: InClusterValidationConfig | None = None
    ssh_access: SshAccessConfig | None = None
