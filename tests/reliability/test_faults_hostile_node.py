"""Hostile nodes against a real OpenSSH server and a real `plinth validate` process: nodes that
stream output forever (on stdout, on stderr), a node whose facts are crafted to attack the
reports (markup, terminal escapes, HTML, NaN, a 400-digit integer, nesting past the guard), and a
node whose answer is nested too deep for json, beside two healthy nodes.

Each hostile node costs only itself: the flooding nodes are cut at the transport's cap within
seconds (not at the node budget) and are ``error: output exceeded 8 MiB``; the controller's
memory stays bounded (measured: peak RSS against a baseline run of the same fleet that answers
normally); the crafted facts are judged (error where a value is unusable) and every report is
valid and inert; the healthy nodes are judged as usual."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.reliability.hostile import ESCAPES, HTML, MARKUP, PROM_LINE
from tests.reliability.support import REPO, NodeDir, assert_complete, fast_probe
from tests.support.sshd import SshdHandle
from validators.probe import probe_command
from validators.transport import SshTarget, SshTransport
from validators.transport.base import MAX_STDERR, MAX_STDOUT

pytestmark = pytest.mark.root
PROFILE = "single_gpu"
FLOODS = 12
CONCURRENCY = 8
MIB = 1024 * 1024


def _vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _run(inv: Path, work: Path, tag: str) -> tuple[int, float, int, str]:
    """A real `plinth validate` (every report, --quick): exit code, wall time, peak RSS (KiB), stdout."""
    reports = [f"--{k}" for k in ("json", "junit", "markdown", "prometheus")]
    args = [x for k, ext in zip(reports, ("json", "xml", "md", "prom")) for x in (k, str(work / f"{tag}.{ext}"))]
    t0 = time.monotonic()
    console = work / f"{tag}.console"
    with open(console, "wb") as out:  # a file, not a pipe: nobody has to drain it while we sample memory
        proc = subprocess.Popen([sys.executable, "-m", "validators.cli", "validate", "-i", str(inv), "-p", PROFILE, "--quick",
                                 "--concurrency", str(CONCURRENCY), "--timeout", "60", "--details", *args],
                                cwd=REPO, env={**os.environ, "CI": "1", "COLUMNS": "200"}, stdout=out, stderr=subprocess.STDOUT)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _vm_hwm_kb(proc.pid))
            time.sleep(0.02)
            if time.monotonic() - t0 > 150:
                proc.kill()
    return proc.returncode, time.monotonic() - t0, peak, console.read_text("utf-8", "replace")


def _hostile_facts(good: dict[str, Any]) -> dict[str, Any]:
    facts = json.loads(json.dumps(good))
    facts["gpu"] = {"source": "nvidia-smi-xml", "error": None, "driver_version": f"535.{MARKUP}", "cuda_version": ESCAPES,
                    "attached_gpus": 1, "notes": [HTML], "devices": [{
                        "index": 0, "name": f"NVIDIA H100 {MARKUP}{ESCAPES}{HTML}", "uuid": "GPU-x\u202egnp", "pci": "0000:19:00.0",
                        "memory_total_mib": math.nan, "ecc_mode": "Enabled", "ecc_uncorrected_volatile": 10**400,
                        "temperature_c": math.inf, "persistence_mode": True}]}
    facts["system"]["kernel"] = "6.1 " + MARKUP + ESCAPES
    facts["nics"] = [{"name": f"eth0{ESCAPES}", "speed_mbps": 10**30, "mtu": 9001, "operstate": "up", "type": 1,
                      "virtual": False, "default_route": True, "address": HTML}]
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    facts["mounts"] = deep  # past the guard's 32 levels, well inside json's
    facts["errors"] = {"xid": f"{MARKUP}{ESCAPES}{HTML}"}  # text every report shows: the xid check's reason
    return facts


@pytest.fixture(scope="module")
def fleet(sshd_server: SshdHandle, node_dir: NodeDir) -> Any:
    work = Path(tempfile.mkdtemp(prefix="plinth-rel-hostile-"))
    t = SshTransport(SshTarget(sshd_server.host, sshd_server.port, sshd_server.user, sshd_server.client_key_path,
                               sshd_server.known_hosts))
    t.connect(timeout=10)
    argv, stdin = probe_command(fast_probe(disk_test_mb=0))
    answer = t.run(argv, stdin=stdin, timeout=60)
    t.close()
    assert answer.exit_code == 0, answer.stderr[-500:]
    good = json.loads(answer.stdout)
    files = {"good": answer.stdout, "hostile": json.dumps(_hostile_facts(good)).encode(),  # NaN/Infinity as json writes them
             "deep": b'{"probe_version": 1, "gpu": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"}
    scripts = {}
    for name, data in files.items():
        (node_dir.path / f"{name}.json").write_bytes(data)
        (node_dir.path / f"{name}.json").chmod(0o644)
        scripts[name] = node_dir.script(f"py-{name}", f"cat >/dev/null\ncat {node_dir.path / f'{name}.json'}\n")
    scripts["flood"] = node_dir.script("py-flood", "cat >/dev/null\nexec yes 'plinth flood'\n")
    scripts["flood-stderr"] = node_dir.script("py-flood-stderr", "cat >/dev/null\nexec yes 'plinth flood' >&2\n")

    def inventory(kinds: list[tuple[str, str]], path: Path) -> Path:
        nodes = [{"name": name, "host": sshd_server.host, "port": sshd_server.port, "python": str(scripts[kind])} for name, kind in kinds]
        path.write_text(yaml.safe_dump({"defaults": {"user": sshd_server.user, "identity_file": str(sshd_server.client_key_path),
                                                     "known_hosts": str(sshd_server.known_hosts)}, "nodes": nodes}))
        return path

    # the crafted node early: the Markdown summary caps its rows, and its reason must be among them
    kinds = ([("ok-0", "good"), ("hostile", "hostile")] + [(f"flood-{i:02d}", "flood") for i in range(FLOODS)]
             + [("flood-stderr", "flood-stderr"), ("deep", "deep"), ("ok-1", "good")])
    baseline = _run(inventory([(n, "good") for n, _ in kinds], work / "baseline.yaml"), work, "baseline")
    attacked = _run(inventory(kinds, work / "attacked.yaml"), work, "attacked")
    print(f"\nhostile fleet ({len(kinds)} nodes, {FLOODS + 1} streaming forever, concurrency {CONCURRENCY}): "
          f"wall {attacked[1]:.1f} s, peak RSS {attacked[2] / 1024:.0f} MB; the same fleet answering normally: "
          f"wall {baseline[1]:.1f} s, peak RSS {baseline[2] / 1024:.0f} MB")
    try:
        yield {"work": work, "names": [n for n, _ in kinds], "baseline": baseline, "attacked": attacked}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(fleet: Any) -> dict[str, Any]:
    text = (fleet["work"] / "attacked.json").read_text()
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(AssertionError(f"JSON report has {c}")))


def _node(fleet: Any, name: str) -> dict[str, Any]:
    return next(n for n in _report(fleet)["nodes"] if n["name"] == name)


def test_the_run_completes_with_every_node_and_exit_1(fleet: Any) -> None:
    code, wall, _, out = fleet["attacked"]
    assert code == 1, out[-3000:]
    assert_complete(_report(fleet), PROFILE, fleet["names"])
    assert wall < 60, wall  # far below the 60 s node budget: floods are cut at the cap, not timed out


@pytest.mark.parametrize(("name", "stream", "cap"), [("flood-00", "stdout", MAX_STDOUT), ("flood-stderr", "stderr", MAX_STDERR)])
def test_a_node_streaming_forever_is_cut_at_the_cap_and_errors_with_the_reason(fleet: Any, name: str, stream: str, cap: int) -> None:
    node = _node(fleet, name)
    assert node["reachable"]
    assert {c["status"] for c in node["checks"]} == {"error"}
    assert all(c["message"] == f"output exceeded {cap // MIB} MiB on {stream}: the command was stopped" for c in node["checks"])
    assert node["duration_s"] < 30


def test_memory_stays_bounded_against_endless_nodes(fleet: Any) -> None:
    """At most CONCURRENCY commands are read at once, each kept to 8 + 1 MiB (and copied once into
    its result): the attacked run may use at most that much more than the same fleet answering
    normally. Unbounded, 13 nodes streaming `yes` for a 60 s budget would hold gigabytes."""
    baseline_kb, attacked_kb = fleet["baseline"][2], fleet["attacked"][2]
    allowance_kb = CONCURRENCY * 2 * (MAX_STDOUT + MAX_STDERR) // 1024 + 64 * 1024
    assert 0 < baseline_kb and 0 < attacked_kb <= baseline_kb + allowance_kb, (baseline_kb, attacked_kb, allowance_kb)


def test_crafted_facts_are_judged_not_trusted(fleet: Any) -> None:
    node = _node(fleet, "hostile")
    checks = {c["id"]: c for c in node["checks"]}
    gpu = [c for cid, c in checks.items() if cid.startswith("gpu.") and cid != "gpu.xid"]
    assert gpu and all(c["status"] == "error" and "unusable value from the node" in c["message"] for c in gpu), gpu
    assert checks["storage.free_space"]["status"] == "error" and "nested deeper than 32 levels" in checks["storage.free_space"]["message"]
    assert checks["system.memory"]["status"] == "pass"  # what was sane is still judged


def test_json_nested_too_deep_is_that_nodes_error(fleet: Any) -> None:
    node = _node(fleet, "deep")
    assert node["reachable"] and {c["status"] for c in node["checks"]} == {"error"}
    assert all("probe output is nested too deep to be facts" in c["message"] for c in node["checks"])


def test_healthy_nodes_are_judged_as_usual(fleet: Any) -> None:
    for name in ("ok-0", "ok-1"):
        checks = {c["id"]: c for c in _node(fleet, name)["checks"]}
        assert checks["system.memory"]["status"] == "pass" and checks["system.cpu_cores"]["status"] in ("pass", "warn", "fail")


def test_every_report_is_valid_and_inert(fleet: Any) -> None:
    work = fleet["work"]
    _report(fleet)  # no NaN, no Infinity
    ET.fromstring((work / "attacked.xml").read_bytes())  # well-formed XML 1.0
    md = (work / "attacked.md").read_text()
    assert md.count("<details>") == md.count("</details>") == 1 and "<img" not in md and "<script" not in md
    for line in (work / "attacked.prom").read_text().splitlines():
        assert line.startswith("# ") or PROM_LINE.match(line), line
    console = fleet["attacked"][3]
    assert "\x1b" not in console and "\x07" not in console and "\x9b" not in console  # CI=1: rich writes no colour codes
    for text in (md, (work / "attacked.xml").read_text(), console):
        assert "owned" not in text  # the window-title payload of ESCAPES never survives
    # the node's reason is shown as it was sent, as text: markup, HTML
    assert "could not gather xid: [/] [bold red]H100" in " ".join(console.split())
    assert r"\[/\] \[bold red\]H100\[/bold red\]" in md and "&lt;/details&gt;&lt;img src=x" in md
    xid = next(c for c in ET.parse(work / "attacked.xml").getroot().iter("testcase")
               if c.get("name") == "gpu.xid" and c.get("classname") == "plinth.hostile")
    error = xid.find("error")
    assert error is not None and f"{MARKUP} {HTML}"[:40] in (error.get("message") or "").replace("  ", " ")
