"""Every recorded output in the GPU fixture folders is either judged by a test (which states the
expert's verdict and why) or out of scope for a stated reason. A capture added to the folders
without a verdict fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.probe.helpers import FIXTURES

FOLDERS = ("nvidia-smi", "nvlink", "topo", "dmon", "fabricmanager")
TESTS = Path(__file__).resolve().parents[1]

OUT_OF_SCOPE = {
    "nvidia-smi/nvidia-smi-L_h200-5gpu_uuid-redacted.txt": "`nvidia-smi -L` lists names and UUIDs only; the probe reads -q",
    "nvidia-smi/nvidia-smi-L_h100-80gb-hbm3-1gpu-MIG-enabled_drv590.48.01.txt": "`nvidia-smi -L` (MIG device list), as above",
    "nvidia-smi/nvidia-smi--help-query-gpu_drv590.48.01.txt": "reference text, not output: used to pick the probe's --query-gpu fields",
    "nvidia-smi/nvidia-smi-query-gpu_allfields_csv_drv590.48.01.QUERY-COMMAND.txt": "the command line of the allfields captures, not output",
    "nvidia-smi/nvidia-smi-query-gpu_index-powerdraw-timestamp_csv_lms-loop_1gpu_pkb.csv":
        "a power-draw time series of one GPU (loop mode): no health field, and its rows are samples, not GPUs",
    **{f"nvidia-smi/nvidia-smi-query-retired-pages_csv_{g}_drv590.48.01_idle.csv":
       "`--query-retired-pages` lists retired page addresses (all N/A on these Hopper GPUs); counts come from -q"
       for g in ("h100-80gb-hbm3-1gpu-MIG-enabled", "h100-80gb-hbm3-1gpu-vm", "h200-1gpu-vm")},
    **{f"nvidia-smi/nvidia-smi-query-compute-apps_csv_{g}_drv590.48.01_load.csv":
       "`--query-compute-apps` lists processes on the GPU: which workload runs is not GPU health"
       for g in ("h100-80gb-hbm3-1gpu-MIG-enabled", "h100-80gb-hbm3-1gpu-vm", "h200-1gpu-vm")},
    "nvlink/nvidia-smi-nvlink-R_remotes_h200-sxm-5gpu.txt": "remote link endpoints (NVSwitch ports): no healthy/faulty reading",
    "nvlink/nvidia-smi-nvlink-p_remote-pcibusid_h200-sxm-5gpu.txt": "remote PCI bus ids of NVLink peers: topology, not health",
    "nvlink/nvidia-smi-nvlink-capabilities-i0_h100-80gb-hbm3.txt": "per-link capability flags (P2P, atomics): static, not health",
    "topo/nvidia-smi-topo-mp_h200-sxm-5gpu_10nic_ansi-escapes.txt": "`topo -mp` shows PCIe paths only: no NVLink evidence",
    "topo/nvidia-smi-topo-mp_h100-dell-8gpu_12nic_deepep-issue-397.txt": "`topo -mp`, as above (GPU–NIC affinity is the network checks' concern)",
    "topo/nvidia-smi-topo-p2p-n_h200-5gpu.txt": "P2P capability matrix: the fabric tests (NCCL) prove P2P by running it",
    "topo/nvidia-smi-topo-p2p-r_h200-5gpu.txt": "P2P read capability matrix, as above",
    "topo/nvidia-smi-topo-p2p-r_4gpu_pairs-OK-others-NS_pkb.txt": "P2P read matrix of a GCE VM, as above",
    "dmon/nvidia-smi-dmon-c5_h100-80gb-hbm3-1gpu-vm_drv590.48.01_load.txt":
        "`nvidia-smi dmon` streams power/utilisation/clock samples; the probe takes one snapshot with the reasons behind clocks",
    "dmon/nvidia-smi-dmon-s-pt-d1_2x-rtx-pro-6000-blackwell.txt": "`dmon -s pt` (power, PCIe throughput samples), as above",
    "dmon/nvidia-smi-dmon_h200-5gpu_during-nccl-tests.txt": "dmon during an NCCL run: load telemetry, as above",
}


def recorded() -> list[str]:
    if not FIXTURES.is_dir():
        pytest.skip("real fixtures not present (../shared/fixtures/real is beside the project in dev and CI)")
    return sorted(f"{folder}/{p.name}" for folder in FOLDERS for p in (FIXTURES / folder).iterdir() if p.is_file())


def judged() -> set[str]:
    """Captures a test names: literally in a test module, or in the parametrised lists of test_gpu_captures."""
    from tests.checks import test_gpu_captures as captures

    listed = set(captures.VM) | set(captures.VM.values()) | set(captures.MIG) | set(captures.TABLES) | set(captures.ALLFIELDS)
    sources = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py") if p.name != Path(__file__).name)
    sources += (TESTS / "checks" / "facts.py").read_text()
    return listed | {rel for rel in recorded() if Path(rel).name in sources}


def test_every_capture_is_judged_or_out_of_scope_for_a_reason() -> None:
    unjudged = [rel for rel in recorded() if rel not in OUT_OF_SCOPE and rel not in judged()]
    assert not unjudged, f"captures with no test and no out-of-scope reason: {unjudged}"
    stale = sorted(set(OUT_OF_SCOPE) - set(recorded()))
    assert not stale, f"out-of-scope entries for captures that no longer exist: {stale}"
    both = sorted(set(OUT_OF_SCOPE) & judged())
    assert not both, f"judged and out of scope at once: {both}"
