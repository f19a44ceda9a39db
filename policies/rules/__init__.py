"""plinth's CrossGuard rules, one module per family. Importing this package builds the policy
objects (plain callables) and never starts the analyzer server: only ``policies/pack/__main__.py``
constructs ``PolicyPack(...)``.

``ALL_POLICIES`` is the pack, in order; ``DEFAULT_ENFORCEMENT`` and ``CONFIG_PROPERTIES`` say how
each policy is enforced by default and which config properties it reads.
"""

from __future__ import annotations

from policies.rules import (
    cost,
    eks,
    eks_platform,
    identity,
    iot,
    kms,
    kubernetes,
    launch_template,
    network,
    s3,
    s3_resources,
    tags,
    training,
)
from policies.rules._base import CONFIG_PROPERTIES, DEFAULT_ENFORCEMENT, Policy

ALL_POLICIES: list[Policy] = [
    *s3.POLICIES,
    *s3_resources.POLICIES,
    *kms.POLICIES,
    *network.POLICIES,
    *eks.POLICIES,
    *eks_platform.POLICIES,
    *launch_template.POLICIES,
    *identity.POLICIES,
    *training.POLICIES,
    *iot.POLICIES,
    *kubernetes.POLICIES,
    *tags.POLICIES,
    *cost.POLICIES,
]
POLICY_NAMES: tuple[str, ...] = tuple(p.name for p in ALL_POLICIES)

__all__ = ["ALL_POLICIES", "CONFIG_PROPERTIES", "DEFAULT_ENFORCEMENT", "POLICY_NAMES", "Policy"]
