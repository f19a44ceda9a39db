"""``plinth:cluster``: the EKS cluster plinth builds (version, how ``pulumi up`` reaches its API, the
system node group, the autoscaler)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from stacks.config.base import ConfigModel, cidr_block

_IAM_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$")  # family+generation.size: m6i.large


class SystemNodesConfig(ConfigModel):
    """The small on-demand node group that runs the cluster's own add-ons (CoreDNS, the autoscaler,
    device-plugin controllers): untainted, so they never wait for a GPU node."""

    instance_type: str = "m6i.large"
    min_size: int = Field(default=2, ge=1, le=10)  # two: CoreDNS keeps a replica when a zone fails
    max_size: int = Field(default=4, ge=1, le=20)

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, v: str) -> str:
        # Checked here: EKS would refuse it only after the cluster (10+ minutes) exists.
        if not _INSTANCE_TYPE.match(v):
            raise ValueError(f"not an EC2 instance type: {v!r} (family and size, e.g. m6i.large or m7g.large)")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> SystemNodesConfig:
        if self.min_size > self.max_size:
            raise ValueError(f"minSize {self.min_size} is above maxSize {self.max_size}")
        return self


class ClusterConfig(ConfigModel):
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
        return [cidr_block(c) for c in v]

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
