"""Nothing lost: reports are written atomically (no temp leftovers, an old
report survives a failed write whole), SIGINT/SIGTERM to a real `plinth validate` process mid-probe
still writes every report with the unfinished node marked ``interrupted`` (and kills what it left
running on the node), and a report path that can't be written is exit 2 BEFORE any node is
contacted (a listening socket records no connection)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.reliability.support import REPO, NodeDir, SilentServer, assert_complete, ssh_node, write_inventory
from tests.support.sshd import SshdHandle
from validators.cli import app

pytestmark = pytest.mark.root
REPORTS = ("json", "junit", "markdown", "prometheus")


def _report_args(d: Path) -> list[str]:
    return [a for k in REPORTS for a in (f"--{k}", str(d / f"r.{k}"))]


def _procs_with(needle: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if needle in cmdline:
                found.append(int(entry))
    return found


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_probe_writes_every_report_marks_the_node_interrupted_and_leaves_nothing_running(
    sshd_server: SshdHandle, node_dir: NodeDir, sig: int, code: int,
) -> None:
    tag = uuid.uuid4().hex[:8]
    hang_started, ok_done = node_dir.markers / f"hang-{tag}", node_dir.markers / f"ok-{tag}"
    hang_seconds = f"61.{int(tag, 16) % 1000:03d}"  # a unique argv to find on the node afterwards
    hang_py = node_dir.script(f"py-hang-{tag}", f": > {hang_started}\nexec sleep {hang_seconds}\n")
    ok_py = node_dir.script(f"py-ok-{tag}", f'/usr/bin/python3 "$@"\nrc=$?\n: > {ok_done}\nexit $rc\n')
    reports = Path(tempfile.mkdtemp(prefix="plinth-rel-signal-"))
    try:
        inv = write_inventory(reports / "inv.yaml", sshd_server, [
            ssh_node(sshd_server, "ok", python=str(ok_py)), ssh_node(sshd_server, "hang", python=str(hang_py)),
        ])
        proc = subprocess.Popen(
            [sys.executable, "-m", "validators.cli", "validate", "-i", str(inv), "-p", "single_gpu", "--no-network",
             *_report_args(reports)],
            cwd=REPO, env={**os.environ, "CI": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not (hang_started.exists() and ok_done.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hang_started.exists() and ok_done.exists(), "the probes never started"
        time.sleep(0.5)  # let the controller read the finished node's answer
        t0 = time.monotonic()
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=20)
        assert time.monotonic() - t0 < 5, "interrupt took too long"
        assert proc.returncode == code, err.decode()[-1500:]
        assert "Traceback" not in err.decode()
        report = json.loads((reports / "r.json").read_text())
        assert_complete(report, "single_gpu", ["ok", "hang"])
        hang = next(n for n in report["nodes"] if n["name"] == "hang")
        assert {(c["status"], c["message"]) for c in hang["checks"]} == {("error", "interrupted")}
        ok = next(n for n in report["nodes"] if n["name"] == "ok")
        assert not any(c["message"] == "interrupted" for c in ok["checks"])  # finished: judged as usual
        assert "<testsuites" in (reports / "r.junit").read_text()
        assert "| hang |" in (reports / "r.markdown").read_text()
        assert "plinth_readiness_score" in (reports / "r.prometheus").read_text()
        # written atomically: the requested reports and the inventory, nothing else
        assert sorted(p.name for p in reports.iterdir()) == sorted(["inv.yaml", *[f"r.{k}" for k in REPORTS]])
        time.sleep(0.5)
        assert _procs_with(f"sleep {hang_seconds}") == [], "the hung command outlived the interrupt on the node"
    finally:
        for pid in _procs_with(f"sleep {hang_seconds}"):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(reports, ignore_errors=True)


@contextmanager
def _tmpfs(*options: str) -> Iterator[Path]:
    mnt = Path(tempfile.mkdtemp(prefix="plinth-rel-mnt-"))
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(mnt)],
                          check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        mnt.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        mnt.rmdir()


def test_unwritable_report_paths_are_exit_2_before_any_node_is_contacted(tmp_path: Path) -> None:
    node = SilentServer()  # would hold the run for the whole connect timeout if contacted
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"nodes:\n  - {{name: a, host: 127.0.0.1, port: {node.port}}}\n")
    try:
        with _tmpfs("ro", "size=64k") as readonly:
            cases = [
                ("--json", tmp_path / "missing" / "r.json", "directory does not exist"),
                ("--junit", a_file / "r.xml", "is not a directory"),
                ("--markdown", tmp_path, "is a directory"),
                ("--prometheus", readonly / "plinth.prom", "directory is not writable"),  # read-only fs: even for root
            ]
            for option, path, reason in cases:
                t0 = time.monotonic()
                result = CliRunner().invoke(app, ["validate", "-i", str(inv), option, str(path)], env={"COLUMNS": "300"})
                assert result.exit_code == 2, result.output
                line = result.output.strip()
                assert "\n" not in line and line.startswith(f"error: {option} {path}: ") and line.endswith(reason), line
                assert time.monotonic() - t0 < 2
        assert node.accepted == 0, "a node was contacted before the report paths were checked"
    finally:
        node.close()


def test_disk_full_while_writing_keeps_the_old_report_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """A real ENOSPC: the report directory is a 16 KiB tmpfs, the new JSON report is bigger."""
    inv = tmp_path / "inv.yaml"
    inv.write_text("nodes:\n" + "".join(f"  - {{name: down-{i}, host: 127.0.0.1, port: 1}}\n" for i in range(8)))
    with _tmpfs("size=16k", "mode=0755") as full:
        old = full / "r.json"
        old.write_text('{"old": true}\n')
        elsewhere = tmp_path / "r.md"  # on a disk with room
        result = CliRunner().invoke(app, ["validate", "-i", str(inv), "--no-network", "--json", str(old),
                                          "--markdown", str(elsewhere)], env={"COLUMNS": "300", "CI": "1"})
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert f"error: --json {old}: cannot write: No space left on device" in result.output
        assert old.read_text() == '{"old": true}\n'  # the old report, whole: never half of a new one
        assert [p.name for p in full.iterdir()] == ["r.json"]  # no .tmp leftovers
        assert "| down-7 |" in elsewhere.read_text()  # one report failing doesn't stop the others
