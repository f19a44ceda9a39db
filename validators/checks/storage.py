"""Local storage judges: free space, sequential disk throughput, object-store reachability and
latency seen from the node. (Bucket posture and PUT/GET throughput are fleet judges measured
from the controller: validators/checks/object_store.py.)"""

from __future__ import annotations

from policies.thresholds import Threshold
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import at_least, at_most, fmt, not_applicable, not_run, section_problem
from validators.results import CheckResult


@check("storage.free_space")
def free_space(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    problem = section_problem(facts, "mounts")
    if problem:
        return not_run("storage.free_space", problem, threshold=threshold)
    # the largest writable filesystem is where datasets and checkpoints will go (local NVMe,
    # /data, an FSx mount); judging / alone would fail nodes that keep data elsewhere
    writable = [m for m in facts["mounts"] if not m.get("read_only") and m.get("free_gib") is not None]
    if not writable:
        return not_run("storage.free_space", "no writable filesystem found in /proc/mounts", threshold=threshold)
    best = max(writable, key=lambda m: m["free_gib"])
    return at_least(
        "storage.free_space", best["free_gib"], threshold,
        what=f"free space on {best['path']} ({best['fs']}, largest writable of {len(writable)})", unit=threshold.unit or "GiB",
        remediation="Attach/mount the instance NVMe (or a larger EBS/FSx volume) for datasets and checkpoints, or clean up.",
    )


@check("storage.disk_throughput")
def disk_throughput(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    problem = section_problem(facts, "disk")
    if problem:
        return not_run("storage.disk_throughput", problem, threshold=threshold)
    disk = facts["disk"]
    if disk.get("skipped"):  # turned off on purpose (--disk-test-mb 0, --quick): say so, don't fail the node
        return not_applicable("storage.disk_throughput", str(disk["skipped"]), threshold=threshold)
    if disk.get("error"):
        return not_run("storage.disk_throughput", f"disk test on {disk.get('path')} failed: {disk['error']}", threshold=threshold)
    write, read = disk.get("write_mb_s"), disk.get("read_mb_s")
    if write is None and read is None:
        return not_run("storage.disk_throughput", "disk test produced no numbers", threshold=threshold)
    # the slower direction bounds a checkpoint write or a dataset read
    measured = min(v for v in (write, read) if v is not None)
    what = (f"sequential disk throughput on {disk.get('path')} (write {fmt(write)}, read {fmt(read)} MB/s, "
            f"{disk.get('tool')}, {fmt((disk.get('bytes') or 0) / 2**20)} MiB)")
    result = at_least("storage.disk_throughput", measured, threshold, what=what, unit=threshold.unit or "MB/s",
                      remediation="Use local NVMe (instance store, RAID0) or provisioned-throughput volumes for data and checkpoints.")
    notes = [n for n in disk.get("notes") or [] if "cached" in n]
    if notes:
        result = result.model_copy(update={"message": result.message + f"; note: {notes[0]}"})
    return result


@check("storage.object_store_latency")
def object_store_latency(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    errors = facts.get("errors") or {}
    if "object_store" in errors:
        return not_run("storage.object_store_latency", f"probe could not gather object_store: {errors['object_store']}", threshold=threshold)
    store = facts.get("object_store")
    if store is None:
        return not_applicable("storage.object_store_latency", "no object store endpoint in the inventory", threshold=threshold)
    remediation = ("Check DNS, security groups/NACLs and routes to the endpoint; on AWS use an S3 gateway VPC endpoint "
                   "in the same region as the nodes.")
    if not store.get("reachable"):
        return CheckResult.make(
            "storage.object_store_latency", "fail", f"object store {store.get('endpoint')} unreachable: {store.get('error')}",
            threshold=threshold.max, unit=threshold.unit or "ms", remediation=remediation,
        )
    return at_most("storage.object_store_latency", store.get("latency_ms"), threshold,
                   what=f"object store {store.get('endpoint')} HEAD round trip (TCP connect {fmt(store.get('connect_ms'))} ms)",
                   unit=threshold.unit or "ms", remediation=remediation)
