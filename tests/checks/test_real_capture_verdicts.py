"""Every recorded kernel log, syslog, InfiniBand and EFA capture, judged: the verdict an operator
would give and why, one row each. A capture added to those folders must get a row here, or a
reason in OUT_OF_SCOPE: no real capture goes unjudged."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policies.thresholds import get_profile
from tests.checks.facts import H100_8, ctx, gpu_facts
from tests.probe import rdma_tree
from tests.probe.helpers import FIXTURES, fixture, fixture_text
from validators.checks.base import CheckContext, load_all
from validators.probe.gather.rdma import ibstat_problem, parse_fi_info, parse_flaps, parse_ibstat, read_sysfs
from validators.probe.gather.xid import parse_xid

DIRS = ("xid", "dmesg", "syslog", "ibverbs", "efa")
OUT_OF_SCOPE = {
    "ibverbs/ibv_devinfo_h100-dell-8gpu_8x-cx7-ib-active_deepep-issue-397.txt":
        "plinth reads sysfs (and ibstat as a fallback), not ibv_devinfo; this capture has port state and MTU but no rate or "
        "width, so it cannot stand in for what the probe reads",
}
DT = get_profile("distributed_training")
Builder = Callable[[Path], dict[str, Any]]


def kernel_log(rel: str, *, nvswitches: int | None = None, rdma: str | None = None, peermem: bool = False) -> Builder:
    def build(tmp: Path) -> dict[str, Any]:
        text = fixture_text(rel)
        f = gpu_facts(H100_8)
        f["xid"] = {**parse_xid(text), "readable": True, "source": "dmesg", "since_boot": True, "error": None, "nvswitches": nvswitches}
        f["system"] = {"kernel": "5.15.0-112-generic", "platform": {"kind": "bare-metal"}}
        f["rdma"] = {"source": "ibstat", "error": None, "efa": {}, "flaps": None,
                     "devices": parse_ibstat(fixture_text(rdma)) if rdma else []}
        errors = [line for line in text.splitlines() if "nvidia-peermem" in line and "ERROR" in line]
        f["software"] = {"modules": {"nvidia_peermem": peermem}, "memory_peers": False, "nvidia_kernel_module": "proprietary",
                         "gdrcopy_installed": False, "peermem_errors": {"count": len(errors), "sample": errors[-1] if errors else None}}
        return f
    return build


def ibstat(rel: str, rc: int = 0) -> Builder:
    def build(tmp: Path) -> dict[str, Any]:
        text = fixture_text(rel)
        return {"errors": {}, "system": {"platform": {"kind": "bare-metal"}},
                "rdma": {"source": "ibstat", "error": ibstat_problem(text, rc), "devices": parse_ibstat(text), "efa": {}, "flaps": None}}
    return build


def ibstatus_tree(rel: str) -> Builder:
    def build(tmp: Path) -> dict[str, Any]:
        rdma_tree.from_ibstatus(fixture_text(rel), tmp)
        return {"errors": {}, "system": {"platform": {"kind": "azure"}},
                "rdma": {"source": "sysfs", "error": None, "devices": read_sysfs(str(tmp / "sys/class/infiniband")), "efa": {}, "flaps": None}}
    return build


def syslog_flaps(rel: str, *, minutes_after: float) -> Builder:
    def build(tmp: Path) -> dict[str, Any]:
        flapped = time.mktime((2025, 8, 17, 6, 18, 6, 0, 0, -1))  # the capture's last flap (local time, no year)
        now, btime = flapped + minutes_after * 60, flapped - 86400
        f = ibstat("ibverbs/ibstatus_a100-azure-node_8x-hdr200_all-active.txt")(tmp)
        f["rdma"]["flaps"] = {**parse_flaps(fixture_text(rel), ["ib6"], btime, now, False), "sources": ["/var/log/syslog"],
                              "since_boot": False, "error": None, "interfaces": ["ib6"], "now": now, "boot_time": btime}
        return f
    return build


def fi_info(rel: str) -> Builder:
    def build(tmp: Path) -> dict[str, Any]:
        parsed = parse_fi_info(fixture_text(rel))
        devices = [{"name": d.rsplit("-", 1)[0], "driver": "efa", "ports": [{"port": 1, "state": "ACTIVE", "link_layer": "Unknown"}]}
                   for d in parsed["domains"]]
        return {"errors": {}, "rdma": {"source": "sysfs", "error": None, "devices": devices, "flaps": None,
                                       "efa": {"present": True, "source": "fi_info", **parsed}}}
    return build


# (capture, check, context, verdict, why an operator agrees)
ROWS: list[tuple[str, str, CheckContext, str, Builder, str]] = [
    ("xid/dmesg-T_h100-dell-xe9680_xid119-gsp-rpc-timeout.txt", "gpu.xid", ctx(), "fail",
     kernel_log("xid/dmesg-T_h100-dell-xe9680_xid119-gsp-rpc-timeout.txt"),
     "GSP RPC timeouts on GPU4: NVIDIA's immediate action is a GPU reset; the node is not ready until then"),
    ("xid/dmesg-decode-iso_xid13-xid43_8gpu-node.txt", "gpu.xid", ctx(), "warn",
     kernel_log("xid/dmesg-decode-iso_xid13-xid43_8gpu-node.txt"),
     "SM warp exceptions (out-of-range address) and the job's channels torn down: the application's bug, the GPU is fine"),
    ("xid/dmesg-time-format-iso_xid48-DBE_xid63-row-remap_xid94-contained-ECC_plus-peermem-lines.txt", "gpu.xid", ctx(), "fail",
     kernel_log("xid/dmesg-time-format-iso_xid48-DBE_xid63-row-remap_xid94-contained-ECC_plus-peermem-lines.txt"),
     "a double-bit ECC error: the GPU must be reset for the row remap it triggered to take effect"),
    ("xid/dmesg-time-format-iso_xid48-DBE_xid63-row-remap_xid94-contained-ECC_plus-peermem-lines.txt", "network.gpudirect", ctx(), "warn",
     kernel_log("xid/dmesg-time-format-iso_xid48-DBE_xid63-row-remap_xid94-contained-ECC_plus-peermem-lines.txt",
                rdma="ibverbs/ibstat_h100-node_8x-ndr400-ib-plus-1eth_all-active.txt", peermem=True),
     "GPUDirect is set up (nvidia_peermem) but logged 30 'invalid context' errors: worth a look, not a drain (gpud: an event)"),
    ("dmesg/dev-kmsg_nvswitch-open.txt", "gpu.xid", ctx(), "pass", kernel_log("dmesg/dev-kmsg_nvswitch-open.txt"),
     "raw /dev/kmsg records of an NVSwitch node opening its switches: no Xid"),
    ("dmesg/dev-kmsg_nvswitch-open.txt", "gpu.sxid", ctx(), "pass", kernel_log("dmesg/dev-kmsg_nvswitch-open.txt", nvswitches=4),
     "nvidia-nvswitch0..3 opened, no SXid: the NVSwitches are quiet"),
    ("dmesg/dmesg-decode-iso_boot-no-xid_large.txt", "gpu.xid", ctx(), "pass", kernel_log("dmesg/dmesg-decode-iso_boot-no-xid_large.txt"),
     "a full, clean boot of an HGX node (255 KB): nothing to report"),
    ("dmesg/dmesg-decode-iso_boot-no-xid_large.txt", "gpu.sxid", ctx(), "pass",
     kernel_log("dmesg/dmesg-decode-iso_boot-no-xid_large.txt", nvswitches=4),
     "the same boot's 4 NVSwitches raised no SXid"),
    ("dmesg/dmesg-decode-iso_nvidia-peermem-invalid-context.txt", "gpu.xid", ctx(), "pass",
     kernel_log("dmesg/dmesg-decode-iso_nvidia-peermem-invalid-context.txt"),
     "nvidia-peermem errors are not GPU Xids"),
    ("dmesg/dmesg-decode-iso_nvidia-peermem-invalid-context.txt", "network.gpudirect", ctx(), "warn",
     kernel_log("dmesg/dmesg-decode-iso_nvidia-peermem-invalid-context.txt",
                rdma="ibverbs/ibstat_h100-node_8x-ndr400-ib-plus-1eth_all-active.txt", peermem=True),
     "7 'invalid context' errors from nvidia-peermem: GPUDirect works but tears registrations down out of order"),
    ("syslog/syslog_ib6-link-flap_azure.txt", "network.ib_flaps", ctx(), "fail",
     syslog_flaps("syslog/syslog_ib6-link-flap_azure.txt", minutes_after=10),
     "ib6 lost its carrier six times in seconds, ten minutes ago: AzHC fails it (NHC2005), a job on it would abort"),
    ("syslog/syslog_ib6-link-flap_azure.txt", "network.ib_flaps", ctx(), "pass",
     syslog_flaps("syslog/syslog_ib6-link-flap_azure.txt", minutes_after=7 * 60),
     "the same flaps seven hours later: outside AzHC's 6 h window, the link has been stable since"),
    ("ibverbs/ibstat_a100-azure-node_8x-hdr200_ibpanic-exit255.txt", "network.ib_link", ctx(), "error",
     ibstat("ibverbs/ibstat_a100-azure-node_8x-hdr200_ibpanic-exit255.txt", rc=255),
     "ibstat died part-way (a device vanished): 8 healthy ports listed, the rest unknown; not a pass"),
    ("ibverbs/ibstat_a100-node_cx6-hdr200_all-active.txt", "network.ib_link", ctx(), "pass",
     ibstat("ibverbs/ibstat_a100-node_cx6-hdr200_all-active.txt"),
     "8 HDR 200 InfiniBand ports ACTIVE/LinkUp, plus an Ethernet port: a healthy A100 node"),
    ("ibverbs/ibstat_h100-node_12hca_roce-ethernet_all-active.txt", "network.ib_link", ctx(), "pass",
     ibstat("ibverbs/ibstat_h100-node_12hca_roce-ethernet_all-active.txt"),
     "8x 400G RoCE rails and 4x 100G, all up: healthy"),
    ("ibverbs/ibstat_h100-node_12hca_some-down-2ports.txt", "network.ib_link", ctx(), "fail",
     ibstat("ibverbs/ibstat_h100-node_12hca_some-down-2ports.txt"),
     "2 of the 8 400G RoCE rails Disabled while their siblings run: two GPUs lost their NIC"),
    ("ibverbs/ibstat_h100-node_12hca_some-down-3ports.txt", "network.ib_link", ctx(), "warn",
     ibstat("ibverbs/ibstat_h100-node_12hca_some-down-3ports.txt"),
     "the 8 NDR InfiniBand rails are all up; 3 of the 100G Ethernet ports are Disabled: not the training fabric, worth a note"),
    ("ibverbs/ibstat_h100-node_8x-ndr400-ib-plus-1eth_all-active.txt", "network.ib_link", ctx(expect={"fabric": "ib_ndr400", "rdma_ports": 8}),
     "pass", ibstat("ibverbs/ibstat_h100-node_8x-ndr400-ib-plus-1eth_all-active.txt"),
     "8 NDR 400 InfiniBand ports up, as an H100 node should have, plus a 200G bond"),
    ("ibverbs/ibstatus_a100-azure-node_8x-hdr200_all-active.txt", "network.ib_link", ctx(expect={"instance_type": "Standard_ND96asr_v4"}),
     "pass", ibstatus_tree("ibverbs/ibstatus_a100-azure-node_8x-hdr200_all-active.txt"),
     "an ND A100 v4 with its 8 HDR ports at 200 Gb/s 4X, as Azure documents; the accelerated-networking VF is Ethernet"),
    ("efa/fi_info-p-efa-t-FI_EP_RDM_p4de.24xlarge_4efa.txt", "network.rdma", ctx(instance_type="p4de.24xlarge"), "pass",
     fi_info("efa/fi_info-p-efa-t-FI_EP_RDM_p4de.24xlarge_4efa.txt"), "4 EFA endpoints: what a p4de.24xlarge has"),
    ("efa/fi_info-p-efa-t-FI_EP_RDM_p4d.24xlarge_4efa_awsdocs-deindented.txt", "network.rdma", ctx(instance_type="p4d.24xlarge"), "pass",
     fi_info("efa/fi_info-p-efa-t-FI_EP_RDM_p4d.24xlarge_4efa_awsdocs-deindented.txt"), "4 EFA endpoints on a p4d.24xlarge, as AWS's guide shows"),
    ("efa/fi_info-p-efa-t-FI_EP_RDM_p4de.24xlarge_4efa.txt", "network.rdma", ctx(instance_type="p5.48xlarge"), "fail",
     fi_info("efa/fi_info-p-efa-t-FI_EP_RDM_p4de.24xlarge_4efa.txt"), "the same 4 endpoints on a node that claims to be a p5 (32 EFA)"),
]


@pytest.mark.parametrize("rel,check_id,context,verdict,build,why", ROWS, ids=[f"{r[0].split('/')[-1][:40]}-{r[1]}-{r[3]}" for r in ROWS])
def test_real_capture_verdict(rel: str, check_id: str, context: CheckContext, verdict: str, build: Builder, why: str,
                              tmp_path: Path) -> None:
    fixture(rel)  # skips with a reason when the shared captures are not beside the project
    judge = load_all()[check_id].fn
    result = judge(build(tmp_path), DT.thresholds[check_id], context)
    assert result.status == verdict, f"{why}: got {result.status}: {result.message}"


def test_every_capture_in_scope_has_a_verdict_or_a_reason() -> None:
    if not FIXTURES.exists():
        pytest.skip("real fixtures not present (../shared/fixtures/real)")
    on_disk = {f"{d}/{p.name}" for d in DIRS for p in (FIXTURES / d).glob("*") if p.is_file()}
    judged = {row[0] for row in ROWS}
    assert on_disk - judged - set(OUT_OF_SCOPE) == set()
    assert judged | set(OUT_OF_SCOPE) <= on_disk  # no row for a capture that is gone
