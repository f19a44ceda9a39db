"""Disk facts: sequential write/read throughput in ``disk_path`` (fio when present, else a builtin
O_DIRECT test); the test file is always removed."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from typing import Any, Dict, List

from ._util import MIB, run_cmd

SECTION = "disk"
DEFAULT = None


def parse_fio_json(text: str) -> Dict[str, Any]:
    """fio --output-format=json (any prefix such as 'fio: terminating on signal 2' skipped) ->
    {read_mb_s, write_mb_s, read_bytes, write_bytes, error, version} summed over jobs; MB = 10^6 bytes."""
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in fio output")
    data, _ = json.JSONDecoder().raw_decode(text[start:])
    result: Dict[str, Any] = {"read_mb_s": None, "write_mb_s": None, "read_bytes": 0, "write_bytes": 0,
              "error": None, "version": data.get("fio version")}
    for op in ("read", "write"):
        bw_bytes = 0.0
        seen = False
        for job in data.get("jobs", []):
            if job.get("error"):
                result["error"] = "fio job {} error {}".format(job.get("jobname"), job.get("error"))
            stats = job.get(op) or {}
            io_bytes = stats.get("io_bytes") or 0
            if not io_bytes:
                continue
            seen = True
            # fio 3 reports bw_bytes (B/s); fio 2 only bw (KiB/s)
            bw_bytes += float(stats.get("bw_bytes") or float(stats.get("bw", 0)) * 1024)
            result[op + "_bytes"] += int(io_bytes)
        if seen:
            result[op + "_mb_s"] = round(bw_bytes / 1e6, 1)
    return result


FIO_ATTEMPTS = (("libaio", 16, "1"), ("psync", 1, "1"), ("psync", 1, "0"))


def _fio(path: str, mb: int, timeout: float) -> Dict[str, Any]:
    target = os.path.join(path, f".plinth-fio-{os.getpid()}.dat")
    common = ["--filename=" + target, "--bs=1M", f"--size={mb}M", "--output-format=json", "--numjobs=1"]
    notes: List[str] = []
    failures: List[str] = []
    try:
        for engine, depth, direct in FIO_ATTEMPTS:
            mode = ["--ioengine=" + engine, f"--iodepth={depth}", "--direct=" + direct]
            rc, out, err = run_cmd(["fio", "--name=plinth-write", "--rw=write", "--end_fsync=1"] + mode + common, timeout)
            if rc == 0:
                break
            failures.append(f"{engine}/direct={direct}: " + ((err or out).strip().splitlines() or [f"exit {rc}"])[-1][:120])
            if rc is None:  # timed out: a hung disk won't answer another engine either (3 tries = 3x the budget)
                raise RuntimeError("fio write failed: " + "; ".join(failures))
        else:
            raise RuntimeError("fio write failed: " + "; ".join(failures))
        if direct == "0":
            notes.append("O_DIRECT unsupported: buffered write with fsync; read may be cached")
        write = parse_fio_json(out)
        rc, out, err = run_cmd(["fio", "--name=plinth-read", "--rw=read"] + mode + common, timeout)
        if rc != 0:
            raise RuntimeError("fio read failed: " + (err or out).strip()[:200])
        read = parse_fio_json(out)
    finally:
        try:
            os.unlink(target)
        except OSError:
            pass
    return {"tool": "fio", "engine": engine, "iodepth": depth, "write_mb_s": write["write_mb_s"], "read_mb_s": read["read_mb_s"],
            "bytes": mb * MIB, "error": write["error"] or read["error"], "direct": direct == "1", "notes": notes}


def _builtin_disk(path: str, mb: int) -> Dict[str, Any]:
    """Sequential 1 MiB writes + fsync, then reads of the same file. O_DIRECT where the filesystem
    allows it (an mmap buffer is page-aligned, as O_DIRECT needs); otherwise buffered, with the
    file's pages dropped from the cache (posix_fadvise DONTNEED, no root needed) before reading."""
    import mmap

    target = os.path.join(path, f".plinth-disk-{os.getpid()}.dat")
    buf = mmap.mmap(-1, MIB)
    buf.write(os.urandom(MIB))  # incompressible, so compressing/deduplicating storage can't flatter it
    notes = []
    o_direct = getattr(os, "O_DIRECT", 0)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        try:
            fd = os.open(target, flags | o_direct, 0o600) if o_direct else os.open(target, flags, 0o600)
            direct = bool(o_direct)
            if direct:
                try:
                    os.write(fd, buf)
                    os.lseek(fd, 0, os.SEEK_SET)
                except OSError:
                    os.close(fd)
                    raise
        except OSError:
            fd = os.open(target, flags, 0o600)
            direct = False
        t0 = time.perf_counter()
        for _ in range(mb):
            os.write(fd, buf)
        os.fsync(fd)
        write_s = time.perf_counter() - t0
        os.close(fd)
        if direct:
            fd = os.open(target, os.O_RDONLY | o_direct)
        else:
            fd = os.open(target, os.O_RDONLY)
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                notes.append("O_DIRECT unsupported: page cache dropped with fadvise; read may still be cached on tmpfs/overlay")
            else:
                notes.append("read may be cached")
        t0 = time.perf_counter()
        total = 0
        while True:
            n = os.readv(fd, [buf])
            if n <= 0:
                break
            total += n
        read_s = time.perf_counter() - t0
        os.close(fd)
    finally:
        buf.close()
        try:
            os.unlink(target)
        except OSError:
            pass
    size = mb * MIB
    return {"tool": "builtin", "write_mb_s": round(size / write_s / 1e6, 1),
            "read_mb_s": round(total / read_s / 1e6, 1) if total else None,
            "bytes": size, "error": None, "direct": direct, "notes": notes}


def _remove_stale_test_files(path: str) -> None:
    """Test files of earlier probe runs that were killed before they could clean up (their PID
    is gone)."""
    for name in os.listdir(path):
        m = re.match(r"^\.plinth-(?:fio|disk)-(\d+)\.dat$", name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            try:
                os.unlink(os.path.join(path, name))
            except OSError:
                pass
        except OSError:
            pass  # alive (EPERM: another user's running probe)


def gather(opts: Dict[str, Any]) -> Dict[str, Any]:
    path = opts["disk_path"]
    mb = int(opts["disk_test_mb"])
    result: Dict[str, Any] = {"path": path, "tool": None, "write_mb_s": None, "read_mb_s": None, "bytes": 0, "error": None, "notes": []}
    if mb <= 0:  # the controller turned the test off (--disk-test-mb 0, --quick, no disk check in the profile)
        result["skipped"] = str(opts.get("disk_skip_reason") or "disk test not run (disk_test_mb 0)")
        return result
    if not os.path.isdir(path) or not os.access(path, os.W_OK):
        result["error"] = f"{path} is not a writable directory"
        return result
    _remove_stale_test_files(path)
    if opts.get("use_fio", True) and shutil.which("fio"):
        try:
            result.update(_fio(path, mb, float(opts["step_timeout_s"])))
            return result
        except (RuntimeError, ValueError) as exc:
            result["notes"].append(str(exc))
    builtin = _builtin_disk(path, mb)
    builtin["notes"] = result["notes"] + builtin["notes"]
    result.update(builtin)
    return result
