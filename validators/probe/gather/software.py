"""Facts about the software distributed training needs on a node: kernel modules (GPUDirect RDMA,
verbs, EFA, GDRCopy), the verbs device nodes, the locked-memory limit, the NVIDIA container
toolkit and the container runtime's configuration. Read-only: files under /sys, /proc and /etc
and ``getrlimit``; nothing is loaded, started or changed.

What the anchors check and where they read it: Azure/azurehpc-health-checks azure_gdr_detect.nhc
(nvidia_peermem / nv_peer_mem in /proc/modules or /sys/kernel/mm/memory_peers, else DMA-BUF);
awslabs/awsome-distributed-training gpu-cluster-healthcheck check 2 (efa, ib_uverbs, ib_core
modules; gdrdrv when GDRCopy is installed; ``ulimit -l``); leptonai/gpud's peermem component
(nvidia-peermem "invalid context" errors in the kernel log).
"""

from __future__ import annotations

import glob
import os
import resource
import shutil
from typing import Any, Dict, List, Optional

from ._kernlog import kernel_ring, lines_with
from ._util import read_file

SECTION = "software"
DEFAULT = None

MODULES = ("nvidia", "nvidia_peermem", "nv_peer_mem", "efa_nv_peermem", "gdrdrv", "efa", "ib_core",
           "ib_uverbs", "rdma_ucm", "mlx5_ib", "ib_ipoib")
TOOLKIT_BINARIES = ("nvidia-ctk", "nvidia-container-runtime", "nvidia-container-runtime-hook", "nvidia-container-cli")
TOOLKIT_DIRS = ("/usr/local/nvidia/toolkit",)  # where the GPU operator installs the toolkit on the host
ENGINES = {  # engine: (binary, socket)
    "containerd": ("containerd", "/run/containerd/containerd.sock"),
    "docker": ("dockerd", "/var/run/docker.sock"),
    "cri-o": ("crio", "/var/run/crio/crio.sock"),
}
CONTAINERD_CONFIGS = ("/etc/containerd/config.toml", "/etc/containerd/conf.d/*.toml", "/etc/containerd/config.d/*.toml",
                      "/var/lib/rancher/k3s/agent/etc/containerd/config.toml")
CRIO_CONFIGS = ("/etc/crio/crio.conf", "/etc/crio/crio.conf.d/*")
CDI_SPECS = ("/etc/cdi/nvidia*.yaml", "/etc/cdi/nvidia*.json", "/var/run/cdi/nvidia*.yaml", "/var/run/cdi/nvidia*.json")
GDRCOPY_LIBS = ("/usr/lib/x86_64-linux-gnu/libgdrapi.so*", "/usr/lib64/libgdrapi.so*", "/usr/lib/libgdrapi.so*",
                "/usr/local/lib/libgdrapi.so*", "/opt/gdrcopy/lib*/libgdrapi.so*")
CONFIG_LIMIT = 256 * 1024


def _limit(value: int) -> Optional[int]:
    return None if value == resource.RLIM_INFINITY else int(value)


def memlock() -> Dict[str, Any]:
    """RLIMIT_MEMLOCK of this process (bytes; None = unlimited): the probe runs as the SSH user in
    a login session, so this is that user's limit there, not necessarily a scheduler's or a pod's."""
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    try:
        import pwd

        user: Optional[str] = pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, OSError):
        user = None
    return {"soft": _limit(soft), "hard": _limit(hard), "user": user}


def _first_glob(patterns: tuple, root: str = "") -> List[str]:
    found: List[str] = []
    for pattern in patterns:
        found += sorted(glob.glob(root + pattern))
    return found


def _mentions(paths: List[str], needles: tuple) -> Optional[bool]:
    """Whether any readable config mentions a needle; None when none could be read."""
    seen = False
    for path in paths:
        try:
            with open(path, "r", errors="replace") as fh:
                text = fh.read(CONFIG_LIMIT)
        except OSError:
            continue
        seen = True
        if any(n in text for n in needles):
            return True
    return False if seen else None


def _which(name: str, root: str, extra: tuple = ()) -> Optional[str]:
    """A binary of the host: on PATH, or (with ``root``, the host mounted elsewhere) in the usual
    directories under it."""
    if not root and shutil.which(name):
        return shutil.which(name)
    for d in (("/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin") if root else ()) + extra:
        path = root + os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    return None


def containers(root: str = "") -> Dict[str, Any]:
    engines = [name for name, (binary, sock) in ENGINES.items() if _which(binary, root) or os.path.exists(root + sock)]
    toolkit = {b: _which(b, root, TOOLKIT_DIRS) for b in TOOLKIT_BINARIES}
    configs = _first_glob(CONTAINERD_CONFIGS, root)
    return {
        "engines": engines,
        "toolkit": {b: p for b, p in toolkit.items() if p},
        "containerd_configs": configs,
        "containerd_nvidia": _mentions(configs, ("nvidia-container-runtime", "nvidia-cdi", "runtimes.nvidia", "runtimes.\"nvidia\"")),
        "crio_nvidia": _mentions(_first_glob(CRIO_CONFIGS, root), ("nvidia-container-runtime", "nvidia")),
        "docker_nvidia": _mentions([root + "/etc/docker/daemon.json"], ("nvidia",)),
        "cdi_specs": _first_glob(CDI_SPECS, root),
    }


def peermem_errors(opts: Dict[str, Any]) -> Dict[str, Any]:
    """nvidia-peermem errors in this boot's kernel log (gpud: repeated "invalid context" errors
    may point at a persistent GPUDirect RDMA problem)."""
    ring = kernel_ring(opts)
    if ring["text"] is None:
        return {"count": None, "sample": None}
    lines = [line for line in lines_with(ring["text"], ("nvidia-peermem",)) if "ERROR" in line]
    return {"count": len(lines), "sample": lines[-1].strip()[:300] if lines else None}


def gather(opts: Dict[str, Any]) -> Dict[str, Any]:
    root = opts.get("host_root") or ""
    sysfs, proc = root + "/sys", root + "/proc"
    version = read_file(os.path.join(proc, "driver", "nvidia", "version")) or ""
    flavour = None
    if version:
        flavour = "open" if "Open Kernel Module" in version else "proprietary"
    return {
        # /sys/module/<name> exists for loaded modules and for built-ins that have parameters
        "modules": {m: os.path.isdir(os.path.join(sysfs, "module", m)) for m in MODULES},
        "memory_peers": os.path.isdir(os.path.join(sysfs, "kernel", "mm", "memory_peers")),
        "nvidia_kernel_module": flavour,
        "uverbs_devices": len(glob.glob(os.path.join(sysfs, "class", "infiniband_verbs", "uverbs*"))),
        "gdrcopy_installed": bool(_first_glob(GDRCOPY_LIBS, root)) or os.path.isdir(root + "/opt/gdrcopy"),
        "memlock": memlock(),
        "containers": containers(root),
        "peermem_errors": peermem_errors(opts),
    }
