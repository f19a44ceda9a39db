"""Load: 256 hosts at concurrency 64 through a real `plinth validate` process,
some of them faulty -- 192 logins spread over four real sshd servers, 48 dead ports, 16 entries on
one port that accepts and never speaks. Every host is in the report; the process's open file
descriptors (polled from /proc/<pid>/fd) stay bounded by the concurrency, not the fleet size, and
its peak RSS (VmHWM) stays under 500 MB.

What this measures is the controller: SSH handshakes, channels, the probe script streamed on
stdin, threads, parsing, judging, reports. The node side answers with facts recorded from one real
probe run (a `python` that replays them), so 192 probes don't compete for this machine's two cores
with the controller being measured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.reliability.support import REPO, NodeDir, SilentServer, assert_complete, fast_probe
from tests.support.sshd import SshdHandle, free_port, remove_workdir, start_sshd
from validators.probe import probe_command
from validators.transport import SshTarget, SshTransport

pytestmark = [pytest.mark.root, pytest.mark.slow]
HOSTS, CONCURRENCY, SERVERS, DEAD, STALLED = 256, 64, 4, 48, 16
RSS_LIMIT_KB = 500 * 1024


def _fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _vm(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def test_256_hosts_at_concurrency_64_complete_with_bounded_fds_and_memory(sshd_server: SshdHandle, node_dir: NodeDir) -> None:
    servers = [start_sshd(client_key_path=sshd_server.client_key_path,
                          extra={"MaxStartups": "300:30:600"}) for _ in range(SERVERS)]
    stall = SilentServer()
    work = Path(tempfile.mkdtemp(prefix="plinth-rel-load-"))
    try:
        # one real probe, recorded; the node-side `python` replays it
        t = SshTransport(SshTarget(servers[0].host, servers[0].port, servers[0].user, servers[0].client_key_path,
                                   servers[0].known_hosts))
        t.connect(timeout=10)
        argv, stdin = probe_command(fast_probe())
        facts = t.run(argv, stdin=stdin, timeout=60)
        t.close()
        assert facts.exit_code == 0, facts.stderr[-500:]
        (node_dir.path / "facts.json").write_bytes(facts.stdout)
        (node_dir.path / "facts.json").chmod(0o644)
        replay = node_dir.script("py-replay", f"cat >/dev/null\ncat {node_dir.path / 'facts.json'}\n")

        known = work / "known_hosts"
        known.write_text("".join(s.known_hosts.read_text() for s in servers))
        nodes: list[dict] = []
        kinds: dict[str, str] = {}
        for i in range(HOSTS):
            name = f"n{i:03d}"
            if i % 16 == 15:
                nodes.append({"name": name, "host": "127.0.0.1", "port": stall.port}); kinds[name] = "stalled"
            elif i % 16 in (3, 7, 11):
                nodes.append({"name": name, "host": "127.0.0.1", "port": free_port()}); kinds[name] = "dead"
            else:
                s = servers[i % SERVERS]
                nodes.append({"name": name, "host": s.host, "port": s.port, "python": str(replay)}); kinds[name] = "ok"
        assert sum(k == "dead" for k in kinds.values()) == DEAD and sum(k == "stalled" for k in kinds.values()) == STALLED
        inv = work / "inv.yaml"
        inv.write_text(yaml.safe_dump({"defaults": {"user": servers[0].user, "identity_file": str(servers[0].client_key_path),
                                                    "known_hosts": str(known)}, "nodes": nodes}))
        out = work / "r.json"
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "validators.cli", "validate", "-i", str(inv), "-p", "single_gpu", "--no-network", "--no-fabric",
             "--concurrency", str(CONCURRENCY), "--timeout", "6", "--json", str(out)],
            cwd=REPO, env={**os.environ, "CI": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        peak_fds, peak_rss = 0, 0
        while proc.poll() is None:
            peak_fds = max(peak_fds, _fd_count(proc.pid))
            peak_rss = max(peak_rss, _vm(proc.pid, "VmHWM"))
            time.sleep(0.02)
            if time.monotonic() - t0 > 170:
                proc.kill()
        wall = time.monotonic() - t0
        err = proc.stderr.read().decode() if proc.stderr else ""
        print(f"\nload: {HOSTS} hosts, concurrency {CONCURRENCY}: wall {wall:.1f}s, peak fds {peak_fds}, "
              f"peak RSS {peak_rss / 1024:.0f} MB")
        assert proc.returncode == 1, err[-2000:]
        report = json.loads(out.read_text())
        assert_complete(report, "single_gpu", [n["name"] for n in nodes])
        for n in report["nodes"]:
            kind = kinds[n["name"]]
            msgs = {c["message"] for c in n["checks"]}
            if kind == "ok":
                assert n["reachable"], (n["name"], msgs)
                assert next(c for c in n["checks"] if c["id"] == "system.memory")["status"] == "pass"
            elif kind == "dead":
                assert not n["reachable"] and all("connection refused" in m for m in msgs), msgs
            else:
                assert not n["reachable"] and all("timed out after 6s connecting" in m for m in msgs), msgs
        # bounded by the concurrency, not the fleet: finished nodes' connections are closed (with
        # --no-network --no-fabric nothing needs them later); 192 held connections would show as > 200 here
        assert peak_fds < 2 * CONCURRENCY + 20, peak_fds
        assert 0 < peak_rss < RSS_LIMIT_KB, peak_rss
        assert wall < 120, wall
    finally:
        stall.close()
        for s in servers:
            s.stop()
            remove_workdir(s)
        shutil.rmtree(work, ignore_errors=True)
