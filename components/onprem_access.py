"""The burst cluster's API, reachable privately from on-prem (hybrid).

Usage (from the hybrid strategy)::

    from components.onprem_access import OnPremApiAccess, OnPremApiAccessArgs

    OnPremApiAccess(f"{cfg.prefix}-burst-api-onprem", OnPremApiAccessArgs(
        security_group_id=eks.cluster_security_group_id, cidrs=cfg.network.on_prem_cidr or [],
        region=cfg.region, tags=cfg.resource_tags()))

EKS "Cluster API server endpoint", *Accessing a private only API server*, connected network: "You must
ensure that your Amazon EKS control plane security group contains rules to allow ingress traffic on
port 443 from your connected network." The cluster security group EKS creates admits only itself, so
without these rules an on-prem ``kubectl``, CI job or scheduler times out at the tunnel's far end.
With the public endpoint off, public DNS resolves the endpoint's name to its private VPC addresses,
so on-prem needs no DNS forwarding to reach it; the route back is the VPN propagation into the
private route tables (the control plane's interfaces sit in those subnets).

One ingress rule per on-prem block, TCP 443 only (separate rule resources: the pulumi-aws v7
recommendation, as in :mod:`components.network`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

API_PORT = 443


@dataclass
class OnPremApiAccessArgs:
    security_group_id: pulumi.Input[str]
    cidrs: list[str]
    region: str
    tags: dict[str, str] = field(default_factory=dict)


class OnPremApiAccess(pulumi.ComponentResource):
    rule_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: OnPremApiAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:network:OnPremApiAccess", name, None, opts)
        rules = [
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{i}", security_group_id=args.security_group_id, cidr_ipv4=cidr, ip_protocol="tcp",
                from_port=API_PORT, to_port=API_PORT, description=f"Kubernetes API from on-prem {cidr}",
                region=args.region, tags={**args.tags, "Name": f"{name}-{i}"}, opts=pulumi.ResourceOptions(parent=self))
            for i, cidr in enumerate(args.cidrs)
        ]
        self.rule_ids = pulumi.Output.all(*[r.id for r in rules])
        self.register_outputs({"rule_ids": self.rule_ids})
