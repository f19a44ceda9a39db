"""SSH transport (paramiko): one verified connection per node, reused for every command.

Security defaults, because this tool logs into production GPU fleets:
- host keys are checked against the node's known_hosts file; an unknown key is checked against
  the platform's evidence where there is some (an EC2 node's first-boot console output,
  :mod:`validators.hostkeys`) and recorded when it agrees; otherwise it is refused unless the user
  opts in (``--accept-new-host-keys``), and then it is recorded in that same file; a key that
  CHANGED, or that contradicts the evidence, is always refused (that is what a man in the middle
  looks like). The rules are in ``host_key_policy.py``, loading the identity file in ``identity.py``;
- the stream to the node is a TCP socket, a channel through a jump host, or the stdin/stdout of a
  proxy command (an EC2 Instance Connect Endpoint tunnel), started from an argv list, never a shell;
- commands are argv lists joined with ``shlex.join``: an inventory value never reaches the remote
  shell unquoted;
- error messages name the host, port and user, never key material or passphrases.
"""

from __future__ import annotations

import logging
import shlex
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST

from validators.hostkeys import HostKeyEvidence
from validators.transport.base import (
    MAX_STDERR,
    MAX_STDOUT,
    CommandResult,
    OutputSink,
    OutputTooLarge,
    TransportError,
)
from validators.transport.host_key_policy import (
    RevokedHostKey,
    UnknownHostKey,
    known_keys,
    missing_key_policy,
    revoked,
)
from validators.transport.identity import load_key
from validators.transport.known_hosts import AnyOf
from validators.transport.proxy import ProxyCommand

DEFAULT_CONNECT_TIMEOUT = 10.0
_S = TypeVar("_S", socket.socket, paramiko.Channel, ProxyCommand)
# paramiko logs handshake failures at ERROR; without a handler Python would print them to stderr
# beside our own one-line reason. Library convention: a NullHandler, the user's logging config wins.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class SshTarget:
    """Where and as whom to log in. ``identity_file`` None: ssh-agent / default keys."""

    host: str
    port: int = 22
    user: str = "root"
    identity_file: Path | None = None
    known_hosts: Path = field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    # The name known_hosts files it under instead of the address (OpenSSH's HostKeyAlias): an EC2
    # instance id, because autoscaled pools hand a terminated node's private IP to the next one.
    host_key_alias: str | None = None

    @property
    def host_key_name(self) -> str:
        """The name known_hosts files use for this endpoint (OpenSSH's and paramiko's rule)."""
        if self.host_key_alias is not None:
            return self.host_key_alias
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @property
    def host_key_lookup(self) -> tuple[str, int]:
        """(hostname, port) for paramiko's connect over an open stream: there they only build the
        known_hosts name (port 22 leaves the name bare, as an alias must be)."""
        return (self.host_key_alias, 22) if self.host_key_alias is not None else (self.host, self.port)

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def _open_socket(host: str, port: int, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        raise TransportError(f"{host}:{port}: connection refused") from None
    except socket.gaierror:
        raise TransportError(f"{host}: cannot resolve host name") from None
    except TimeoutError:
        raise TransportError(f"{host}:{port}: timed out after {timeout:g}s connecting") from None
    except OSError as exc:
        raise TransportError(f"{host}:{port}: cannot connect: {exc.strerror or exc}") from None
    # probe and pairwise rounds are many small request/response exchanges: don't let Nagle batch them
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _connect_client(target: SshTarget, sock: socket.socket | paramiko.Channel, timeout: float,
                    accept_new: bool, evidence: HostKeyEvidence | None = None) -> paramiko.SSHClient:
    """SSH handshake + host-key check + auth over an already open stream; TransportError on failure."""
    known = known_keys(target.known_hosts, target.host_key_name)
    client = paramiko.SSHClient()
    # paramiko keeps one key per type and host and prefers the first type it holds: one AnyOf per
    # type, the file's first type first
    for key in AnyOf.by_type(known.trusted):
        client.get_host_keys().add(target.host_key_name, key.get_name(), key)
    client.set_missing_host_key_policy(missing_key_policy(known, target.known_hosts, accept_new, evidence))
    pkey = load_key(target.identity_file) if target.identity_file is not None else None
    started = time.monotonic()
    lookup_name, lookup_port = target.host_key_lookup
    try:
        client.connect(
            lookup_name, port=lookup_port, username=target.user, sock=sock, pkey=pkey,
            look_for_keys=target.identity_file is None, allow_agent=True,
            timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout,
        )
    except paramiko.BadHostKeyException as exc:
        client.close()
        if known.is_revoked(exc.key):
            raise TransportError(str(revoked(target.host_key_name, exc.key, target.known_hosts))) from None
        raise TransportError(
            f"host key mismatch: host key for {target.host_key_name} does not match {target.known_hosts} (possible MITM)"
        ) from None
    except (UnknownHostKey, RevokedHostKey) as exc:
        client.close()
        raise TransportError(str(exc)) from None
    except paramiko.AuthenticationException:
        client.close()
        hint = f" (identity file {target.identity_file} not found)" if target.identity_file and pkey is None else ""
        raise TransportError(f"authentication failed for user {target.user} on {target.host}:{target.port}{hint}") from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        transport = client.get_transport()
        got_banner = bool(transport is not None and transport.remote_version)
        client.close()
        where = f"{target.host}:{target.port}"
        if not got_banner:
            # paramiko surfaces a banner timeout in several shapes; the clock says which it was
            if time.monotonic() - started >= timeout * 0.9:
                raise TransportError(f"{where}: timed out after {timeout:g}s connecting (no SSH banner: is sshd listening there?)") from None
            raise TransportError(f"{where}: connection closed before the SSH banner (is this an SSH server?)") from None
        raise TransportError(f"{where}: SSH handshake failed: {exc.__class__.__name__}: {exc}") from None
    return client


class SshCommand:
    """A command running over one SSH channel. stdout and stderr are drained by their own threads
    (a chatty stderr can never block stdout), stdin is fed by a third and then half-closed. Each
    stream is kept up to its cap (base.MAX_STDOUT / MAX_STDERR); past it the command is killed at
    once and :meth:`wait` raises OutputTooLarge."""

    def __init__(self, chan: paramiko.Channel, stdin: bytes | None) -> None:
        self._chan = chan
        self._started = time.monotonic()
        self._out = OutputSink("stdout", MAX_STDOUT)
        self._err = OutputSink("stderr", MAX_STDERR)
        self._readers = [
            threading.Thread(target=self._drain, args=(chan.recv, self._out), daemon=True),
            threading.Thread(target=self._drain, args=(chan.recv_stderr, self._err), daemon=True),
        ]
        for t in self._readers:
            t.start()
        threading.Thread(target=self._feed, args=(stdin,), daemon=True).start()

    def _feed(self, stdin: bytes | None) -> None:
        try:
            if stdin:
                self._chan.sendall(stdin)
            self._chan.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the command exited (or was killed) before reading all of stdin

    def _drain(self, recv: Callable[[int], bytes], sink: OutputSink) -> None:
        try:
            while chunk := recv(65536):
                if not sink.add(chunk):
                    self._kill()  # a node streaming forever: stop it now, not at the timeout
                    return
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def _overflow(self) -> OutputTooLarge | None:
        return next((s.error() for s in (self._out, self._err) if s.overflow), None)

    def _result(self, exit_code: int | None) -> CommandResult:
        return CommandResult(exit_code, bytes(self._out.data), bytes(self._err.data), time.monotonic() - self._started)

    def wait(self, timeout: float) -> CommandResult:
        """Output and exit status; after ``timeout`` seconds the command is killed and its exit
        code is None (``CommandResult.timed_out``), with whatever output it had produced."""
        deadline = time.monotonic() + timeout
        for t in self._readers:
            t.join(max(0.0, deadline - time.monotonic()))
        overflow = self._overflow()
        if overflow is not None:
            self.stop()
            raise overflow
        if any(t.is_alive() for t in self._readers) or not self._chan.status_event.wait(max(0.0, deadline - time.monotonic())):
            self.stop()
            return self._result(None)
        return self._result(self._chan.recv_exit_status())

    def _kill(self) -> None:
        """An RFC 4254 "signal" request (OpenSSH >= 7.9 delivers it), then close the channel so the
        remote side's pipes break even where signals are refused. Safe from a reader thread."""
        chan = self._chan
        if not chan.closed:
            try:
                msg = paramiko.Message()
                msg.add_byte(cMSG_CHANNEL_REQUEST)
                msg.add_int(chan.remote_chanid)
                msg.add_string("signal")
                msg.add_boolean(False)
                msg.add_string("KILL")
                chan.transport._send_user_message(msg)  # type: ignore[union-attr]  # paramiko has no public API for it
            except (OSError, EOFError, AttributeError, paramiko.SSHException):
                pass
            chan.close()

    def stop(self) -> None:
        """Kill the remote command and wait for the readers to finish."""
        self._kill()
        for t in self._readers:
            if t is not threading.current_thread():
                t.join(2.0)


class SshTransport:
    """One node over SSH. ``connect`` opens the single connection every later command reuses."""

    name = "ssh"

    def __init__(self, target: SshTarget, jump: SshTarget | None = None, accept_new_host_keys: bool = False,
                 proxy_command: Sequence[str] | None = None, host_key_evidence: HostKeyEvidence | None = None) -> None:
        if jump is not None and proxy_command is not None:
            raise ValueError("a node is reached through a jump host or a proxy command, not both")
        self.target = target
        self.jump = jump
        self.accept_new_host_keys = accept_new_host_keys
        self.proxy_command = tuple(proxy_command) if proxy_command is not None else None
        self.host_key_evidence = host_key_evidence
        self._client: paramiko.SSHClient | None = None
        self._jump_client: paramiko.SSHClient | None = None
        self._live: list[SshCommand] = []
        self._streams: list[socket.socket | paramiko.Channel | ProxyCommand] = []
        self._closed = False
        self._lock = threading.Lock()

    @property
    def client(self) -> paramiko.SSHClient:
        """The connected paramiko client (the testinfra plugin hands it to testinfra so its
        commands share this verified connection)."""
        if self._client is None:
            raise TransportError(f"{self.target}: not connected")
        return self._client

    def connect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        if self._client is not None:
            return
        if self._closed:
            raise TransportError(f"{self.target.host}:{self.target.port}: connection closed (interrupted)")
        proxy: ProxyCommand | None = None
        if self.proxy_command is not None:
            proxy = self._track(ProxyCommand(self.proxy_command))
            stream: socket.socket | paramiko.Channel = proxy.sock
        elif self.jump is None:
            stream = self._track(_open_socket(self.target.host, self.target.port, timeout))
        else:
            try:
                jsock = self._track(_open_socket(self.jump.host, self.jump.port, timeout))
                self._jump_client = _connect_client(self.jump, jsock, timeout, self.accept_new_host_keys)
            except TransportError as exc:
                self.close()
                raise TransportError(f"jump host {self.jump.host}: {exc}") from None
            jt = self._jump_client.get_transport()
            assert jt is not None
            try:
                stream = self._track(jt.open_channel("direct-tcpip", (self.target.host, self.target.port), ("127.0.0.1", 0), timeout=timeout))
            except paramiko.ChannelException as exc:
                self.close()
                raise TransportError(f"{self.target.host}:{self.target.port}: jump host {self.jump.host} cannot reach it ({exc.text})") from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self.close()
                raise TransportError(f"{self.target.host}:{self.target.port}: via jump host {self.jump.host}: {exc.__class__.__name__}") from None
        try:
            client = _connect_client(self.target, stream, timeout, self.accept_new_host_keys, self.host_key_evidence)
        except TransportError as exc:
            said = proxy.said() if proxy is not None else ""
            self.close()
            if said:  # the tunnel's own reason (denied, no such endpoint …) is the one the user needs
                raise TransportError(f"{exc} (proxy: {said})") from None
            raise
        with self._lock:
            if self._closed:  # close() ran while we were handshaking (Ctrl-C): don't leak the connection
                client.close()
                raise TransportError(f"{self.target.host}:{self.target.port}: connection closed (interrupted)")
            self._client = client

    def _track(self, stream: _S) -> _S:
        """Remember a stream opened during connect so close() from another thread can break a
        handshake that is still waiting (a silent port would otherwise hold Ctrl-C for the
        whole connect timeout)."""
        with self._lock:
            self._streams.append(stream)
            if self._closed:
                stream.close()
        return stream

    def _open(self, argv: Sequence[str], stdin: bytes | None) -> SshCommand:
        if self._client is None:
            raise TransportError(f"{self.target}: not connected")
        t = self._client.get_transport()
        if t is None or not t.is_active():
            raise TransportError(f"{self.target.host}:{self.target.port}: SSH connection lost")
        try:
            chan = t.open_session(timeout=DEFAULT_CONNECT_TIMEOUT)
            chan.exec_command(shlex.join(argv))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"{self.target.host}:{self.target.port}: cannot start command: {exc}") from None
        cmd = SshCommand(chan, stdin)
        with self._lock:
            self._live = [c for c in self._live if not c._chan.closed] + [cmd]
        return cmd

    def run(self, argv: Sequence[str], stdin: bytes | None = None, timeout: float = 60.0) -> CommandResult:
        result = self._open(argv, stdin).wait(timeout)
        client = self._client
        transport = client.get_transport() if client is not None else None
        if result.exit_code == -1 and (transport is None or not transport.is_active()):
            # paramiko's -1: the channel closed without an exit status; with the connection gone
            # that is a lost connection (sshd killed, node rebooted, link cut), not a command result
            raise TransportError(f"{self.target.host}:{self.target.port}: SSH connection lost while running {argv[0]}")
        return result

    def start(self, argv: Sequence[str], stdin: bytes | None = None) -> SshCommand:
        return self._open(argv, stdin)

    def close(self) -> None:
        """Stop whatever still runs and close the connection (and the jump host's). Idempotent;
        safe to call from another thread to unblock a command (Ctrl-C)."""
        with self._lock:
            self._closed = True
            live, self._live = self._live, []
            streams, self._streams = self._streams, []
            clients, self._client, self._jump_client = (self._client, self._jump_client), None, None
        for cmd in live:
            cmd.stop()
        for client in clients:
            if client is not None:
                client.close()
        for stream in streams:
            try:
                stream.close()
            except OSError:
                pass
