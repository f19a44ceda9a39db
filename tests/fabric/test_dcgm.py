"""dcgmi diag: every real capture with the verdict an engineer gives, DCGM 4.x shapes, breakages."""

from __future__ import annotations

import json

import pytest

from policies.thresholds import Threshold
from tests.fabric.helpers import (
    DIAG_BLACKWELL_R3,
    DIAG_FAIL_EARLY,
    DIAG_JSON_L1,
    DIAG_P4DE_R2,
    NO_BOUND,
    real,
)
from validators.fabric.dcgm import diag_argv, evaluate, parse_diag_json, parse_diag_text

CHECK = "gpu.dcgm_diag"


def _test(diag: dict, name: str) -> dict:
    return next(t for t in diag["tests"] if t["name"] == name)


# --- the real captures -------------------------------------------------------------------------

def test_json_level1_all_pass() -> None:
    """Expert: DCGM 3.1's JSON for a level-1 run (NVIDIA's own unit-test capture): nine deployment checks
    and the software plugin pass on GPUs 0-7. The null entries 3.1 leaves between tests are not tests."""
    diag = parse_diag_json(real(DIAG_JSON_L1))
    assert diag["ok"] and diag["dcgm_version"] == "3.1.0" and diag["level"] == 1
    assert diag["gpus"] == list(range(8)) and len(diag["tests"]) == 10
    assert {t["category"] for t in diag["tests"]} == {"Deployment", "Custom"}
    software = _test(diag, "software")
    assert software["status"] == "pass" and sorted(software["gpus"]) == [str(i) for i in range(8)]
    assert _test(diag, "Denylist")["gpus"]["7"]["status"] == "pass"
    res = evaluate(CHECK, diag, NO_BOUND)
    assert res.status == "pass" and "10 of 10 tests passed on 8 GPUs" in res.message
    # a profile demanding level 2 is not satisfied by a level-1 run
    assert evaluate(CHECK, diag, Threshold(min=2)).status == "fail"


def test_p4de_level2_all_pass() -> None:
    """Expert: awsome-distributed-training's p4de run, -r 2 with pcie.gpu_nvlinks_expected_up=12: deployment,
    PCIe (with the 12 NVLinks it was told to expect) and GPU Memory pass on all 8 A100s."""
    diag = parse_diag_text(real(DIAG_P4DE_R2))
    assert diag["ok"] and diag["level"] == 2
    assert (diag["dcgm_version"], diag["driver_version"], diag["gpus"]) == ("3.3.3", "535.104.12", list(range(8)))
    assert [t["name"] for t in diag["tests"]][-2:] == ["PCIe", "GPU Memory"]
    assert _test(diag, "PCIe")["category"] == "Integration" and _test(diag, "GPU Memory")["category"] == "Hardware"
    assert all(g["status"] == "pass" for g in _test(diag, "GPU Memory")["gpus"].values())
    res = evaluate(CHECK, diag, Threshold(min=2))
    assert res.status == "pass" and "11 of 11" in res.message


def test_blackwell_level3_mostly_skipped_is_neither_failure_nor_pass() -> None:
    """Expert: DCGM 3.3.9 does not support these RTX PRO 6000 Blackwell GPUs for its plugins: deployment
    passes, PCIe, GPU Memory and the four stress tests say Skip - All. Nothing failed, and nothing beyond
    deployment was verified: a warning that names the skipped tests. srun printed the box twice: once."""
    diag = parse_diag_text(real(DIAG_BLACKWELL_R3))
    assert diag["ok"] and diag["level"] == 3 and diag["gpus"] == [0, 1]
    assert len(diag["tests"]) == 15  # 9 deployment + 6 plugins, not 30
    skipped = [t["name"] for t in diag["tests"] if t["status"] == "skip"]
    assert skipped == ["PCIe", "GPU Memory", "Targeted Stress", "Targeted Power", "Memory Bandwidth", "EUD Test"]
    res = evaluate(CHECK, diag, NO_BOUND)
    assert res.status == "warn"
    assert "6 tests skipped or not run by DCGM, not verified: PCIe, GPU Memory, Targeted Stress" in res.message
    assert "9 of 15 tests passed" in res.message


def test_fail_early_level3_gpu_memory_fails_on_all_gpus_with_dcgms_reason() -> None:
    """Expert: 8x H100 with the fabric manager down. GPU Memory: Fail - All, every GPU's warning is
    cuInit 'system not yet initialized' (the box cuts it in 45-character slices, joined back exactly);
    persistence mode is off on all GPUs (Info, not a failure). Verdict: fail, with DCGM's reason and the
    fabric-manager remedy."""
    diag = parse_diag_text(real(DIAG_FAIL_EARLY))
    assert diag["ok"] and diag["level"] == 3 and diag["gpus"] == list(range(8))
    memory = _test(diag, "GPU Memory")
    assert memory["status"] == "fail" and sorted(memory["gpus"]) == [str(i) for i in range(8)]
    warning = memory["gpus"]["3"]["warnings"][0]
    assert warning.startswith("GPU 3 Error using CUDA API cuInit Check DCGM and system logs for errors. Reset GPU.")
    assert "Unable to initialize CUDA library: 'system not yet initialized'" in warning  # slices joined, no gaps
    persistence = _test(diag, "Persistence Mode")
    assert persistence["status"] == "pass"
    assert persistence["info"][1] == ('Persistence mode for GPU 1 is disabled. Enable persistence mode by running '
                                      '"nvidia-smi -i <gpuId> -pm 1 " as root.')
    assert _test(diag, "Memory Bandwidth")["status"] == "skip"
    res = evaluate(CHECK, diag, NO_BOUND)
    assert res.status == "fail" and res.measured == 1
    assert "GPU Memory failed on GPUs 0-7: Error using CUDA API cuInit" in res.message
    assert "'system not yet initialized'" in res.message
    assert res.remediation and "nvidia-fabricmanager" in res.remediation


# --- DCGM 4.x ----------------------------------------------------------------------------------

# The "diagnostic" test object is verbatim from a DCGM 4 `dcgmi diag -j` output posted in NVIDIA/DCGM
# issue 215 (8 GPUs, info cut after GPU 2, which is what that issue is about). The envelope around it
# (categories, the memory test, entity_groups, metadata) is synthesized following NVIDIA/DCGM
# dcgmi/Diag.cpp HelperJsonBuildOutput @ 72fa3feaa67d716a75323a8f47c34ff3ee73f824 (DCGM 4.6.0).
_ISSUE_215_DIAGNOSTIC = {
    "name": "diagnostic",
    "results": [
        {"entity_group": "GPU", "entity_group_id": 1, "entity_id": 0, "status": "Pass",
         "info": ["Allocated space for 138 output matricies from 76077622886 bytes available.",
                  "Running with precisions: FP64 1, FP32 1, FP16 1",
                  "GPU 0 calculated at approximately 859.08 gigaflops during this test"]},
        {"entity_group": "GPU", "entity_group_id": 1, "entity_id": 1, "status": "Pass",
         "info": ["Allocated space for 138 output matricies from 76077622886 bytes available.",
                  "Running with precisions: FP64 1, FP32 1, FP16 1",
                  "GPU 1 calculated at approximately 859.08 gigaflops during this test"]},
        {"entity_group": "GPU", "entity_group_id": 1, "entity_id": 2, "status": "Pass",
         "info": ["Allocated space for 138 output matricies from 76077622886 bytes available.",
                  "Running with precisions: FP64 1, FP32 1, FP16 1"]},
        *({"entity_group": "GPU", "entity_group_id": 1, "entity_id": i, "status": "Pass"} for i in range(3, 8)),
    ],
    "test_summary": {"status": "Pass"},
}


def _dcgm4(memory_results: list[dict], memory_summary: dict) -> str:
    doc = {
        "DCGM Diagnostic": {"test_categories": [
            {"category": "Hardware", "tests": [{"name": "memory", "results": memory_results, "test_summary": memory_summary}]},
            {"category": "Stress", "tests": [_ISSUE_215_DIAGNOSTIC]},
        ]},
        "entity_groups": [{"entity_group": "GPU", "entity_group_id": 1,
                           "entities": [{"entity_id": i, "device_id": "2330"} for i in range(8)]}],
        "metadata": {"version": "4.1.1", "Driver Version Detected": "570.86.15"},
    }
    return json.dumps(doc, indent="\t")


def test_dcgm4_json_reads_entities_summary_and_metadata() -> None:
    ok = [{"entity_group": "GPU", "entity_group_id": 1, "entity_id": i, "status": "Pass"} for i in range(8)]
    # a banner before the document, braces included, is skipped
    diag = parse_diag_json("Note: {deprecated option ignored}\n" + _dcgm4(ok, {"status": "Pass"}))
    assert diag["ok"] and (diag["dcgm_version"], diag["driver_version"]) == ("4.1.1", "570.86.15")
    assert diag["gpus"] == list(range(8)) and diag["level"] == 3
    stress = _test(diag, "diagnostic")
    assert stress["status"] == "pass" and stress["gpus"]["1"]["info"][2].endswith("859.08 gigaflops during this test")
    assert stress["gpus"]["7"] == {"status": "pass", "info": [], "warnings": []}
    assert evaluate(CHECK, diag, NO_BOUND).status == "pass"


def test_dcgm4_json_failure_names_each_gpu_with_its_own_reason() -> None:
    results = [{"entity_group": "GPU", "entity_group_id": 1, "entity_id": i, "status": "Pass"} for i in range(8)]
    results[5] = {"entity_group": "GPU", "entity_group_id": 1, "entity_id": 5, "status": "Fail",
                  "warnings": [{"warning": "GPU 5 had uncorrectable memory errors and row remapping failed.",
                                "error_id": 95, "error_category": 2, "error_severity": 3}]}
    results[6] = {"entity_group": "GPU", "entity_group_id": 1, "entity_id": 6, "status": "Fail",
                  "warnings": [{"warning": "GPU 6 Error using CUDA API cudaMalloc", "error_id": 12,
                                "error_category": 1, "error_severity": 2}]}
    diag = parse_diag_json(_dcgm4(results, {"status": "Fail"}))
    memory = _test(diag, "memory")
    assert memory["status"] == "fail" and memory["gpus"]["5"]["status"] == "fail" and memory["gpus"]["0"]["status"] == "pass"
    res = evaluate(CHECK, diag, NO_BOUND)
    assert res.status == "fail"
    assert "memory failed on GPUs 5, 6: GPU 5: had uncorrectable memory errors" in res.message
    assert "GPU 6: Error using CUDA API cudaMalloc" in res.message


def _box(rows: list) -> str:
    """A dcgmi result box as Diag.cpp's stencil prints it: 78 columns, 25-character names, 45-character
    value slices; a str row is a category line, None the header rule."""
    lines = ["+---------------------------+------------------------------------------------+"]
    for row in rows:
        if row is None:
            lines.append("+===========================+================================================+")
        elif isinstance(row, str):
            lines.append(f"+-----  {row}  ".ljust(28, "-") + "+" + "-" * 48 + "+")
        else:
            lines.append(f"| {row[0]:<25} | {row[1]:<45}  |")
    return "Successfully ran diagnostic for group.\n" + "\n".join(lines) + "\n"


def test_dcgm4_text_per_entity_rows() -> None:
    """Synthesized following NVIDIA/DCGM dcgmi/Diag.cpp HelperDisplayGlobalResult/HelperDisplayEntityResults
    @ 72fa3fe (4.x): a test row, then one "GPUn: status" row per entity and "Warning: GPUn" slices."""
    diag = parse_diag_text(_box([
        ("Diagnostic", "Result"), None, ("DCGM Version", "4.2.3"), ("Driver Version Detected", "580.82.09"),
        ("GPU Device IDs Detected", "2330, 2330"), "Deployment", ("software", "Pass"), ("", "GPU0: Pass"), ("", "GPU1: Pass"),
        "Hardware", ("memory", "Fail"), ("", "GPU0: Pass"), ("", "GPU1: Fail"),
        ("Warning: GPU1", "GPU 1 had uncorrectable memory errors and row r"), ("", "emapping failed."),
    ]))
    assert diag["ok"] and diag["dcgm_version"] == "4.2.3" and diag["gpus"] == [0, 1]
    memory = _test(diag, "memory")
    assert memory["status"] == "fail" and memory["gpus"]["0"]["status"] == "pass"
    assert memory["gpus"]["1"]["warnings"] == ["GPU 1 had uncorrectable memory errors and row remapping failed."]
    assert "memory failed on GPU 1: had uncorrectable memory errors and row remapping failed." in evaluate(
        CHECK, diag, NO_BOUND).message


def test_dcgm3_text_one_bad_gpu_among_eight() -> None:
    """Synthesized following NVIDIA/DCGM dcgmi/Diag.cpp HelperDisplayGpuResults @ b0ec3c6 (DCGM 3.3.9):
    mixed results print "Pass - GPUs: 0, 1, ..." then "Fail - GPU: 5" on the next row."""
    diag = parse_diag_text(_box([
        ("Diagnostic", "Result"), None, ("DCGM Version", "3.3.9"), ("GPU Device IDs Detected", ",".join(["2330"] * 8)),
        "Hardware", ("GPU Memory", "Pass - GPUs: 0, 1, 2, 3, 4, 6, 7"), ("", "Fail - GPU: 5"),
        ("Warning", "GPU 5 Uncorrectable memory errors found. Drai"), ("", "n and reset the GPU."),
    ]))
    memory = _test(diag, "GPU Memory")
    assert memory["status"] == "fail" and memory["gpus"]["5"]["status"] == "fail" and memory["gpus"]["0"]["status"] == "pass"
    assert memory["gpus"]["5"]["warnings"] == ["GPU 5 Uncorrectable memory errors found. Drain and reset the GPU."]
    res = evaluate(CHECK, diag, NO_BOUND)
    assert res.status == "fail" and "GPU Memory failed on GPU 5: Uncorrectable memory errors found." in res.message


# --- breakages ---------------------------------------------------------------------------------

@pytest.mark.parametrize("parse, text, reason", [
    (parse_diag_json, "", "no output"),
    (parse_diag_json, "Error: unable to establish a connection to the specified host: localhost", "printed no JSON"),
    (parse_diag_json, '{"DCGM Diagnostic": {"test_categories": [', "truncated or invalid JSON"),
    (parse_diag_json, ('{"DCGM Diagnostic": {"version": "4.2.3", "runtime_error": "Unable to complete diagnostic for group '
                      '2. Return: (-1) Generic unspecified error."}}'), "Unable to complete diagnostic"),
    (parse_diag_json, "[1, 2, 3]", "no JSON"),
    (parse_diag_json, '{"something": "else"}', "no \"DCGM Diagnostic\" section"),
    (parse_diag_text, "Error: Unable to connect to host engine. Host engine connection invalid/disconnected.",
     "Unable to connect"),
    (parse_diag_text, "\x00\xff random bytes | not | a table |", "no dcgmi diag result table"),
    (parse_diag_text, "bash: dcgmi: command not found", "dcgmi: command not found"),
])
def test_unusable_output_is_an_error_with_dcgms_words(parse, text: str, reason: str) -> None:
    diag = parse(text)
    assert not diag["ok"] and reason in diag["error"]
    res = evaluate(CHECK, diag, NO_BOUND)
    assert res.status == "error" and res.remediation


def test_a_status_dcgm_may_add_later_is_never_read_as_pass() -> None:
    doc = {"DCGM GPU Diagnostic": {"version": "3.3.9", "test_categories": [{"category": "Hardware", "tests": [
        {"name": "GPU Memory", "results": [{"gpu_ids": "0,1", "status": "INCONCLUSIVE"}]}]}]}}
    diag = parse_diag_json(json.dumps(doc))
    assert _test(diag, "GPU Memory")["status"] == "not run"
    res = evaluate(CHECK, diag, NO_BOUND)
    assert res.status == "warn" and "not verified: GPU Memory" in res.message


def test_diag_argv() -> None:
    assert diag_argv(1) == ["dcgmi", "diag", "-r", "1", "-j"]
    argv = diag_argv(2, gpus=[0, 1], parameters={"pcie.gpu_nvlinks_expected_up": "12"}, timeout_s=900, json_output=False)
    assert argv == ["timeout", "-k", "5", "900", "dcgmi", "diag", "-r", "2", "-i", "0,1", "-p", "pcie.gpu_nvlinks_expected_up=12"]
    for bad in ({"level": 5}, {"level": 0}, {"level": 1, "parameters": {"x;rm -rf /": "1"}}, {"level": 1, "gpus": [-1]}):
        with pytest.raises(ValueError):
            diag_argv(**bad)  # type: ignore[arg-type]
