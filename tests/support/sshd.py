"""A real OpenSSH server for tests: ``/usr/sbin/sshd -D -e -f <own config>`` on a free port, with
its own host key, its own authorized_keys and a dedicated login user.

Why a dedicated user: root's ~/.bashrc here runs pyenv on every ssh command (~140 ms), which would
make every timing in the tests dishonest. ``plinthtest`` has ``/bin/sh`` as its shell (dash reads no
rc file for ``sh -c``), so a command costs what it costs on a real node.

The NETWORK engineer's namespaces reuse :func:`start_sshd` with ``netns=<name>``: the server is
started through ``ip netns exec`` and readiness is read from sshd's own log (a connect from the
host namespace could not reach it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

SSHD = "/usr/sbin/sshd"
TEST_USER = "plinthtest"
TEST_HOME = Path("/tmp/plinthtest-home")


class SshdUnavailable(RuntimeError):
    """sshd cannot be started here (not root, binary missing): tests skip with this reason."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ensure_test_user(name: str = TEST_USER, home: Path = TEST_HOME) -> str:
    """Create the login user for test sshd (idempotent). Its password field is ``*``: with
    ``UsePAM no`` sshd treats ``!`` (useradd's default) as a locked account and refuses even keys."""
    if os.geteuid() != 0:
        raise SshdUnavailable("needs root to create the test user and run sshd")
    home.mkdir(parents=True, exist_ok=True)
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", name],
            check=True, capture_output=True,
        )
    subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    home.chmod(0o755)
    return name


def generate_host_key(path: Path) -> paramiko.PKey:
    """An ed25519 host key made by ssh-keygen (paramiko cannot generate ed25519)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, capture_output=True)
    path.chmod(0o600)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def generate_client_key(path: Path) -> paramiko.PKey:
    """A client key made by paramiko, written in OpenSSH PEM form (0600) with its .pub beside it."""
    key = paramiko.ECDSAKey.generate(bits=256)
    key.write_private_key_file(str(path))
    path.chmod(0o600)
    path.with_name(path.name + ".pub").write_text(f"{key.get_name()} {key.get_base64()} plinth-test\n")
    return key


def known_hosts_line(host: str, port: int, key: paramiko.PKey) -> str:
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key.get_name()} {key.get_base64()}\n"


@dataclass
class SshdConfig:
    """What goes into sshd_config. Every path is absolute; nothing from /etc/ssh is read."""

    listen_addr: str
    port: int
    host_key: Path
    authorized_keys: Path
    pid_file: Path
    allow_users: tuple[str, ...] = (TEST_USER, "root")
    extra: dict[str, str] = field(default_factory=dict)

    def render(self) -> str:
        opts = {
            "ListenAddress": self.listen_addr,
            "Port": str(self.port),
            "HostKey": str(self.host_key),
            "PidFile": str(self.pid_file),
            "AuthorizedKeysFile": str(self.authorized_keys),
            "AllowUsers": " ".join(self.allow_users),
            "PubkeyAuthentication": "yes",
            "PasswordAuthentication": "no",
            "KbdInteractiveAuthentication": "no",
            "PermitRootLogin": "prohibit-password",
            "UsePAM": "no",
            "StrictModes": "no",
            "UseDNS": "no",
            "PrintMotd": "no",
            "PrintLastLog": "no",
            "X11Forwarding": "no",
            "AllowTcpForwarding": "yes",  # jump-host tests open direct-tcpip channels
            "MaxSessions": "64",  # probe + listeners + clients share one connection
            "MaxStartups": "200:30:400",
            "LogLevel": "VERBOSE",
            "Subsystem": "sftp internal-sftp",
        }
        opts.update(self.extra)
        return "".join(f"{k} {v}\n" for k, v in opts.items())


@dataclass
class SshdHandle:
    """A running sshd and everything a client needs to reach it."""

    host: str
    port: int
    workdir: Path
    host_key: paramiko.PKey
    client_key_path: Path
    known_hosts: Path  # a known_hosts file that trusts this server
    user: str
    proc: subprocess.Popen[bytes]
    netns: str | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        return (self.workdir / "sshd.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _wait_listening(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if "Server listening on" in text:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}: {text.strip()[-500:]}")
        time.sleep(0.02)
    raise RuntimeError(f"sshd did not start listening within {timeout}s: {log.read_text(errors='replace')[-500:]}")


def start_sshd(
    listen_addr: str = "127.0.0.1",
    port: int | None = None,
    workdir: Path | None = None,
    netns: str | None = None,
    user: str = TEST_USER,
    client_key_path: Path | None = None,
    extra: dict[str, str] | None = None,
) -> SshdHandle:
    """Start sshd and wait until it listens. ``workdir`` must be traversable by ``user`` (sshd
    reads authorized_keys as that user); by default a fresh 0755 directory is made.
    ``client_key_path``: reuse an existing client key (several servers, one key)."""
    if os.geteuid() != 0:
        raise SshdUnavailable("sshd tests need root (sshd drops privileges to the login user)")
    if not Path(SSHD).exists():
        raise SshdUnavailable(f"{SSHD} not installed (apt-get install openssh-server)")
    if user == TEST_USER:
        ensure_test_user()
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege-separation dir sshd insists on
    workdir = Path(tempfile.mkdtemp(prefix="plinth-sshd-")) if workdir is None else workdir
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    port = free_port(listen_addr) if port is None and netns is None else (port or 22)

    host_key_path = workdir / "ssh_host_ed25519_key"
    host_key = generate_host_key(host_key_path)
    if client_key_path is None:
        client_key_path = workdir / "client_key"
        generate_client_key(client_key_path)
    pub = client_key_path.with_name(client_key_path.name + ".pub").read_text()
    authorized = workdir / "authorized_keys"
    authorized.write_text(pub)
    authorized.chmod(0o644)
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(known_hosts_line(listen_addr, port, host_key))

    cfg = SshdConfig(listen_addr, port, host_key_path, authorized, workdir / "sshd.pid", extra=extra or {})
    cfg_path = workdir / "sshd_config"
    cfg_path.write_text(cfg.render())
    log = workdir / "sshd.log"
    argv = [SSHD, "-D", "-e", "-f", str(cfg_path)]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]  # `ip netns exec` execs sshd: same PID
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_fh, stderr=subprocess.STDOUT)
    try:
        _wait_listening(proc, log, timeout=10)
    except Exception:
        proc.kill()
        proc.wait()
        raise
    return SshdHandle(listen_addr, port, workdir, host_key, client_key_path, known_hosts, user, proc, netns)


def remove_workdir(handle: SshdHandle) -> None:
    shutil.rmtree(handle.workdir, ignore_errors=True)
