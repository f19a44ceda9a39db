"""The kernel log as the probe reads it: every timestamp format dated, the year of syslog lines
inferred, only this boot counted, the read bounded; Xid and SXid lines in the drivers' formats
parsed from real captures; and the whole path through the probe as a transport runs it."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.probe.helpers import (
    fake_dmesg,
    fake_tool,
    fixture,
    fixture_text,
    probe_env,
    quiet_options,
    run_probe,
)
from validators.probe.gather._kernlog import boot_time, date_lines, lines_with, stamp, tail
from validators.probe.gather.xid import KEEP_PER_CODE, parse_xid

XID_ECC = "xid/dmesg-time-format-iso_xid48-DBE_xid63-row-remap_xid94-contained-ECC_plus-peermem-lines.txt"
XID_APP = "xid/dmesg-decode-iso_xid13-xid43_8gpu-node.txt"
XID_GSP = "xid/dmesg-T_h100-dell-xe9680_xid119-gsp-rpc-timeout.txt"
CLEAN = "dmesg/dmesg-decode-iso_boot-no-xid_large.txt"
KMSG = "dmesg/dev-kmsg_nvswitch-open.txt"
BERLIN = "CET-1CEST,M3.5.0,M10.5.0/3"  # a POSIX TZ string: no tzdata needed, and not UTC


@pytest.fixture
def tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The node's local time zone, for formats that print local time (dmesg -T, RFC 3164)."""
    monkeypatch.setenv("TZ", BERLIN)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def utc(*t: int) -> float:
    return float(calendar.timegm((*t, 0, 0, 0)))


def test_every_timestamp_format_is_dated(tz: None) -> None:
    btime = utc(2025, 8, 17, 4, 0, 0)
    cases = {
        "[  123.500000] NVRM: Xid": btime + 123.5,                                       # dmesg (raw): seconds since boot
        "6,3964,206764307,-;nvidia-nvswitch2: open": btime + 206.764307,                  # /dev/kmsg: microseconds since boot
        "2024-11-15T12:02:03,470068+00:00 NVRM: Xid": utc(2024, 11, 15, 12, 2, 3) + 0.470068,   # dmesg --time-format=iso
        "kern  :warn  : 2025-01-21T02:21:33,498559+00:00 NVRM": utc(2025, 1, 21, 2, 21, 33) + 0.498559,  # --decode
        "2025-08-17T06:18:01.123+02:00 host kernel: x": utc(2025, 8, 17, 4, 18, 1) + 0.123,   # rsyslog RFC 3339
        "[Sun Feb 23 16:24:18 2025] NVRM: Xid": utc(2025, 2, 23, 15, 24, 18),             # dmesg -T: local (CET)
        "1755404281.250000 host kernel: x": 1755404281.25,                               # journalctl -o short-unix
    }
    for line, expected in cases.items():
        ts, partial = stamp(line, btime)
        assert partial is None and ts == pytest.approx(expected), line
    assert stamp("Aug 17 06:18:01 host systemd-networkd[5398]: ib6: lost carrier", btime) == (None, (8, 17, 6, 18, 1))
    assert stamp("no timestamp here", btime) == (None, None)
    assert stamp("[  123.5] raw line", None) == (None, None)  # monotonic without btime: undated, never guessed


def test_syslog_year_is_inferred_walking_back_from_the_newest_line(tz: None) -> None:
    lines = ["Dec 31 23:59:00 h kernel: a", "Jan  1 00:01:00 h kernel: b", "Jan  1 10:00:00 h kernel: c"]
    dated = date_lines(lines, None, now=utc(2026, 1, 2, 12, 0, 0))
    assert [time.localtime(ts).tm_year for ts, _ in dated if ts] == [2025, 2026, 2026]
    # "Dec 31" read on Jan 1 is last year's, not a date in the future
    [(ts, _)] = date_lines(["Dec 31 23:00:00 h kernel: x"], None, now=utc(2026, 1, 1, 6, 0, 0))
    assert ts is not None and time.localtime(ts).tm_year == 2025
    # RFC 3164 is local time: 06:18:01 CEST is 04:18:01 UTC
    [(ts, _)] = date_lines(["Aug 17 06:18:01 h systemd-networkd[1]: ib6: lost carrier"], None, now=utc(2025, 8, 17, 5, 0, 0))
    assert ts == utc(2025, 8, 17, 4, 18, 1)


def test_lines_with_finds_needles_at_the_edges_and_keeps_log_order() -> None:
    text = "Xid first\nnothing\nmiddle SXid and Xid\nlast Xid"
    assert lines_with(text, ("Xid", "SXid")) == ["Xid first", "middle SXid and Xid", "last Xid"]
    assert lines_with("", ("Xid",)) == [] and lines_with("no match\n", ("Xid",)) == []


def test_tail_is_bounded_and_starts_on_a_whole_line(tmp_path: Path) -> None:
    log = tmp_path / "kern.log"
    log.write_text("".join(f"line {i:05d}\n" for i in range(10000)))
    out = tail(str(log), limit_bytes=1000)
    assert len(out) <= 1000 and out.startswith("line ") and out.endswith("line 09999\n")


def test_boot_time_from_proc_stat() -> None:
    assert boot_time("cpu 1 2 3\nbtime 1755403200\nprocesses 9\n") == 1755403200.0
    assert boot_time("garbage") is None
    real = boot_time()
    assert real is not None and real < time.time()


# -- Xid / SXid lines --------------------------------------------------------------------------

def test_ecc_sequence_real_capture() -> None:
    out = parse_xid(fixture_text(XID_ECC))
    assert out["counts"] == {"48": 1, "63": 1, "94": 9} and out["total"] == 11
    assert {e["pci"] for e in out["events"]} == {"0000:19:00"}
    first = out["events"][0]
    assert first["xid"] == 48 and "double bit error" in first["line"] and first["ts"] == utc(2024, 11, 15, 12, 2, 3) + 0.470068


def test_a_flood_of_one_code_cannot_hide_another() -> None:
    """629 Xid 13 (real capture) plus one Xid 79: the probe keeps the newest few events per code,
    so the 79 travels back whatever the flood."""
    text = "2025-01-21T01:00:00,000000+00:00 NVRM: Xid (PCI:0000:38:00): 79, pid=1, name=x, GPU has fallen off the bus.\n"
    out = parse_xid(text + fixture_text(XID_APP))
    assert out["counts"] == {"13": 629, "43": 7, "79": 1} and out["total"] == 637
    codes = [e["xid"] for e in out["events"]]
    assert codes.count(13) == KEEP_PER_CODE and codes.count(43) == 7 and codes.count(79) == 1
    kept_13 = [e["ts"] for e in out["events"] if e["xid"] == 13]
    assert min(kept_13) >= utc(2025, 1, 21, 2, 21, 33)  # the newest ones, in time order


def test_gsp_timeout_dmesg_T_and_clean_logs() -> None:
    assert parse_xid(fixture_text(XID_GSP))["counts"] == {"119": 5}
    clean = parse_xid(fixture_text(CLEAN))
    assert clean["total"] == 0 and clean["sxid_counts"] == {}
    assert parse_xid(fixture_text(KMSG))["total"] == 0


def test_mig_xid154_and_sxid_lines_in_the_drivers_formats() -> None:
    """Formats from the drivers' printf strings: kernel_rc.c (``PCI:%04x:%02x:%02x GPU-I:%02u
    GPU-CI:%02u``), the Xid 154 recovery text, the NVSwitch driver's ``SXid (PCI:…): %05d, <sev>``."""
    lines = (
        "[ 10.0] NVRM: Xid (PCI:0000:3b:00 GPU-I:05): 48, pid=7, name=python, An uncorrectable double bit error",
        "[ 11.0] NVRM: Xid (PCI:0000:3b:00 GPU-I:01 GPU-CI:02): 13, pid=9, name=a, Graphics Exception",
        "[ 12.0] NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)",
        "[ 13.0] nvidia-nvswitch3: SXid (PCI:0000:05:00.0): 12028, Non-fatal, Link 32 egress non-posted PRIV error (First)",
        "[ 14.0] nvidia-nvswitch0: SXid (PCI:0000:c3:00.0): 24007, Fatal, Link 30 sourcetrack timeout error",
        "[ 15.0] NVRM: Xid (PCI:0000:01:00): abc, not a code",
    )
    out = parse_xid("\n".join(lines), btime=1000.0)
    by_code = {e["xid"]: e for e in out["events"]}
    assert by_code[48]["gpu_instance"] == 5 and by_code[48]["pci"] == "0000:3b:00" and by_code[48]["ts"] == 1010.0
    assert (by_code[13]["gpu_instance"], by_code[13]["compute_instance"]) == (1, 2)
    assert (by_code[154]["recovery_action"], by_code[154]["recovery_text"]) == (2, "Node Reboot Required")
    assert out["counts"] == {"48": 1, "13": 1, "154": 1}
    assert {(e["sxid"], e["fatal"], e["switch"]) for e in out["sxid_events"]} == {
        (12028, False, "nvidia-nvswitch3"), (24007, True, "nvidia-nvswitch0")}


def test_a_log_spanning_boots_counts_only_this_boot(tz: None) -> None:
    """kern.log keeps earlier boots: the Xid 48 from before the reboot plinth asked for no longer
    counts; the same line after the boot does."""
    line = fixture_text(XID_ECC).splitlines()[10].split(" ", 1)[1]  # "NVRM: Xid (PCI:0000:19:00): 48, …" from the capture
    log = f"Aug 16 22:00:00 node kernel: {line}\nAug 17 05:59:59 node kernel: Linux version 6.8\nAug 17 07:00:00 node kernel: {line}\n"
    btime = time.mktime((2025, 8, 17, 6, 0, 0, 0, 0, -1))
    now = time.mktime((2025, 8, 17, 8, 0, 0, 0, 0, -1))
    spanning = parse_xid(log, btime, now, since_boot=False)
    assert spanning["counts"] == {"48": 1} and spanning["before_boot"] == 1
    after_reboot = parse_xid(log, btime + 7200, now, since_boot=False)  # rebooted after the second event
    assert after_reboot["counts"] == {} and after_reboot["before_boot"] == 2
    assert parse_xid(log, btime, now, since_boot=True)["counts"] == {"48": 2}  # dmesg: this boot by construction


@pytest.mark.parametrize("junk", [
    b"\x00\xff\xfe" * 1000,
    b"NVRM: Xid (PCI:0000:19:00): 48" + b"9" * 5000,   # a code with no end
    b"NVRM: Xid (PCI:" + b"0" * 100000,                # truncated mid-line
    "NVRM: Xid (PCI:0000:19:00): 48, ünïcödé \u202e payload".encode(),
])
def test_garbage_is_data_not_a_crash(junk: bytes) -> None:
    out = parse_xid(junk.decode("utf-8", "replace"))
    assert set(out) >= {"events", "counts", "total", "sxid_events"}
    assert all(len(e["line"]) <= 300 for e in out["events"])


# -- through the probe, as a transport runs it -------------------------------------------------------

def test_probe_reads_dmesg_of_this_boot(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_dmesg(bin_dir, fixture(XID_ECC))
    xid = run_probe(quiet_options(tmp_path), probe_env(bin_dir))["xid"]
    assert (xid["readable"], xid["source"], xid["since_boot"]) == (True, "dmesg", True)
    assert xid["counts"] == {"48": 1, "63": 1, "94": 9} and xid["boot_time"] == boot_time()
    assert abs(xid["now"] - time.time()) < 60


def test_without_dmesg_or_kmsg_the_journal_of_this_boot_is_read(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_dmesg(bin_dir, denied=True)
    line = fixture_text(XID_GSP).splitlines()[2].split("] ", 1)[1]
    fake_tool(bin_dir, "journalctl", f"""case "$*" in
  *"-k -b 0"*) echo "{int(time.time()) - 60}.000001 node kernel: {line}" ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
""")
    xid = run_probe(quiet_options(tmp_path, use_journal=True), probe_env(bin_dir))["xid"]
    assert (xid["readable"], xid["source"], xid["since_boot"]) == (True, "journalctl -k -b 0", True)
    assert xid["counts"] == {"119": 1} and abs(xid["events"][0]["ts"] - (time.time() - 60)) < 60


def test_kern_log_fallback_drops_events_from_before_this_boot(tmp_path: Path) -> None:
    """No dmesg, no kmsg, no journal: /var/log/kern.log spans boots. Lines are written in ISO
    time around this machine's real boot time."""
    bin_dir = tmp_path / "bin"
    fake_dmesg(bin_dir, denied=True)
    btime = boot_time()
    assert btime is not None
    line = fixture_text(XID_ECC).splitlines()[10].split(" ", 1)[1]

    def iso(t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime(t))

    log = tmp_path / "kern.log"
    log.write_text(f"{iso(btime - 3600)} node kernel: {line}\n{iso(btime + 5)} node kernel: {line}\n")
    xid = run_probe(quiet_options(tmp_path, kernel_log_paths=(str(log),)), probe_env(bin_dir))["xid"]
    assert (xid["source"], xid["since_boot"], xid["counts"], xid["before_boot"]) == (str(log), False, {"48": 1}, 1)


@pytest.mark.parametrize("answer", [
    "echo 'No journal files were found.' >&2; echo '-- No entries --'",      # no journald (this machine)
    "echo 'Hint: You are currently not seeing messages from other users and the system.' >&2",  # not in adm/systemd-journal
    "true",                                                                   # exit 0, nothing at all
])
def test_a_journal_that_shows_nothing_is_not_a_clean_log(tmp_path: Path, answer: str) -> None:
    """journalctl exits 0 when it can read nothing: that is "not readable", never "no Xid"."""
    bin_dir = tmp_path / "bin"
    fake_dmesg(bin_dir, denied=True)
    fake_tool(bin_dir, "journalctl", answer + "\n")
    xid = run_probe(quiet_options(tmp_path, use_journal=True), probe_env(bin_dir))["xid"]
    assert xid["readable"] is False and "journalctl" in xid["error"]
