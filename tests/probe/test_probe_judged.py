"""The whole path for GPU faults: recorded tool output behind a fake `nvidia-smi` / `dmesg` on
PATH -> the real probe (argv + script on stdin, as a transport runs it) -> parse_probe_output ->
judge_node with a real profile -> verdicts."""

from __future__ import annotations

from pathlib import Path

from policies.thresholds import Profile, get_profile
from tests.checks.facts import ctx
from tests.probe.helpers import fake_dmesg, fake_nvidia_smi, fixture, probe_env, quiet_options, run_probe
from validators.checks.base import judge_node
from validators.results import CheckResult

# distributed_training's GPU lines, minus NVLink: no recorded `nvlink -s` / `nvlink -e` exists for a
# full 8x H100 node (SOURCES.md, gaps), and the H200 test below covers NVLink through the same path;
# minus the active fabric tests (DCGM, NCCL), which run after the probe (tests/fabric)
DT = get_profile("distributed_training")
LEFT_OUT = ("gpu.nvlink", "gpu.nvlink_errors", "gpu.dcgm_diag", "gpu.nccl_intranode")
GPU_PROFILE = Profile(name="gpu-only", description="gpu checks of distributed_training",
                      thresholds={k: v for k, v in DT.thresholds.items() if k.startswith("gpu.") and k not in LEFT_OUT})


def judged(tmp_path: Path, *, text: str, dmesg: str = "dmesg/dmesg-decode-iso_boot-no-xid_large.txt",
           nvlink: str | None = None, profile: Profile = GPU_PROFILE, **expect: object) -> dict[str, CheckResult]:
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, text=fixture(text), nvlink=fixture(nvlink) if nvlink else None)
    fake_dmesg(bin_dir, fixture(dmesg))
    facts = run_probe(quiet_options(tmp_path), probe_env(bin_dir))
    return {r.id: r for r in judge_node(facts, ctx(profile, expect=expect))}


def test_healthy_8x_h100_passes_every_gpu_check(tmp_path: Path) -> None:
    """535.183.01: a healthy 8 x H100 node. Nothing fails; page retirement does not apply to Hopper
    (rows are remapped); GPU 2 flags power brake while at its full 1980 MHz: a warning to re-check."""
    results = judged(tmp_path, text="nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.183.01.txt", gpus=8, gpu_model="H100")
    statuses = {k: r.status for k, r in results.items()}
    # no instance type for gpu.memory; no NVSwitch driver on this machine for gpu.sxid; Ampere+ skips page retirement;
    # GPU 2 of this capture flags a power brake at full clock (warn)
    assert statuses == {k: "pass" for k in statuses} | {"gpu.memory": "skip", "gpu.retired_pages": "skip", "gpu.sxid": "skip",
                                                        "gpu.clock_events": "warn"}, {k: r.message for k, r in results.items()}
    assert results["gpu.count"].message == "8 of 8 GPUs visible (expected by inventory expect.gpus)"
    assert "8 GPUs registered" in results["gpu.fabric"].message


def test_healthy_5x_h200_with_nvlink(tmp_path: Path) -> None:
    prof = Profile(name="p", description="d", thresholds={k: v for k, v in DT.thresholds.items() if k.startswith("gpu.")})
    results = judged(tmp_path, text="nvidia-smi/nvidia-smi-q_h200-sxm-5gpu_drv580.159.03_runpod_uuid-redacted.txt",
                     nvlink="nvlink/nvidia-smi-nvlink-status_h200-sxm-5gpu_18links.txt", profile=prof, gpus=5, gpu_model="H200")
    assert results["gpu.nvlink"].status == "pass" and "90 links active on 5 GPUs" in results["gpu.nvlink"].message
    assert results["gpu.count"].status == "pass"


def test_fewer_gpus_than_expected_fails(tmp_path: Path) -> None:
    results = judged(tmp_path, text="nvidia-smi/nvidia-smi-q_h200-sxm-5gpu_drv580.159.03_runpod_uuid-redacted.txt", gpus=8)
    assert results["gpu.count"].status == "fail" and results["gpu.count"].message.startswith("5 of 8 GPUs visible")


def test_retired_pages_fixture_fails(tmp_path: Path) -> None:
    results = judged(tmp_path, text="nvidia-smi/nvidia-smi-q-d-page-retirement_a100-8gpu_azure-ndv4_ecc-retired-pages-EDITED.txt", gpus=8)
    r = results["gpu.retired_pages"]
    assert r.status == "fail" and "retirement table full" in r.message and "GPU 0 (00000001:00:00.0) 65" in r.message
    assert "page retirement pending on GPU 3 (00000004:00:00.0)" in r.message
    assert results["gpu.count"].status == "pass"


def test_xid_fixture_fails_gpu_xid(tmp_path: Path) -> None:
    results = judged(tmp_path, text="nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.161.08.txt",
                     dmesg="xid/dmesg-time-format-iso_xid48-DBE_xid63-row-remap_xid94-contained-ECC_plus-peermem-lines.txt", gpus=8)
    r = results["gpu.xid"]
    assert r.status == "fail" and "Xid 48 x1 (double-bit ECC error (DBE))" in r.message and r.remediation


def test_no_driver_fails_gpu_count_with_reason(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, fail_with=fixture("nvidia-smi/nvidia-smi_ERROR_no-driver_couldnt-communicate.txt"))
    facts = run_probe(quiet_options(tmp_path), probe_env(bin_dir))
    results = {r.id: r for r in judge_node(facts, ctx(GPU_PROFILE, expect={"gpus": 8}))}
    assert results["gpu.count"].status == "fail" and "no NVIDIA driver" in results["gpu.count"].message
    assert "0 of 8 GPUs visible" in results["gpu.count"].message


def test_this_machine_without_any_nvidia_smi(tmp_path: Path) -> None:
    facts = run_probe(quiet_options(tmp_path), probe_env(tmp_path / "bin"))
    results = {r.id: r for r in judge_node(facts, ctx(GPU_PROFILE))}
    assert results["gpu.count"].status == "fail" and "no NVIDIA driver" in results["gpu.count"].message
