"""The check registry: adding a check is one module in this package plus one line of profile data.

A check module defines a pure judge and registers it under its id::

    from validators.checks.base import check, CheckContext
    from validators.results import CheckResult

    @check("gpu.count")
    def gpu_count(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult: ...

A judge runs for a node when the node's profile has a threshold for its id. Judges never do I/O:
they read the facts the probe (and the pairwise network rounds, and the controller's object-store
checks) gathered, so they are instant and table-tested. ``scope="fleet"`` judges see every node's
facts at once (outliers against the fleet median, bucket posture seen from the controller).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from policies.catalogue import InstanceType
from policies.thresholds import Profile, Threshold
from validators.results import CheckResult

Facts = Mapping[str, Any]  # JSON facts of one node (see validators/probe for the shape)


@dataclass(frozen=True)
class CheckContext:
    profile: Profile
    node: str = "localhost"
    expect: Mapping[str, Any] = field(default_factory=dict)  # inventory `expect:` (gpus, gpu_model, instance_type)
    instance: InstanceType | None = None  # catalogue row when the instance type is known


NodeJudge = Callable[[Facts, Threshold, CheckContext], CheckResult]
# fleet judges get every node's facts plus the controller's own facts (object-store posture and
# throughput measured from where plinth runs)
FleetJudge = Callable[[Mapping[str, Facts], Facts, Threshold, Profile], list[CheckResult]]


@dataclass(frozen=True)
class Registered:
    id: str
    scope: Literal["node", "fleet"]
    fn: Callable[..., Any]
    # fleet judges: the facts paths they read (None: any; validators/checks/_reads.py says how they
    # are written). Lets a caller that streams thousands of nodes keep only those once a node is
    # judged (validators/facts/collect.py)
    reads: tuple[str, ...] | None = None


REGISTRY: dict[str, Registered] = {}


def check(check_id: str, scope: Literal["node", "fleet"] = "node",
          reads: tuple[str, ...] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    if "." not in check_id:
        raise ValueError(f"check id must be <pillar>.<check>: {check_id!r}")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if check_id in REGISTRY and REGISTRY[check_id].fn is not fn:
            raise ValueError(f"check {check_id} registered twice")
        REGISTRY[check_id] = Registered(check_id, scope, fn, reads)
        return fn

    return register


_loaded = False


def load_all() -> dict[str, Registered]:
    """Import every module of validators.checks so their @check decorators run."""
    global _loaded
    if not _loaded:
        import validators.checks as pkg

        for mod in pkgutil.iter_modules(pkg.__path__):
            if mod.name not in {"base"} and not mod.name.startswith("_"):
                importlib.import_module(f"validators.checks.{mod.name}")
        _loaded = True
    return REGISTRY


def judge_node(facts: Facts, ctx: CheckContext) -> list[CheckResult]:
    """Every node-scope check the profile asks for, in profile order."""
    registry = load_all()
    results = []
    for check_id, threshold in ctx.profile.thresholds.items():
        reg = registry.get(check_id)
        if reg is None:
            results.append(CheckResult.make(check_id, "error", f"profile {ctx.profile.name} names check {check_id}, which plinth does not have"))
            continue
        if reg.scope != "node":
            continue
        try:
            results.append(reg.fn(facts, threshold, ctx))
        except Exception as exc:  # noqa: BLE001 — a judge bug must not lose the node's other results
            results.append(CheckResult.make(check_id, "error", f"judge crashed: {exc.__class__.__name__}: {exc}"))
    return results


def fleet_reads(profile: Profile) -> dict[str, Any] | None:
    """What the profile's fleet judges read, as a tree for :func:`fleet_part`; None when one of them
    may read anything."""
    from validators.checks import _reads

    registry = load_all()
    paths: list[str] = []
    for check_id in profile.thresholds:
        reg = registry.get(check_id)
        if reg is not None and reg.scope == "fleet":
            if reg.reads is None:
                return None
            paths.extend(reg.reads)
    return _reads.parse(paths)


def fleet_part(facts: Facts, reads: dict[str, Any] | None) -> Facts:
    """The part of one node's facts that :func:`fleet_reads`' judges read (all of it for None)."""
    from validators.checks import _reads

    return facts if reads is None else _reads.cut(facts, reads)


def judge_fleet(facts_by_node: Mapping[str, Facts], controller: Facts, profile: Profile) -> list[CheckResult]:
    registry = load_all()
    results: list[CheckResult] = []
    for check_id, threshold in profile.thresholds.items():
        reg = registry.get(check_id)
        if reg is not None and reg.scope == "fleet":
            try:
                results.extend(reg.fn(facts_by_node, controller, threshold, profile))
            except Exception as exc:  # noqa: BLE001 — as above, for fleet judges
                results.append(CheckResult.make(check_id, "error", f"judge crashed: {exc.__class__.__name__}: {exc}"))
    return results
