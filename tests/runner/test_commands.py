"""`plinth validate` / `plinth audit` end to end: exit codes, reports written, interrupts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.support.sshd import SshdHandle
from validators.cli import app
from validators.results import Report

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def write_inventory(path: Path, h: SshdHandle, nodes: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({
        "defaults": {"user": h.user, "identity_file": str(h.client_key_path), "known_hosts": str(h.known_hosts)},
        "nodes": nodes,
    }))
    return path


@pytest.mark.parametrize(("content", "field"), [
    ("nodes:\n  - {name: a, host: 10.0.0.1}\n  - {name: b, host: '10.0.0.2; rm -rf /'}\n", "nodes[1].host"),
    ("nodes:\n  - {name: a, host: 10.0.0.1, prot: 22}\n", ":2:31: nodes[0]: unknown key 'prot' (did you mean 'port'?)"),
    ("defaults: {user: 'root x'}\nnodes:\n  - {name: a, host: h}\n", "defaults.user"),
    ("nodes: []\n", "nodes"),
    ("nodes:\n  - {name: a, host: h}\n  - {name: a, host: h2}\n", "duplicate node name"),
    ("nodes: [\n", "not valid YAML"),
])
def test_bad_inventory_is_exit_2_with_one_line_naming_file_and_field(tmp_path: Path, content: str, field: str) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(content)
    result = runner.invoke(app, ["validate", "--inventory", str(inv)])
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())  # rich wraps long lines in the test terminal
    assert str(inv) in out and field in out
    assert "Traceback" not in result.output


def test_unwritable_report_path_is_exit_2_before_any_node_is_contacted(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text("nodes:\n  - {name: a, host: 192.0.2.1}\n")  # TEST-NET: would hang if contacted
    t0 = time.monotonic()
    result = runner.invoke(app, ["validate", "-i", str(inv), "--json", str(tmp_path / "out" / "r.json")])
    assert result.exit_code == 2
    assert f"--json {tmp_path / 'out' / 'r.json'}: directory does not exist" in result.output
    assert time.monotonic() - t0 < 2


def test_validate_writes_every_report_and_exits_1_when_a_node_is_down(sshd_server: SshdHandle, tmp_path: Path) -> None:
    inv = write_inventory(tmp_path / "inv.yaml", sshd_server, [
        {"name": "up", "host": sshd_server.host, "port": sshd_server.port},
        {"name": "down", "host": "127.0.0.1", "port": 1},
    ])
    paths = {k: tmp_path / f"r.{k}" for k in ("json", "junit", "markdown", "prometheus", "html")}
    result = runner.invoke(app, ["validate", "-i", str(inv), "-p", "single_gpu", "--no-network",
                                 *[a for k, p in paths.items() for a in (f"--{k}", str(p))]])
    assert result.exit_code == 1, result.output
    report = Report.model_validate_json(paths["json"].read_text())
    assert [n.reachable for n in report.nodes] == [True, False]
    assert "<testsuites" in paths["junit"].read_text()
    assert "plinth_readiness_score" in paths["prometheus"].read_text()
    assert "| down |" in paths["markdown"].read_text()
    assert '<span class="down">unreachable</span>' in paths["html"].read_text()
    assert all(oct(p.stat().st_mode & 0o777) == "0o644" for p in paths.values())


def _silent_server() -> tuple[socket.socket, list[socket.socket]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, held


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_writes_a_partial_report_and_exits_128_plus_signal(
    sshd_server: SshdHandle, tmp_path: Path, sig: int, code: int,
) -> None:
    """A real `plinth validate` process: one node answers, one never speaks SSH. The signal
    arrives while the second is still connecting; the report is written anyway."""
    server, held = _silent_server()
    try:
        inv = write_inventory(tmp_path / "inv.yaml", sshd_server, [
            {"name": "up", "host": sshd_server.host, "port": sshd_server.port},
            {"name": "mute", "host": "127.0.0.1", "port": server.getsockname()[1]},
        ])
        out = tmp_path / "r.json"
        env = {**os.environ, "CI": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "validators.cli", "validate", "-i", str(inv), "-p", "single_gpu", "--no-network",
             "--json", str(out), "--junit", str(tmp_path / "r.xml")],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while not held and time.monotonic() < deadline:  # the mute node's connection is in flight
            time.sleep(0.05)
        time.sleep(1.0)
        proc.send_signal(sig)
        _stdout, stderr = proc.communicate(timeout=20)
        assert proc.returncode == code, stderr.decode()[-800:]
        report = Report.model_validate_json(out.read_text())
        mute = next(n for n in report.nodes if n.name == "mute")
        assert {c.message for c in mute.checks} == {"interrupted"}
        assert (tmp_path / "r.xml").exists()
        assert b"interrupted" in stderr
    finally:
        server.close()
        for s in held:
            s.close()


def test_audit_prints_a_score_and_an_honest_verdict(tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    proc = subprocess.run([sys.executable, "-m", "validators.cli", "audit", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "CI": "1"}, check=False)
    report = json.loads(out.read_text())
    assert report["profile"] == "single_gpu"
    gpu = next(c for c in report["nodes"][0]["checks"] if c["id"] == "gpu.count")
    if not Path("/dev/nvidia0").exists():
        assert gpu["status"] == "fail" and proc.returncode == 1
    assert "readiness score" in proc.stdout
