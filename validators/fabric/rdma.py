"""RDMA point-to-point: perftest ``ib_write_bw`` (InfiniBand, RoCE) and libfabric's ``fi_pingpong``
(EFA, or the ``tcp`` provider through the same code path): command lines, parsers, one judge.

``parse_ib_write_bw(text)`` returns::

    {"ok": bool, "error": str | None,
     "bw_avg_gbps": float | None,   # "BW average" at the largest message (mean of repeated rows), in Gb/s
     "bw_peak_gbps": float | None,  # "BW peak"; None when perftest did not measure it (-D, --run_infinitely)
     "msg_size": int | None, "iterations": int | None,
     "device": str | None, "link_type": str | None,   # "IB" or "Ethernet" (RoCE)
     "transport": str | None, "connection": str | None,
     "rows": [{"bytes", "iterations", "bw_peak_gbps", "bw_avg_gbps", "msg_rate_mpps"}]}

MB/sec and MiB/sec tables are converted (perftest's MB is 2^20 bytes: Gb/s = MiB/s x 2^20 x 8 / 1e9).

``parse_fi_pingpong(text)`` returns::

    {"ok": bool, "error": str | None,
     "rows": [{"bytes", "iters", "total", "time_s", "mb_s", "usec_per_xfer", "mxfers_per_s"}],
     "peak_mb_s": float | None,     # the best MB/sec row (fabtests' MB = 1e6 bytes: bytes / microsecond)
     "provider": str | None}        # as given by the caller (the output does not say)

fi_pingpong is what AWS's EFA guide and the SageMaker/HyperPod health checks run to prove the EFA
path between two nodes; it is one message in flight (latency-bound), so AWS publishes no bandwidth
for it: its verdict is "the fabric works", plus a floor only where the profile sets one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from policies.thresholds import Threshold
from validators.checks.compare import at_least, fmt, not_run
from validators.fabric.toolout import (
    bounded,
    bounded_text,
    check_positive,
    check_word,
    first_line,
    first_match,
    first_remedy,
    number,
)
from validators.results import CheckResult

# healthy links measure at least 90% of their line rate with ib_write_bw (AzHC: 185 of HDR 200, 360-375
# of NDR 400) and nccl-tests uses the same 90% rule (src/common.cu); policies/data/fabric.yaml
EXPECTED_FRACTION = 0.9
MIB_TO_GBIT = 2**20 * 8 / 1e9
MB_TO_GBIT = 8 / 1e3

# --- perftest ib_write_bw -----------------------------------------------------------------------

_IB_TABLE = re.compile(r"#bytes\s+#iterations\s+BW peak\[([\w/]+)\]\s+BW average\[([\w/]+)\]")
_IB_FIELD = re.compile(r"([A-Za-z][A-Za-z .*/-]*?)\s*:\s+(\S+)")
_IB_ERRORS = (
    re.compile(r"Did not detect devices.*"),
    re.compile(r"Unable to find the Infiniband/RoCE device.*"),
    re.compile(r"IB device \S+ not found.*"),
    re.compile(r"Couldn't connect to \S+.*"),
    re.compile(r"Unable to open file descriptor for socket connection.*"),
    re.compile(r"Unable to init the socket connection.*"),
    re.compile(r"Failed to modify QP \S* to RTR.*"),
    re.compile(r"Unable to Connect the HCA's through the link.*"),
    re.compile(r"Completion with error.*"),
    re.compile(r"Couldn't (?:get|allocate|create|register).*"),
    re.compile(r"(?:Failed|Unable) to .*"),
)


def _perftest_argv(dev: str, port: int, *, size: int, duration_s: int | None, iterations: int | None,
                   gid_index: int | None, qps: int, use_cuda: int | None) -> list[str]:
    check_word(dev, "RDMA device")
    check_positive(port, "port")
    check_positive(size, "size")
    check_positive(qps, "qps")
    argv = ["ib_write_bw", "-d", dev, "-p", str(port), "-s", str(size), "-q", str(qps), "-F", "--report_gbits"]
    if (duration_s is None) == (iterations is None):
        raise ValueError("give exactly one of duration_s (-D) and iterations (-n)")
    # -D bounds the run in seconds whatever the link speed (AzHC's non-GDR check uses -D 10); -n counts
    argv += ["-D", str(check_positive(duration_s, "duration_s"))] if duration_s is not None else \
        ["-n", str(check_positive(iterations or 0, "iterations", minimum=5))]
    if gid_index is not None:
        argv += ["-x", str(check_positive(gid_index, "gid_index", minimum=0))]
    if use_cuda is not None:
        argv.append(f"--use_cuda={check_positive(use_cuda, 'use_cuda', minimum=0)}")  # GPUDirect RDMA from that GPU
    return argv


def ib_write_bw_server_argv(dev: str, port: int, *, size: int = 8 << 20, duration_s: int | None = 5,
                            iterations: int | None = None, gid_index: int | None = None, qps: int = 1,
                            use_cuda: int | None = None, timeout_s: float | None = 60) -> list[str]:
    """The listening side: ``ib_write_bw -d DEV -p PORT -s 8388608 -D 5 -F --report_gbits`` (8 MiB
    messages as AzHC's GPUDirect check). ``timeout_s`` keeps a listener whose client never came
    from outliving the round."""
    argv = _perftest_argv(dev, port, size=size, duration_s=duration_s, iterations=iterations, gid_index=gid_index,
                          qps=qps, use_cuda=use_cuda)
    return bounded(argv, timeout_s)


def ib_write_bw_client_argv(server: str, dev: str, port: int, *, size: int = 8 << 20, duration_s: int | None = 5,
                            iterations: int | None = None, gid_index: int | None = None, qps: int = 1,
                            use_cuda: int | None = None, timeout_s: float | None = 60) -> list[str]:
    """The measuring side, connecting to ``server`` (its address on the management network: perftest
    exchanges QP details over TCP there, then writes over RDMA)."""
    argv = _perftest_argv(dev, port, size=size, duration_s=duration_s, iterations=iterations, gid_index=gid_index,
                          qps=qps, use_cuda=use_cuda)
    return bounded([*argv, check_word(server, "server")], timeout_s)


def _to_gbps(value: float | None, unit: str) -> float | None:
    if value is None:
        return None
    unit = unit.casefold()
    if unit.startswith("gb"):
        return value
    if unit.startswith(("mb", "mib")):
        return round(value * MIB_TO_GBIT, 3)
    return None


def parse_ib_write_bw(text: str | bytes | None, *, exit_code: int | None = None) -> dict[str, Any]:
    """Parse ib_write_bw output (see the module docstring). Never raises."""
    body, _ = bounded_text(text)
    out: dict[str, Any] = {"ok": False, "error": None, "bw_avg_gbps": None, "bw_peak_gbps": None, "msg_size": None,
                           "iterations": None, "device": None, "link_type": None, "transport": None, "connection": None,
                           "rows": []}
    units: tuple[str, str] | None = None
    fields: dict[str, str] = {}
    for line in body.replace("\r", "").split("\n"):
        if m := _IB_TABLE.search(line):
            units = (m.group(1), m.group(2))
            continue
        tokens = line.split()
        if units and len(tokens) >= 4 and tokens[0].isdigit() and tokens[1].isdigit():
            peak, avg = _to_gbps(number(tokens[2]), units[0]), _to_gbps(number(tokens[3]), units[1])
            if avg is not None:
                out["rows"].append({"bytes": int(tokens[0]), "iterations": int(tokens[1]), "bw_peak_gbps": peak,
                                    "bw_avg_gbps": avg, "msg_rate_mpps": number(tokens[4]) if len(tokens) > 4 else None})
            continue
        for m in _IB_FIELD.finditer(line):
            fields.setdefault(m.group(1).strip().casefold(), m.group(2))
    out.update(device=fields.get("device"), link_type=fields.get("link type"), transport=fields.get("transport type"),
               connection=fields.get("connection type"))
    rows = out["rows"]
    if rows:
        size = max(r["bytes"] for r in rows)
        top = [r for r in rows if r["bytes"] == size]
        peaks = [r["bw_peak_gbps"] for r in top if r["bw_peak_gbps"]]  # 0.00: peak not measured
        out.update(msg_size=size, iterations=top[-1]["iterations"],
                   bw_avg_gbps=round(sum(r["bw_avg_gbps"] for r in top) / len(top), 3),
                   bw_peak_gbps=max(peaks) if peaks else None)
        out["ok"] = True
        return out
    error = first_match(body.split("\n"), _IB_ERRORS)
    if error and ("detect devices" in error or "Infiniband/RoCE device" in error):
        error = f"no RDMA device on this node (ib_write_bw: {error})"
    elif error is None and exit_code in (124, 137):
        error = "ib_write_bw did not finish in its time bound (the peer never connected, or the link stalled)"
    out["error"] = error or f"no ib_write_bw result table in the output (first line: {first_line(body)})"
    return out


# --- libfabric fabtests fi_pingpong -------------------------------------------------------------

Provider = Literal["efa", "tcp"]
_PP_ERRORS = (
    re.compile(r"fi_getinfo\(\).*"),
    re.compile(r"ibv_create_ah failed.*"),
    re.compile(r"failed to connect: .*"),
    re.compile(r"ctrl/read: .*"),
    re.compile(r"fi_\w+\(\): .*"),
    re.compile(r"\[error\] .*"),
)
_SIZE_SUFFIX = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}  # fabtests size_str: binary
_COUNT_SUFFIX = {"": 1, "k": 1000, "m": 1000 * 1000, "b": 1000 * 1000 * 1000}  # fabtests cnt_str: decimal


def _pingpong_argv(provider: str, *, iterations: int, size: int | Literal["all"], endpoint: str,
                   domain: str | None) -> list[str]:
    check_word(provider, "provider")
    if endpoint not in ("rdm", "msg", "dgram"):
        raise ValueError(f"endpoint must be rdm, msg or dgram, got {endpoint!r}")
    # -e rdm: the reliable datagram endpoint EFA's NCCL path uses (fi_pingpong's default is dgram,
    # which the tcp provider lacks); -I bounds the iterations, -S the sizes
    argv = ["fi_pingpong", "-p", provider, "-e", endpoint, "-I", str(check_positive(iterations, "iterations")),
            "-S", "all" if size == "all" else str(check_positive(size, "size"))]
    if domain is not None:
        argv += ["-d", check_word(domain, "domain")]
    return argv


def fi_pingpong_server_argv(provider: Provider | str, port: int, *, iterations: int = 100,
                            size: int | Literal["all"] = 65536, endpoint: str = "rdm", domain: str | None = None,
                            timeout_s: float | None = 30) -> list[str]:
    """The listening side on control port ``port`` (``-B``); ``-p efa`` on EFA nodes, ``-p tcp`` anywhere."""
    argv = _pingpong_argv(provider, iterations=iterations, size=size, endpoint=endpoint, domain=domain)
    return bounded([*argv, "-B", str(check_positive(port, "port"))], timeout_s)


def fi_pingpong_client_argv(server: str, provider: Provider | str, port: int, *, iterations: int = 100,
                            size: int | Literal["all"] = 65536, endpoint: str = "rdm", domain: str | None = None,
                            timeout_s: float | None = 30) -> list[str]:
    """The connecting side: ``server`` is the peer's address on the network both can reach (an EFA
    device has no IP address of its own; the control connection goes over the ENA/Ethernet NIC)."""
    argv = _pingpong_argv(provider, iterations=iterations, size=size, endpoint=endpoint, domain=domain)
    return bounded([*argv, "-P", str(check_positive(port, "port")), check_word(server, "server")], timeout_s)


def _suffixed(token: str, table: Mapping[str, int]) -> int | None:
    m = re.fullmatch(r"=?(\d+(?:\.\d+)?)([a-z]?)", token.strip().casefold())
    if not m or m.group(2) not in table:
        return None
    return round(float(m.group(1)) * table[m.group(2)])


def parse_fi_pingpong(text: str | bytes | None, *, provider: str | None = None, exit_code: int | None = None) -> dict[str, Any]:
    """Parse fi_pingpong output (see the module docstring). Never raises."""
    body, _ = bounded_text(text)
    out: dict[str, Any] = {"ok": False, "error": None, "rows": [], "peak_mb_s": None, "provider": provider}
    header: list[str] | None = None
    for line in body.replace("\r", "").split("\n"):
        tokens = line.split()
        if tokens[:1] == ["bytes"] and "MB/sec" in tokens:
            header = tokens
            continue
        if header is None or len(tokens) != len(header):
            continue
        cells = dict(zip(header, tokens, strict=True))
        row = {"bytes": _suffixed(cells["bytes"], _SIZE_SUFFIX),
               "iters": _suffixed(cells.get("#sent", cells.get("iters", "")), _COUNT_SUFFIX),
               "total": _suffixed(cells.get("total", ""), _SIZE_SUFFIX),
               "time_s": number(cells.get("time", "").rstrip("s")),
               "mb_s": number(cells["MB/sec"]), "usec_per_xfer": number(cells.get("usec/xfer", "")),
               "mxfers_per_s": number(cells.get("Mxfers/sec", ""))}
        if row["bytes"] is not None and row["mb_s"] is not None:
            out["rows"].append(row)
    if out["rows"]:
        out["peak_mb_s"] = max(r["mb_s"] for r in out["rows"])
        out["ok"] = True
        return out
    error = first_match(body.split("\n"), _PP_ERRORS)
    if error and "-61" in error:
        error = f"libfabric provider {provider or '?'} is not available on this node ({error})"
    elif error is None and exit_code in (124, 137):
        error = "fi_pingpong did not finish in its time bound (the peer never answered, or the path stalls)"
    out["error"] = error or f"no fi_pingpong result in the output (first line: {first_line(body)})"
    return out


# --- the judge --------------------------------------------------------------------------------

_REMEDIES = (
    ("no RDMA device", ("No InfiniBand/RoCE device is visible: check `ibv_devinfo`, the mlx5/efa driver and, in a "
                       "container, the RDMA device plugin")),
    ("provider efa is not available", ("The EFA provider is not usable: check `fi_info -p efa` (EFA attached at launch, "
                                      "the EFA software installed, the device passed into the container)")),
    ("not available", "That libfabric provider is not usable on this node: check `fi_info -p <provider>`"),
    ("different availability zone", ("EFA works only within one availability zone: launch the nodes in one AZ "
                                    "(a cluster placement group)")),
    ("Connection refused", "The listener was not up on the peer: check the port and the firewall/security group"),
    ("Couldn't connect", "The peer is unreachable on the control port: check the firewall/security group"),
    ("RTR", "The queue pair could not connect: check the subnet manager (IB), the GID index and the link state (RoCE)"),
    ("time bound", ("No result within the time bound: for EFA the security group must allow all traffic to and from "
                   "itself; for IB/RoCE check the link and subnet manager")),
)


def _remedy(error: str) -> str:
    return first_remedy(error, _REMEDIES) or "Rerun the tool by hand on both nodes and read the first error"


def measured_gbps(parsed: Mapping[str, Any]) -> float | None:
    """Gb/s of either parse result: ib_write_bw's average, or fi_pingpong's best MB/sec."""
    if "bw_avg_gbps" in parsed:
        return parsed.get("bw_avg_gbps")
    peak = parsed.get("peak_mb_s")
    return round(peak * MB_TO_GBIT, 3) if isinstance(peak, (int, float)) else None


def evaluate_bandwidth(check_id: str, parsed: Mapping[str, Any] | None, threshold: Threshold, expected_gbps: float | None,
                       what: str) -> CheckResult:
    """Judge one RDMA/fabric point-to-point run: it must have run (else ``error`` with the reason and
    a remedy that fits); with ``expected_gbps`` (the link's line rate, policies/data/fabric.yaml) it
    fails below ``EXPECTED_FRACTION`` of it; else ``threshold.min`` is the floor; else the run proves
    the path works, which is what fi_pingpong is for."""
    if not isinstance(parsed, Mapping):
        return not_run(check_id, f"{what}: no result", threshold=threshold)
    if not parsed.get("ok"):
        reason = str(parsed.get("error") or "the tool did not complete")
        return not_run(check_id, f"{what}: {reason}", threshold=threshold, remediation=_remedy(reason))
    gbps = measured_gbps(parsed)
    remediation = "Slower than the link allows: check the link rate and errors (ibstat, ethtool -S), PCIe width and NUMA placement"
    if expected_gbps is not None:
        result = at_least(check_id, gbps, threshold, what=what, floor=round(expected_gbps * EXPECTED_FRACTION, 2),
                          unit="Gbps", remediation=remediation)
        return result.model_copy(update={"message": result.message + f" (link {fmt(expected_gbps)} Gbps; fails below "
                                                                      f"{int(EXPECTED_FRACTION * 100)}%)"})
    if threshold.min is not None:
        return at_least(check_id, gbps, threshold, what=what, unit="Gbps", remediation=remediation)
    return CheckResult.make(check_id, "pass", f"{what}: the path works ({fmt(gbps)} Gbps measured; no bandwidth floor "
                            "for this tool and link)", measured=gbps, unit="Gbps")
