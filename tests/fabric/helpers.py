"""Shared pieces of the fabric tests: the real captures (../shared/fixtures/real), the recorded
test data under tests/fabric/data (each with its provenance header) and profile-like thresholds."""

from __future__ import annotations

from pathlib import Path

from policies.thresholds import Threshold
from tests.probe.helpers import fixture_text

DATA = Path(__file__).with_name("data")
MARKER = "=== output ===\n"

NCCL = "nccl-tests/"
DCGMI = "dcgmi/"
H200_5GPU = NCCL + "all_reduce_perf_1node-5x-h200_g5_b8-e8G_nccl2.25.1.txt"
A100_G8 = NCCL + "all_reduce_perf_1node-8x-a100-sxm4-80gb_g8_b8-e4G.txt"
A100_MPIRUN = NCCL + "all_reduce_perf_1node-8x-a100-sxm4-80gb_mpirun-np8-g1_b8-e4G_with-ompi-noise.txt"
H100_FM_DOWN = NCCL + "all_reduce_perf_1node-8x-h100_FAIL-cuda-system-not-yet-initialized_fabricmanager-down.txt"
A3MEGA_2NODE = NCCL + "all_reduce_perf_2node-16x-h100-80gb_gcp-a3mega_mpirun-np16-g1_b8-e8G.txt"
EFA_2NODE_INFO = NCCL + "all_reduce_perf_2node-1gpu-each_rtx-pro-6000_efa_NCCL_DEBUG-INFO-interleaved.txt"
K80_NO_CHECK = NCCL + "all_reduce_perf_2node-2x-tesla-k80_validation0_wrong-NA_pkb.txt"

DIAG_JSON_L1 = DCGMI + "dcgmi-diag-json_8gpu_deployment-plus-software_nvvs3.1.0_level1-equivalent_from-DCGM-unit-test.json"
DIAG_P4DE_R2 = DCGMI + "dcgmi-diag-r2_p-pcie.gpu_nvlinks_expected_up-12_p4de-8x-a100-80gb_dcgm3.3.3_all-pass.txt"
DIAG_BLACKWELL_R3 = DCGMI + "dcgmi-diag-r3_2x-rtx-pro-6000-blackwell_dcgm3.3.9_all-pass-or-skip_srun-2tasks-printed-twice.txt"
DIAG_FAIL_EARLY = DCGMI + (
    "dcgmi-diag-run3-fail-early_8x-h100_dcgm3.3.8_FAIL-cuInit-system-not-yet-initialized_fabricmanager-down.txt")

NO_BOUND = Threshold()  # a profile line with no floor: the expectation comes from the catalogue


def real(rel: str) -> str:
    """A real capture from ../shared/fixtures/real (skips with the reason where it is absent)."""
    return fixture_text(rel)


def recorded(name: str) -> str:
    """The tool output of a file under tests/fabric/data, without its provenance header."""
    text = (DATA / name).read_text()
    header, sep, body = text.partition(MARKER)
    assert sep and "Source:" in header, f"{name}: no provenance header"
    return body
