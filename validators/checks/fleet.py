"""Fleet-scope outlier checks: a node well below its fleet's median is suspect even when it clears
the profile's absolute floor (a link at a tenth of its rate on a fleet that all clears 10 Gbps,
one node that lost two GPUs).

Profile line: ``{max: 10, unit: "%"}`` = warn on a node more than 10% below the fleet median.
``measured`` is in the same unit: how far (in %) the node is below the median -- for a pass, the
lowest node's distance; the value itself (Gbps, MB/s, GPUs) and the median are in the message. The verdict is ``warn`` (the absolute checks give the fails), one result per outlier,
naming the node, its value and the median; ``pass`` when none; ``skip`` with the reason when
fewer than 3 nodes have the value (with two nodes a median cannot say which one is low).

Ids: network.bandwidth_outlier (facts["pairwise"]["bandwidth_gbps"]), storage.disk_outlier
(facts["disk"] write_mb_s and read_mb_s, each against its own median), gpu.count_outlier
(len(facts["gpu"]["devices"]); a node whose driver is gone counts as 0 GPUs -- that is the outlier).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping

from policies.thresholds import Profile, Threshold
from validators.checks.base import Facts, check
from validators.checks.compare import fmt
from validators.results import CheckResult

MIN_NODES = 3
DEFAULT_PCT = 10.0


def _bandwidth(facts: Facts) -> float | None:
    pw = facts.get("pairwise")
    value = pw.get("bandwidth_gbps") if isinstance(pw, dict) and not pw.get("error") else None
    return float(value) if isinstance(value, (int, float)) else None


def _disk(key: str) -> Callable[[Facts], float | None]:
    def get(facts: Facts) -> float | None:
        disk = facts.get("disk")
        value = disk.get(key) if isinstance(disk, dict) and not disk.get("error") else None
        return float(value) if isinstance(value, (int, float)) else None

    return get


def _gpu_count(facts: Facts) -> float | None:
    gpu = facts.get("gpu")
    devices = gpu.get("devices") if isinstance(gpu, dict) else None
    return float(len(devices)) if isinstance(devices, list) else None


def outliers(
    check_id: str,
    facts_by_node: Mapping[str, Facts],
    threshold: Threshold,
    value_of: Callable[[Facts], float | None],
    what: str,
    unit: str,
    remediation: str,
) -> list[CheckResult]:
    """Warn for each node more than ``threshold.max`` percent below the median of ``value_of``."""
    pct = threshold.max if threshold.max is not None else DEFAULT_PCT
    values: dict[str, float] = {}
    for node, facts in facts_by_node.items():
        value = value_of(facts)
        if value is not None:
            values[node] = value
    if len(values) < MIN_NODES:
        return [CheckResult.make(
            check_id, "skip",
            f"{what}: {len(values)} node(s) have a value; a fleet median needs at least {MIN_NODES}",
            threshold=pct, unit="%",
        )]
    median = statistics.median(values.values())
    floor = median * (1 - pct / 100)
    # measured and threshold share the threshold's unit, "% below the fleet median"; the value itself
    # (Gbps, MB/s, GPUs) is in the message: a value in Gbps printed with a "%" unit reads as a percentage
    below = {node: max(0.0, (median - value) / median * 100) if median else 0.0 for node, value in values.items()}
    results: list[CheckResult] = []
    for node, value in values.items():
        if value < floor:
            results.append(CheckResult.make(
                check_id, "warn",
                f"{node}: {what} {fmt(value)} {unit} is {below[node]:.0f}% below the fleet median {fmt(median)} {unit} "
                f"(warn beyond {fmt(pct)}%)",
                measured=round(below[node], 1), threshold=pct, unit="%", remediation=remediation,
            ))
    if not results:
        worst = max(below, key=lambda node: below[node])
        results.append(CheckResult.make(
            check_id, "pass",
            f"{what}: no node more than {fmt(pct)}% below the fleet median {fmt(median)} {unit} ({len(values)} nodes; "
            f"lowest {worst} {fmt(values[worst])} {unit})",
            measured=round(below[worst], 1), threshold=pct, unit="%",
        ))
    return results


@check("network.bandwidth_outlier", scope="fleet", reads=("pairwise",))
def bandwidth_outlier(facts_by_node: Mapping[str, Facts], controller: Facts, threshold: Threshold, profile: Profile) -> list[CheckResult]:
    return outliers(
        "network.bandwidth_outlier", facts_by_node, threshold, _bandwidth, "node-to-node bandwidth", "Gbps",
        "Compare this node's NIC, driver, MTU and qdiscs with a healthy peer's; replace or drain it before training.",
    )


@check("storage.disk_outlier", scope="fleet", reads=("disk",))
def disk_outlier(facts_by_node: Mapping[str, Facts], controller: Facts, threshold: Threshold, profile: Profile) -> list[CheckResult]:
    fix = "Check the volume type/provisioned throughput, a degraded RAID or NVMe, and noisy neighbours on this node."
    disks = [f.get("disk") for f in facts_by_node.values()]
    skipped = [d["skipped"] for d in disks if isinstance(d, dict) and d.get("skipped")]
    if skipped and len(skipped) == len(disks):  # the test was turned off everywhere: name why, not "0 nodes"
        pct = threshold.max if threshold.max is not None else DEFAULT_PCT
        return [CheckResult.make("storage.disk_outlier", "skip", str(skipped[0]), threshold=pct, unit="%")]
    results: list[CheckResult] = []
    for key, label in (("write_mb_s", "sequential disk write"), ("read_mb_s", "sequential disk read")):
        results.extend(outliers("storage.disk_outlier", facts_by_node, threshold, _disk(key), label, "MB/s", fix))
    return _merge_passes(results)


@check("gpu.count_outlier", scope="fleet", reads=("gpu.devices[]",))
def gpu_count_outlier(facts_by_node: Mapping[str, Facts], controller: Facts, threshold: Threshold, profile: Profile) -> list[CheckResult]:
    return outliers(
        "gpu.count_outlier", facts_by_node, threshold, _gpu_count, "visible GPUs", "GPUs",
        "A GPU fell off the bus or the driver lost it: check `nvidia-smi`, dmesg for Xid 79, reseat or replace.",
    )


def _merge_passes(results: list[CheckResult]) -> list[CheckResult]:
    """Two metrics, one check: report warnings; if none, one pass (or skip) instead of two."""
    flagged = [r for r in results if r.status == "warn"]
    if flagged:
        return flagged
    passes = [r for r in results if r.status == "pass"]
    if passes:
        worst = max(passes, key=lambda r: r.measured if isinstance(r.measured, (int, float)) else 0.0)
        return [passes[0].model_copy(update={"message": "; ".join(r.message for r in passes), "measured": worst.measured})]
    return results[:1]
