"""gpu.xid and gpu.sxid over kernel logs parsed by the probe's own parser: real captures where they
exist, lines in the drivers' formats where none was recorded (MIG, Xid 154, SXid)."""

from __future__ import annotations

from typing import Any

import pytest

from policies.catalogue import xid_catalogue
from policies.thresholds import Threshold
from tests.checks.facts import CLEAN_LOG, XID_APP, XID_ECC, XID_GSP, ctx
from tests.probe.helpers import fixture_text
from validators.checks.xid import gpu_sxid, gpu_xid
from validators.probe.parsers import parse_xid

XID = Threshold(max=0, unit="events")
SXID = Threshold(max=0, unit="events")
BOOT = 1_755_000_000.0


def facts(text: str, *, kind: str = "aws", btime: float | None = None, now: float | None = None,
          since_boot: bool = True, nvswitches: int | None = None) -> dict[str, Any]:
    xid = parse_xid(text, btime, now, since_boot=since_boot)
    xid.update(readable=True, source="dmesg" if since_boot else "/var/log/kern.log", since_boot=since_boot, error=None,
               nvswitches=nvswitches)
    return {"errors": {}, "xid": xid, "system": {"platform": {"kind": kind}}}


def line(seconds: float, body: str) -> str:
    return f"[{seconds:12.6f}] {body}"


# -- real captures ---------------------------------------------------------------------------------

def test_dbe_with_row_remap_and_contained_errors_fails_on_the_dbe() -> None:
    """Xid 48 (DBE) fails: NVIDIA's Xid 48 workflow resets the GPU so the remap it triggered takes
    effect. Xid 94 (contained) asks only for an application restart, Xid 63 (remap recorded) is
    informational: neither fails the node on its own."""
    r = gpu_xid(facts(fixture_text(XID_ECC)), XID, ctx())
    assert r.status == "fail" and r.measured == 1
    assert r.message.startswith("Xid 48 x1 (double-bit ECC error (DBE)) on PCI 0000:19:00 since boot (dmesg)")
    assert "also Xid 94 x9 (contained ECC error)" in r.message and "informational: Xid 63 x1" in r.message
    fix = r.remediation or ""
    assert "reboot" in fix and "Xid 94: Restart the job" in fix and "row-remapping" in fix


def test_gsp_rpc_timeout_fails_with_a_reset() -> None:
    r = gpu_xid(facts(fixture_text(XID_GSP)), XID, ctx())
    assert r.status == "fail" and "Xid 119 x5 (GSP RPC timeout) on PCI 0000:9b:00" in r.message
    assert "Drain the node and reboot it" in (r.remediation or "")


def test_application_xids_warn_and_name_the_workload() -> None:
    """629 Xid 13 and 7 Xid 43 on one GPU: an out-of-range access in the job (NVIDIA: RESTART_APP;
    43 is IGNORE with CONTACT_SUPPORT if it repeats). The GPU is healthy; the job is not."""
    r = gpu_xid(facts(fixture_text(XID_APP)), XID, ctx())
    assert r.status == "warn" and "Xid 13 x629" in r.message and "Xid 43 x7" in r.message
    assert "Restart the job" in (r.remediation or "")


def test_clean_boot_passes() -> None:
    r = gpu_xid(facts(fixture_text(CLEAN_LOG)), XID, ctx())
    assert r.status == "pass" and r.message == "no GPU fault Xid events since boot (dmesg)"


# -- the remedy clears the failure -------------------------------------------------------------------

def test_after_the_reboot_plinth_asks_for_the_old_events_no_longer_count() -> None:
    """kern.log keeps the DBE of the previous boot; once the node rebooted (btime after it), the
    same log passes and says what it left out."""
    text = fixture_text(XID_ECC)
    events_at = 1731672123.47  # 2024-11-15T12:02:03 in the capture
    before = gpu_xid(facts(text, btime=events_at - 3600, now=events_at + 60, since_boot=False), XID, ctx())
    assert before.status == "fail"
    after = gpu_xid(facts(text, btime=events_at + 600, now=events_at + 900, since_boot=False), XID, ctx())
    assert after.status == "pass" and "11 event(s) from earlier boots in /var/log/kern.log not counted" in after.message


def test_window_hours_counts_only_recent_events() -> None:
    text = line(100, "NVRM: Xid (PCI:0000:19:00): 48, pid=1, name=x, An uncorrectable double bit error")
    day = Threshold(max=0, unit="events", window_hours=24)
    assert gpu_xid(facts(text, btime=BOOT, now=BOOT + 3600), day, ctx()).status == "fail"
    r = gpu_xid(facts(text, btime=BOOT, now=BOOT + 3 * 86400), day, ctx())
    assert r.status == "pass" and "in the last 24 h" in r.message


# -- codes and formats without a recorded capture ------------------------------------------------------

def test_row_remap_event_alone_is_not_a_hardware_failure() -> None:
    """Xid 63 says a remap succeeded (NVIDIA: IGNORE); whether one is still pending is the
    row-remapping check's question, not the kernel log's."""
    row = fixture_text(XID_ECC).splitlines()[11]
    assert ": 63," in row
    r = gpu_xid(facts(row), XID, ctx())
    assert r.status == "pass" and "informational: Xid 63 x1" in r.message


@pytest.mark.parametrize("action,status,says", [
    ("0x0 (None)", "pass", "informational: Xid 154"),
    ("0x1 (GPU Reset Required)", "fail", "Drain the node and reboot it"),
    ("0x2 (Node Reboot Required)", "fail", "NVIDIA: the fault may have left the OS"),
    ("0x4 (Drain and Reset)", "fail", "Drain the node and reboot it"),
])
def test_xid_154_is_judged_by_the_recovery_action_it_names(action: str, status: str, says: str) -> None:
    text = "\n".join([
        line(50, "NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)"),
        line(60, f"NVRM: Xid (PCI:0000:01:00): 154, GPU recovery action changed from 0x2 (Node Reboot Required) to {action}"),
    ])
    r = gpu_xid(facts(text, btime=BOOT), XID, ctx())  # the latest action decides
    assert r.status == status and says in (r.message + " " + (r.remediation or ""))


def test_mig_format_xid_is_matched_and_names_the_instance() -> None:
    text = line(70, "NVRM: Xid (PCI:0000:3b:00 GPU-I:05): 48, pid=7, name=python, An uncorrectable double bit error")
    r = gpu_xid(facts(text, btime=BOOT), XID, ctx())
    assert r.status == "fail" and "on PCI 0000:3b:00 GPU-I 5" in r.message


def test_fallen_off_the_bus_is_worded_for_the_platform() -> None:
    """Xid 79: on a cloud instance the way off the hardware is stop/start or replace; on bare metal
    a power cycle, then reseat and RMA. Never both when the platform is known."""
    text = line(10, "NVRM: Xid (PCI:0000:c6:00): 79, pid=1101234, name=nvc:[driver], GPU has fallen off the bus.")
    aws = gpu_xid(facts(text, btime=BOOT, kind="aws"), XID, ctx()).remediation or ""
    metal = gpu_xid(facts(text, btime=BOOT, kind="bare-metal"), XID, ctx()).remediation or ""
    assert "stop and start the instance" in aws and "reseat" not in aws
    assert "power-cycle" in metal and "RMA" in metal and "instance" not in metal


def test_an_unknown_code_fails_rather_than_passing_silently() -> None:
    r = gpu_xid(facts(line(5, "NVRM: Xid (PCI:0000:01:00): 9999, something new"), btime=BOOT), XID, ctx())
    assert r.status == "fail" and "not in plinth's table" in r.message and "Xid catalogue" in (r.remediation or "")


def test_a_flood_of_application_xids_cannot_hide_a_fault() -> None:
    flood = fixture_text(XID_APP) + "\n2025-01-21T01:00:00,000000+00:00 NVRM: Xid (PCI:0000:38:00): 79, GPU has fallen off the bus.\n"
    r = gpu_xid(facts(flood), XID, ctx())
    assert r.status == "fail" and r.message.startswith("Xid 79 x1") and "also Xid 13 x629" in r.message


def test_unreadable_and_missing_sections() -> None:
    unreadable = facts(fixture_text(CLEAN_LOG))
    unreadable["xid"] = {"readable": False, "error": "kernel log not readable without root (dmesg: denied)"}
    r = gpu_xid(unreadable, XID, ctx())
    assert r.status == "skip" and r.message.startswith("kernel log not readable without root")
    assert gpu_xid({"errors": {"xid": "OSError"}, "xid": None}, XID, ctx()).status == "error"


def test_every_catalogue_action_has_a_remedy_and_a_status() -> None:
    cat = xid_catalogue()
    for code in cat.xids:
        meaning, action, _ = cat.xid(code)
        assert meaning and cat.actions[action].status in ("pass", "warn", "fail")
    assert cat.xid(63)[1] == "IGNORE" and cat.actions["IGNORE"].status == "pass"
    assert cat.actions[cat.xid(48)[1]].status == "fail" and cat.actions[cat.xid(13)[1]].status == "warn"


# -- SXid --------------------------------------------------------------------------------------------

NONFATAL = "nvidia-nvswitch3: SXid (PCI:0000:05:00.0): 12028, Non-fatal, Link 32 egress non-posted PRIV error (First)"
FATAL = "nvidia-nvswitch0: SXid (PCI:0000:c3:00.0): 24007, Fatal, Link 30 sourcetrack timeout error"


def test_fatal_sxid_fails_with_a_reset_of_gpus_and_switches() -> None:
    r = gpu_sxid(facts(line(5, FATAL) + "\n" + line(6, NONFATAL), btime=BOOT, nvswitches=4), SXID, ctx())
    assert r.status == "fail" and "SXid 24007 x1 on nvidia-nvswitch0" in r.message and "non-fatal: SXid 12028" in r.message
    assert "reboot it to reset the GPUs and NVSwitches" in (r.remediation or "")


def test_non_fatal_sxid_warns_and_clean_switches_pass() -> None:
    r = gpu_sxid(facts(line(6, NONFATAL), btime=BOOT, nvswitches=4), SXID, ctx())
    assert r.status == "warn" and "informational" in r.message
    clean = gpu_sxid(facts(fixture_text(CLEAN_LOG), nvswitches=4), SXID, ctx())
    assert clean.status == "pass" and "on 4 NVSwitches" in clean.message
    assert gpu_sxid(facts(fixture_text(CLEAN_LOG)), SXID, ctx()).status == "skip"  # no NVSwitch, no SXid


def test_sxid_without_its_severity_counts_as_fatal() -> None:
    text = line(7, "nvidia-nvswitch1 SXid (PCI:0000:06:00.0): 20009")
    assert gpu_sxid(facts(text, btime=BOOT, nvswitches=4), SXID, ctx()).status == "fail"


def test_the_window_runs_on_the_nodes_clock_not_the_controllers() -> None:
    """Stored facts (plinth validate --facts) judged long after the probe ran give the verdict of
    the moment they were gathered: BOOT is in 2025, an hour's window around the node's `now`
    still holds the event whatever the controller's clock says."""
    hour = Threshold(max=0, unit="events", window_hours=1)
    assert gpu_sxid(facts(line(100, FATAL), btime=BOOT, now=BOOT + 200, nvswitches=4), hour, ctx()).status == "fail"
    assert gpu_sxid(facts(line(100, FATAL), btime=BOOT, now=BOOT + 7300, nvswitches=4), hour, ctx()).status == "pass"
