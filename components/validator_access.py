"""SSH access for the validator to the GPU nodes plinth provisions (``plinth:validation.sshAccess``).

Without it the nodes have no key pair, sit in private subnets and admit no SSH: ``plinth validate
--stack`` could not log in. With it:

- an EC2 key pair imported from the user's *public* key (``aws.ec2.KeyPair``; the private key never
  leaves the user's machine, so it is never in the Pulumi state);
- a node security group that admits TCP 22 from one named source only, put on every GPU node by
  :class:`components.gpu_node_pool.GpuNodePool` (launch template ``key_name`` and security groups);
- the source, one of:
  * ``instanceConnectEndpoint``: an EC2 Instance Connect Endpoint in the first private subnet with
    its own security group, allowed out to the node group on 22 only; the node rule references that
    group, which matches with client IP preservation on or off ("Security groups for EC2 Instance
    Connect Endpoint"). ``preserve_client_ip`` is set off, not left to AWS's default (on): traffic
    then comes from the endpoint's interface, which also works through a transit gateway and on
    every instance type (client IP preservation does neither: the endpoint's "Considerations").
    Who may tunnel is IAM's decision (``ec2-instance-connect:OpenTunnel``), not an open port. One
    endpoint per VPC is AWS's limit.
  * ``sourceSecurityGroupId``: members of that group (a bastion, a validator runner; same VPC or a
    peered one);
  * ``sourceCidrs``: those blocks (an on-prem validator over the VPN of the hybrid strategy).

The stack exports :attr:`ValidatorAccess.access` as ``validator_access`` (stacks/outputs.py): what
``plinth validate --stack`` needs to reach the nodes with no extra flags.

Token ``plinth:validation:ValidatorAccess``; the decisions (SSH user per AMI family, the exported
shape) are plain functions below.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from policies.errors import ConfigError
from stacks.config import SshAccessConfig

SSH_PORT = 22
# The login user of each EKS AMI family. AL2023 (what every plinth pool runs, policies/catalogue.py)
# and AL2 log in as ec2-user: the amazon-eks-ami build (templates/al2023/variables-default.json,
# ssh_username) and the EC2 user guide's default user names agree. Bottlerocket has no sshd on the
# host (its admin container is separate): no entry, so access there is refused, not guessed.
SSH_USERS = {"AL2023_": "ec2-user", "AL2_": "ec2-user"}
HOST_KEYS_FROM = "ec2-console-output"  # how a validator can check a new node's host key (see docs)


def ssh_user(ami_types: Iterable[str]) -> str:
    """The one login user of the GPU pools' AMIs; ConfigError when a pool has none or they differ."""
    users = set()
    for ami in ami_types:
        user = next((u for prefix, u in SSH_USERS.items() if ami.startswith(prefix)), None)
        if user is None:
            raise ConfigError(f"plinth:validation.sshAccess: GPU pools on AMI type {ami} have no SSH login plinth knows")
        users.add(user)
    if len(users) != 1:
        raise ConfigError(f"plinth:validation.sshAccess: the GPU pools log in as different users ({', '.join(sorted(users))})")
    return users.pop()


def access_output(cfg: SshAccessConfig, user: str, key_pair_name: str, security_group_id: str,
                  endpoint_id: str | None) -> dict[str, Any]:
    """The ``validator_access`` stack output (plain data; docs/strategies.md documents each key)."""
    out: dict[str, Any] = {
        "ssh_user": user,
        "key_pair_name": key_pair_name,
        "security_group_id": security_group_id,
        "source": cfg.source,
        "host_keys": HOST_KEYS_FROM,
    }
    if endpoint_id is not None:
        out["instance_connect_endpoint_id"] = endpoint_id
    if cfg.jump_host is not None:
        out["jump_host"] = cfg.jump_host
    return out


@dataclass
class ValidatorAccessArgs:
    config: SshAccessConfig
    vpc_id: pulumi.Input[str]
    # The network's private subnets (the endpoint goes in the first: it reaches the whole VPC).
    subnet_ids: pulumi.Input[Sequence[str]]
    ssh_user: str
    prefix: str
    region: str
    tags: dict[str, str] = field(default_factory=dict)


class ValidatorAccess(pulumi.ComponentResource):
    key_pair_name: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    instance_connect_endpoint_id: pulumi.Output[str] | None
    access: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, args: ValidatorAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:validation:ValidatorAccess", name, None, opts)
        cfg, region = args.config, args.region
        child = pulumi.ResourceOptions(parent=self)

        def tags(what: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{args.prefix}-validator-{what}"}

        key = aws.ec2.KeyPair(f"{name}-key", key_name_prefix=f"{args.prefix}-validator-", public_key=cfg.public_key,
                              region=region, tags=tags("key"), opts=child)
        nodes = aws.ec2.SecurityGroup(f"{name}-nodes", vpc_id=args.vpc_id, region=region,
                                      description="SSH to the GPU nodes from the validator's named source only",
                                      tags=tags("nodes"), opts=child)

        def admit(suffix: str, description: str, **source: Any) -> None:
            # Rule resources, not inline blocks (the pulumi-aws v7 advice AiNetwork follows too).
            aws.vpc.SecurityGroupIngressRule(f"{name}-ssh-{suffix}", security_group_id=nodes.id, ip_protocol="tcp",
                                             from_port=SSH_PORT, to_port=SSH_PORT, description=description,
                                             region=region, tags=tags(f"ssh-{suffix}"), opts=child, **source)

        endpoint_id: pulumi.Output[str] | None = None
        if cfg.instance_connect_endpoint:
            eice_sg = aws.ec2.SecurityGroup(f"{name}-eice", vpc_id=args.vpc_id, region=region,
                                            description="EC2 Instance Connect Endpoint: out to the GPU nodes on SSH only",
                                            tags=tags("eice"), opts=child)
            aws.vpc.SecurityGroupEgressRule(f"{name}-eice-to-nodes", security_group_id=eice_sg.id, ip_protocol="tcp",
                                            from_port=SSH_PORT, to_port=SSH_PORT, referenced_security_group_id=nodes.id,
                                            description="SSH to the GPU nodes", region=region,
                                            tags=tags("eice-to-nodes"), opts=child)
            admit("from-eice", "SSH from the EC2 Instance Connect Endpoint", referenced_security_group_id=eice_sg.id)
            subnet = pulumi.Output.from_input(args.subnet_ids).apply(lambda ids: ids[0])
            endpoint = aws.ec2transitgateway.InstanceConnectEndpoint(
                f"{name}-eice", subnet_id=subnet, security_group_ids=[eice_sg.id], preserve_client_ip=False,
                region=region, tags=tags("eice"), opts=child)
            endpoint_id = endpoint.id
        elif cfg.source_security_group_id is not None:
            admit("from-group", "SSH from the validator's or bastion's security group",
                  referenced_security_group_id=cfg.source_security_group_id)
        else:
            for i, block in enumerate(cfg.source_cidrs):
                admit(f"from-cidr-{i}", f"SSH from the validator's addresses {block}", cidr_ipv4=block)

        self.key_pair_name = key.key_name
        self.node_security_group_id = nodes.id
        self.instance_connect_endpoint_id = endpoint_id
        self.access = pulumi.Output.all(key.key_name, nodes.id, endpoint_id).apply(
            lambda v: access_output(cfg, args.ssh_user, v[0], v[1], v[2]))
        self.register_outputs({
            "key_pair_name": self.key_pair_name,
            "node_security_group_id": self.node_security_group_id,
            "instance_connect_endpoint_id": self.instance_connect_endpoint_id,
            "access": self.access,
        })
