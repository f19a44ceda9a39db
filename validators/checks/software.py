"""Software judges: GPUDirect RDMA (``network.gpudirect``), the locked-memory limit RDMA needs
(``system.memlock``) and the NVIDIA container toolkit where containers run
(``system.container_runtime``). Driver, CUDA, VBIOS and Fabric Manager versions are the GPU
checks' (gpu.py and its siblings).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.thresholds import Threshold
from validators.checks import _fabric
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import fmt, not_applicable, not_run, section_problem
from validators.results import CheckResult

GIB = 1024 ** 3
PEERMEM = ("nvidia_peermem", "nv_peer_mem", "efa_nv_peermem")
DMABUF_KERNEL: tuple[int, int] = (5, 12)  # ib_umem_dmabuf_get() in upstream mlx5_ib/efa (AzHC azure_gdr_detect.nhc)


def _sections(check_id: str, facts: Facts, threshold: Threshold, *names: str) -> CheckResult | None:
    for section in names:
        problem = section_problem(facts, section)
        if problem:
            return not_run(check_id, problem, threshold=threshold)
    return None


def _has_gpus(facts: Facts) -> bool:
    gpu = facts.get("gpu")
    return isinstance(gpu, Mapping) and bool(gpu.get("devices"))


def _kernel(facts: Facts) -> tuple[int, int] | None:
    release = str((facts.get("system") or {}).get("kernel") or "")
    parts = release.split(".")
    try:
        return int(parts[0]), int(parts[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _kernel_at_least(facts: Facts, version: tuple[int, int]) -> bool:
    running = _kernel(facts)
    return running is not None and running >= version


@check("network.gpudirect")
def gpudirect(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    """GPUDirect RDMA lets the NIC read and write GPU memory; without it NCCL stages every transfer
    through host memory. Two paths (NVIDIA GPUDirect RDMA docs; AzHC azure_gdr_detect.nhc): a peer
    memory module (nvidia_peermem with MLNX/DOCA OFED, nv_peer_mem before it, efa_nv_peermem from
    the AWS EFA installer), or DMA-BUF (NVIDIA's open kernel modules on Linux >= 5.12)."""
    early = _sections("network.gpudirect", facts, threshold, "rdma", "software")
    if early:
        return early
    if not _has_gpus(facts):
        return not_applicable("network.gpudirect", "no GPU on this node", threshold=threshold)
    training, _, fabric = _fabric.split(_fabric.ports(facts))
    if fabric == "none":
        return not_applicable("network.gpudirect", "no RDMA NIC on this node", threshold=threshold)
    if fabric == "efa":
        found = _fabric.instance_fabric(facts, ctx)
        if found is None:
            return not_applicable("network.gpudirect", f"EFA on an instance type plinth has no GPUDirect RDMA row for "
                                  f"({_fabric.instance_name(facts, ctx) or 'unknown type'}; policies/data/rdma.yaml instances)",
                                  threshold=threshold)
        if not found[1].gpudirect_rdma:
            return not_applicable("network.gpudirect", f"{found[0]}: EFA without GPUDirect RDMA ({found[1].source})", threshold=threshold)
    sw = facts["software"]
    modules = sw.get("modules") or {}
    loaded = [m for m in PEERMEM if modules.get(m)] + (["memory_peers"] if sw.get("memory_peers") and not any(modules.get(m) for m in PEERMEM) else [])
    notes, fixes = [], []
    errors = (sw.get("peermem_errors") or {}).get("count")
    if isinstance(errors, int) and errors:
        # gpud's peermem component: repeated "invalid context" errors may point at a persistent GPUDirect problem
        notes.append(f"nvidia-peermem logged {errors} errors this boot (last: {(sw['peermem_errors'].get('sample') or '')[:160]})")
        fixes.append("Repeated nvidia-peermem errors: check that the NVIDIA driver, OFED and NCCL versions match; drain if jobs fail.")
    if sw.get("gdrcopy_installed") and not modules.get("gdrdrv"):
        notes.append("GDRCopy is installed but its gdrdrv module is not loaded (NCCL/libfabric fall back to slower copies)")
        fixes.append("Load gdrdrv (`modprobe gdrdrv`, or GDRCopy's insmod.sh) and make it load at boot.")
    where = f"{len(training)} {'EFA' if fabric == 'efa' else 'InfiniBand' if fabric == 'ib' else 'RoCE'} ports"
    if loaded:
        path = f"peer memory ({', '.join(loaded)})"
    elif sw.get("nvidia_kernel_module") == "open" and _kernel_at_least(facts, DMABUF_KERNEL):
        path = "DMA-BUF (NVIDIA open kernel modules, Linux >= 5.12; NCCL >= 2.19 uses it"
        path += ", aws-ofi-nccl >= 1.19.2 on EFA)" if fabric == "efa" else ")"
    else:
        flavour = sw.get("nvidia_kernel_module") or "unknown"
        return CheckResult.make(
            "network.gpudirect", "fail",
            f"no GPUDirect RDMA path for {where}: no peer-memory module loaded (nvidia_peermem, efa_nv_peermem) and no DMA-BUF "
            f"(NVIDIA kernel module {flavour}, Linux {'.'.join(map(str, _kernel(facts) or ())) or '?'}): NCCL stages every "
            "transfer through host memory" + ("; " + "; ".join(notes) if notes else ""),
            measured=False, threshold=True,
            remediation="`modprobe nvidia-peermem` (MLNX/DOCA OFED hosts; the GPU operator: driver.rdma.enabled=true) or, on AWS, "
                        "the EFA installer's efa_nv_peermem; or move to NVIDIA's open kernel modules (R515+) on Linux >= 5.12 "
                        "for DMA-BUF. Make it load at boot (/etc/modules-load.d).")
    return CheckResult.make("network.gpudirect", "warn" if notes else "pass",
                            f"GPUDirect RDMA for {where} via {path}" + ("; " + "; ".join(notes) if notes else ""),
                            measured=True, threshold=True, remediation=" ".join(fixes) or None)


@check("system.memlock")
def memlock(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    """RDMA pins (locks) the buffers it registers: a small RLIMIT_MEMLOCK makes ibv_reg_mr fail.
    AWS's EFA guide and NCCL ask for unlimited; awsome-distributed-training warns below 16 GiB.
    Unlimited passes, a finite limit at or above the profile's ``min`` warns, below it fails."""
    early = _sections("system.memlock", facts, threshold, "rdma", "software")
    if early:
        return early
    if not (facts["rdma"].get("devices") or []):
        return not_applicable("system.memlock", "no RDMA devices: CUDA's pinned host memory is not bound by RLIMIT_MEMLOCK",
                              threshold=threshold)
    lim: Mapping[str, Any] = facts["software"].get("memlock") or {}
    soft = lim.get("soft", 0)
    who = f"the {lim.get('user') or 'probe'} user's login session"
    caveat = ("; jobs get the limits of what starts them: slurmd (PropagateResourceLimits), containerd/dockerd (LimitMEMLOCK in "
              "their unit) — check those if training does not start from a login shell")
    unit = threshold.unit or "GiB"
    floor = threshold.min if threshold.min is not None else 16
    fix = ("Set `* soft memlock unlimited` and `* hard memlock unlimited` in /etc/security/limits.d/, LimitMEMLOCK=infinity in the "
           "systemd units that start jobs (slurmd, containerd, dockerd), then log in again.")
    if soft is None:
        return CheckResult.make("system.memlock", "pass", f"locked memory unlimited for {who}" + caveat, measured="unlimited",
                                threshold=floor, unit=unit)
    if not isinstance(soft, int):
        return not_run("system.memlock", "the probe could not read RLIMIT_MEMLOCK", threshold=threshold)
    gib = round(soft / GIB, 3)
    status = "warn" if gib >= floor else "fail"
    return CheckResult.make("system.memlock", status, f"locked memory limited to {fmt(gib)} GiB ({soft} bytes) for {who}, "
                            + ("not unlimited" if status == "warn" else f"needs unlimited (at least {fmt(floor)} GiB)") + caveat,
                            measured=gib, threshold=floor, unit=unit, remediation=fix)


@check("system.container_runtime")
def container_runtime(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    """Containers see GPUs only through the NVIDIA Container Toolkit, wired into the runtime:
    containerd and CRI-O need the nvidia runtime in their configuration (``nvidia-ctk runtime
    configure``) or CDI specs (``nvidia-ctk cdi generate``); Docker's ``--gpus`` needs the toolkit's
    hook (NVIDIA Container Toolkit install guide)."""
    early = _sections("system.container_runtime", facts, threshold, "software")
    if early:
        return early
    box = facts["software"].get("containers") or {}
    engines = list(box.get("engines") or [])
    if not engines:
        return not_applicable("system.container_runtime", "no container runtime on this node (containerd, dockerd, crio)", threshold=threshold)
    if not _has_gpus(facts):
        return not_applicable("system.container_runtime", f"no GPU on this node ({', '.join(engines)} found)", threshold=threshold)
    toolkit = box.get("toolkit") or {}
    problems = []
    if not toolkit:
        problems.append("the NVIDIA Container Toolkit is not installed (no nvidia-ctk, nvidia-container-runtime or its hook)")
    cdi = list(box.get("cdi_specs") or [])
    if "containerd" in engines and not box.get("containerd_nvidia") and not cdi:
        seen = box.get("containerd_configs") or []
        problems.append("containerd has no nvidia runtime " + (f"in {', '.join(seen[:3])}" if seen else "(no config file found)")
                        + " and there is no CDI spec")
    if "cri-o" in engines and not box.get("crio_nvidia") and not cdi:
        problems.append("CRI-O has no nvidia runtime configured and there is no CDI spec")
    if problems:
        return CheckResult.make("system.container_runtime", "fail", "; ".join(problems) + ": pods and containers won't see the GPUs",
                                measured=False, threshold=True,
                                remediation="Install nvidia-container-toolkit, then `sudo nvidia-ctk runtime configure --runtime=containerd` "
                                            "(or crio/docker) and restart the runtime, or let the GPU operator's toolkit do it.")
    how = []
    if box.get("containerd_nvidia"):
        how.append("containerd: nvidia runtime configured")
    if cdi:
        how.append(f"CDI: {', '.join(cdi[:2])}")
    if "docker" in engines:
        how.append("docker: toolkit hook" + (" and nvidia runtime in daemon.json" if box.get("docker_nvidia") else ""))
    return CheckResult.make("system.container_runtime", "pass", f"NVIDIA Container Toolkit ({', '.join(sorted(toolkit)[:3])}) for "
                            f"{', '.join(engines)}" + (f"; {'; '.join(how)}" if how else ""), measured=True, threshold=True)
