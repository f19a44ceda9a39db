"""Build policy arguments exactly as the CrossGuard analyzer does, for rule tests.

Properties go through the wire (a protobuf Struct, so numbers become floats and nesting is kept),
then ``pulumi_policy``'s own deserialiser and unknown-checking proxy. Stack resources go through
``policies.evaluate.policy_resources``, which links parents and (property) dependencies the way
``AnalyzeStack`` does. Use :data:`UNKNOWN_STR` for a value that is unknown during preview.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    PolicyProviderResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.evaluate import CapturedResource, _options, policy_resources
from policies.rules import ALL_POLICIES

UNKNOWN_STR = UNKNOWN_STRING_VALUE


def wire(props: Mapping[str, Any]) -> dict[str, Any]:
    s = struct_pb2.Struct()
    s.update(dict(props))
    return json_format.MessageToDict(s)


def engine_props(props: Mapping[str, Any]) -> Any:
    return unknown_checking_proxy(deserialize_properties(wire(props)))


def policy(name: str) -> Any:
    return next(p for p in ALL_POLICIES if p.name == name)


def _collect() -> tuple[list[str], ReportViolation]:
    messages: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    return messages, report


def run_resource(name: str, type_: str, props: Mapping[str, Any], *, config: Mapping[str, Any] | None = None,
                 resource_name: str = "res", provider_props: Mapping[str, Any] | None = None) -> list[str]:
    """Violation messages of resource policy ``name`` on one resource."""
    pol = policy(name)
    assert isinstance(pol, ResourceValidationPolicy)
    res = CapturedResource(urn=f"urn:pulumi:t::plinth::{type_}::{resource_name}", type=type_, name=resource_name, custom=True)
    provider = (PolicyProviderResource("pulumi:providers:aws", engine_props(provider_props), "urn:prov", "aws")
                if provider_props is not None else None)
    args = ResourceValidationArgs(type_, engine_props(props), res.urn, resource_name, _options(res), provider, dict(config or {}))
    messages, report = _collect()
    pol.validate(args, report)
    return messages


class StackBuilder:
    """A synthetic stack: ``add`` returns the URN; ``deps`` maps an input name to the URNs its
    value came from (what the engine records as property dependencies)."""

    def __init__(self) -> None:
        self.resources: list[CapturedResource] = []

    def add(self, type_: str, name: str, props: Mapping[str, Any], deps: Mapping[str, list[str]] | None = None,
            parent: str | None = None, provider: str | None = None) -> str:
        """``provider``: the URN of an explicit provider added before (Kubernetes objects, Helm releases)."""
        urn = f"urn:pulumi:t::plinth::{type_}::{name}"
        w = wire(props)
        pdeps = {k: list(v) for k, v in (deps or {}).items()}
        self.resources.append(CapturedResource(
            urn=urn, type=type_, name=name, custom=True, parent=parent,
            dependencies=sorted({u for v in pdeps.values() for u in v}), property_dependencies=pdeps,
            inputs=w, outputs=w, provider=provider,
        ))
        return urn

    def run(self, name: str, config: Mapping[str, Any] | None = None,
            pulumi_config: Mapping[str, str] | None = None) -> list[str]:
        """Violation messages of stack policy ``name``; ``pulumi_config`` plays the stack's config."""
        pol = policy(name)
        assert isinstance(pol, StackValidationPolicy)
        args = StackValidationArgs(policy_resources(self.resources), dict(config or {}))
        messages, report = _collect()

        def call() -> None:
            if pulumi_config is not None:
                from pulumi.runtime.config import set_all_config

                set_all_config(dict(pulumi_config))
            pol.validate(args, report)

        contextvars.Context().run(call)
        return messages


