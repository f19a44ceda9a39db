"""Fleet consistency of the GPU software stack: one pool, one driver, one CUDA, one VBIOS.

A pool is the nodes the inventory expects to be the same instance type (``expect.instance_type``),
else the same EC2 type read from DMI (``system.platform.instance_type``), else the same GPU model.
Mixed drivers or VBIOS inside one pool are how "works on most nodes" bugs start: NCCL and CUDA
behaviour changes between driver branches, and NVIDIA fixes GPU firmware faults in VBIOS updates.
Azure's health checks fail a node whose VBIOS differs from the fleet's (``azure_gpu_vbios.nhc``);
this judge needs no list of approved versions: the pool's majority is the reference and the
odd node is named.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from policies.thresholds import Profile, Threshold
from validators.checks.base import Facts, check
from validators.results import CheckResult

FIELDS = (("driver_version", "driver"), ("cuda_version", "CUDA"), ("vbios", "VBIOS"))


def pool_of(facts: Facts) -> str | None:
    """The pool a node belongs to; None for a node without GPUs."""
    gpu = facts.get("gpu")
    devices = gpu.get("devices") if isinstance(gpu, Mapping) else None
    if not devices:
        return None
    def section(parent: object, key: str) -> Mapping:
        value = parent.get(key) if isinstance(parent, Mapping) else None
        return value if isinstance(value, Mapping) else {}

    expected = section(facts, "expect").get("instance_type")
    read = section(section(facts, "system"), "platform").get("instance_type")
    return str(expected or read or devices[0].get("name") or "unknown GPU")


def versions_of(facts: Facts) -> dict[str, str | None]:
    gpu = facts["gpu"]
    vbios = sorted({str(d.get("vbios_version")) for d in gpu.get("devices") or [] if d.get("vbios_version")})
    return {"driver_version": gpu.get("driver_version"), "cuda_version": gpu.get("cuda_version"),
            "vbios": ", ".join(vbios) if vbios else None}


@check("gpu.versions", scope="fleet", reads=("gpu.devices[].name", "gpu.devices[].vbios_version", "gpu.driver_version",
                                             "gpu.cuda_version", "system.platform.instance_type", "expect.instance_type"))
def gpu_versions(facts_by_node: Mapping[str, Facts], controller: Facts, threshold: Threshold, profile: Profile) -> list[CheckResult]:
    pools: dict[str, dict[str, dict[str, str | None]]] = {}
    for node, facts in sorted(facts_by_node.items()):
        pool = pool_of(facts)
        if pool is not None:
            pools.setdefault(pool, {})[node] = versions_of(facts)
    results = []
    for pool, nodes in sorted(pools.items()):
        if len(nodes) < 2:
            results.append(CheckResult.make("gpu.versions", "skip", f"pool {pool}: one node with GPUs, nothing to compare"))
            continue
        odd, same = [], []
        for key, label in FIELDS:
            values = Counter(v[key] for v in nodes.values() if v[key] is not None)
            if len(values) <= 1:
                if values:
                    same.append(f"{label} {next(iter(values))}")
                continue
            majority, count = values.most_common(1)[0]
            outliers = sorted(n for n, v in nodes.items() if v[key] is not None and v[key] != majority)
            odd.append(f"{label} {majority} on {count} nodes, but " + "; ".join(f"{n} has {nodes[n][key]}" for n in outliers[:8]))
        mixed_gpus = sorted(n for n, v in nodes.items() if v["vbios"] and "," in str(v["vbios"]))
        if mixed_gpus:
            odd.append("GPUs of one node on different VBIOS: " + "; ".join(f"{n} ({nodes[n]['vbios']})" for n in mixed_gpus[:8]))
        if odd:
            results.append(CheckResult.make(
                "gpu.versions", "fail", f"pool {pool} ({len(nodes)} nodes): " + "; ".join(odd),
                measured=False, threshold=True,
                remediation="Bring the named nodes to the pool's driver/CUDA/VBIOS (same AMI or GPU operator version; "
                            "VBIOS through the vendor's firmware update), or move them to their own pool."))
        else:
            results.append(CheckResult.make("gpu.versions", "pass", f"pool {pool}: {', '.join(same) or 'versions not reported'} "
                                            f"on all {len(nodes)} nodes", measured=True, threshold=True))
    return results or [CheckResult.make("gpu.versions", "skip", "no node reported GPUs")]
