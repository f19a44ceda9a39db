"""Report targets (validators/reports/targets.py): a report never destroys what it is written over.

Before: as root, ``--json /dev/stdout`` replaced the /dev/stdout link with a regular file (temp file
+ rename), ``--json -`` wrote a file named '-', and ``--json inventory.yaml`` silently overwrote the
inventory. Now: stdout and /dev/stdout are plinth's own descriptor, devices and FIFOs are written
directly, disks and sockets are refused, and a target that is an input is exit 2 before any node is
contacted."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.reliability.support import SilentServer
from tests.support.sshd import free_port
from validators import exit_codes
from validators.cli import app

pytestmark = pytest.mark.root
runner = CliRunner()
PLINTH = [sys.executable, "-m", "validators.cli"]
REPO = Path(__file__).resolve().parents[2]


def _inventory(tmp: Path, port: int | None = None, **node: str) -> Path:
    inv = tmp / "inventory.yaml"
    fields = "".join(f", {k}: '{v}'" for k, v in node.items())
    inv.write_text(f"nodes:\n  - {{name: a, host: 127.0.0.1, port: {port or free_port()}{fields}}}\n")
    return inv


def _cli(args: list[str]) -> Result:
    return runner.invoke(app, ["validate", *args, "--no-network", "-p", "single_gpu"], env={"CI": "1", "COLUMNS": "300"})


def _real_plinth(args: list[str], stdout: int | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*PLINTH, "validate", *args, "--no-network", "-p", "single_gpu"], stdout=stdout or subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=cwd or REPO, env={**os.environ, "CI": "1", "PYTHONPATH": str(REPO)},
                          timeout=60, check=False)


def _json_at_end(text: str) -> dict:
    return json.loads(text[text.index('{\n  "summary"'):])


@pytest.mark.skipif(os.geteuid() != 0, reason="the damage only happens as root (who may rename over /dev)")
def test_json_to_dev_stdout_keeps_the_device_and_what_was_already_written(tmp_path: Path) -> None:
    inv = _inventory(tmp_path)
    out = tmp_path / "out.txt"
    with open(out, "wb") as fh:
        proc = _real_plinth(["-i", str(inv), "--json", "/dev/stdout"], stdout=fh.fileno())
    assert proc.returncode == exit_codes.UNREACHABLE, proc.stderr
    assert os.path.islink("/dev/stdout") and os.readlink("/dev/stdout") == "/proc/self/fd/1"
    text = out.read_text()
    assert "readiness score" in text  # the console output written before the report is still there
    assert _json_at_end(text)["nodes"][0]["name"] == "a"  # and the report after it, whole
    assert not list(Path("/dev").glob(".stdout.*.tmp"))


def test_dash_is_stdout_and_creates_no_file(tmp_path: Path) -> None:
    inv = _inventory(tmp_path)
    proc = _real_plinth(["-i", str(inv), "--json", "-"], cwd=tmp_path)
    assert proc.returncode == exit_codes.UNREACHABLE, proc.stderr
    assert _json_at_end(proc.stdout.decode())["summary"]["nodes"] == 1
    assert not (tmp_path / "-").exists()


def test_dev_null_stays_a_device(tmp_path: Path) -> None:
    before = os.stat("/dev/null")
    result = _cli(["-i", str(_inventory(tmp_path)), "--junit", "/dev/null", "--prometheus", str(tmp_path / "p.prom")])
    assert result.exit_code == exit_codes.UNREACHABLE, result.output  # the node is down, and the reports are written
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert not list(Path("/dev").glob(".null.*.tmp"))
    assert (tmp_path / "p.prom").read_text().startswith("# HELP")


def test_a_fifo_with_a_reader_gets_the_whole_report(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = _cli(["-i", str(_inventory(tmp_path)), "--json", str(fifo)])
    reader.join(10)
    assert result.exit_code == exit_codes.UNREACHABLE, result.output
    assert json.loads(got[0])["summary"]["nodes"] == 1
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO, not replaced by a file


def test_a_fifo_nobody_reads_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    result = _cli(["-i", str(_inventory(tmp_path)), "--json", str(fifo), "--junit", str(tmp_path / "r.xml")])
    assert time.monotonic() - t0 < 20
    assert result.exit_code == 1
    assert f"error: --json {fifo}: cannot write: no process is reading the FIFO" in " ".join(result.output.split())
    assert (tmp_path / "r.xml").exists()  # the other report is still written


@pytest.mark.parametrize("kind", ["block device", "socket", "new name under /dev", "directory"])
def test_targets_that_must_never_be_written_are_exit_2_before_any_node(kind: str, tmp_path: Path) -> None:
    node = SilentServer()
    try:
        if kind == "block device":
            target = tmp_path / "disk"
            os.mknod(target, stat.S_IFBLK | 0o600, os.makedev(7, 250))  # a loop device node: never opened
            words = "is a block device; refusing to write a report there"
        elif kind == "socket":
            target = tmp_path / "s.sock"
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(target))
            words = "is a socket; refusing to write a report there"
        elif kind == "directory":
            target, words = tmp_path, "is a directory"
        else:
            target, words = Path("/dev/plinth-no-such-device"), "no such device (plinth creates no files under /dev, /proc or /sys)"
        result = _cli(["-i", str(_inventory(tmp_path, node.port)), "--prometheus", str(target)])
        assert result.exit_code == 2, result.output
        assert " ".join(result.output.split()) == f"error: --prometheus {target}: {words}"
        assert node.accepted == 0
        assert not Path("/dev/plinth-no-such-device").exists()
    finally:
        node.close()


@pytest.mark.parametrize("how", ["same path", "relative path", "symlink", "hard link"])
def test_a_report_over_the_inventory_is_exit_2_and_the_inventory_is_untouched(how: str, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    node = SilentServer()
    try:
        inv = _inventory(tmp_path, node.port)
        text = inv.read_text()
        target = {"same path": inv, "relative path": Path("inventory.yaml"), "symlink": tmp_path / "link.json",
                  "hard link": tmp_path / "hard.json"}[how]
        if how == "symlink":
            target.symlink_to(inv)
        if how == "hard link":
            os.link(inv, target)
        monkeypatch.chdir(tmp_path)
        result = _cli(["-i", str(inv), "--json", str(target)])
        assert result.exit_code == 2, result.output
        assert f"error: --json {target}: is the inventory ({inv}); a report must not overwrite an input" in " ".join(result.output.split())
        assert inv.read_text() == text and node.accepted == 0
    finally:
        node.close()


def test_a_report_over_a_nodes_known_hosts_or_key_is_exit_2(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    key = tmp_path / "id"
    key.write_text("not a key")
    inv = _inventory(tmp_path, known_hosts=str(known), identity_file=str(key))
    for target, what in ((known, "known_hosts of a"), (key, "SSH identity file of a")):
        result = _cli(["-i", str(inv), "--markdown", str(target)])
        assert result.exit_code == 2 and f"is the {what} ({target})" in " ".join(result.output.split()), result.output
    assert known.read_text() == "" and key.read_text() == "not a key"


def test_two_reports_to_one_target_is_exit_2(tmp_path: Path) -> None:
    result = _cli(["-i", str(_inventory(tmp_path)), "--json", str(tmp_path / "r"), "--junit", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert f"--junit {tmp_path / 'r'}: --json writes there too" in " ".join(result.output.split())
    result = _cli(["-i", str(_inventory(tmp_path)), "--json", "-", "--junit", "/dev/stdout"])
    assert result.exit_code == 2 and "error: --junit /dev/stdout: --json writes there too" in result.output


def test_a_symlinked_report_replaces_the_file_it_points_at_and_keeps_the_link(tmp_path: Path) -> None:
    """A textfile collector directory often holds links: the link stays, its file is updated atomically."""
    real = tmp_path / "collector" / "plinth.prom"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "plinth.prom"
    link.symlink_to(real)
    result = _cli(["-i", str(_inventory(tmp_path)), "--prometheus", str(link)])
    assert result.exit_code == exit_codes.UNREACHABLE, result.output
    assert link.is_symlink() and real.read_text().startswith("# HELP") and real.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in real.parent.iterdir()) == ["plinth.prom"]  # no temp file left


def test_preview_json_over_its_stack_file_is_exit_2(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.mine.yaml"
    shutil.copy(REPO / "stacks" / "Pulumi.cloud-first.yaml", stack)
    text = stack.read_text()
    result = runner.invoke(app, ["preview", "--stack", str(stack), "--json", str(stack)], env={"CI": "1", "COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert f"is the stack file ({stack})" in " ".join(result.output.split()) and stack.read_text() == text
