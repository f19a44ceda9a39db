"""nccl-tests (NVIDIA/nccl-tests): command lines, NCCL's environment per fabric, and the judge
(the parser is in ``nccl_output``, re-exported here).

``all_reduce_perf`` is what every fleet health check runs to prove GPUs can train together (AzHC
``azure_nccl_allreduce.nhc``, awsome-distributed-training ``micro-benchmarks/nccl-tests``, GCM):
inside a node it exercises NVLink/NVSwitch, across nodes the fabric (EFA, InfiniBand, RoCE).

``parse_all_reduce(text)`` reads the output of any ``*_perf`` binary and returns::

    {"ok": bool,                    # a result table and its summary were read, no failure line
     "error": str | None,           # why not (the tool's own failure line where there is one)
     "nranks": int | None,          # ranks listed under "# Using devices"
     "devices": [{"rank", "host", "gpu", "pci", "name", "group"}],
     "hosts": [str],                # distinct hosts of those ranks, in rank order
     "rows": [{"size_bytes": int, "count": int, "type": str, "redop": str, "root": int,
               "out_of_place": {"time_us", "algbw_gbs", "busbw_gbs", "wrong": int | None},
               "in_place": {same} | None}],   # "wrong" None: printed N/A (run with -c 0)
     "avg_busbw_gbs": float | None, # "# Avg bus bandwidth" (all sizes, small ones included)
     "peak_busbw_gbs": float | None,# busbw at the largest message: mean of out-of-place and in-place
     "peak_size_bytes": int | None, # that largest message
     "wrong_total": int | None,     # sum of #wrong; None when no row was checked
     "out_of_bounds": int | None,   # "# Out of bounds values : N"
     "data_checked": bool | None,   # validation on (-c >= 1); False for -c 0 / N/A columns
     "layout": "new" | "old",       # "old": device lines without "Group", no version header
     "nccl_version": str | None,    # library version ("2.25.1"), from the header or NCCL INFO
     "nccl_tests_version": str | None,
     "network": str | None,         # NCCL INFO "Using network X" (Socket, IB, Libfabric, AWS Libfabric), the first printed
     "networks": {host: str},       # each host's "Using network X" (its line's "host:pid:tid [cudaDev]" prefix; "?" without)
     "params": {"ngpus", "min_bytes", "max_bytes", "warmup_iters", "iters", "validation", ...},
     "truncated": bool}             # the output was longer than the parser's bound (tail kept)

Bus bandwidth (nccl-tests doc/PERFORMANCE.md): ``busbw = algbw * 2(n-1)/n`` for all_reduce, a
figure comparable with the hardware's link bandwidth whatever the rank count. Small messages are
latency-bound, so the judge reads busbw at the largest message, as AzHC does (``-b 16G -e 16G``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from policies.thresholds import Threshold
from validators.checks.compare import at_least, fmt, not_run
from validators.fabric.mpi import launch_remedy, mpirun_prefix
from validators.fabric.nccl_output import parse_all_reduce
from validators.fabric.toolout import bounded, check_positive, check_word, first_remedy
from validators.results import CheckResult

__all__ = ["EFA_LIBRARY_DIRS", "EXPECTED_FRACTION", "efa_library_path", "evaluate", "fabric_env", "local_argv", "mpirun_argv", "network_matches",
           "parse_all_reduce", "remedy"]

FabricKind = Literal["efa", "ib", "roce", "tcp"]

# nccl-tests' own NCCL_TESTS_MIN_BW check (src/common.cu) fails a run whose average bus bandwidth is
# below 90% of the expected one; plinth applies the same rule to the busbw at the largest message.
EXPECTED_FRACTION = 0.9


# --- command lines ----------------------------------------------------------------------------

def _test_args(*, min_bytes: int, max_bytes: int, factor: int, iters: int, warmup: int, gpus: int) -> list[str]:
    check_positive(min_bytes, "min_bytes")
    check_positive(max_bytes, "max_bytes")
    if max_bytes < min_bytes:
        raise ValueError(f"max_bytes ({max_bytes}) is below min_bytes ({min_bytes})")
    check_positive(factor, "factor", minimum=2)
    check_positive(iters, "iters")
    check_positive(warmup, "warmup", minimum=0)
    check_positive(gpus, "gpus")
    # -c 1: check the result once per size (wrong elements are data corruption), always
    return ["-b", str(min_bytes), "-e", str(max_bytes), "-f", str(factor), "-g", str(gpus),
            "-n", str(iters), "-w", str(warmup), "-c", "1"]


def local_argv(gpus: int, *, min_bytes: int, max_bytes: int, factor: int = 2, iters: int, warmup: int,
               binary: str = "all_reduce_perf", timeout_s: float | None = None) -> list[str]:
    """One node, one process driving ``gpus`` GPUs (``-g N``) over NVLink/NVSwitch or PCIe. The
    iteration counts bound the run; ``timeout_s`` adds a hard bound (coreutils ``timeout``)."""
    check_word(binary, "binary")
    args = _test_args(min_bytes=min_bytes, max_bytes=max_bytes, factor=factor, iters=iters, warmup=warmup, gpus=gpus)
    return bounded([binary, *args], timeout_s)


def mpirun_argv(hosts: Sequence[str], ranks_per_host: int, *, binary: str = "all_reduce_perf", env: Mapping[str, str],
                ssh_port: int | None = None, min_bytes: int = 8, max_bytes: int = 1 << 30, factor: int = 2,
                iters: int = 20, warmup: int = 5, ssh_identity: str | None = None, known_hosts: str | None = None,
                allow_run_as_root: bool = False, mpirun: str = "mpirun", timeout_s: float | None = None) -> list[str]:
    """nccl-tests across nodes, one GPU per rank (``-g 1``), like AWS's and awsome-distributed-training's
    runs; always ``-c 1``; bounded by the iteration counts and ``timeout_s``. See :func:`mpirun_prefix`."""
    check_word(binary, "binary")
    prefix = mpirun_prefix(hosts, ranks_per_host, env=env, ssh_port=ssh_port, ssh_identity=ssh_identity,
                           known_hosts=known_hosts, allow_run_as_root=allow_run_as_root, mpirun=mpirun)
    args = _test_args(min_bytes=min_bytes, max_bytes=max_bytes, factor=factor, iters=iters, warmup=warmup, gpus=1)
    return bounded([*prefix, binary, *args], timeout_s)


# Where the AWS EFA installer and the DLAMI put what the ranks load: NCCL (/opt/nccl/build), CUDA, libfabric,
# Open MPI and the aws-ofi-nccl plugin (lib64 on Amazon Linux). The AWS EC2 guide "Test your EFA and NCCL
# configuration" and the DLAMI "Using EFA" tutorial pass exactly these with ``-x LD_LIBRARY_PATH=...``:
# ranks that orted starts over a non-interactive SSH session read no profile, and without the plugin's
# directory NCCL finds no libnccl-net and falls back to TCP sockets on a healthy EFA node.
EFA_LIBRARY_DIRS = ("/opt/nccl/build/lib", "/usr/local/cuda/lib64", "/opt/amazon/efa/lib", "/opt/amazon/efa/lib64",
                    "/opt/amazon/openmpi/lib", "/opt/amazon/openmpi/lib64", "/opt/amazon/ofi-nccl/lib")


def efa_library_path(mpirun: str = "mpirun") -> str:
    """``LD_LIBRARY_PATH`` for EFA ranks: the launcher's own Open MPI libraries first when ``mpirun``
    is an absolute path under a prefix of its own (``-x`` replaces the path orted was given, so
    libmpi must stay findable; a distribution's /usr/bin/mpirun needs none), then
    :data:`EFA_LIBRARY_DIRS`."""
    dirs: list[str] = []
    prefix = mpirun.rsplit("/", 2)[0] if mpirun.startswith("/") and mpirun.count("/") >= 3 else ""
    if prefix not in ("", "/usr"):  # /opt/hpcx/ompi/bin/mpirun -> /opt/hpcx/ompi
        dirs += [f"{prefix}/lib", f"{prefix}/lib64"]
    return ":".join(dict.fromkeys([*dirs, *EFA_LIBRARY_DIRS]))


def fabric_env(kind: FabricKind, *, gpudirect_rdma: bool = False, debug: bool = True,
               socket_ifname: str = "^docker,lo,veth", ib_hca: str | None = None, gid_index: int | None = None,
               mpirun: str = "mpirun") -> dict[str, str]:
    """The environment NCCL needs to use the fabric under test, and only that.

    ``efa`` (aws/aws-ofi-nccl doc/efa-env-var.md, AWS EC2 guide "Test your EFA and NCCL configuration"):
    ``FI_PROVIDER=efa`` pins libfabric to the EFA provider (awsome-distributed-training still sets it);
    ``FI_EFA_USE_DEVICE_RDMA=1`` only where GPUDirect RDMA exists (p4d/p4de/p5…) and is needed by
    aws-ofi-nccl < 1.7 — harmless on newer. ``NCCL_PROTO=simple``, ``FI_EFA_FORK_SAFE`` and
    ``RDMAV_FORK_SAFE`` are left out: the plugin sets what it needs and the doc says not to.
    ``LD_LIBRARY_PATH`` is :func:`efa_library_path` of ``mpirun`` (the launcher's path).
    ``ib``/``roce``: NCCL's own IB verbs transport, forced with ``NCCL_NET=IB`` so a broken HCA fails
    instead of falling back to TCP sockets; ``gid_index`` for RoCE fabrics that need a fixed GID.
    ``tcp``: ``NCCL_NET=Socket``. ``NCCL_DEBUG=INFO`` with ``NCCL_DEBUG_SUBSYS=INIT,NET`` makes NCCL
    print "Using network X", which the parser reads to prove which transport ran.
    """
    env: dict[str, str] = {"NCCL_SOCKET_IFNAME": socket_ifname}
    if kind == "efa":
        env["FI_PROVIDER"] = "efa"
        env["LD_LIBRARY_PATH"] = efa_library_path(mpirun)
        if gpudirect_rdma:
            env["FI_EFA_USE_DEVICE_RDMA"] = "1"
    elif kind in ("ib", "roce"):
        env["NCCL_NET"] = "IB"
        if ib_hca:
            env["NCCL_IB_HCA"] = check_word(ib_hca, "ib_hca")
        if gid_index is not None:
            env["NCCL_IB_GID_INDEX"] = str(check_positive(gid_index, "gid_index", minimum=0))
    elif kind == "tcp":
        env["NCCL_NET"] = "Socket"
    else:
        raise ValueError(f"fabric kind must be efa, ib, roce or tcp, got {kind!r}")
    if debug:
        env["NCCL_DEBUG"] = "INFO"
        env["NCCL_DEBUG_SUBSYS"] = "INIT,NET"
    return env


# NCCL's network names per fabric: internal "IB" and "Socket"; aws-ofi-nccl "AWS Libfabric" (older),
# "Libfabric" (newer, as the RTX PRO 6000 EFA capture shows); NVIDIA's HPC-X/SHARP plugin "IBext…"
_NETWORKS: dict[str, re.Pattern[str]] = {
    "efa": re.compile(r"(?:aws )?libfabric", re.IGNORECASE),
    "ib": re.compile(r"ib(?:ext(?:_v\d+)?)?", re.IGNORECASE),
    "roce": re.compile(r"ib(?:ext(?:_v\d+)?)?", re.IGNORECASE),
    "tcp": re.compile(r"socket", re.IGNORECASE),
}


def network_matches(kind: str, network: str | None) -> bool | None:
    """Whether NCCL's "Using network X" is the fabric ``kind``; None when it was not printed."""
    pattern = _NETWORKS.get(kind)
    if network is None or pattern is None:
        return None
    return pattern.fullmatch(network.strip()) is not None


# --- the judge --------------------------------------------------------------------------------

# a failure line → what to do (first match wins); the sources say why
_FABRIC_MANAGER = (
    "CUDA cannot start on this NVSwitch system: nvidia-fabricmanager is not running or does not match the driver "
    "(`systemctl status nvidia-fabricmanager`; start it, same version as the driver — AWS EFA/NCCL guide, "
    "NVIDIA/nccl-tests issue 264)")
_NOT_INSTALLED = ("nccl-tests is not installed at that path on every node (build NVIDIA/nccl-tests with MPI=1, or use "
                  "the DLAMI / nccl-tests container image)")
_REMEDIES: tuple[tuple[str, str], ...] = (
    ("system not yet initialized", _FABRIC_MANAGER),
    ("no CUDA-capable device", "No GPU visible to CUDA: check `nvidia-smi`, the driver and CUDA_VISIBLE_DEVICES"),
    ("CUDA driver version is insufficient", "The driver is older than the CUDA runtime of nccl-tests: update the driver"),
    ("out of memory", "The GPUs have no room for the buffers: stop other GPU processes or lower the largest size (-e)"),
    ("Invalid number of GPUs", "Fewer GPUs than requested are visible: check gpu.count and CUDA_VISIBLE_DEVICES"),
    ("_perf: command not found", _NOT_INSTALLED),
    ("_perf: not found", _NOT_INSTALLED),
    ("No such file or directory", _NOT_INSTALLED),
    ("NCCL WARN", ("NCCL could not set up the fabric: check the NICs (EFA/IB devices; an EFA security group must allow "
                  "all traffic within itself; an IB subnet manager), then the NCCL and net-plugin versions")),
    ("Test NCCL failure", ("NCCL failed between the ranks: check the fabric (EFA security group, IB links), then the "
                          "NCCL and net-plugin versions")),
    ("time bound", ("The run did not finish in its time bound: a rank hung (fabric, GPU or a peer node); rerun by "
                   "hand with NCCL_DEBUG=INFO")),
    ("killed or hung", "The run stopped before its summary: a rank hung or was killed; rerun by hand with NCCL_DEBUG=INFO"),
    ("no output", "nccl-tests printed nothing: is it installed, and did the launcher start it?"),
)
_CORRUPTION_REMEDY = ("Wrong results are data corruption: drain the node(s), run `dcgmi diag -r 3`, check Xid errors and "
                      "NVLink/NIC error counters; do not train on it")


def remedy(error: str | None) -> str | None:
    """What to do about a failed nccl-tests run, from its failure line."""
    if not error:
        return None
    return (first_remedy(error, _REMEDIES) or launch_remedy(error)
            or "Rerun nccl-tests by hand on the node with NCCL_DEBUG=INFO and read the first error")


def evaluate(check_id: str, run: Mapping[str, Any] | None, threshold: Threshold, expected_busbw_gbs: float | None, what: str,
             *, fabric: str | None = None) -> CheckResult:
    """Judge one nccl-tests run.

    Order: the run must have completed (else ``error`` with its failure line and a remedy that fits);
    wrong elements or out-of-bounds values fail whatever the speed (data corruption); NCCL must have
    used the fabric under test (``fabric``: efa/ib/roce/tcp, when "Using network" was printed); then
    busbw at the largest message against ``expected_busbw_gbs`` — what healthy hardware of this kind
    measures (policies/data/fabric.yaml) — failing below ``EXPECTED_FRACTION`` of it and warning
    within ``threshold.warn_margin`` above that floor. Without an expectation ``threshold.min`` is the
    floor. A run with data checking off (``-c 0``) is never a silent pass: at best ``warn``.
    """
    if not isinstance(run, Mapping):
        return not_run(check_id, f"{what}: no nccl-tests result", threshold=threshold)
    if not run.get("ok"):
        reason = str(run.get("error") or "nccl-tests did not complete")
        return not_run(check_id, f"{what}: {reason}", threshold=threshold, remediation=remedy(reason))
    wrong, oob = run.get("wrong_total"), run.get("out_of_bounds")
    if (wrong or 0) > 0 or (oob or 0) > 0:
        count = wrong if (wrong or 0) > 0 else oob
        return CheckResult.make(check_id, "fail", f"{what}: {count} wrong elements in the all-reduce results (data corruption)",
                                measured=count, threshold=0, unit="elements", remediation=_CORRUPTION_REMEDY)
    network = run.get("network")
    listed = run.get("networks")
    by_host: Mapping[Any, Any] = listed if isinstance(listed, Mapping) else {}
    off = sorted((str(h), str(n)) for h, n in by_host.items() if fabric is not None and network_matches(fabric, str(n)) is False)
    if fabric is not None and (off or (not by_host and network_matches(fabric, network) is False)):
        used = network if not off else off[0][1]
        where = "" if not off or len(by_host) < 2 else (
            f" on {', '.join(h for h, _ in off[:8])}{' …' if len(off) > 8 else ''} ({len(off)} of {len(by_host)} hosts)")
        return CheckResult.make(check_id, "fail", f"{what}: NCCL used the {used} transport{where}, not {fabric}",
                                measured=str(used), threshold=fabric,
                                remediation=f"NCCL fell back from {fabric}: check the NICs, the NCCL net plugin "
                                            "(aws-ofi-nccl for EFA) and LD_LIBRARY_PATH on every node"
                                            + (", the named hosts first" if where else ""))
    busbw = run.get("peak_busbw_gbs")
    size = run.get("peak_size_bytes")
    at = f" at {_size(size)}" if isinstance(size, int) else ""
    label = f"{what}: all-reduce busbw{at}"
    if expected_busbw_gbs is not None:
        floor = expected_busbw_gbs * EXPECTED_FRACTION
        result = at_least(check_id, busbw, threshold, what=label, floor=round(floor, 2), unit="GB/s",
                          remediation="Slower than healthy hardware of this kind: check NVLink/NIC link state and errors, "
                                      "GPU clocks and the fabric (EFA/IB) on the slow node")
        note = f" (expected ~{fmt(expected_busbw_gbs)} GB/s; fails below {int(EXPECTED_FRACTION * 100)}%)"
        result = result.model_copy(update={"message": result.message + note})
    elif threshold.min is not None:
        result = at_least(check_id, busbw, threshold, what=label, unit="GB/s")
    else:
        judged = "completion and verified results" if run.get("data_checked") else "completion"
        result = CheckResult.make(check_id, "pass", f"{label} {fmt(busbw)} GB/s; no busbw expectation for this "
                                  f"hardware (judged on {judged} only)", measured=busbw, unit="GB/s")
    if not run.get("data_checked"):
        message = result.message + "; data NOT checked (run without -c 1): wrong results would go unseen"
        status = "warn" if result.status == "pass" else result.status
        result = result.model_copy(update={"status": status, "message": message,
                                           "remediation": result.remediation or "Rerun with -c 1 so the results are verified"})
    return result


def _size(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"
