"""The GPU family of the probe run for real (assembled payload, `python3 -`), with recorded
nvidia-smi output served by a stand-in `nvidia-smi` first on PATH: which layout it falls back to,
the two reads of the growth-judged counters, the fabric, and broken tool output."""

from __future__ import annotations

import shlex
from pathlib import Path

from policies.thresholds import get_profile
from tests.checks.facts import ctx
from tests.probe.helpers import fake_nvidia_smi, fake_tool, fixture, probe_env, quiet_options, run_probe
from validators.checks.base import judge_node

H100_TEXT = "nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.161.08.txt"
H200_TEXT = "nvidia-smi/nvidia-smi-q_h200-sxm-5gpu_drv580.159.03_runpod_uuid-redacted.txt"
FM_DOWN = "nvidia-smi/nvidia-smi_default-table_8x-h100-80gb-hbm3_drv560.35.03_persistence-off_fabricmanager-down-node.txt"
PROFILE = get_profile("distributed_training")


def gpu_results(facts: dict, **expect: object) -> dict:
    return {r.id: r for r in judge_node(facts, ctx(PROFILE, expect=expect)) if r.id.startswith("gpu.")}


def test_fabric_manager_down_node_from_its_table(tmp_path: Path) -> None:
    """nccl-tests issue 264's node: only the plain table recorded (-q, -q -x and --query-gpu answer
    nothing), `systemctl is-active nvidia-fabricmanager` says inactive. The probe reads the table and
    the service state; plinth fails the fabric with the start-Fabric-Manager remedy."""
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, table=fixture(FM_DOWN))
    fake_tool(bin_dir, "systemctl", 'echo inactive\nexit 3\n')
    facts = run_probe(quiet_options(tmp_path), probe_env(bin_dir))
    gpu = facts["gpu"]
    assert (gpu["source"], gpu["driver_version"], len(gpu["devices"]), gpu["error"]) == ("nvidia-smi-table", "560.35.03", 8, None)
    assert any("-q -x unusable" in n for n in gpu["notes"]) and any("--query-gpu" in n for n in gpu["notes"])
    assert gpu["fabric"]["fm_systemd"] == "inactive"
    results = gpu_results(facts, gpus=8, gpu_model="H100")
    assert results["gpu.fabric"].status == "fail"
    assert (results["gpu.fabric"].remediation or "").startswith("Start nvidia-fabricmanager (same version as the driver)")
    assert results["gpu.persistence_mode"].status == "fail" and results["gpu.count"].status == "pass"


def test_cut_off_output_is_an_error_for_every_gpu_check(tmp_path: Path) -> None:
    """`nvidia-smi -q` killed part-way: 8 GPUs attached, 4 described (the last one half). Judging the ones that were
    printed would pass a node whose other GPUs nobody saw."""
    text = fixture(H100_TEXT).read_text()
    cut = tmp_path / "cut.txt"
    cut.write_text(text[: len(text) * 2 // 5])
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, text=cut)
    facts = run_probe(quiet_options(tmp_path), probe_env(bin_dir))
    assert "reported 8 attached GPUs but described 4" in facts["gpu"]["incomplete"]
    results = gpu_results(facts, gpus=8)
    per_device = {k: r for k, r in results.items() if k not in ("gpu.xid", "gpu.sxid")}  # kernel-log checks
    assert all(r.status == "error" and "described 4" in r.message for r in per_device.values()), {
        k: (r.status, r.message) for k, r in per_device.items()}


def test_garbage_from_every_layout_is_an_error_not_no_gpu(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "nvidia-smi", "echo 'Segmentation fault (core dumped) <<<>>> \\033[31m'\nexit 0\n")
    facts = run_probe(quiet_options(tmp_path), probe_env(bin_dir))
    gpu = facts["gpu"]
    assert gpu["error"] is None and gpu["devices"] == [] and "no readable layout" in gpu["incomplete"]
    count = gpu_results(facts)["gpu.count"]
    assert count.status == "error" and "no readable layout" in count.message


def test_replays_are_read_twice_and_growth_is_judged(tmp_path: Path) -> None:
    """A stand-in whose second `-q` shows GPU 0's replay counter 40 higher (67 -> 107): the probe reads
    twice, the judge sees the growth; the same total read twice would pass."""
    text = fixture(H100_TEXT)
    grown = tmp_path / "grown.txt"
    grown.write_text(text.read_text().replace("Replays Since Reset               : 67", "Replays Since Reset               : 107", 1))
    bin_dir = tmp_path / "bin"
    calls = tmp_path / "calls"
    q = shlex.quote
    fake_tool(bin_dir, "nvidia-smi", f"""case "$*" in
  "-q") if [ -e {q(str(calls))} ]; then cat {q(str(grown))}; else touch {q(str(calls))}; cat {q(str(text))}; fi ;;
  *) echo "not recorded: $*" >&2; exit 6 ;;
esac
""")
    facts = run_probe(quiet_options(tmp_path, gpu_sample_window_s=0.3), probe_env(bin_dir))
    gpu = facts["gpu"]
    d0, d1 = gpu["devices"][:2]
    assert (d0["pcie_replays"], d0["pcie_replays_later"]) == (67, 107) and d1["pcie_replays"] == d1["pcie_replays_later"]
    assert gpu["sample_window_s"] >= 0.3
    pcie = gpu_results(facts)["gpu.pcie_link"]
    assert pcie.status == "warn" and "GPU 0 (00000000:19:00.0) +40 in" in pcie.message


def test_nvlink_state_errors_and_topology_are_gathered(tmp_path: Path) -> None:
    errors = tmp_path / "nvlink-e.txt"  # layout of `nvidia-smi nvlink -e`; no such capture is recorded
    errors.write_text("".join(f"GPU {i}: NVIDIA H200 (UUID: GPU-REDACTED)\n"
                              + "".join(f"\t Link {k}: Replay Errors: 0\n\t Link {k}: Recovery Errors: 0\n\t Link {k}: CRC Errors: 1\n"
                                        for k in range(18)) for i in range(5)))
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, text=fixture(H200_TEXT), nvlink=fixture("nvlink/nvidia-smi-nvlink-status_h200-sxm-5gpu_18links.txt"),
                    nvlink_errors=errors, topo=fixture("topo/nvidia-smi-topo-m_h200-sxm-5gpu_NV18_10nic_ansi-escapes.txt"))
    facts = run_probe(quiet_options(tmp_path), probe_env(bin_dir))
    gpu = facts["gpu"]
    assert [(d["nvlink_links_total"], d["nvlink_links_active"]) for d in gpu["devices"]] == [(18, 18)] * 5
    assert gpu["devices"][0]["nvlink_errors"] == gpu["devices"][0]["nvlink_errors_later"] == {"replay": 0, "recovery": 0, "crc": 18}
    assert gpu["topology"]["nvlink"]["0"] == {"1": 18, "2": 18, "3": 18, "4": 18}
    results = gpu_results(facts, gpus=5, gpu_model="H200")
    assert {k: results[k].status for k in ("gpu.nvlink", "gpu.nvlink_errors", "gpu.fabric", "gpu.clock_events")} == {
        "gpu.nvlink": "pass", "gpu.nvlink_errors": "pass", "gpu.fabric": "pass", "gpu.clock_events": "pass"}


def test_fabric_manager_log_is_read(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, text=fixture(H100_TEXT))
    log = fixture("fabricmanager/fabricmanager.log_hgx-8gpu_nvswitch-nonfatal-12028.txt")
    facts = run_probe(quiet_options(tmp_path, fabricmanager_log=str(log)), probe_env(bin_dir))
    fm = facts["gpu"]["fabric"]
    assert (fm["fm_version"], fm["fm_log"]["errors_before_start"], fm["fm_log"]["path"]) == ("535.161.08", 18, str(log))
