"""Stack outputs: the contract that `plinth validate --stack`, CI scripts and users read.

Every strategy returns a :class:`StackOutputs`; :meth:`StackOutputs.export` publishes it with
``pulumi.export``. ``strategy``, ``profile``, ``region``, ``node_groups`` (maybe ``[]``) and
``buckets`` are always there. A key that doesn't apply to the strategy (``thing_group`` on
cloud-first, ``cluster_name`` on edge without pools) is *absent*: the Pulumi SDK drops stack outputs
whose value is None, so readers use ``outputs.get(key)``. docs/strategies.md documents each key;
change a name only with a note there.

Keys (``pulumi stack output --json``):

- ``strategy``, ``profile``, ``region``: what the stack was built as.
- ``cluster_name``: the EKS cluster plinth made (cloud-first, hybrid burst), else null.
- ``node_groups``: ``[{name, instance_type, max_size, tag_selector}]``, one per GPU pool; the
  validator finds a pool's instances with ``tag_selector`` (EC2 tags), since EKS picks the nodes.
- ``gpu_node_tag_selector``: tags every plinth GPU node carries (all pools of this stack).
- ``buckets``: lakehouse zone -> bucket name; ``object_store_endpoint``: the S3 endpoint URL.
- ``thing_group``: the AWS IoT thing group of the edge fleet (edge-centric), else null.
- ``vpc_id``: the VPC plinth made, else null.
- ``validator_access``: how a validator reaches the GPU nodes over SSH (``plinth:validation.sshAccess``;
  absent without it): ``{ssh_user, key_pair_name, security_group_id, source, host_keys}`` plus
  ``instance_connect_endpoint_id`` (source ``instance-connect-endpoint``) or ``jump_host``
  (``[user@]host[:port]``, when configured). The private key is the user's, never an output.
- extras: ``kubeconfig`` (secret), ``vpn_connection_id`` (hybrid), ``edge_things`` (edge), ``kms_key_arn``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

CONTRACT_KEYS: tuple[str, ...] = (
    "strategy",
    "profile",
    "region",
    "cluster_name",
    "node_groups",
    "gpu_node_tag_selector",
    "buckets",
    "object_store_endpoint",
    "thing_group",
    "vpc_id",
    "validator_access",
)


def node_group_output(
    name: pulumi.Input[str],
    instance_type: pulumi.Input[str],
    max_size: pulumi.Input[int],
    tag_selector: pulumi.Input[dict[str, str]],
) -> pulumi.Output[dict[str, Any]]:
    """One ``node_groups`` entry, resolved to plain data so the exported list is plain JSON."""
    return pulumi.Output.all(name, instance_type, max_size, tag_selector).apply(
        lambda v: {"name": v[0], "instance_type": v[1], "max_size": int(v[2]), "tag_selector": v[3]}
    )


@dataclass
class StackOutputs:
    strategy: str
    profile: str
    region: str
    cluster_name: pulumi.Input[str] | None = None
    node_groups: list[pulumi.Output[dict[str, Any]]] = field(default_factory=list)
    gpu_node_tag_selector: pulumi.Input[dict[str, str]] | None = None
    buckets: pulumi.Input[dict[str, str]] = field(default_factory=dict)
    object_store_endpoint: pulumi.Input[str] | None = None
    thing_group: pulumi.Input[str] | None = None
    vpc_id: pulumi.Input[str] | None = None
    validator_access: pulumi.Input[dict[str, Any]] | None = None
    # Not part of the validator contract, but what a user reaches for next.
    extras: dict[str, pulumi.Input[Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Contract keys first, then the extras; keys whose value is None are left out, exactly as
        the engine would leave them out, so offline runs see what `pulumi stack output` shows."""
        values: dict[str, Any] = {key: getattr(self, key) for key in CONTRACT_KEYS}
        values["node_groups"] = pulumi.Output.all(*self.node_groups) if self.node_groups else []
        for key, value in self.extras.items():
            if key in values:
                raise ValueError(f"extra stack output {key!r} would shadow a contract key")
            values[key] = value
        return {key: value for key, value in values.items() if value is not None}

    def export(self) -> None:
        for key, value in self.as_dict().items():
            pulumi.export(key, value)

