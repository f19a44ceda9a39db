"""Kubernetes GPU workloads: request ``nvidia.com/gpu`` in limits and tolerate the GPU taint.

The device plugin only hands out extended resources declared in ``limits`` (a request alone is
rejected or ignored), and GPU nodes carry the ``nvidia.com/gpu`` NoSchedule taint, so a GPU pod
without the toleration stays Pending forever.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules._base import config_of, resource_policy
from policies.rules._props import UNKNOWN, as_list, get, plain, require_known

GPU_RESOURCE = "nvidia.com/gpu"
# type token -> path from the object to its pod spec
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def tolerates(tolerations: Any, key: str) -> bool:
    for t in as_list(tolerations):
        op = get(t, "operator", default="Equal")
        effect = get(t, "effect", default="")
        if effect not in ("", "NoSchedule"):
            continue
        if op == "Exists" and get(t, "key", default="") in ("", key):
            return True
        if op == "Equal" and get(t, "key") == key:
            return True  # the value must match the node's taint value; plinth's pools use "true"
    return False


def gpu_pod_problems(pod_spec: Any, taint_key: str) -> list[str]:
    problems = []
    gpu_containers = []
    for c in as_list(get(pod_spec, "containers")) + as_list(get(pod_spec, "initContainers")):
        limits = get(c, "resources", "limits", default={})
        requests = get(c, "resources", "requests", default={})
        name = get(c, "name", default="?")
        if GPU_RESOURCE in (limits if isinstance(limits, dict) else {}):
            gpu_containers.append(name)
        elif GPU_RESOURCE in (requests if isinstance(requests, dict) else {}):
            gpu_containers.append(name)
            problems.append(f"container {name} requests {GPU_RESOURCE} without a limit (extended resources are set in limits)")
    if gpu_containers:
        tolerations = get(pod_spec, "tolerations", default=[])
        require_known(tolerations, "spec", "tolerations")
        if not tolerates(tolerations, taint_key):
            problems.append(f"uses GPUs ({', '.join(gpu_containers)}) but doesn't tolerate the {taint_key} NoSchedule taint")
    return problems


def _check_gpu_workload(args: ResourceValidationArgs, report: ReportViolation) -> None:
    path = POD_SPEC_PATHS.get(args.resource_type)
    if path is None:
        return
    pod_spec = get(plain(args.props), *path)
    if pod_spec is None:
        return
    require_known(pod_spec if pod_spec is UNKNOWN else None, *path)
    kind = args.resource_type.rsplit(":", 1)[-1]
    for problem in gpu_pod_problems(pod_spec, config_of(args).gpu_taint_key):
        report(f"{kind} {args.name}: {problem}", None)


POLICIES = [
    resource_policy("k8s-gpu-workload-scheduling",
                    "Kubernetes GPU workloads must set nvidia.com/gpu in limits and tolerate the GPU taint.",
                    _check_gpu_workload, "mandatory", config=("gpuTaintKey",)),
]
