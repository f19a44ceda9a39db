"""Fabric tests within one node: DCGM diagnostics and NCCL all_reduce_perf over NVLink/NVSwitch.

Each returns the node's entry (validators/fabric/runs.py). The argv builders and parsers are
validators/fabric/dcgm.py and nccl.py; this module decides whether the test can run on the node
(tool present, GPUs visible), bounds it and keeps what it printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from validators.fabric import dcgm, nccl
from validators.fabric.runs import entry, run_tool, skipped
from validators.transport.base import Transport

# dcgmi diag run levels: 1 quick (deployment, seconds), 2 medium (~2 min), 3 long (~15-30 min),
# 4 extended (~1-2 h) -- NVIDIA DCGM User Guide, "Run Levels"
DCGM_BOUND_S = {1: 180.0, 2: 600.0, 3: 3600.0, 4: 10800.0}
NCCL_BOUND_S = 300.0


def gpu_count(facts: Mapping[str, Any]) -> int:
    gpu = facts.get("gpu")
    devices = gpu.get("devices") if isinstance(gpu, Mapping) else None
    return len(devices) if isinstance(devices, list) else 0


def dcgm_diag(transport: Transport, tools: Mapping[str, str | None], level: int, timeout_s: float) -> dict[str, Any]:
    dcgmi = tools.get("dcgmi")
    if not dcgmi:
        return skipped("dcgmi not found on the node (install NVIDIA DCGM: datacenter-gpu-manager)")

    try:
        argv = [dcgmi, *dcgm.diag_argv(level)[1:]]
    except ValueError as exc:  # a level the profile got wrong (1 to 4)
        return entry("error", f"dcgmi diag: {exc}")

    def parse(text: str, exit_code: int | None) -> dict[str, Any]:
        parsed = dcgm.parse_diag_json(text, level=level, exit_code=exit_code)
        if not parsed.get("ok"):  # a dcgmi that printed its table despite -j
            table = dcgm.parse_diag_text(text, level=level, exit_code=exit_code)
            if table.get("ok"):
                return table
        return parsed

    return run_tool(transport, argv, timeout_s, f"dcgmi diag -r {level}", parse)


def nccl_intranode(transport: Transport, tools: Mapping[str, str | None], facts: Mapping[str, Any],
                   params: Mapping[str, Any], max_bytes: int, timeout_s: float) -> dict[str, Any]:
    binary = tools.get("all_reduce_perf")
    if not binary:
        return skipped("all_reduce_perf (NVIDIA nccl-tests) not found on the node")
    gpus = gpu_count(facts)
    if gpus < 2:
        return skipped(f"NCCL within the node needs 2 or more GPUs; {gpus} visible")

    try:
        argv = nccl.local_argv(gpus, min_bytes=int(params.get("min_bytes", 8 << 20)), max_bytes=max_bytes,
                               iters=int(params.get("iters", 20)), warmup=int(params.get("warmup", 5)), binary=binary)
    except ValueError as exc:  # a path that is not a plain word, a bad size in the profile
        return entry("error", f"all_reduce_perf: {exc}")
    return run_tool(transport, argv, timeout_s, f"all_reduce_perf -g {gpus}",
                    lambda text, code: nccl.parse_all_reduce(text, exit_code=code))


__all__ = ["DCGM_BOUND_S", "NCCL_BOUND_S", "dcgm_diag", "gpu_count", "nccl_intranode"]
