"""nccl-tests output on every real capture, then the layouts and breakages a fleet produces.

Each real-capture test states what an engineer reading the output concludes, and why."""

from __future__ import annotations

import time

import pytest

from policies.catalogue import intranode_busbw
from policies.thresholds import Threshold
from tests.fabric.helpers import (
    A3MEGA_2NODE,
    A100_G8,
    A100_MPIRUN,
    EFA_2NODE_INFO,
    H100_FM_DOWN,
    H200_5GPU,
    K80_NO_CHECK,
    NO_BOUND,
    real,
)
from validators.fabric.nccl import evaluate, parse_all_reduce

CHECK = "fabric.nccl_allreduce"


# --- the real captures -------------------------------------------------------------------------

def test_h200_five_gpus_nv18_is_healthy() -> None:
    """Expert: a healthy HGX H200 slice. 5 ranks on one host, 31 sizes 8 B-8 GiB, every #wrong 0,
    "Out of bounds values : 0 OK", busbw 414.6 GB/s at 8 GiB: 92% of NVLink4's 450 GB/s per GPU and
    within 90% of what a full HGX H200 must reach (Azure's floor 431)."""
    run = parse_all_reduce(real(H200_5GPU))
    assert run["ok"] and run["error"] is None
    assert (run["nranks"], run["hosts"], run["layout"]) == (5, ["HOST-REDACTED"], "new")
    assert (run["nccl_version"], run["nccl_tests_version"]) == ("2.25.1", "2.19.6")
    assert len(run["rows"]) == 31 and run["rows"][-1]["size_bytes"] == 8589934592
    assert run["rows"][-1]["out_of_place"] == {"time_us": 33148.5, "algbw_gbs": 259.13, "busbw_gbs": 414.62, "wrong": 0}
    assert run["peak_busbw_gbs"] == pytest.approx((414.62 + 414.48) / 2)
    assert (run["wrong_total"], run["out_of_bounds"], run["data_checked"]) == (0, 0, True)
    assert run["avg_busbw_gbs"] == pytest.approx(135.183)
    assert run["devices"][4] == {"rank": 4, "host": "HOST-REDACTED", "gpu": 4, "pci": "0000:e4:00", "name": "NVIDIA H200",
                                 "group": 0}
    # the catalogue has no 5-GPU shape: plinth says it judged completion and data only
    assert intranode_busbw("H200", 5) is None
    unjudged = evaluate(CHECK, run, NO_BOUND, None, "NVLink all-reduce")
    assert unjudged.status == "pass" and "no busbw expectation" in unjudged.message
    # against the full HGX H200 expectation it is still healthy
    h200 = intranode_busbw("H200", 8)
    assert h200 is not None
    judged = evaluate(CHECK, run, NO_BOUND, h200.busbw_gbs, "NVLink all-reduce")
    assert judged.status == "pass" and judged.measured == pytest.approx(414.55) and judged.threshold == pytest.approx(387.9)
    assert "at 8 GiB" in judged.message


@pytest.mark.parametrize("rel", [A100_G8, A100_MPIRUN])
def test_a100_nvswitch_node_is_healthy_single_process_or_mpirun(rel: str) -> None:
    """Expert: a healthy 8x A100-SXM4-80GB NVSwitch node, measured two ways (-g 8 in one process;
    mpirun -np 8, whose Open MPI "help message" lines are noise). busbw ~232 GB/s at 4 GiB is what
    NVLink3 gives (Azure floors ND A100 v4 at 228); no wrong elements."""
    run = parse_all_reduce(real(rel))
    assert run["ok"] and run["nranks"] == 8 and run["hosts"] == ["thanos"]
    assert len(run["rows"]) == 30 and all(r["size_bytes"] > 0 for r in run["rows"])  # the noise lines are not rows
    assert run["layout"] == "new" and run["nccl_tests_version"] is None  # Group column, no version header
    assert run["peak_size_bytes"] == 4294967296 and 231 < run["peak_busbw_gbs"] < 233
    expected = intranode_busbw("A100", 8)
    assert expected is not None and expected.basis == "measured"
    assert evaluate(CHECK, run, NO_BOUND, expected.busbw_gbs, "NVLink all-reduce").status == "pass"


def test_h100_with_fabric_manager_down_is_an_error_naming_the_fabric_manager() -> None:
    """Expert: nothing was measured. CUDA could not initialise ('system not yet initialized', common.cu:941)
    on an 8x H100 NVSwitch node: nvidia-fabricmanager is not running (NVIDIA/nccl-tests issue 264). Never
    a pass, never a bandwidth failure: an error whose remedy is the fabric manager."""
    run = parse_all_reduce(real(H100_FM_DOWN))
    assert not run["ok"] and run["rows"] == []
    assert run["error"] == "Test CUDA failure common.cu:941 'system not yet initialized'"
    assert run["params"]["ngpus"] == 8 and run["params"]["max_bytes"] == 134217728
    res = evaluate(CHECK, run, NO_BOUND, 460.0, "NVLink all-reduce")
    assert res.status == "error" and "system not yet initialized" in res.message
    assert res.remediation and "nvidia-fabricmanager" in res.remediation


def test_two_gcp_a3mega_nodes_complete_with_verified_data_but_no_aws_expectation() -> None:
    """Expert: 16 ranks on two a3-mega hosts, data verified, busbw 338 GB/s at 8 GiB over GPUDirect-TCPXO.
    plinth's catalogue is AWS's instance types, so it judges completion and data and says it has no
    expectation, instead of inventing one."""
    run = parse_all_reduce(real(A3MEGA_2NODE))
    assert run["ok"] and run["nranks"] == 16 and run["hosts"] == ["ztan-mig-235z", "ztan-mig-gq73"]
    assert run["peak_busbw_gbs"] == pytest.approx((338.82 + 337.35) / 2)
    res = evaluate(CHECK, run, NO_BOUND, None, "cross-node all-reduce")
    assert res.status == "pass" and "no busbw expectation" in res.message


def test_efa_run_drowned_in_nccl_info_still_parses_and_proves_the_transport() -> None:
    """Expert: two g7e nodes, one RTX PRO 6000 each, NCCL 2.29.2 over aws-ofi-nccl 1.18 ("Using network
    Libfabric", provider efa): the fabric under test was used; 12.4 GB/s busbw = 99 Gbps, one 100 Gbps
    EFA's worth. Hundreds of NCCL INFO lines interleave the table and must not break it."""
    run = parse_all_reduce(real(EFA_2NODE_INFO))
    assert run["ok"] and len(run["rows"]) == 28 and run["network"] == "Libfabric"
    assert run["nccl_version"] == "2.29.2" and run["hosts"] == ["gpu-st-ml-1", "gpu-st-ml-2"]
    assert run["peak_busbw_gbs"] == pytest.approx(12.38) and run["peak_size_bytes"] == 1 << 30
    floor_10 = Threshold(min=10, unit="GB/s")
    assert evaluate(CHECK, run, floor_10, None, "EFA all-reduce", fabric="efa").status == "pass"
    wrong_fabric = evaluate(CHECK, run, floor_10, None, "IB all-reduce", fabric="ib")
    assert wrong_fabric.status == "fail" and "Libfabric" in wrong_fabric.message
    assert run["networks"] == {"gpu-st-ml-2": "Libfabric", "gpu-st-ml-1": "Libfabric"}  # each rank's own line


def test_one_node_whose_nccl_fell_back_to_sockets_is_named() -> None:
    """EDITED from the same capture: gpu-st-ml-1's NCCL says "Using network Socket" (aws-ofi-nccl not
    found there: LD_LIBRARY_PATH, a missing plugin) while gpu-st-ml-2 uses Libfabric. Expert: the
    ring runs at the socket node's speed; the run is not an EFA result, and the node to fix is
    gpu-st-ml-1 -- rank 0's line alone (Libfabric) would have passed it."""
    text = real(EFA_2NODE_INFO).replace("gpu-st-ml-1:78499:78499 [0] NCCL INFO Using network Libfabric",
                                        "gpu-st-ml-1:78499:78499 [0] NCCL INFO Using network Socket")
    run = parse_all_reduce(text)
    assert run["network"] == "Libfabric" and run["networks"]["gpu-st-ml-1"] == "Socket"
    res = evaluate(CHECK, run, Threshold(min=10, unit="GB/s"), None, "EFA all-reduce", fabric="efa")
    assert res.status == "fail"
    assert res.message == "EFA all-reduce: NCCL used the Socket transport on gpu-st-ml-1 (1 of 2 hosts), not efa"


def test_k80_run_without_data_checking_is_never_a_silent_pass() -> None:
    """Expert: validation 0 (-c 0), every #wrong N/A: the numbers say nothing about correctness. plinth
    reports it (warn at best); a floor the run misses still fails."""
    run = parse_all_reduce(real(K80_NO_CHECK))
    assert run["ok"] and run["data_checked"] is False and run["wrong_total"] is None
    assert all(r["out_of_place"]["wrong"] is None and r["in_place"]["wrong"] is None for r in run["rows"])
    assert run["layout"] == "old" and run["devices"][1]["group"] is None and run["hosts"][1] == "pkb-2b6a393d-3"
    unjudged = evaluate(CHECK, run, NO_BOUND, None, "all-reduce")
    assert unjudged.status == "warn" and "NOT checked" in unjudged.message and unjudged.remediation
    assert evaluate(CHECK, run, Threshold(min=0.5, unit="GB/s"), None, "all-reduce").status == "warn"
    assert evaluate(CHECK, run, Threshold(min=1, unit="GB/s"), None, "all-reduce").status == "fail"


# --- layouts and launchers ---------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["0: ", "[1,0]<stdout>:"])
def test_srun_and_mpirun_rank_prefixes_are_stripped(prefix: str) -> None:
    """srun -l and mpirun --tag-output (awsome-distributed-training's README shows both) prefix every line."""
    text = real(H200_5GPU)
    plain = parse_all_reduce(text)
    tagged = parse_all_reduce("".join(prefix + line for line in text.splitlines(keepends=True)))
    assert tagged == plain


def test_newest_layout_with_per_iteration_columns_and_float_sizes() -> None:
    """nccl-tests 2.19 with -I 1 adds i_min/i_max/i_p99/i_cv% after each group; %6g prints #wrong and
    %g sizes may come out as 1.04858e+06. Synthesized from the format strings in nccl-tests src/util.cu."""
    text = (
        "# nccl-tests version 2.19.6 nccl-headers=22803 nccl-library=22803\n"
        "# nThread 1 nGpus 8 minBytes 1048576 maxBytes 1048576 step: 2(factor) warmup iters: 1 iters: 5 agg iters: 1 "
        "validation: 1 graph: 0 unalign: 0\n"
        "#  Rank  0 Group  0 Pid   1000 on      node1 device  0 [0000:18:00] NVIDIA H100 80GB HBM3\n"
        "#       size         count      type   redop    root     time   algbw   busbw  #wrong    i_min    i_max    i_p99"
        "    i_cv%     time   algbw   busbw  #wrong    i_min    i_max    i_p99    i_cv%\n"
        "  1.04858e+06        262144     float     sum      -1    30.10   34.84   60.96       0    29.00    31.00    31.00"
        "     1.50    30.00   34.95   61.17  1e+06    29.00    31.00    31.00     1.40\n"
        "# Out of bounds values : 1000000 FAILED\n# Avg bus bandwidth    : 61.065 \n"
    )
    run = parse_all_reduce(text)
    assert run["ok"] and run["nccl_version"] == "2.28.3"
    row = run["rows"][0]
    assert row["size_bytes"] == 1048580 and row["count"] == 262144
    assert row["out_of_place"] == {"time_us": 30.10, "algbw_gbs": 34.84, "busbw_gbs": 60.96, "wrong": 0}
    assert row["in_place"]["busbw_gbs"] == 61.17 and row["in_place"]["wrong"] == 1_000_000  # not i_min
    assert run["wrong_total"] == 1_000_000 and run["out_of_bounds"] == 1_000_000
    res = evaluate(CHECK, run, NO_BOUND, 50.0, "all-reduce")  # fast, but corrupt
    assert res.status == "fail" and "data corruption" in res.message and "dcgmi diag" in (res.remediation or "")


def test_old_nccl_version_code_is_decoded() -> None:
    text = real(A100_G8).replace("# nThread", "# nccl-tests version 2.0.0 nccl-headers=2708 nccl-library=2708\n# nThread", 1)
    assert parse_all_reduce(text)["nccl_version"] == "2.7.8"


# --- breakages ---------------------------------------------------------------------------------

def test_table_cut_mid_row_keeps_the_rows_and_says_the_run_was_cut() -> None:
    text = real(H200_5GPU)
    cut = text[: text.index("  4294967296    1073741824") + 60]  # inside the 4 GiB row, before the summary
    run = parse_all_reduce(cut)
    assert not run["ok"] and len(run["rows"]) == 29  # 8 B .. 2 GiB complete
    assert "ends before nccl-tests' summary" in run["error"] and "row cut short" in run["error"]
    killed = parse_all_reduce(cut, exit_code=124)
    assert "time bound" in killed["error"]
    res = evaluate(CHECK, killed, NO_BOUND, 431.0, "NVLink all-reduce")
    assert res.status == "error" and "time bound" in (res.remediation or "")


@pytest.mark.parametrize("text, reason", [
    ("", "no output"),
    (None, "no output"),
    ("\x00\xff garbage \x1b[31m\nSegmentation fault (core dumped)\n", "no nccl-tests result table"),
    (b"\xff\xfe\x00binary", "no nccl-tests result table"),
    (("node1: Test NCCL failure common.cu:1279 'unhandled system error (run with NCCL_DEBUG=INFO for details) / '\n"
     " .. node1 pid 7: Test failure common.cu:1100\n"), "Test NCCL failure"),
    (("No ED25519 host key is known for 10.0.0.2 and you have requested strict checking.\nHost key verification failed.\n"
     "ORTE was unable to reliably start one or more daemons.\n"), "host key is known"),
    ("bash: line 1: all_reduce_perf: command not found\n", "all_reduce_perf: command not found"),
])
def test_broken_runs_are_errors_with_the_tools_own_reason(text: str | bytes | None, reason: str) -> None:
    run = parse_all_reduce(text)
    assert not run["ok"] and reason in run["error"]
    res = evaluate(CHECK, run, NO_BOUND, 100.0, "all-reduce")
    assert res.status == "error" and res.remediation


def test_nccl_warn_after_a_complete_run_does_not_fail_it() -> None:
    text = real(A100_G8) + "node1:1:1 [0] NCCL WARN some late teardown warning\n"
    assert parse_all_reduce(text)["ok"]


def test_hostile_output_is_bounded_and_never_executed() -> None:
    """A node's output is data: a huge flood is cut (the tail kept), control characters never reach a
    report, and nothing in it is interpreted."""
    flood = ("x" * 200 + "\n") * 60_000 + real(A100_G8)  # ~12 MB of junk before a real table
    t0 = time.monotonic()
    run = parse_all_reduce(flood)
    assert time.monotonic() - t0 < 5
    assert run["truncated"] and len(run["rows"]) == 30
    evil = real(A100_G8).replace("NVIDIA A100-SXM4-80GB", "\x1b[2J$(rm -rf /)\x07[/]", 1)
    name = parse_all_reduce(evil)["devices"][0]["name"]
    assert "\x1b" not in name and "\x07" not in name and "$(rm -rf /)" in name
