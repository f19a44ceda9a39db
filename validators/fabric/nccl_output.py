"""What nccl-tests' ``*_perf`` binaries print, read back (the dict is described in
validators/fabric/nccl.py).

Both table layouts are read, driven by the header line's column names: the old one (no "Group" in
the device lines), the newer one (``# nccl-tests version``, the ``Group`` column) and the newest
with per-iteration columns (``i_min i_max i_p99 i_cv%``) and ``cputime`` (NVIDIA/nccl-tests
src/util.cu). Sizes and ``#wrong`` may be printed as floats (``%6g``: ``1.04858e+06``); ``#wrong``
is ``N/A`` when the run did not check data (``-c 0``). NCCL INFO lines, Open MPI notices and the
per-rank prefixes of srun/mpirun may be interleaved anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from validators.fabric.mpi import launch_failure
from validators.fabric.toolout import (
    bounded_text,
    clean_lines,
    first_line,
    first_match,
    integer,
    number,
    snippet,
)

_DEVICE = re.compile(
    r"^#\s+Rank\s+(?P<rank>\d+)\s+(?:Group\s+(?P<group>\d+)\s+)?Pid\s+\d+\s+on\s+(?P<host>\S+)\s+"
    r"device\s+(?P<gpu>\d+)\s+\[(?P<pci>[^\]]*)\]\s*(?P<name>.*)$"
)
_VERSION = re.compile(r"^#\s*nccl-tests version\s+(\S+)(?:.*nccl-library=(\d+))?")
_PARAMS = re.compile(r"^#\s*nThread\s+\d+\s+nGpus\s+\d+")
_NCCL_INFO_VERSION = re.compile(r"NCCL INFO NCCL version (\d+\.\d+\.\d+)")
_NETWORK = re.compile(r"NCCL INFO Using network (.+?)\s*$")
# NCCL's own prefix on an INFO line (NCCL_DEBUG=INFO; NCCL src/debug.cc): "host:pid:tid [cudaDev] NCCL INFO ...",
# the host name cut at its first dot
_INFO_HOST = re.compile(r"^(?:\[[^\]]*\]\s*)?(?P<host>[A-Za-z0-9][A-Za-z0-9._-]*):\d+:\d+ \[\d+\] NCCL INFO ")
MAX_NETWORK_HOSTS = 1024  # "Using network" lines remembered per host: one a rank, bounded
_OOB = re.compile(r"^#\s*Out of bounds values\s*:\s*(\d+)")
_AVG = re.compile(r"^#\s*Avg bus bandwidth\s*:\s*(\S+)")
# the tool's own fatal lines (src/common.h CUDACHECK / NCCLCHECK / TESTCHECK, src/common.cu)
_FATAL = (
    re.compile(r"Test CUDA failure .*"),
    re.compile(r"Test NCCL failure .*"),
    re.compile(r"Test timeout .*"),
    re.compile(r"Invalid number of GPUs.*"),
)
# why a run that did not complete stopped, besides the launcher's lines (mpi.launch_failure): NCCL's
# warnings, nccl-tests' last error, a missing binary. A completed run may print these harmlessly.
_CAUSES = (
    re.compile(r"NCCL WARN .*"),
    re.compile(r"^# error: .*"),
    re.compile(r"\S*all_\w+_perf: (?:command )?not found.*"),
    re.compile(r".*all_\w+_perf.*No such file or directory.*"),
)
_DEFAULT_COLUMNS = ["size", "count", "type", "redop", "root",
                    "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong"]


def _nccl_version(code: str) -> str | None:
    """NCCL_VERSION_CODE: major*10000+minor*100+patch since 2.9, major*1000+minor*100+patch before."""
    value = integer(code)
    if value is None or value <= 0:
        return None
    if value >= 10000:
        return f"{value // 10000}.{value % 10000 // 100}.{value % 100}"
    return f"{value // 1000}.{value % 1000 // 100}.{value % 100}"


_PARAM_KEYS = (("nthreads", r"\bnThread"), ("ngpus", r"\bnGpus"), ("min_bytes", r"\bminBytes"),
               ("max_bytes", r"\bmaxBytes"), ("warmup_iters", r"\bwarmup iters:"), ("iters", r"(?<!warmup )(?<!agg )\biters:"),
               ("agg_iters", r"\bagg iters:"), ("validation", r"\bvalidation:"), ("graph", r"\bgraph:"))


def _params(line: str) -> dict[str, int]:
    """``# nThread 1 nGpus 5 minBytes 8 maxBytes 8589934592 step: 2(factor) warmup iters: 10 iters: 100
    agg iters: 1 validation: 1 graph: 0``"""
    out: dict[str, int] = {}
    for name, key in _PARAM_KEYS:
        if m := re.search(key + r"\s+(-?\d+)", line):
            out[name] = int(m.group(1))
    return out


def _columns(line: str) -> list[str] | None:
    """Column names of the table header (``#       size   count   type  redop  root  time  algbw ...``)."""
    names = line.lstrip("#").split()
    if len(names) >= 9 and names[:2] == ["size", "count"] and "busbw" in names:
        return names
    return None


def _measure(tokens: Sequence[str], cols: Sequence[str], start: int) -> dict[str, Any] | None:
    """One (time, algbw, busbw, #wrong) group beginning at column ``start``."""
    if start + 3 >= len(cols) or start + 3 >= len(tokens):
        return None
    time_us, algbw, busbw = number(tokens[start]), number(tokens[start + 1]), number(tokens[start + 2])
    if time_us is None or algbw is None or busbw is None:
        return None
    wrong_tok = tokens[start + 3]
    wrong = None if wrong_tok.upper() == "N/A" else integer(wrong_tok)
    if wrong is None and wrong_tok.upper() != "N/A":
        return None
    return {"time_us": time_us, "algbw_gbs": algbw, "busbw_gbs": busbw, "wrong": wrong}


def _row(line: str, cols: Sequence[str]) -> dict[str, Any] | None | Literal["partial"]:
    tokens = line.split()
    if len(tokens) < 5:
        return None
    size, count, root = integer(tokens[0]), integer(tokens[1]), integer(tokens[4])
    if size is None or count is None or root is None or not tokens[2].isidentifier() or not tokens[3].isidentifier():
        return None
    times = [i for i, c in enumerate(cols) if c in ("time", "cputime")]
    oop = _measure(tokens, cols, times[0]) if times else None
    if oop is None:
        return "partial"
    inp = _measure(tokens, cols, times[1]) if len(times) > 1 else None
    if len(times) > 1 and inp is None:
        return "partial"
    return {"size_bytes": size, "count": count, "type": tokens[2], "redop": tokens[3], "root": root,
            "out_of_place": oop, "in_place": inp}


def _peak(rows: Sequence[Mapping[str, Any]]) -> tuple[float | None, int | None]:
    if not rows:
        return None, None
    top = max(rows, key=lambda r: r["size_bytes"])
    values = [m["busbw_gbs"] for m in (top["out_of_place"], top["in_place"]) if m]
    return sum(values) / len(values), top["size_bytes"]


def _empty(error: str | None) -> dict[str, Any]:
    return {"ok": False, "error": error, "nranks": None, "devices": [], "hosts": [], "rows": [],
            "avg_busbw_gbs": None, "peak_busbw_gbs": None, "peak_size_bytes": None, "wrong_total": None,
            "out_of_bounds": None, "data_checked": None, "layout": "old", "nccl_version": None,
            "nccl_tests_version": None, "network": None, "networks": {}, "params": {}, "truncated": False}


def parse_all_reduce(text: str | bytes | None, *, exit_code: int | None = None) -> dict[str, Any]:
    """Parse nccl-tests output (see the module docstring for the dict). Never raises: garbage,
    an aborted run or a cut table is ``ok: False`` with the reason. ``exit_code`` (optional) lets a
    run killed at its time bound (124/137 from ``timeout``) say so."""
    body, truncated = bounded_text(text)
    out = _empty(None)
    out["truncated"] = truncated
    if not body.strip():
        out["error"] = "no output from nccl-tests"
        return out
    lines = clean_lines(body)
    cols: list[str] | None = None
    summary_seen = partial = False
    saw_group = saw_version = False
    for line in lines:
        if line.startswith("#"):
            if m := _VERSION.match(line):
                saw_version = True
                out["nccl_tests_version"] = m.group(1)
                if m.group(2):
                    out["nccl_version"] = _nccl_version(m.group(2))
            elif _PARAMS.match(line):
                out["params"] = _params(line)
            elif m := _DEVICE.match(line):
                saw_group = saw_group or m.group("group") is not None
                out["devices"].append({"rank": int(m.group("rank")), "host": m.group("host"), "gpu": int(m.group("gpu")),
                                       "pci": m.group("pci"), "name": snippet(m.group("name"), 120),
                                       "group": int(m.group("group")) if m.group("group") else None})
            elif m := _OOB.match(line):
                out["out_of_bounds"] = int(m.group(1))
                summary_seen = True
            elif m := _AVG.match(line):
                out["avg_busbw_gbs"] = number(m.group(1))
                summary_seen = True
            elif header := _columns(line):
                cols = header
            continue
        if out["nccl_version"] is None and (m := _NCCL_INFO_VERSION.search(line)):
            out["nccl_version"] = m.group(1)
        if m := _NETWORK.search(line):
            # every rank prints its own: one node whose NCCL fell back to sockets while the others
            # use EFA or IB slows the whole ring, and rank 0's line alone would not show it
            network = snippet(m.group(1), 60)
            out["network"] = out["network"] or network
            host_m = _INFO_HOST.match(line)
            host = snippet(host_m.group("host"), 80) if host_m else "?"
            by_host = out["networks"]
            if host not in by_host and len(by_host) < MAX_NETWORK_HOSTS:
                by_host[host] = network
        row = _row(line, cols or _DEFAULT_COLUMNS)
        if row == "partial":
            partial = True
        elif row is not None:
            out["rows"].append(row)
    out["layout"] = "new" if saw_group or saw_version else "old"
    out["nranks"] = len({d["rank"] for d in out["devices"]}) or None
    out["hosts"] = list(dict.fromkeys(d["host"] for d in sorted(out["devices"], key=lambda d: d["rank"])))
    rows = out["rows"]
    wrongs = [m["wrong"] for r in rows for m in (r["out_of_place"], r["in_place"]) if m and m["wrong"] is not None]
    out["wrong_total"] = sum(wrongs) if wrongs else None
    validation = out["params"].get("validation")
    if validation is not None:
        out["data_checked"] = validation > 0
    elif rows:
        out["data_checked"] = bool(wrongs)
    peak, out["peak_size_bytes"] = _peak(rows)
    out["peak_busbw_gbs"] = round(peak, 3) if peak is not None else None

    fatal = first_match(lines, _FATAL)
    complete = bool(rows) and summary_seen
    if fatal:
        out["error"] = fatal
    elif not complete and (cause := launch_failure(lines) or first_match(lines, _CAUSES)):
        out["error"] = cause
    elif not complete and exit_code in (124, 137):
        out["error"] = f"killed at its time bound before finishing ({len(rows)} sizes measured): the run hung or was too slow"
    elif not rows:
        out["error"] = f"no nccl-tests result table in the output (first line: {first_line(body)})"
    elif not summary_seen:
        cut = "a row cut short, " if partial else ""
        out["error"] = (f"the output ends before nccl-tests' summary ({cut}{len(rows)} sizes measured, largest "
                        f"{out['peak_size_bytes']} bytes): the run was killed or hung")
    out["ok"] = out["error"] is None
    return out


