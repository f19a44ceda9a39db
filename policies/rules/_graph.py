"""Joining resources in a stack policy, including in preview when ids and names are still unknown.

pulumi-aws v7 keeps a bucket's versioning, encryption, public-access block, policy and lifecycle in
separate resources whose ``bucket`` input is the bucket's ``id`` output; a node group points at its
launch template by ``launchTemplate.id``; a launch template names its placement group. In a
``pulumi preview`` of a new stack those outputs are *unknown*, so comparing values can't join them.
What the engine does know is which resources each input came from: ``PolicyResource.property_dependencies``
maps an input name (top level, camelCase) to the resources its value was computed from. The join is:

1. the candidate named in ``property_dependencies[prop]`` (works with unknown values);
2. else a known value equal to a candidate's id-like output (``id``, ``bucket``, ``arn``, ``name``),
   for existing resources or programs that pass literal names;
3. else nothing: the caller reports the missing side resource.

A side resource whose input depends on several candidates (rare) joins the first one found.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pulumi_policy import PolicyResource

from policies.rules._props import UNKNOWN, get, plain

ID_LIKE_PROPS = ("id", "bucket", "arn", "name", "groupName", "keyId")


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def _identifiers(res: PolicyResource) -> set[str]:
    props = plain(res.props)
    out: set[str] = set()
    for key in ID_LIKE_PROPS:
        value = get(props, key)
        if isinstance(value, str) and value:
            out.add(value)
    return out


def referenced(res: PolicyResource, prop: str, candidates: Sequence[PolicyResource], *value_path: str) -> PolicyResource | None:
    """The candidate that ``res``'s input ``prop`` refers to. ``value_path`` digs into the input when the
    reference is nested (``launchTemplate.id``, ``placement.groupName``) for the value match."""
    by_urn = {c.urn: c for c in candidates}
    for dep in res.property_dependencies.get(prop, []):
        if dep.urn in by_urn:
            return by_urn[dep.urn]
    value = get(plain(res.props), prop, *value_path)
    if isinstance(value, str) and value and value is not UNKNOWN:
        for cand in candidates:
            if value in _identifiers(cand):
                return cand
    return None


def referrers(target: PolicyResource, prop: str, side: Sequence[PolicyResource], *value_path: str) -> list[PolicyResource]:
    """The resources among ``side`` whose input ``prop`` refers to ``target``."""
    return [s for s in side if (ref := referenced(s, prop, [target], *value_path)) is not None and ref.urn == target.urn]
