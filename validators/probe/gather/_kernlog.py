"""Reading the kernel and system logs, bounded, and dating their lines.

Sources and what they span:

* ``dmesg``, ``/dev/kmsg`` and ``journalctl -b 0``: this boot only, by construction;
* ``/var/log/kern.log``, ``syslog``, ``messages``: every boot the files still hold, so a line counts
  only when its timestamp is after this boot (``btime`` in ``/proc/stat``). RFC 3164 timestamps
  ("Aug 17 06:18:01") carry no year: it is inferred walking back from the newest line (the newest
  is this year unless that would put it in the future; each step back to a later month of the
  calendar crosses into the year before).

Every read is bounded in bytes (a tail of the file, ``-n`` lines of the journal) and in time (the
probe's step timeout), and only lines containing a caller's needles are dated: a 250 KB dmesg
with no Xid costs one substring search.
"""

from __future__ import annotations

import calendar
import errno
import os
import re
import shutil
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from ._util import MIB, read_file, run_cmd

RING_LIMIT = 16 * MIB  # /dev/kmsg holds at most the ring buffer (log_buf_len, 16 MiB at most in practice)
FILE_TAIL = 8 * MIB
JOURNAL_LINES = 20000
BOOT_SLACK_S = 2.0  # btime is whole seconds; the first kernel lines share its second
MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}

_DECODE = r"(?:[a-z]+\s*:[a-z]+\s*: )?"  # dmesg --decode: "kern  :warn  : "
_ISO = re.compile(_DECODE + r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)?\s")
_CTIME = re.compile(r"\[(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4})\]")
_MONO = re.compile(_DECODE + r"\[\s*(\d{1,12})\.(\d{1,9})\]")
_KMSG = re.compile(r"\d{1,3},\d{1,20},(\d{1,20}),[^;]{0,8};")
_RFC3164 = re.compile(r"([A-Z][a-z]{2}) +(\d+) (\d\d):(\d\d):(\d\d) ")
_UNIX = re.compile(r"(\d{9,11})\.(\d{1,9}) ")


def boot_time(stat_text: Optional[str] = None) -> Optional[float]:
    """Seconds since the epoch at which this boot started (``btime`` of /proc/stat)."""
    text = stat_text if stat_text is not None else read_file("/proc/stat") or ""
    m = re.search(r"^btime\s+(\d+)", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def lines_with(text: str, needles: Iterable[str]) -> List[str]:
    """The lines of ``text`` that contain any needle, in log order. A clean log costs one substring
    count per needle; a few hits are cut out around each; a flood is split once and filtered."""
    needles = tuple(needles)
    hits = sum(text.count(n) for n in needles)
    if not hits:
        return []
    if hits > 2000:
        if len(needles) == 1:
            return [line for line in text.splitlines() if needles[0] in line]
        return [line for line in text.splitlines() if any(n in line for n in needles)]
    starts = set()
    for needle in needles:
        pos = text.find(needle)
        while pos != -1:
            start = text.rfind("\n", 0, pos) + 1
            starts.add(start)
            end = text.find("\n", pos)
            pos = text.find(needle, end) if end != -1 else -1
    out = []
    for start in sorted(starts):
        end = text.find("\n", start)
        out.append(text[start:] if end == -1 else text[start:end])
    return out


def _tz_seconds(tz: Optional[str]) -> Optional[int]:
    if not tz:
        return None
    if tz == "Z":
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def local_time(year: int, month: int, day: int, hh: int, mm: int, ss: int) -> Optional[float]:
    try:
        return time.mktime((year, month, day, hh, mm, ss, 0, 0, -1))  # the node's own time zone
    except (OverflowError, ValueError):
        return None


def _iso(m: Any) -> Optional[float]:
    y, mo, d, hh, mi, ss = (int(g) for g in m.groups()[:6])
    frac = float("0." + m.group(7)) if m.group(7) else 0.0
    offset = _tz_seconds(m.group(8))
    if offset is None:
        local = local_time(y, mo, d, hh, mi, ss)
        return local + frac if local is not None else None
    try:
        return calendar.timegm((y, mo, d, hh, mi, ss, 0, 0, 0)) - offset + frac
    except (OverflowError, ValueError):
        return None


def stamp(line: str, btime: Optional[float]) -> Tuple[Optional[float], Optional[Tuple[int, ...]]]:
    """(epoch seconds, None) for a line with a full timestamp; (None, (month, day, h, m, s)) for an
    RFC 3164 line, whose year :func:`dated_newest_first` infers; (None, None) when the line has
    none. The first character picks the format to try (a flood of Xid lines is dated line by line)."""
    s = line.lstrip()
    first = s[:1]
    if first == "[":
        m = _MONO.match(s)
        if m:
            return (btime + float(m.group(1) + "." + m.group(2)) if btime is not None else None), None
        m = _CTIME.match(s)
        if m and m.group(1) in MONTHS:
            return local_time(int(m.group(6)), MONTHS[m.group(1)], *(int(g) for g in m.groups()[1:5])), None
        return None, None
    if first.isdigit():
        m = _ISO.match(s)
        if m:
            return _iso(m), None
        m = _KMSG.match(s)
        if m:
            return (btime + int(m.group(1)) / 1e6 if btime is not None else None), None
        m = _UNIX.match(s)
        return (float(m.group(1) + "." + m.group(2)) if m else None), None
    m = _RFC3164.match(s)
    if m and m.group(1) in MONTHS:
        return None, (MONTHS[m.group(1)],) + tuple(int(g) for g in m.groups()[1:])
    m = _ISO.match(s)  # dmesg --decode: "kern  :warn  : 2025-…"
    if m:
        return _iso(m), None
    m = _MONO.match(s)
    if m:
        return (btime + float(m.group(1) + "." + m.group(2)) if btime is not None else None), None
    return None, None


def newest_first(text: str, needle: str) -> Iterator[Tuple[int, str]]:
    """(offset, line) of the lines containing ``needle``, from the end of ``text`` backwards: a
    caller that stops early never touches the rest of a 16 MiB ring."""
    pos = len(text)
    while True:
        hit = text.rfind(needle, 0, pos)
        if hit == -1:
            return
        start = text.rfind("\n", 0, hit) + 1
        end = text.find("\n", hit)
        yield start, text[start:] if end == -1 else text[start:end]
        pos = start


def dated_newest_first(lines: Iterable[str], btime: Optional[float], now: float) -> Iterator[Tuple[Optional[float], str]]:
    """(epoch seconds or None, line) for ``lines`` given newest first, dated as they are consumed: a
    caller that stops early (it has crossed the boot, it has what it needs) dates nothing more.
    Year-less RFC 3164 stamps get their year by walking back from the newest line (see the module
    docstring)."""
    year = time.localtime(now).tm_year
    later: Optional[Tuple[int, ...]] = None
    for line in lines:
        ts, partial = stamp(line, btime)
        if ts is None and partial is not None:
            if later is None:
                guess = local_time(year, *partial)
                if guess is not None and guess > now + 86400:  # "Dec 31" read on Jan 1
                    year -= 1
            elif partial > later:  # an earlier line later in the calendar: the year before
                year -= 1
            later = partial
            ts = local_time(year, *partial)
        yield ts, line


def date_lines(lines: List[str], btime: Optional[float], now: float) -> List[Tuple[Optional[float], str]]:
    """[(epoch seconds or None, line)] in log order (see :func:`dated_newest_first`)."""
    return list(reversed(list(dated_newest_first(reversed(lines), btime, now))))


# ----- readers ------------------------------------------------------------------------------

def _read_kmsg(path: str, limit_bytes: int = RING_LIMIT) -> str:
    """Every record currently in the kernel ring buffer, without blocking (O_NONBLOCK: EAGAIN at
    the end; EPIPE when a record was overwritten while reading — skip it)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    chunks = []
    size = 0
    try:
        while size < limit_bytes:
            try:
                rec = os.read(fd, 8192)
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    break
                if exc.errno == errno.EPIPE:
                    continue
                raise
            if not rec:
                break
            chunks.append(rec.decode("utf-8", "replace"))
            size += len(rec)
    finally:
        os.close(fd)
    return "".join(chunks)


def tail(path: str, limit_bytes: int = FILE_TAIL) -> str:
    """The last ``limit_bytes`` of a file, from the first whole line."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        start = max(0, end - limit_bytes)
        fh.seek(start)
        data = fh.read()
    if start:
        data = data[data.find(b"\n") + 1:]
    return data.decode("utf-8", "replace")


# journalctl exits 0 when it can read nothing useful: no journal at all, or only the user's own
# journal (not in adm / systemd-journal). Its messages then say so; an empty answer is no answer.
JOURNAL_BLIND = ("No journal files were", "not seeing messages from other users", "insufficient permissions")


def _journal(args: List[str], timeout: float) -> Tuple[Optional[str], str]:
    rc, out, err = run_cmd(["journalctl", "--no-pager", "-o", "short-unix", "-n", str(JOURNAL_LINES)] + args, timeout)
    if rc != 0:
        return None, "journalctl: " + ((err or "").strip().splitlines() or [f"exit {rc}"])[-1][:200]
    blind = next((line.strip() for line in (err + "\n" + out).splitlines() if any(h in line for h in JOURNAL_BLIND)), None)
    if blind:
        return None, "journalctl: " + blind[:200]
    return "\n".join(line for line in out.splitlines() if not line.startswith("-- ")), ""


def kernel_ring(opts: Dict[str, Any]) -> Dict[str, Any]:
    """This boot's kernel messages: ``dmesg``, else ``/dev/kmsg``, else ``journalctl -k -b 0``,
    else the kernel log files (every boot they hold: ``since_boot`` False). Read once per probe
    run: the result is kept in the run's options (the Xid and the RDMA gatherers both use it).

    -> {"text": str|None, "source": str|None, "since_boot": bool, "error": str|None}"""
    cached = opts.get("_kernel_ring")
    if isinstance(cached, dict):
        return cached
    timeout = float(opts["step_timeout_s"])
    reasons = []
    result: Dict[str, Any] = {"text": None, "source": None, "since_boot": True, "error": None}
    rc, out, err = run_cmd(["dmesg"], timeout)
    if rc == 0:
        result.update(text=out, source="dmesg")
    else:
        reasons.append("dmesg: " + ((err or "").strip().splitlines() or [f"exit {rc}"])[-1][:200])
    if result["text"] is None and opts.get("kmsg_path"):
        try:
            result.update(text=_read_kmsg(opts["kmsg_path"]), source=opts["kmsg_path"])
        except OSError as exc:
            reasons.append("{}: {}".format(opts["kmsg_path"], exc.strerror or exc))
    if result["text"] is None and opts.get("use_journal", True) and shutil.which("journalctl"):
        text, why = _journal(["-k", "-b", "0"], timeout)
        if text:  # this boot's kernel log is never empty: the kernel logs its own start
            result.update(text=text, source="journalctl -k -b 0")
        else:
            reasons.append(why or "journalctl -k -b 0: no kernel messages (no journal of this boot)")
    if result["text"] is None:
        for path in opts.get("kernel_log_paths") or []:
            try:
                result.update(text=tail(path), source=path, since_boot=False)
                break
            except OSError as exc:
                reasons.append(f"{path}: {exc.strerror or exc}")
    if result["text"] is None:
        result["error"] = "kernel log not readable without root ({})".format("; ".join(reasons))
    opts["_kernel_ring"] = result
    return result


def system_log(opts: Dict[str, Any], identifiers: List[str]) -> Dict[str, Any]:
    """This boot's messages of some daemons (``journalctl -b 0 -t …``), else the tail of the
    syslog files (every boot: ``since_boot`` False). Same shape as :func:`kernel_ring`."""
    timeout = float(opts["step_timeout_s"])
    reasons = []
    if opts.get("use_journal", True) and shutil.which("journalctl"):
        args = ["-b", "0"]
        for ident in identifiers:
            args += ["-t", ident]
        text, why = _journal(args, timeout)
        if text is not None:
            return {"text": text, "source": "journalctl -b 0", "since_boot": True, "error": None}
        reasons.append(why)
    for path in opts.get("system_log_paths") or []:
        try:
            return {"text": tail(path), "source": path, "since_boot": False, "error": None}
        except OSError as exc:
            reasons.append(f"{path}: {exc.strerror or exc}")
    return {"text": None, "source": None, "since_boot": True,
            "error": "system log not readable ({})".format("; ".join(reasons) or "no journal, no syslog file")}
