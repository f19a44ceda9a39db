"""Run the pack's policies over captured resources, building the arguments the way the engine does.

This mirrors ``pulumi_policy``'s analyzer servicer (``Analyze`` / ``AnalyzeStack``): properties are
deserialised from the wire form (camelCase, unknown sentinels) and wrapped in the unknown-checking
proxy; a resource policy gets each resource's *inputs*, a stack policy gets every resource's
*outputs* with parent, dependencies and property dependencies linked as ``PolicyResource`` objects;
``UnknownValueError`` (a value the verdict needs is unknown before the resource exists) is recorded
as "cannot be evaluated during preview: X unknown" for that policy and resource, never as a pass;
``not_applicable`` is silent. Enforcement comes from the policy config (else the policy's default),
``disabled`` skips.

:func:`evaluate` returns an :class:`Evaluation`: the violations, what could not be evaluated, and
each policy's status (``ran``, ``could-not-run``, ``disabled``), so a verdict line can say how many
policies actually judged the stack.
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
    provider_ref: str = ""  # the request's provider reference, "<urn>::<id>"
    ignore_changes: list[str] = field(default_factory=list)
    retain_on_delete: bool = False
    values: dict[str, Any] = field(default_factory=dict)  # inputs as the SDK hands them to mocks (Python values)


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str  # mandatory | advisory
    message: str
    urn: str | None = None
    resource: str | None = None  # the resource's name; None for the stack as a whole
    resource_type: str | None = None
    description: str = ""


@dataclass(frozen=True)
class NotEvaluated:
    """A policy that could not judge a resource (or the stack) because a value it needs is unknown
    before the resources exist: "could not run", never a pass."""

    policy: str
    enforcement: str
    reason: str  # "cannot be evaluated during preview: <property path> unknown"
    urn: str | None = None
    resource: str | None = None
    resource_type: str | None = None


RAN, COULD_NOT_RUN, DISABLED = "ran", "could-not-run", "disabled"


@dataclass
class Evaluation:
    violations: list[Violation] = field(default_factory=list)
    not_evaluated: list[NotEvaluated] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)  # policy name -> ran | could-not-run | disabled

    def count(self, status: str) -> int:
        return sum(1 for s in self.status.values() if s == status)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]


def _props(wire: Mapping[str, Any]) -> Any:
    return unknown_checking_proxy(deserialize_properties(dict(wire)))


def _options(res: CapturedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False, ignore_changes=list(res.ignore_changes), delete_before_replace=None, aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[], parent=res.parent,
    )


def _run(result: Any) -> None:
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(result)
        finally:
            loop.close()


def unknown_reason(exc: UnknownValueError) -> str:
    path = ".".join(str(p) for p in exc.props) or "a value"
    return f"cannot be evaluated during preview: {path} unknown"


class _Collector:
    def __init__(self, by_urn: Mapping[str, CapturedResource]) -> None:
        self.by_urn = by_urn
        self.out = Evaluation()

    def reporter(self, policy: Policy, level: str, default_urn: str | None):
        def report(message: str, urn: str | None = None) -> None:
            target = urn or default_urn
            res = self.by_urn.get(target) if target else None
            self.out.violations.append(Violation(
                policy=policy.name, enforcement=level, message=message, urn=target,
                resource=res.name if res else None, resource_type=res.type if res else None,
                description=policy.description,
            ))
        return report

    def guarded(self, policy: Policy, level: str, urn: str | None, call: Any) -> None:
        try:
            _run(call())
        except UnknownValueError as exc:
            res = self.by_urn.get(urn) if urn else None
            self.out.not_evaluated.append(NotEvaluated(
                policy=policy.name, enforcement=level, reason=unknown_reason(exc), urn=urn,
                resource=res.name if res else None, resource_type=res.type if res else None))
            self.out.status[policy.name] = COULD_NOT_RUN
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
) -> Evaluation:
    by_urn = {r.urn: r for r in resources}
    providers = provider_resources(resources)
    tags = dict(stack_tags or {})
    collector = _Collector(by_urn)
    status = collector.out.status
    # Each resource's props are deserialised and proxied once; every policy reads the same
    # (read-only) proxy, as every policy of a pack reads the same AnalyzeRequest.
    targets = [(r, _props(r.inputs), _options(r)) for r in resources if r.type != STACK_TYPE]
    # Registration order varies from run to run (it is asynchronous): stack rules see the resources
    # by URN, so what they report first, and hence every report, is the same on every run.
    stack_resources = sorted(policy_resources(resources, providers), key=lambda r: r.urn)

    for policy in policies:
        level = cfg.enforcement_for(policy.name, DEFAULT_ENFORCEMENT.get(policy.name, "advisory"))
        if level == "disabled":
            status[policy.name] = DISABLED
            continue
        status[policy.name] = RAN
        config = cfg.properties(CONFIG_PROPERTIES.get(policy.name, ()))
        if isinstance(policy, ResourceValidationPolicy):
            for r, props, opts in targets:
                args = ResourceValidationArgs(r.type, props, r.urn, r.name, opts, providers.get(r.provider or ""), config, tags)
                report = collector.reporter(policy, level, r.urn)
                collector.guarded(policy, level, r.urn, lambda p=policy, a=args, rep=report: p.validate(a, rep))
        elif isinstance(policy, StackValidationPolicy):
            sargs = StackValidationArgs(stack_resources, config, tags)
            report = collector.reporter(policy, level, None)
            collector.guarded(policy, level, None, lambda p=policy, a=sargs, rep=report: p.validate(a, rep))
    return collector.out
