"""Run the pack's policies over captured resources, building the arguments the way the engine does.

This mirrors ``pulumi_policy``'s analyzer servicer (``Analyze`` / ``AnalyzeStack``): properties are
deserialised from the wire form (camelCase, unknown sentinels) and wrapped in the unknown-checking
proxy; a resource policy gets each resource's *inputs*, a stack policy gets every resource's
*outputs* with parent, dependencies and property dependencies linked as ``PolicyResource`` objects;
``UnknownValueError`` becomes an advisory "can't run during preview" note, ``not_applicable`` is
silent. Enforcement comes from the policy config (else the policy's default), ``disabled`` skips.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policies.policy_config import PolicyConfig
from policies.rules import ALL_POLICIES, CONFIG_PROPERTIES, DEFAULT_ENFORCEMENT, Policy

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class CapturedResource:
    """One registered resource, as the engine would describe it to an analyzer."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None = None
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)  # wire form: camelCase, unknown sentinels
    outputs: dict[str, Any] = field(default_factory=dict)  # inputs merged with what the provider returned
    provider: str | None = None  # URN of an explicit provider resource


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str  # mandatory | advisory
    message: str
    urn: str | None = None
    resource: str | None = None  # the resource's name; None for the stack as a whole
    resource_type: str | None = None
    description: str = ""


def _props(wire: Mapping[str, Any]) -> Any:
    return unknown_checking_proxy(deserialize_properties(dict(wire)))


def _options(res: CapturedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[], parent=res.parent,
    )


def _run(result: Any) -> None:
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(result)
        finally:
            loop.close()


class _Collector:
    def __init__(self, by_urn: Mapping[str, CapturedResource]) -> None:
        self.by_urn = by_urn
        self.violations: list[Violation] = []

    def reporter(self, policy: Policy, level: str, default_urn: str | None):
        def report(message: str, urn: str | None = None) -> None:
            target = urn or default_urn
            res = self.by_urn.get(target) if target else None
            self.violations.append(Violation(
                policy=policy.name, enforcement=level, message=message, urn=target,
                resource=res.name if res else None, resource_type=res.type if res else None,
                description=policy.description,
            ))
        return report

    def guarded(self, policy: Policy, level: str, urn: str | None, call: Any) -> None:
        try:
            _run(call())
        except UnknownValueError as exc:
            self.reporter(policy, "advisory", urn)(f"can't check during preview: {exc.message}")
        except _NotApplicableError:
            pass
        except Exception as exc:  # noqa: BLE001 - a crashing rule fails the preview, visibly, as the CLI would
            self.reporter(policy, "mandatory", urn)(f"policy raised {exc.__class__.__name__}: {exc}")


def provider_resources(resources: Sequence[CapturedResource]) -> dict[str, PolicyProviderResource]:
    return {
        r.urn: PolicyProviderResource(r.type, _props(r.inputs), r.urn, r.name)
        for r in resources if r.type.startswith("pulumi:providers:")
    }


def policy_resources(
    resources: Sequence[CapturedResource], providers: Mapping[str, PolicyProviderResource] | None = None
) -> list[PolicyResource]:
    """Every resource as a stack policy sees it (outputs), linked the way AnalyzeStack links them."""
    providers = provider_resources(resources) if providers is None else providers
    linked = {
        r.urn: PolicyResource(r.type, _props(r.outputs), r.urn, r.name, _options(r), providers.get(r.provider or ""), None, [], {})
        for r in resources
    }
    for r in resources:
        pr = linked[r.urn]
        pr.parent = linked.get(r.parent or "")
        pr.dependencies.extend(linked[d] for d in r.dependencies if d in linked)
        for prop, urns in r.property_dependencies.items():
            pr.property_dependencies[prop] = [linked[d] for d in urns if d in linked]
    return list(linked.values())


def evaluate(
    resources: Sequence[CapturedResource],
    cfg: PolicyConfig,
    policies: Sequence[Policy] = ALL_POLICIES,
    stack_tags: Mapping[str, str] | None = None,
) -> list[Violation]:
    by_urn = {r.urn: r for r in resources}
    providers = provider_resources(resources)
    tags = dict(stack_tags or {})
    out = _Collector(by_urn)

    stack_resources = {pr.urn: pr for pr in policy_resources(resources, providers)}

    for policy in policies:
        level = cfg.enforcement_for(policy.name, DEFAULT_ENFORCEMENT.get(policy.name, "advisory"))
        if level == "disabled":
            continue
        config = cfg.properties(CONFIG_PROPERTIES.get(policy.name, ()))
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                if r.type == STACK_TYPE:
                    continue
                args = ResourceValidationArgs(r.type, _props(r.inputs), r.urn, r.name, _options(r),
                                              providers.get(r.provider or ""), config, tags)
                report = out.reporter(policy, level, r.urn)
                out.guarded(policy, level, r.urn, lambda p=policy, a=args, rep=report: p.validate(a, rep))
        elif isinstance(policy, StackValidationPolicy):
            sargs = StackValidationArgs(list(stack_resources.values()), config, tags)
            report = out.reporter(policy, level, None)
            out.guarded(policy, level, None, lambda p=policy, a=sargs, rep=report: p.validate(a, rep))
    return out.violations
