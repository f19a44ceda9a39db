"""Every recorded nvidia-smi capture the GPU checks can read, judged with the verdict an operator
gives. Healthy captures fail nothing; what a capture cannot show is an error or a skip, never a pass.
Fault captures are judged in test_gpu_health.py; tests/checks/test_gpu_fixture_coverage.py keeps
the list of captures complete."""

from __future__ import annotations

import pytest

from policies.thresholds import get_profile
from tests.checks.facts import ctx, gpu_facts, parse_capture
from tests.probe.helpers import fixture_text
from validators.checks import gpu_links
from validators.checks.base import judge_node
from validators.probe.gather._device import empty_device
from validators.probe.gather.gpu import _check_complete
from validators.probe.parsers import parse_nvlink_status

PROFILE = get_profile("distributed_training")
VM = {  # 1 GPU of an HGX board passed through to a VM (utkuozdemir/nvidia_gpu_exporter captures)
    "nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-1gpu-vm_drv590.48.01_idle.txt": "nvlink/nvidia-smi-nvlink-s_h100-80gb-hbm3-1gpu-vm_drv590.48.01.txt",
    "nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-1gpu-vm_drv590.48.01_load.txt": "nvlink/nvidia-smi-nvlink-s_h100-80gb-hbm3-1gpu-vm_drv590.48.01.txt",
    "nvidia-smi/nvidia-smi-q_h200-1gpu-vm_drv590.48.01_idle.txt": "nvlink/nvidia-smi-nvlink-s_h200-1gpu-vm_drv590.48.01.txt",
    "nvidia-smi/nvidia-smi-q_h200-1gpu-vm_drv590.48.01_load.txt": "nvlink/nvidia-smi-nvlink-s_h200-1gpu-vm_drv590.48.01.txt",
}
MIG = ("nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-1gpu-MIG-enabled_drv590.48.01_idle.txt",
       "nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-1gpu-MIG-enabled_drv590.48.01_load.txt")
TABLES = (
    "nvidia-smi/nvidia-smi_h100-80gb-hbm3-8gpu_drv550.90.07_default-table.txt",
    "nvidia-smi/nvidia-smi_default-table_h100-80gb-hbm3-1gpu-vm_drv590.48.01_idle.txt",
    "nvidia-smi/nvidia-smi_default-table_h100-80gb-hbm3-1gpu-vm_drv590.48.01_load.txt",
    "nvidia-smi/nvidia-smi_default-table_h200-1gpu-vm_drv590.48.01_idle.txt",
    "nvidia-smi/nvidia-smi_default-table_h200-1gpu-vm_drv590.48.01_load.txt",
    "nvidia-smi/nvidia-smi_default-table_h100-80gb-hbm3-1gpu-MIG-enabled_drv590.48.01_idle.txt",
    "nvidia-smi/nvidia-smi_default-table_h100-80gb-hbm3-1gpu-MIG-enabled_drv590.48.01_load.txt",
)
ALLFIELDS = tuple(f"nvidia-smi/nvidia-smi-query-gpu_allfields_csv_{gpu}_drv590.48.01_{state}.csv"
                  for gpu in ("h100-80gb-hbm3-1gpu-vm", "h200-1gpu-vm", "h100-80gb-hbm3-1gpu-MIG-enabled") for state in ("idle", "load"))


def verdicts(facts: dict, **expect: object) -> dict[str, str]:
    kernel_log = ("gpu.xid", "gpu.sxid")  # these read the kernel log, not the GPU tool's output
    return {r.id: r.status for r in judge_node(facts, ctx(PROFILE, expect=expect))
            if r.id.startswith("gpu.") and r.id not in kernel_log}


@pytest.mark.parametrize("rel", sorted(VM))
def test_healthy_single_gpu_vms(rel: str) -> None:
    """Idle and under gpu-burn: ECC clean, no remaps, idle or no clock reason, 18 links up, fabric
    registered by the host. Page retirement is for pre-Ampere GPUs; no NVLink errors were recorded."""
    v = verdicts(gpu_facts(rel, nvlink=VM[rel]))
    assert "fail" not in v.values() and "warn" not in v.values(), v
    assert v["gpu.nvlink"] == v["gpu.fabric"] == v["gpu.clock_events"] == v["gpu.ecc_errors"] == "pass"
    assert (v["gpu.retired_pages"], v["gpu.nvlink_errors"]) == ("skip", "error")


@pytest.mark.parametrize("rel", MIG)
def test_mig_gpu(rel: str) -> None:
    """MIG on: NVLink and row remapping are not readable at GPU level (`nvlink -s` says "not supported
    for Devices in MIG mode", `-q` prints "Remapped Rows: N/A"). An operator reads that as a configuration
    with a known blind spot, not a fault: skip with the reason (never pass, and no exit 1 for a healthy
    MIG node); the rest is healthy."""
    facts = gpu_facts(rel, nvlink="nvlink/nvidia-smi-nvlink-s_h100-80gb-hbm3-1gpu-MIG-enabled_drv590.48.01.txt")
    v = verdicts(facts)
    assert "fail" not in v.values() and (v["gpu.nvlink"], v["gpu.row_remapping"]) == ("skip", "skip")


@pytest.mark.parametrize("rel", TABLES)
def test_plain_tables_judge_what_they_show(rel: str) -> None:
    """The table shows persistence, volatile ECC, temperature, memory and MIG; nothing fails on these
    healthy nodes, and what it cannot show (clock reasons, PCIe, remaps) is an error, not a pass."""
    v = verdicts(gpu_facts(rel))
    assert "fail" not in v.values(), v
    assert v["gpu.persistence_mode"] == v["gpu.temperature"] == "pass"
    assert v["gpu.clock_events"] == v["gpu.pcie_link"] == "error"
    # a MIG table shows "On" in place of the count: skipped with the reason (MIG counts per instance)
    assert v["gpu.ecc_errors"] == ("skip" if "MIG" in rel else "pass")


def test_eight_gpu_table_cannot_clear_the_fabric() -> None:
    """8 x H100 HBM3 is an NVSwitch board; a table shows neither Fabric Manager nor fabric state."""
    assert verdicts(gpu_facts(TABLES[0]))["gpu.fabric"] == "error"


def test_geforce_table_with_a_fan_error() -> None:
    """The fan reads ERR! (noted in the facts; plinth has no fan check) and persistence is off: the
    persistence check fails, nothing else does."""
    parsed = parse_capture("nvidia-smi/nvidia-smi_geforce-1gpu_drv525.125.06_fan-ERR-default-table.txt")
    assert parsed["notes"] == ["GPU 0: the fan reads ERR! in nvidia-smi"]
    v = verdicts(gpu_facts("nvidia-smi/nvidia-smi_geforce-1gpu_drv525.125.06_fan-ERR-default-table.txt"))
    assert [k for k, s in v.items() if s == "fail"] == ["gpu.persistence_mode"]


@pytest.mark.parametrize("rel", ALLFIELDS)
def test_query_gpu_allfields(rel: str) -> None:
    v = verdicts(gpu_facts(rel))
    assert "fail" not in v.values() and v["gpu.clock_events"] == v["gpu.fabric"] == "pass", v


@pytest.mark.parametrize("rel,check,status", [
    ("nvidia-smi/nvidia-smi-query-gpu_index-name-temp-power-ecc-volatile_csv_2x-rtx-pro-6000-blackwell.csv", "gpu.ecc_errors", "pass"),
    ("nvidia-smi/nvidia-smi-query-gpu_index-name-temp-power-ecc-volatile_csv_2x-rtx-pro-6000-blackwell.csv", "gpu.temperature", "pass"),
    ("nvidia-smi/nvidia-smi-query-gpu_csv-nounits_tesla-p100-pcie-16gb.csv", "gpu.temperature", "pass"),
    ("nvidia-smi/nvidia-smi-query-gpu_csv-nounits_tesla-p100-pcie-16gb.csv", "gpu.clock_events", "error"),  # not asked for
    ("nvidia-smi/nvidia-smi-query-gpu_index-name-uuid-pcibusid_csv_h200-5gpu_uuid-redacted.txt", "gpu.count", "pass"),
    ("nvidia-smi/nvidia-smi-query-gpu_index-name-uuid-pcibusid_csv_h200-5gpu_uuid-redacted.txt", "gpu.model", "pass"),
])
def test_narrow_csv_queries(rel: str, check: str, status: str) -> None:
    assert verdicts(gpu_facts(rel), gpus=5 if "h200" in rel else 1, gpu_model="H200" if "h200" in rel else "")[check] == status


def test_xml_cut_to_one_of_four_gpus_is_an_error() -> None:
    """telegraf's test file: attached_gpus 4, one <gpu>. The probe marks that incomplete and every
    GPU check errors instead of judging a quarter of the node."""
    facts = gpu_facts("nvidia-smi/nvidia-smi-q-x_a100-sxm4-80gb_MIG_drv535.54.03_first-of-4-gpus-only.xml")
    facts["gpu"]["source"] = "nvidia-smi-xml"
    _check_complete(facts["gpu"])
    v = verdicts(facts)
    assert set(v.values()) == {"error"}, v


@pytest.mark.parametrize("rel,links", [
    ("nvlink/nvidia-smi-nvlink-s-i7_a100-sxm4-80gb_good.txt", 12),
    ("nvlink/nvidia-smi-nvlink-status-i0_h100-80gb-hbm3.txt", 18),
])
def test_single_gpu_nvlink_status(rel: str, links: int) -> None:
    """One GPU's `nvlink -s -i N`: every link the model trains is up (A100 SXM4 12, H100 SXM 18)."""

    [(index, entry)] = parse_nvlink_status(fixture_text(rel)).items()
    dev = empty_device(index)
    dev.update(name="NVIDIA A100-SXM4-80GB" if links == 12 else "NVIDIA H100 80GB HBM3", nvlink_links_total=entry["total"],
               nvlink_links_active=entry["active"], mig_mode="Disabled")
    facts = {"errors": {}, "system": {}, "gpu": {"error": None, "devices": [dev]}}
    r = gpu_links.gpu_nvlink(facts, PROFILE.thresholds["gpu.nvlink"], ctx())
    assert r.status == "pass" and f"{links} links active on 1 GPUs" in r.message
