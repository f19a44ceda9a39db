"""GPU judges over facts parsed from real recorded nvidia-smi output (kernel-log Xids: test_xid_judges.py)."""

from __future__ import annotations

from policies.thresholds import Threshold
from tests.checks.facts import (
    A100_XML,
    H100_8,
    H200_5,
    RETIRED_OK,
    RTX4090,
    TITAN_V,
    ctx,
    edit,
    gpu_facts,
    no_driver_facts,
    profile_with,
)
from validators.checks import gpu
from validators.checks.base import judge_node

COUNT = Threshold(min=1, unit="GPUs")


# -- gpu.count ---------------------------------------------------------------------------

def test_count_healthy_8_of_8() -> None:
    r = gpu.gpu_count(gpu_facts(H100_8), COUNT, ctx(expect={"gpus": 8}))
    assert (r.status, r.measured, r.threshold) == ("pass", 8, 8)
    assert r.message == "8 of 8 GPUs visible (expected by inventory expect.gpus)"


def test_count_missing_gpus_fail_with_driver_count() -> None:
    facts = gpu_facts(H100_8)
    del facts["gpu"]["devices"][5:]
    r = gpu.gpu_count(facts, COUNT, ctx(expect={"gpus": 8}))
    assert r.status == "fail" and r.message.startswith("5 of 8 GPUs visible") and "driver reports 8 attached" in r.message


def test_count_expectation_from_catalogue() -> None:
    r = gpu.gpu_count(gpu_facts(H200_5), COUNT, ctx(instance_type="p5en.48xlarge"))
    assert r.status == "fail" and r.message == "5 of 8 GPUs visible (expected by p5en.48xlarge catalogue)"


def test_count_no_driver_fails_with_reason() -> None:
    r = gpu.gpu_count(no_driver_facts(), COUNT, ctx())
    assert r.status == "fail" and "no NVIDIA driver" in r.message and r.measured == 0 and r.remediation


def test_count_error_and_skip() -> None:
    broken = {"errors": {"gpu": "TimeoutError: x"}, "gpu": None}
    assert gpu.gpu_count(broken, COUNT, ctx()).status == "error"
    assert gpu.gpu_count(gpu_facts(H100_8), COUNT, ctx(instance_type="trn1.32xlarge")).status == "skip"


# -- gpu.model / gpu.memory ------------------------------------------------------------------

def test_model_pass_fail_skip() -> None:
    t = Threshold()
    assert gpu.gpu_model(gpu_facts(H100_8), t, ctx(expect={"gpu_model": "H100"})).status == "pass"
    r = gpu.gpu_model(gpu_facts(RTX4090), t, ctx(instance_type="p5.48xlarge"))
    assert r.status == "fail" and "8 of 8 GPUs are not H100" in r.message and "RTX 4090" in r.message
    assert gpu.gpu_model(gpu_facts(H100_8), t, ctx()).status == "skip"


def test_memory_against_catalogue_and_profile() -> None:
    t = Threshold(unit="GiB")
    ok = gpu.gpu_memory(gpu_facts(H100_8), t, ctx(instance_type="p5.48xlarge"))  # 79.6 GiB vs 80 nominal
    assert ok.status == "pass" and ok.measured == 79.6
    small = gpu.gpu_memory(gpu_facts(TITAN_V), t, ctx(instance_type="p4d.24xlarge"))
    assert small.status == "fail" and small.measured == 12.0
    assert gpu.gpu_memory(gpu_facts(H100_8), Threshold(min=80, unit="GiB"), ctx()).status == "fail"
    assert gpu.gpu_memory(gpu_facts(H100_8), t, ctx()).status == "skip"
    assert gpu.gpu_memory(gpu_facts(RETIRED_OK), t, ctx()).status == "error"  # -d PAGE_RETIREMENT has no sizes


# -- gpu.temperature / persistence ---------------------------------------------------------

TEMP = Threshold(max=85, unit="C")


def test_temperature_bands() -> None:
    assert gpu.gpu_temperature(gpu_facts(), TEMP, ctx()).status == "pass"
    warm = gpu.gpu_temperature(edit(gpu_facts(), d3={"temperature_c": 84.0}), TEMP, ctx())
    assert warm.status == "warn" and "GPU 3" in warm.message
    hot = gpu.gpu_temperature(edit(gpu_facts(), d5={"temperature_c": 91.0}), TEMP, ctx())
    assert hot.status == "fail" and hot.measured == 91.0
    assert gpu.gpu_temperature(gpu_facts(RETIRED_OK), TEMP, ctx()).status == "error"


def test_persistence_mode() -> None:
    t = Threshold(expect=True)
    assert gpu.gpu_persistence_mode(gpu_facts(), t, ctx()).status == "pass"
    r = gpu.gpu_persistence_mode(gpu_facts(TITAN_V), t, ctx())
    # NVIDIA's driver persistence guide: the daemon, not the legacy `nvidia-smi -pm 1` (lost at reboot)
    assert r.status == "fail" and "off on 1 of 1 GPUs" in r.message
    assert "systemctl enable --now nvidia-persistenced" in (r.remediation or "")


# -- no GPU at all: one failure, not ten ------------------------------------------------------------

def test_no_driver_one_fail_rest_skip() -> None:
    results = {r.id: r for r in judge_node(no_driver_facts(), ctx("distributed_training")) if r.id.startswith("gpu.")}
    assert results["gpu.count"].status == "fail"
    kernel_log = ("gpu.xid", "gpu.sxid")  # judged from the kernel log, not the driver
    assert all(r.status == "skip" and "see gpu.count" in r.message for k, r in results.items() if k not in ("gpu.count", *kernel_log))
    assert results["gpu.xid"].status == "pass"  # the kernel log was readable and clean


def test_without_gpu_count_in_profile_the_others_error() -> None:
    prof = profile_with(gpu__temperature=TEMP)
    [r] = judge_node(no_driver_facts(), ctx(prof))
    assert r.status == "error" and "no NVIDIA driver" in r.message


def test_healthy_node_full_profile_passes_gpu_checks() -> None:
    """5 x H200 SXM (RunPod, driver 580): healthy. What the recordings cannot say is said: page
    retirement does not apply (Hopper remaps rows), NVLink error counters were not recorded."""
    facts = gpu_facts(H200_5, nvlink="nvlink/nvidia-smi-nvlink-status_h200-sxm-5gpu_18links.txt",
                      topo="topo/nvidia-smi-topo-m_h200-sxm-5gpu_NV18_10nic_ansi-escapes.txt")
    results = [r for r in judge_node(facts, ctx("distributed_training", expect={"gpus": 5, "gpu_model": "H200"})) if r.id.startswith("gpu.")]
    assert {r.id for r in results} >= {"gpu.count", "gpu.model", "gpu.ecc_errors", "gpu.xid", "gpu.nvlink", "gpu.pcie_link",
                                       "gpu.row_remapping", "gpu.clock_events", "gpu.fabric"}
    # no instance type, no min; no NVSwitch driver in the recorded facts; Ampere+ skips page retirement;
    # the active tests (DCGM, NCCL) did not run on these probe-only facts
    assert {r.id: r.status for r in results if r.status != "pass"} == {
        "gpu.memory": "skip", "gpu.retired_pages": "skip", "gpu.nvlink_errors": "error", "gpu.sxid": "skip",
        "gpu.dcgm_diag": "skip", "gpu.nccl_intranode": "skip"}


def test_xml_facts_judge_cleanly() -> None:
    results = judge_node(gpu_facts(A100_XML), ctx("multi_gpu_single_node", expect={"gpus": 1}))
    by_id = {r.id: r for r in results}
    assert by_id["gpu.count"].status == "fail"  # profile needs 2 GPUs, node has 1
    assert by_id["gpu.nvlink"].status == "skip"  # MIG
    # MIG counts volatile ECC errors per GPU instance: the GPU-level counter is N/A, so not judged; a
    # configuration with a blind spot, said in the message, not a fault that fails the node
    assert by_id["gpu.ecc_errors"].status == "skip" and "MIG" in by_id["gpu.ecc_errors"].message
    assert by_id["gpu.row_remapping"].status == "skip" and "MIG" in by_id["gpu.row_remapping"].message
    assert not any("crashed" in r.message for r in results)


def test_count_enough_gpus_but_one_attached_gpu_undescribed_is_never_a_pass() -> None:
    """8 attached, 7 described, the profile asks for 1: an expert does not pass a node whose driver
    counts a GPU nvidia-smi cannot describe (lost, or an output cut short): error with the reason."""
    facts = gpu_facts(H100_8)
    del facts["gpu"]["devices"][7:]
    r = gpu.gpu_count(facts, COUNT, ctx())
    assert r.status == "error", r
    assert "7 GPUs visible (at least 1 expected by profile minimum)" in r.message and "driver reports 8 attached" in r.message and "1 attached GPU(s) undescribed" in r.message
    assert "Xid 79" in (r.remediation or "")
