"""network.gpudirect, system.memlock and system.container_runtime: the gatherer read against a host
tree laid out like a GPU node's, through the probe, and the judges over the facts it returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from policies.thresholds import Threshold
from tests.checks.facts import H100_8, ctx, gpu_facts
from tests.probe import rdma_tree
from tests.probe.helpers import fake_dmesg, fixture, fixture_text, probe_env, quiet_options, run_probe
from validators.checks import software
from validators.probe.gather.rdma import parse_ibstat

YES = Threshold(expect=True)
MEMLOCK = Threshold(min=16, unit="GiB")
GIB = 1024 ** 3


def node(*, modules: tuple[str, ...] = (), flavour: str | None = "proprietary", kernel: str = "6.8.0-1015-aws",
         devices: list[dict[str, Any]] | None = None, instance: str | None = None, **sw: Any) -> dict[str, Any]:
    f = gpu_facts(H100_8)
    f["system"] = {"kernel": kernel, "platform": {"kind": "aws" if instance else "bare-metal", "instance_type": instance}}
    f["rdma"] = {"source": "sysfs", "error": None, "efa": {}, "flaps": None,
                 "devices": devices if devices is not None else parse_ibstat(fixture_text("ibverbs/ibstat_h100-node_8x-ndr400-ib-plus-1eth_all-active.txt"))}
    f["software"] = {"modules": {m: True for m in modules}, "memory_peers": False, "nvidia_kernel_module": flavour,
                     "uverbs_devices": 9, "gdrcopy_installed": False, "peermem_errors": {"count": 0, "sample": None},
                     "memlock": {"soft": None, "hard": None, "user": "ubuntu"},
                     "containers": {"engines": [], "toolkit": {}, "containerd_configs": [], "containerd_nvidia": None,
                                    "crio_nvidia": None, "docker_nvidia": None, "cdi_specs": []}}
    f["software"].update(sw)
    return f


EFA = [{"name": f"rdmap{i}s27", "driver": "efa", "ports": [{"port": 1, "state": "ACTIVE", "link_layer": "Unknown"}]} for i in range(4)]


# node() reads recorded captures: built inside the test, so a clone without ../shared skips these
# tests instead of failing collection
@pytest.mark.parametrize("shape,status,says", [
    ({"modules": ("nvidia_peermem",)}, "pass", "peer memory (nvidia_peermem)"),
    ({"flavour": "open", "kernel": "6.8.0-1015-aws"}, "pass", "DMA-BUF"),
    ({"flavour": "open", "kernel": "5.4.0-216-generic"}, "fail", "no GPUDirect RDMA path"),   # DMA-BUF needs Linux >= 5.12
    ({"flavour": "proprietary"}, "fail", "NCCL stages every transfer through host memory"),
    ({"devices": EFA, "instance": "p4de.24xlarge", "modules": ("efa_nv_peermem",)}, "pass", "efa_nv_peermem"),
    ({"devices": EFA, "instance": "p4de.24xlarge", "flavour": "open"}, "pass", "aws-ofi-nccl >= 1.19.2"),
    ({"devices": EFA, "instance": "g9.unknown"}, "skip", "no GPUDirect RDMA row"),
    ({"devices": []}, "skip", "no RDMA NIC"),
    ({"modules": ("nvidia_peermem",), "gdrcopy_installed": True}, "warn", "gdrdrv module is not loaded"),
])
def test_gpudirect(shape: dict, status: str, says: str) -> None:
    facts = node(**shape)
    r = software.gpudirect(facts, YES, ctx())
    assert r.status == status and says in r.message, r.message


def test_gpudirect_skips_without_gpus_and_errors_without_facts() -> None:
    f = node()
    f["gpu"]["devices"] = []
    assert software.gpudirect(f, YES, ctx()).status == "skip"
    assert software.gpudirect({"errors": {"software": "boom"}, "software": None, "rdma": {}}, YES, ctx()).status == "error"


@pytest.mark.parametrize("soft,status", [(None, "pass"), (64 * GIB, "warn"), (16 * GIB, "warn"), (8 * 1024 * 1024, "fail"), (65536, "fail")])
def test_memlock(soft: int | None, status: str) -> None:
    r = software.memlock(node(memlock={"soft": soft, "hard": soft, "user": "ubuntu"}), MEMLOCK, ctx())
    assert r.status == status and "the ubuntu user's login session" in r.message and "slurmd" in r.message


def test_memlock_skips_without_rdma() -> None:
    assert software.memlock(node(devices=[]), MEMLOCK, ctx()).status == "skip"


def containers(**kw: Any) -> dict[str, Any]:
    box = {"engines": ["containerd"], "toolkit": {"nvidia-ctk": "/usr/bin/nvidia-ctk"}, "containerd_configs": ["/etc/containerd/config.toml"],
           "containerd_nvidia": True, "crio_nvidia": None, "docker_nvidia": None, "cdi_specs": []}
    box.update(kw)
    return box


@pytest.mark.parametrize("box,status,says", [
    (containers(), "pass", "containerd: nvidia runtime configured"),
    (containers(containerd_nvidia=False), "fail", "containerd has no nvidia runtime in /etc/containerd/config.toml"),
    (containers(containerd_nvidia=False, cdi_specs=["/var/run/cdi/nvidia.yaml"]), "pass", "CDI"),
    (containers(toolkit={}), "fail", "NVIDIA Container Toolkit is not installed"),
    (containers(engines=["docker"], containerd_nvidia=None), "pass", "docker: toolkit hook"),
    (containers(engines=[]), "skip", "no container runtime"),
])
def test_container_runtime(box: dict, status: str, says: str) -> None:
    r = software.container_runtime(node(containers=box), YES, ctx())
    assert r.status == status and says in r.message, r.message


def test_gatherer_reads_a_gpu_nodes_host_tree(tmp_path: Path) -> None:
    """Modules, the NVIDIA kernel module flavour, verbs nodes, the containerd config the GPU
    operator writes, CDI specs and nvidia-peermem errors (the real gpud capture, as this node's
    dmesg), all through the probe."""
    root = tmp_path / "host"
    rdma_tree.modules(root, "nvidia", "nvidia_peermem", "ib_uverbs", "mlx5_ib")
    rdma_tree.verbs_nodes(root, 8)
    (root / "proc/driver/nvidia").mkdir(parents=True)
    (root / "proc/driver/nvidia/version").write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.90.07  Release Build  (dvs-builder@U16-I3-B03-4-3)\n")
    (root / "etc/containerd").mkdir(parents=True)
    (root / "etc/containerd/config.toml").write_text(
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]\n'
        '  BinaryName = "/usr/local/nvidia/toolkit/nvidia-container-runtime"\n')
    (root / "etc/cdi").mkdir(parents=True)
    (root / "etc/cdi/nvidia.yaml").write_text("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\n")
    toolkit = root / "usr/local/nvidia/toolkit/nvidia-ctk"
    toolkit.parent.mkdir(parents=True)
    toolkit.write_text("#!/bin/sh\n")
    toolkit.chmod(0o755)
    (root / "run/containerd").mkdir(parents=True)
    (root / "run/containerd/containerd.sock").write_text("")
    bin_dir = tmp_path / "bin"
    fake_dmesg(bin_dir, fixture("dmesg/dmesg-decode-iso_nvidia-peermem-invalid-context.txt"))
    sw = run_probe(quiet_options(tmp_path, host_root=str(root), disk_test_mb=0), probe_env(bin_dir))["software"]
    assert {m for m, on in sw["modules"].items() if on} == {"nvidia", "nvidia_peermem", "ib_uverbs", "mlx5_ib"}
    assert (sw["nvidia_kernel_module"], sw["uverbs_devices"]) == ("open", 8)
    box = sw["containers"]
    assert box["engines"] == ["containerd"] and box["containerd_nvidia"] is True
    assert box["toolkit"] == {"nvidia-ctk": str(toolkit)} and box["cdi_specs"] == [str(root / "etc/cdi/nvidia.yaml")]
    assert sw["peermem_errors"]["count"] == 7 and "invalid context" in sw["peermem_errors"]["sample"]
    assert sw["memlock"]["user"]  # this process's own limit, whoever runs the tests
