"""Hosts for the benchmarks: real OpenSSH servers on 127.0.0.1 (one per port), reached as many
distinctly named inventory entries, and one client configuration every tool shares.

- The servers come from tests/support/sshd.py (``start_sshd``): own host key, own authorized_keys,
  login user ``plinthtest`` whose shell is /bin/sh, so no tool pays for root's slow ~/.bashrc
  (pyenv init, ~140 ms per command) and the timings are what a real node costs.
- ``entries(n)`` maps n inventory names onto the servers round-robin. For fan-out (N <= 64) there is
  one sshd per host; the 256-host scale test points 256 names at 16 servers (an sshd forks a
  process per connection, so each connection is still its own handshake and its own session).
- One ssh_config (Host alias -> port, user, key, known_hosts, StrictHostKeyChecking yes) drives
  OpenSSH for pdsh and Ansible and paramiko for testinfra; plinth gets an inventory YAML with the
  same key and the same known_hosts. Host keys are checked by every tool that can check them.
- Every server runs in /tmp/plinth-bench-<harness pid>/; a later run removes what a dead harness
  left (it kills only sshd processes whose command line names that dead run's directory).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.support.netns import pid_alive
from tests.support.sshd import SshdHandle, generate_client_key, start_sshd

BENCH_PREFIX = "plinth-bench-"


def remove_stale(tmp: Path | None = None) -> list[str]:
    """Stop sshd servers and remove directories left by a harness run that died (by PID)."""
    tmp = tmp or Path(tempfile.gettempdir())
    removed: list[str] = []
    for d in tmp.glob(f"{BENCH_PREFIX}*"):
        m = re.fullmatch(rf"{BENCH_PREFIX}(\d+)", d.name)
        if not m or not d.is_dir() or pid_alive(int(m.group(1))):
            continue
        for pid_file in d.glob("*/sshd.pid"):
            try:
                pid = int(pid_file.read_text().strip())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except (OSError, ValueError):
                continue
            if str(d) in cmdline:  # only a server this harness directory started
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass
        shutil.rmtree(d, ignore_errors=True)
        removed.append(str(d))
    return removed


@dataclass(frozen=True)
class HostEntry:
    name: str
    host: str
    port: int


@dataclass
class LoopbackFleet:
    workdir: Path
    client_key: Path
    known_hosts: Path
    user: str
    servers: list[SshdHandle] = field(default_factory=list)

    def entries(self, n: int) -> list[HostEntry]:
        width = max(3, len(str(n - 1)))
        return [HostEntry(f"bench-{i:0{width}d}", "127.0.0.1", self.servers[i % len(self.servers)].port) for i in range(n)]

    def write_inventory(self, n: int, path: Path) -> Path:
        doc = {
            "defaults": {"user": self.user, "identity_file": str(self.client_key), "known_hosts": str(self.known_hosts),
                         "python": "/usr/bin/python3"},
            "nodes": [{"name": e.name, "host": e.host, "port": e.port} for e in self.entries(n)],
        }
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def write_ssh_config(self, n: int, path: Path) -> Path:
        """OpenSSH client config: one Host alias per entry. Specific blocks come first because
        ssh takes the first value it finds for each option."""
        lines: list[str] = []
        for e in self.entries(n):
            lines += [f"Host {e.name}", f"  HostName {e.host}", f"  Port {e.port}", ""]
        lines += [
            "Host *",
            f"  User {self.user}",
            f"  IdentityFile {self.client_key}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {self.known_hosts}",
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  BatchMode yes",
            "  ConnectTimeout 20",
            "  LogLevel ERROR",
            "",
        ]
        path.write_text("\n".join(lines))
        return path

    def close(self) -> None:
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_fleet(servers: int, workdir: Path | None = None) -> LoopbackFleet:
    """Start ``servers`` sshd processes on 127.0.0.1 sharing one client key and one known_hosts."""
    remove_stale()
    workdir = workdir or Path(tempfile.gettempdir()) / f"{BENCH_PREFIX}{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)  # sshd reads authorized_keys as the login user
    key = workdir / "client_key"
    generate_client_key(key)
    fleet = LoopbackFleet(workdir, key, workdir / "known_hosts", "plinthtest")
    try:
        for i in range(servers):
            # LogLevel INFO (start_sshd waits for its "Server listening" line): VERBOSE writes more per login
            fleet.servers.append(start_sshd(workdir=workdir / f"sshd-{i}", client_key_path=key,
                                            extra={"LogLevel": "INFO", "MaxStartups": "1024:30:2048"}))
    except BaseException:
        fleet.close()
        raise
    fleet.user = fleet.servers[0].user
    fleet.known_hosts.write_text("".join(s.known_hosts.read_text() for s in fleet.servers))
    fleet.known_hosts.chmod(0o644)
    return fleet


__all__ = ["HostEntry", "LoopbackFleet", "remove_stale", "start_fleet"]
