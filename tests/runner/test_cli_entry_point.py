"""The installed `plinth` entry point run as a user runs it (a real subprocess, stdout and stderr
pipes as in CI, COLUMNS set): line widths and counts, exit codes, stdout that is pure JSON with
`-o json`, progress lines on stderr, --quiet, --version, shell completion. Nodes: this machine
(audit) and the real sshd fixture plus one unreachable port (validate)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

from tests.support.sshd import SshdHandle, free_port

PLINTH = Path(sys.executable).with_name("plinth")


def plinth(*args: str, columns: int = 80, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE")}
    env["COLUMNS"] = str(columns)
    return subprocess.run([str(PLINTH), *args], capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def expected_exit(report: dict) -> int:
    """validators/exit_codes.py from the JSON report alone: what a CI script may rely on."""
    reached = [c["status"] for n in report["nodes"] if n["reachable"] for c in n["checks"]]
    reached += [c["status"] for c in report["fleet"]]
    if {"fail", "error"} & set(reached):
        return 1
    return 3 if any(not n["reachable"] for n in report["nodes"]) else 0


def inventory(path: Path, h: SshdHandle, nodes: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({
        "defaults": {"user": h.user, "identity_file": str(h.client_key_path), "known_hosts": str(h.known_hosts)},
        "nodes": nodes,
    }))
    return path


def test_audit_fits_the_columns_it_is_given_and_exits_as_its_report_says(tmp_path: Path) -> None:
    lines = {}
    for columns in (80, 200):
        out = tmp_path / f"r{columns}.json"
        run = plinth("audit", "--quick", "--json", str(out), columns=columns)
        lines[columns] = run.stdout.splitlines()
        assert lines[columns] and max(len(ln) for ln in lines[columns]) <= columns, run.stdout
        assert run.returncode == expected_exit(json.loads(out.read_text())), run.stdout + run.stderr
        # stderr is not a terminal: one progress line for the one node, not a bar
        assert re.fullmatch(r"\[1/1 \d+\.\ds\] \S+: probed \(\d+\.\ds\)\n", run.stderr), run.stderr
    assert any("readiness score" in ln for ln in lines[80])
    assert len(lines[80]) >= len(lines[200])


def test_audit_o_json_puts_the_report_alone_on_stdout_and_the_view_on_stderr() -> None:
    run = plinth("audit", "--quick", "-o", "json")
    report = json.loads(run.stdout)  # nothing but the document on stdout
    assert report["nodes"][0]["reachable"] and report["summary"]["nodes"] == 1
    assert run.returncode == expected_exit(report)
    assert "readiness score" in run.stderr  # the console view, moved to stderr


def test_quiet_prints_nothing_and_the_exit_code_still_says_it(tmp_path: Path) -> None:
    run = plinth("audit", "--quick", "-q", "--json", str(tmp_path / "r.json"))
    assert (run.stdout, run.stderr) == ("", "")
    assert run.returncode == expected_exit(json.loads((tmp_path / "r.json").read_text()))


def test_validate_three_nodes_one_unreachable_reads_at_80_columns(sshd_server: SshdHandle, tmp_path: Path) -> None:
    down = free_port()
    inv = inventory(tmp_path / "inv.yaml", sshd_server, [
        {"name": "gpu-0", "host": sshd_server.host, "port": sshd_server.port},
        {"name": "gpu-1", "host": sshd_server.host, "port": sshd_server.port},
        {"name": "gpu-2", "host": "127.0.0.1", "port": down},
    ])
    counts = {}
    for columns in (80, 200):
        out = tmp_path / f"r{columns}.json"
        run = plinth("validate", "-i", str(inv), "--quick", "--json", str(out), columns=columns)
        report = json.loads(out.read_text())
        lines = run.stdout.splitlines()
        counts[columns] = len(lines)
        assert max(len(ln) for ln in lines) <= columns
        # no GPU, 2 cores, no RDMA on this machine: the reached nodes fail distributed_training -> 1
        assert {c["status"] for c in report["nodes"][0]["checks"]} & {"fail"}
        assert run.returncode == expected_exit(report) == 1
        # the unreachable node: one line with the reason; its checks all error in the JSON, counted
        assert f"gpu-2 (127.0.0.1) unreachable: 127.0.0.1:{down}: connection refused" in lines
        gpu2 = report["nodes"][2]
        assert not gpu2["reachable"] and {c["status"] for c in gpu2["checks"]} == {"error"}
        assert run.stdout.count("connection refused") == 1  # not once per check it was never checked for
        assert re.search(rf"^  gpu-2 +ok=0 +warn=0 +failed=0 +error={len(gpu2['checks'])} +skipped=0 +unreachable=1$",
                         run.stdout, re.MULTILINE)  # the recap: every check counted, as in the JSON
        # progress: one line per node on stderr
        assert sorted(re.findall(r"\] (gpu-\d): (probed|unreachable)", run.stderr)) == [
            ("gpu-0", "probed"), ("gpu-1", "probed"), ("gpu-2", "unreachable")]
    assert counts[80] < 60, counts
    assert counts[200] <= counts[80]


def test_only_unreachable_nodes_exit_3_and_a_script_that_fails_on_non_zero_still_fails(
        sshd_server: SshdHandle, tmp_path: Path) -> None:
    profile = tmp_path / "tiny.yaml"  # a check every machine passes: the reached node passes
    profile.write_text("name: tiny\ndescription: memory only\nthresholds:\n  system.memory: {min: 0.1, unit: GiB}\n")
    up = {"name": "up", "host": sshd_server.host, "port": sshd_server.port}
    inv = inventory(tmp_path / "inv.yaml", sshd_server, [up, {"name": "down", "host": "127.0.0.1", "port": free_port()}])
    run = plinth("validate", "-i", str(inv), "-p", str(profile), "-o", "json")
    report = json.loads(run.stdout)
    assert [n["reachable"] for n in report["nodes"]] == [True, False]
    assert {c["status"] for c in report["nodes"][0]["checks"]} == {"pass"}
    assert run.returncode == 3, run.stderr
    script = subprocess.run(["sh", "-c", f'"{PLINTH}" validate -i "{inv}" -p "{profile}" -q && echo READY'],
                            capture_output=True, text=True, timeout=240, check=False)
    assert script.returncode == 3 and "READY" not in script.stdout
    alone = inventory(tmp_path / "up.yaml", sshd_server, [up])
    assert plinth("validate", "-i", str(alone), "-p", str(profile), "-q").returncode == 0


def test_two_reports_on_stdout_is_bad_input_in_one_line() -> None:
    run = plinth("audit", "-o", "json", "--junit", "-")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == ["error: --junit - and -o json: stdout holds one report; write the others to files"]


def test_version_and_shell_completion() -> None:
    run = plinth("--version")
    assert (run.returncode, run.stdout) == (0, f"plinth {version('plinth')}\n")
    script = plinth("--show-completion", "bash")
    assert script.returncode == 0
    assert "complete " in script.stdout and "_PLINTH_COMPLETE" in script.stdout  # a bash completion script for plinth
