"""The 0-100 readiness score, starting from the seed's audit weights (docs/validators.md,
"Readiness score").

Per node, four components read the check results:

==================  ======  ==========================================================
component           points  earned when
==================  ======  ==========================================================
gpu                 30      ``gpu.count`` measured >= 1 GPU
cpu                 20      ``system.cpu_cores`` measured >= 8 physical cores
network             25      ``network.bandwidth`` measured > 0.1 Gbps (100 Mbps); when the
                            profile has no pairwise bandwidth (or it was skipped), the
                            primary NIC's ``network.nic_speed`` stands in
data_stack          25      ``system.data_stack`` passed (numpy, pandas, pyarrow importable)
==================  ======  ==========================================================

* A component whose check the profile does not ask for is left out and the score is scaled
  to the components that were assessed (an edge profile without GPU checks is not marked down
  for having no GPU). A component whose check errored earns 0: not proven is not ready.
* When the profile assesses none of the four, the score is the share of checks that passed or
  warned (skips left out).
* Health cap: if any OTHER check failed or errored (an Xid, ECC errors, a small MTU…), the node's
  score is capped at 74, so a broken node can never read "good foundation".
* The fleet score is the mean of the node scores; an unreachable node (no results) scores 0.

Bands (seed): < 50 "urgent action required", 50-74 "modernisation needed", >= 75 "good foundation".
Critical gaps (seed names, plus two of plinth's): NO_GPU_DETECTED, INADEQUATE_NETWORK,
INSUFFICIENT_CPU, NO_DATA_STACK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from validators.results import CheckResult

WEIGHTS = {"gpu": 30, "cpu": 20, "network": 25, "data_stack": 25}
MIN_CORES = 8
MIN_NETWORK_GBPS = 0.1  # seed: "network download > 100 Mbps"
HEALTH_CAP = 74.0
GAPS = {"gpu": "NO_GPU_DETECTED", "cpu": "INSUFFICIENT_CPU", "network": "INADEQUATE_NETWORK", "data_stack": "NO_DATA_STACK"}


@dataclass(frozen=True)
class NodeScore:
    score: float
    band: str
    points: dict[str, int] = field(default_factory=dict)  # component -> points earned (assessed ones only)
    gaps: list[str] = field(default_factory=list)
    capped: bool = False


def band(score: float) -> str:
    if score < 50:
        return "urgent action required"
    if score < 75:
        return "modernisation needed"
    return "good foundation"


def _number(result: CheckResult | None) -> float | None:
    if result is None or isinstance(result.measured, (bool, str)) or result.measured is None:
        return None
    return float(result.measured)


def _component_results(by_id: dict[str, CheckResult]) -> dict[str, CheckResult | None]:
    network = by_id.get("network.bandwidth")
    if network is None or network.status == "skip":
        network = by_id.get("network.nic_speed") or network
    return {
        "gpu": by_id.get("gpu.count"),
        "cpu": by_id.get("system.cpu_cores"),
        "network": network,
        "data_stack": by_id.get("system.data_stack"),
    }


def _earned(component: str, result: CheckResult) -> bool:
    value = _number(result)
    if component == "gpu":
        return value is not None and value >= 1
    if component == "cpu":
        return value is not None and value >= MIN_CORES
    if component == "network":
        return value is not None and value > MIN_NETWORK_GBPS
    return result.status in ("pass", "warn")


def score_node(results: Sequence[CheckResult]) -> NodeScore:
    by_id = {r.id: r for r in results}
    components = _component_results(by_id)
    points: dict[str, int] = {}
    gaps: list[str] = []
    for component, result in components.items():
        if result is None or result.status == "skip":
            continue  # not assessed by this profile / not applicable here
        earned = _earned(component, result)
        points[component] = WEIGHTS[component] if earned else 0
        if not earned:
            gaps.append(GAPS[component])
    possible = sum(WEIGHTS[c] for c in points)
    if possible:
        score = 100.0 * sum(points.values()) / possible
    else:  # no seed component assessed: the share of checks that passed (0 for an unreachable node)
        judged = [r for r in results if r.status != "skip"]
        score = 100.0 * sum(r.status in ("pass", "warn") for r in judged) / len(judged) if judged else 0.0
    used = {id(r) for r in components.values() if r is not None}
    unhealthy = any(r.status in ("fail", "error") for r in results if id(r) not in used)
    capped = unhealthy and score > HEALTH_CAP
    if capped:
        score = HEALTH_CAP
    score = round(score, 1)
    return NodeScore(score=score, band=band(score), points=points, gaps=gaps, capped=capped)


def readiness_score(nodes_results: Sequence[Sequence[CheckResult]]) -> float:
    """Mean node score over the fleet (0-100, one decimal); 0 for an empty fleet."""
    if not nodes_results:
        return 0.0
    return round(sum(score_node(r).score if r else 0.0 for r in nodes_results) / len(nodes_results), 1)
