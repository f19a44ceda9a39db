"""A fleet of real "hosts" made of Linux network namespaces, for the network and end-to-end tests.

Layout (all names carry this test process's PID, so parallel runs never collide and stale leftovers
are recognisable)::

    root namespace: bridge plinthbr<pid> 10.213.<x>.254/24   (the controller reaches every host)
        ├── veth plv<pid>x0 ══ eth0 in netns plinth-<pid>-0  10.213.<x>.1/24
        ├── veth plv<pid>x1 ══ eth0 in netns plinth-<pid>-1  10.213.<x>.2/24
        └── ...

Hosts talk to each other at L2 through the bridge (no ip_forward, no routes to change). Faults:
``shape={i: "100mbit"}`` puts a ``tc tbf`` qdisc on BOTH directions of host i's veth (the ns-side
egress = what it sends, the root-side egress = what it receives); ``mtu={i: 1400}`` sets host i's
eth0 MTU. Everyone else runs jumbo frames (MTU 9000, as distributed training wants), so only the
seeded host fails network.mtu. Latency: this kernel has no netem, so :class:`DelayProxy` (a TCP
proxy in the root namespace that holds every chunk for ``delay_s``) adds it where a test needs it.

Cleanup: :func:`remove_stale` deletes namespaces/links named by a PID that is no longer alive
(namespaces outlive the processes that made them); :meth:`NsFleet.close` removes this run's.
Everything runs only inside namespaces this module creates, on 10.213.<x>.0/24 (a /24 not
already routed on this machine).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.sshd import SshdHandle, SshdUnavailable, generate_client_key, start_sshd
from validators.transport.base import CommandResult, TransportError

NS_PREFIX = "plinth-"
BRIDGE_PREFIX = "plinthbr"
VETH_PREFIX = "plv"
JUMBO_MTU = 9000


class NetnsUnavailable(RuntimeError):
    """Namespaces cannot be made here (not root, no `ip netns`): tests skip with this reason."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], check=False, capture_output=True, text=True, timeout=15)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (stale test resources are named after their pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_available() -> None:
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespace tests need root")
    if shutil.which("ip") is None:
        raise NetnsUnavailable("iproute2 (`ip`) is not installed")
    probe = subprocess.run(["ip", "netns", "list"], check=False, capture_output=True, text=True)
    if probe.returncode != 0:
        raise NetnsUnavailable(f"`ip netns` unavailable: {probe.stderr.strip()}")


def remove_stale() -> list[str]:
    """Delete namespaces, bridges and veths left by earlier runs whose PID is gone. Returns names."""
    removed: list[str] = []
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        m = re.fullmatch(rf"{NS_PREFIX}(\d+)-\d+", name)
        if m and not pid_alive(int(m.group(1))):
            _ip("netns", "del", name, check=False)
            removed.append(name)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        m = re.match(r"\d+:\s+([^:@\s]+)", line)
        name = m.group(1) if m else ""
        # plp<pid>x<i>: a namespace-side veth end left in the root namespace by a half-built fleet
        pm = re.fullmatch(rf"(?:{BRIDGE_PREFIX}(\d+)|(?:{VETH_PREFIX}|plp)(\d+)x\d+)", name)
        if pm:
            pid = int(pm.group(1) or pm.group(2))
            if not pid_alive(pid):
                _ip("link", "del", name, check=False)
                removed.append(name)
    return removed


def _free_subnet() -> int:
    """An x for 10.213.x.0/24 that no route on this machine uses yet (root namespace)."""
    routes = _ip("-4", "route", "show", check=False).stdout
    used = {int(m) for m in re.findall(r"10\.213\.(\d+)\.", routes)}
    start = os.getpid() % 200 + 20
    for x in [*range(start, 250), *range(20, start)]:
        if x not in used:
            return x
    raise NetnsUnavailable("no free 10.213.x.0/24 subnet")


@dataclass
class NsHost:
    index: int
    netns: str
    address: str
    veth_root: str
    mtu: int
    shaped: str | None = None  # tbf rate, e.g. "100mbit"

    @property
    def name(self) -> str:
        return f"node-{self.index}"


@dataclass
class NsFleet:
    pid: int
    bridge: str
    bridge_address: str
    subnet: str
    hosts: list[NsHost] = field(default_factory=list)
    closed: bool = False

    def host(self, index: int) -> NsHost:
        return self.hosts[index]

    def exec_argv(self, index: int, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.hosts[index].netns, *argv]

    def close(self) -> None:
        if self.closed:
            return
        for h in self.hosts:
            _ip("netns", "del", h.netns, check=False)  # takes its veth end (and so the pair) with it
            _ip("link", "del", h.veth_root, check=False)
        _ip("link", "del", self.bridge, check=False)
        self.closed = True


def tbf_args(rate: str, mtu: int) -> list[str]:
    # the bucket must hold one whole frame, or tbf drops every frame larger than it (jumbo frames)
    burst_bytes = max(4096, mtu + 1024)
    return ["root", "tbf", "rate", rate, "burst", str(burst_bytes), "latency", "50ms"]


def build_fleet(count: int = 3, shape: dict[int, str] | None = None, mtu: dict[int, int] | None = None,
                owner_pid: int | None = None) -> NsFleet:
    """Create ``count`` namespaced hosts on one bridge; see the module docstring. ``owner_pid``: the
    live process the names carry (default this one); a second fleet in the same process passes a
    helper process of its own (:class:`FleetOwner`), so names differ and stale-removal still works."""
    check_available()
    remove_stale()
    pid = owner_pid or os.getpid()
    x = _free_subnet()
    fleet = NsFleet(pid, f"{BRIDGE_PREFIX}{pid}", f"10.213.{x}.254", f"10.213.{x}.0/24")
    shape = shape or {}
    mtu = mtu or {}
    try:
        _ip("link", "add", fleet.bridge, "mtu", str(JUMBO_MTU), "type", "bridge")
        _ip("addr", "add", f"{fleet.bridge_address}/24", "dev", fleet.bridge)
        _ip("link", "set", fleet.bridge, "up")
        for i in range(count):
            host = NsHost(i, f"{NS_PREFIX}{pid}-{i}", f"10.213.{x}.{i + 1}", f"{VETH_PREFIX}{pid}x{i}",
                          mtu.get(i, JUMBO_MTU), shape.get(i))
            fleet.hosts.append(host)
            peer = f"plp{pid}x{i}"
            _ip("netns", "add", host.netns)
            _ip("link", "add", host.veth_root, "mtu", str(JUMBO_MTU), "type", "veth", "peer", "name", peer, "mtu", str(JUMBO_MTU))
            _ip("link", "set", peer, "netns", host.netns)
            _ip("link", "set", host.veth_root, "master", fleet.bridge, "up")
            _ip("-n", host.netns, "link", "set", "lo", "up")
            _ip("-n", host.netns, "link", "set", peer, "name", "eth0")
            _ip("-n", host.netns, "link", "set", "eth0", "mtu", str(host.mtu))
            _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.netns, "link", "set", "eth0", "up")
            if host.shaped:
                for argv in (["tc", "qdisc", "add", "dev", host.veth_root, *tbf_args(host.shaped, JUMBO_MTU)],
                             ["ip", "netns", "exec", host.netns, "tc", "qdisc", "add", "dev", "eth0", *tbf_args(host.shaped, host.mtu)]):
                    proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=15)
                    if proc.returncode != 0:
                        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
        _wait_reachable(fleet)
    except BaseException:
        fleet.close()
        raise
    return fleet


class FleetOwner:
    """A sleeping child process whose PID names an extra fleet (the names have no room for more than
    a PID). While it lives the fleet is not stale; :meth:`close` ends it after the fleet is gone."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["sleep", "infinity"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def _wait_reachable(fleet: NsFleet, timeout: float = 10.0) -> None:
    """The bridge needs a moment (port state) before frames pass: wait until each host answers."""
    deadline = time.monotonic() + timeout
    for h in fleet.hosts:
        while True:
            # a TCP connect to a closed port answers RST once L2 works: no listener needed
            with socket.socket() as s:
                s.settimeout(0.3)
                try:
                    s.connect((h.address, 9))
                    break
                except ConnectionRefusedError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"namespace host {h.address} unreachable from the root namespace")
                    time.sleep(0.1)


class NetnsRunning:
    """RunningCommand for a process started in a namespace (see NetnsTransport.start)."""

    def __init__(self, proc: subprocess.Popen[bytes], started: float) -> None:
        self.proc = proc
        self.started = started

    def wait(self, timeout: float) -> CommandResult:
        try:
            out, err = self.proc.communicate(timeout=timeout)
            return CommandResult(self.proc.returncode, out, err, time.monotonic() - self.started)
        except subprocess.TimeoutExpired:  # like SshCommand.wait: past its time the command is killed
            self.proc.kill()
            out, err = self.proc.communicate()
            return CommandResult(None, out, err, time.monotonic() - self.started)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.communicate(timeout=5)
        except (subprocess.TimeoutExpired, ValueError):
            pass


class NetnsTransport:
    """A Transport whose commands run in one namespace (``ip netns exec``), or here when netns is
    None: real processes, real sockets, no SSH -- so the pairwise code is tested on its own."""

    def __init__(self, netns: str | None, name: str = "netns") -> None:
        self.netns = netns
        self.name = name

    def _argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv] if self.netns else list(argv)

    def connect(self, timeout: float) -> None:
        return None

    def run(self, argv: Sequence[str], stdin: bytes | None = None, timeout: float = 60.0) -> CommandResult:
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(self._argv(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:  # like a shell on a node: a missing command is exit 127, not an exception
            return CommandResult(127, b"", str(exc).encode(), time.monotonic() - t0)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
            return CommandResult(proc.returncode, out, err, time.monotonic() - t0)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return CommandResult(None, out, err, time.monotonic() - t0)

    def start(self, argv: Sequence[str], stdin: bytes | None = None) -> NetnsRunning:
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(self._argv(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise TransportError(f"cannot start {argv[0]}: {exc}") from None
        assert proc.stdin is not None
        if stdin:
            proc.stdin.write(stdin)
        proc.stdin.close()
        proc.stdin = None  # communicate() must not flush the stdin we closed
        return NetnsRunning(proc, t0)

    def close(self) -> None:
        return None


class DelayProxy:
    """A TCP proxy that holds every chunk for ``delay_s`` in each direction (so a round trip
    gains 2 x delay_s). Listens on ``listen_host``:``port`` (0: a free one), forwards to ``target``."""

    def __init__(self, listen_host: str, target: tuple[str, int], delay_s: float, port: int = 0) -> None:
        self.target = target
        self.delay_s = delay_s
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((listen_host, port))
        self.sock.listen(16)
        self.address: tuple[str, int] = self.sock.getsockname()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._accept = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept.start()

    def _accept_loop(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(None)
                self._conns.append(s)
            for src, dst in ((client, upstream), (upstream, client)):
                t = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    dst.shutdown(socket.SHUT_WR)
                    return
                time.sleep(self.delay_s)
                dst.sendall(chunk)
        except OSError:
            return

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for s in self._conns:
            try:
                s.close()
            except OSError:
                pass
        self._accept.join(timeout=2)


# --- pytest fixtures (imported by tests/conftest.py) -------------------------------------------
@contextmanager
def fleet_or_skip(count: int = 3, shape: dict[int, str] | None = None, mtu: dict[int, int] | None = None,
                  owner_pid: int | None = None) -> Iterator[NsFleet]:
    """:func:`build_fleet` for a test or fixture: skipped with the reason where namespaces cannot be
    made, closed (namespaces, links, processes) after."""
    try:
        fleet = build_fleet(count, shape=shape, mtu=mtu, owner_pid=owner_pid)
    except NetnsUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield fleet
    finally:
        fleet.close()


# One 3-host fleet per session: node-0 healthy, node-1 shaped to 100 Mbit, node-2 at MTU 1400.
SLOW, SMALL_MTU = 1, 2


@pytest.fixture(scope="session")
def ns_fleet() -> Iterator[NsFleet]:
    with fleet_or_skip(3, shape={SLOW: "100mbit"}, mtu={SMALL_MTU: 1400}) as fleet:
        yield fleet


@dataclass
class NsSshFleet:
    fleet: NsFleet
    servers: list[SshdHandle]
    client_key: Path
    known_hosts: Path
    user: str


@pytest.fixture(scope="session")
def ns_fleet_sshd(ns_fleet: NsFleet) -> Iterator[NsSshFleet]:
    """An sshd in each namespace (port 22 on the host's address), one client key, one known_hosts."""
    base = Path(tempfile.mkdtemp(prefix=f"plinth-nssshd-{ns_fleet.pid}-"))
    base.chmod(0o755)
    key = base / "client_key"
    generate_client_key(key)
    servers: list[SshdHandle] = []
    try:
        for h in ns_fleet.hosts:
            try:
                servers.append(start_sshd(h.address, 22, base / h.name, netns=h.netns, client_key_path=key))
            except SshdUnavailable as exc:
                pytest.skip(str(exc))
        known = base / "known_hosts"
        known.write_text("".join(s.known_hosts.read_text() for s in servers))
        yield NsSshFleet(ns_fleet, servers, key, known, servers[0].user)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(base, ignore_errors=True)
