"""Building rules: a policy object per rule, its default enforcement, and its config schema.

Rule modules build ``ResourceValidationPolicy`` / ``StackValidationPolicy`` objects at import time;
that only stores callables (no server starts: only ``PolicyPack(...)`` in ``policies/pack`` does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.policy_config import (
    Enforcement,
    PolicyConfig,
    config_from_policy_args,
    config_schema_properties,
)

Policy = ResourceValidationPolicy | StackValidationPolicy
ResourceCheck = Callable[[ResourceValidationArgs, ReportViolation], Any | None]
StackCheck = Callable[[StackValidationArgs, ReportViolation], Any | None]

# Default enforcement per policy name (what `docs/policies.md` lists); PolicyConfig.enforcement overrides it.
DEFAULT_ENFORCEMENT: dict[str, Enforcement] = {}
# The config properties each policy reads (wire names), i.e. its config schema.
CONFIG_PROPERTIES: dict[str, tuple[str, ...]] = {}


def _register(name: str, enforcement: Enforcement, config: Sequence[str]) -> PolicyConfigSchema | None:
    if name in DEFAULT_ENFORCEMENT:
        raise ValueError(f"duplicate policy name {name!r}")
    DEFAULT_ENFORCEMENT[name] = enforcement
    CONFIG_PROPERTIES[name] = tuple(config)
    return PolicyConfigSchema(properties=config_schema_properties(config)) if config else None


def resource_policy(
    name: str, description: str, validate: ResourceCheck, enforcement: Enforcement, config: Sequence[str] = (),
    remediation: str | None = None,
) -> ResourceValidationPolicy:
    schema = _register(name, enforcement, config)
    return ResourceValidationPolicy(
        name=name, description=description, validate=validate,
        enforcement_level=EnforcementLevel(enforcement), config_schema=schema, remediation_steps=remediation,
    )


def stack_policy(
    name: str, description: str, validate: StackCheck, enforcement: Enforcement, config: Sequence[str] = (),
    remediation: str | None = None,
) -> StackValidationPolicy:
    schema = _register(name, enforcement, config)
    return StackValidationPolicy(
        name=name, description=description, validate=validate,
        enforcement_level=EnforcementLevel(enforcement), config_schema=schema, remediation_steps=remediation,
    )


def config_of(args: ResourceValidationArgs | StackValidationArgs) -> PolicyConfig:
    return config_from_policy_args(args.get_config())
