"""Minimal stand-ins for validators/fabric/nccl.py, dcgm.py and rdma.py (the tool-facing halves:
argv builders, parsers, evaluate). Used ONLY while those modules are not in the tree; the fixture
``fabric_tools`` installs the real ones when they import. The stand-ins follow the agreed
interface closely enough for the orchestration to be tested: argv lists, parsers that say
``ok``/``error``, judges that pass a good run and explain a bad one.
"""

from __future__ import annotations

import json
import re
import types
from typing import Any

from validators.checks.compare import at_least, not_run
from validators.results import CheckResult


def _nccl() -> types.ModuleType:
    m = types.ModuleType("validators.fabric.nccl")

    def parse_all_reduce(text: str | bytes | None, *, exit_code: int | None = None) -> dict[str, Any]:
        text = text.decode() if isinstance(text, bytes) else (text or "")
        rows = []
        for line in text.splitlines():
            t = line.split()
            if len(t) >= 13 and t[0].isdigit() and t[2] == "float":
                rows.append({"size_bytes": int(t[0]), "out_of_place": {"time_us": float(t[5]), "algbw_gbs": float(t[6]),
                                                                        "busbw_gbs": float(t[7]), "wrong": int(t[8])},
                             "in_place": {"time_us": float(t[9]), "algbw_gbs": float(t[10]), "busbw_gbs": float(t[11]),
                                          "wrong": int(t[12])}})
        avg = re.search(r"# Avg bus bandwidth\s*:\s*(\S+)", text)
        if not rows or not avg:
            return {"ok": False, "error": "no nccl-tests result table", "rows": rows}
        last = rows[-1]
        return {"ok": True, "error": None, "rows": rows, "avg_busbw_gbs": float(avg.group(1)),
                "peak_busbw_gbs": (last["out_of_place"]["busbw_gbs"] + last["in_place"]["busbw_gbs"]) / 2,
                "peak_size_bytes": last["size_bytes"], "wrong_total": sum(r["out_of_place"]["wrong"] + r["in_place"]["wrong"] for r in rows),
                "out_of_bounds": 0, "data_checked": True, "network": None}

    def local_argv(gpus: int, *, min_bytes: int, max_bytes: int, factor: int = 2, iters: int, warmup: int,
                   binary: str = "all_reduce_perf", timeout_s: float | None = None) -> list[str]:
        return [binary, "-b", str(min_bytes), "-e", str(max_bytes), "-f", str(factor), "-g", str(gpus), "-n", str(iters),
                "-w", str(warmup), "-c", "1"]

    def fabric_env(kind: str, **kw: Any) -> dict[str, str]:
        return {"NCCL_DEBUG": "INFO"}

    def evaluate(check_id: str, run: Any, threshold: Any, expected_busbw_gbs: float | None, what: str, *,
                 fabric: str | None = None) -> CheckResult:
        if not isinstance(run, dict) or not run.get("ok"):
            return not_run(check_id, f"{what}: {(run or {}).get('error') or 'no result'}", threshold=threshold)
        if run.get("wrong_total"):
            return CheckResult.make(check_id, "fail", f"{what}: {run['wrong_total']} wrong elements", measured=run["wrong_total"])
        floor = expected_busbw_gbs * 0.9 if expected_busbw_gbs else None
        return at_least(check_id, run.get("peak_busbw_gbs"), threshold, what=what, floor=floor, unit="GB/s")

    m.__dict__.update(parse_all_reduce=parse_all_reduce, local_argv=local_argv, fabric_env=fabric_env, evaluate=evaluate)
    return m


def _dcgm() -> types.ModuleType:
    m = types.ModuleType("validators.fabric.dcgm")

    def diag_argv(level: int) -> list[str]:
        return ["dcgmi", "diag", "-r", str(level), "-j"]

    def parse_diag_json(text: str) -> dict[str, Any]:
        try:
            doc = json.loads(text[text.index("{"):]) if "{" in text else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            return {"ok": False, "error": f"dcgmi printed no JSON: {text.strip()[:80]!r}"}
        return {"ok": True, "error": None, "tests": doc.get("tests", [])}

    def parse_diag_text(text: str) -> dict[str, Any]:
        return {"ok": False, "error": "not a dcgmi table"}

    def evaluate(check_id: str, diag: Any, threshold: Any) -> CheckResult:
        if not isinstance(diag, dict) or not diag.get("ok"):
            return not_run(check_id, f"dcgmi diag: {(diag or {}).get('error')}", threshold=threshold)
        return CheckResult.make(check_id, "pass", "dcgmi diag passed")

    m.__dict__.update(diag_argv=diag_argv, parse_diag_json=parse_diag_json, parse_diag_text=parse_diag_text, evaluate=evaluate)
    return m


def _rdma() -> types.ModuleType:
    m = types.ModuleType("validators.fabric.rdma")

    def fi_pingpong_server_argv(provider: str, port: int) -> list[str]:
        return ["fi_pingpong", "-p", provider, "-e", "rdm", "-B", str(port), "-S", "1048576", "-I", "20"]

    def fi_pingpong_client_argv(server: str, provider: str, port: int) -> list[str]:
        return ["fi_pingpong", "-p", provider, "-e", "rdm", "-P", str(port), "-S", "1048576", "-I", "20", server]

    def parse_fi_pingpong(text: str) -> dict[str, Any]:
        rows = []
        for line in text.splitlines():
            t = line.split()
            if len(t) == 8 and t[1].isdigit():
                rows.append({"bytes": t[0], "mb_s": float(t[5])})
        if not rows:
            return {"ok": False, "error": "no fi_pingpong result line", "rows": []}
        return {"ok": True, "error": None, "rows": rows, "peak_mb_s": max(r["mb_s"] for r in rows), "provider": None}

    def ib_write_bw_server_argv(dev: str, port: int) -> list[str]:
        return ["ib_write_bw", "-d", dev, "-p", str(port)]

    def ib_write_bw_client_argv(server: str, dev: str, port: int) -> list[str]:
        return ["ib_write_bw", "-d", dev, "-p", str(port), server]

    def parse_ib_write_bw(text: str) -> dict[str, Any]:
        return {"ok": False, "error": "stand-in: no parser"}

    def evaluate_bandwidth(check_id: str, parsed: Any, threshold: Any, expected_gbps: float | None, what: str) -> CheckResult:
        if not isinstance(parsed, dict) or not parsed.get("ok"):
            return not_run(check_id, f"{what}: {(parsed or {}).get('error')}", threshold=threshold)
        gbps = parsed.get("bw_avg_gbps") or (parsed.get("peak_mb_s") or 0) * 8 / 1000
        return at_least(check_id, gbps, threshold, what=what, unit="Gbps")

    m.__dict__.update(fi_pingpong_server_argv=fi_pingpong_server_argv, fi_pingpong_client_argv=fi_pingpong_client_argv,
                      parse_fi_pingpong=parse_fi_pingpong, ib_write_bw_server_argv=ib_write_bw_server_argv,
                      ib_write_bw_client_argv=ib_write_bw_client_argv, parse_ib_write_bw=parse_ib_write_bw,
                      evaluate_bandwidth=evaluate_bandwidth)
    return m


STANDINS = {"nccl": _nccl, "dcgm": _dcgm, "rdma": _rdma}
