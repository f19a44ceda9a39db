"""Judging, apart from gathering: one path from "what was found on each node" to a :class:`Report`.

Facts reach the judges three ways — the SSH fan-out and the local transport (``validators.runner``)
and a facts store that ``plinth agent`` filled in-cluster (``validators.facts.collect``) — and all
three hand this module the same :class:`NodeOutcome` per node, so the same node judges, the same fleet
judges, the same "every check errors with the reason" rule for a node without facts, and the same
summary and score apply whichever way the facts came.

The steps are separate functions so a caller can judge node by node as facts arrive (the facts
store streams 10,000 nodes without holding all of their facts) and judge the fleet at the end:

    reports = [node_report(o, profile) for o in outcomes]
    fleet = fleet_results({o.spec.name: o.facts for o in outcomes if o.facts is not None}, controller, profile)
    report = assemble(reports, fleet, profile, started_at=..., duration_s=...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policies.catalogue import instance
from policies.thresholds import Profile
from validators.checks.base import CheckContext, Facts, judge_fleet, judge_node, load_all
from validators.facts_guard import guard_facts
from validators.inventory import NodeSpec
from validators.network.infer import measured_pairs
from validators.results import CheckResult, NodeReport, PairMeasurement, Report, Summary
from validators.score import readiness_score

INTERRUPTED = "interrupted"


@dataclass
class NodeOutcome:
    """What gathering found for one node, however it was gathered. ``facts`` None: ``error`` says why
    (unreachable, probe failed, facts missing/stale/malformed in the store, interrupted)."""

    spec: NodeSpec
    reachable: bool
    facts: dict[str, Any] | None = None
    error: str | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        # the one boundary a node's facts cross before any judge sees them, whichever way they came
        # (SSH, local, a facts store): numbers finite and in range, strings bounded (facts_guard.py)
        if self.facts is not None:
            self.facts = guard_facts(self.facts)


def context(spec: NodeSpec, profile: Profile) -> CheckContext:
    expect = spec.expect.model_dump(exclude_none=True)
    row = instance(spec.expect.instance_type) if spec.expect.instance_type else None
    return CheckContext(profile=profile, node=spec.name, expect=expect, instance=row)


def errors_for_all_checks(profile: Profile, reason: str) -> list[CheckResult]:
    """Every node check the profile asks for, ``error`` with ``reason``: a node without facts is
    counted as unchecked in the summary, the JUnit totals and the score, not left out."""
    registry = load_all()
    out = []
    for check_id, th in profile.thresholds.items():
        reg = registry.get(check_id)
        if reg is None or reg.scope == "node":
            bound = th.min if th.min is not None else (th.max if th.max is not None else th.expect)
            out.append(CheckResult.make(check_id, "error", reason, threshold=bound, unit=th.unit))
    return out


def fleet_errors(profile: Profile, reason: str) -> list[CheckResult]:
    """Every fleet check of the profile, ``error`` with ``reason`` (the fleet judges never ran)."""
    registry = load_all()
    return [CheckResult.make(cid, "error", reason, unit=th.unit) for cid, th in profile.thresholds.items()
            if cid in registry and registry[cid].scope == "fleet"]


def node_report(outcome: NodeOutcome, profile: Profile) -> NodeReport:
    if outcome.facts is not None:
        checks = judge_node(outcome.facts, context(outcome.spec, profile))
    else:
        checks = errors_for_all_checks(profile, outcome.error or INTERRUPTED)
    return NodeReport(name=outcome.spec.name, host=outcome.spec.host, reachable=outcome.reachable, checks=checks,
                      duration_s=None if outcome.duration_s is None else round(outcome.duration_s, 3))


def fleet_facts(outcome: NodeOutcome) -> dict[str, Any]:
    """A node's facts for the fleet judges: plus ``expect``, what the inventory expects of the node
    (gpu.versions groups nodes into pools by ``expect.instance_type``)."""
    return {**(outcome.facts or {}), "expect": outcome.spec.expect.model_dump(exclude_none=True)}


def fleet_results(facts_by_node: Mapping[str, Facts], controller: Facts, profile: Profile) -> list[CheckResult]:
    return judge_fleet(facts_by_node, controller, profile)


def summarize(nodes: list[NodeReport], fleet: list[CheckResult]) -> Summary:
    count = dict.fromkeys(("pass", "fail", "error", "warn", "skip"), 0)
    for n in nodes:
        for c in n.checks:
            count[c.status] += 1
    for c in fleet:
        count[c.status] += 1
    return Summary(nodes=len(nodes), passed=count["pass"], failed=count["fail"], errors=count["error"],
                   warnings=count["warn"], skipped=count["skip"], score=readiness(nodes))


def readiness(nodes: list[NodeReport]) -> float:
    """The 0-100 fleet score (validators/score.py: mean of node scores; unreachable nodes 0)."""
    return readiness_score([n.checks for n in nodes])


def assemble(nodes: list[NodeReport], fleet: list[CheckResult], profile: Profile, *, started_at: str | None,
             duration_s: float | None, pairs: list[PairMeasurement] | None = None) -> Report:
    return Report(summary=summarize(nodes, fleet), profile=profile.name, nodes=nodes, fleet=fleet, pairs=pairs or [],
                  started_at=started_at, duration_s=None if duration_s is None else round(duration_s, 3))


def judge_outcomes(outcomes: list[NodeOutcome], controller: Facts, profile: Profile, *, started_at: str | None,
                   duration_s: float | None, fleet_error: str | None = None) -> Report:
    """All of it at once (the SSH path). ``fleet_error``: the fleet judges are not run and every fleet
    check errors with that reason (an interrupted run's fleet is not judged on partial facts)."""
    nodes = [node_report(o, profile) for o in outcomes]
    facts_by_node = {o.spec.name: o.facts for o in outcomes if o.facts is not None}
    if fleet_error is not None:
        fleet = fleet_errors(profile, fleet_error)
    else:
        fleet = fleet_results({o.spec.name: fleet_facts(o) for o in outcomes if o.facts is not None}, controller, profile)
    return assemble(nodes, fleet, profile, started_at=started_at, duration_s=duration_s, pairs=measured_pairs(facts_by_node))


__all__ = ["INTERRUPTED", "NodeOutcome", "assemble", "context", "errors_for_all_checks", "fleet_errors", "fleet_facts",
           "fleet_results", "judge_outcomes", "node_report", "readiness", "summarize"]
