"""SshTransport against a real OpenSSH server on 127.0.0.1 (tests/support/sshd.py)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from tests.support.sshd import SshdHandle, free_port, generate_client_key, known_hosts_line
from validators.transport import SshTarget, SshTransport, TransportError


def target(h: SshdHandle, **kw: object) -> SshTarget:
    fields: dict = {"host": h.host, "port": h.port, "user": h.user, "identity_file": h.client_key_path,
                    "known_hosts": h.known_hosts}
    fields.update(kw)
    return SshTarget(**fields)


@pytest.fixture
def ssh(sshd_server: SshdHandle) -> Iterator[SshTransport]:
    t = SshTransport(target(sshd_server))
    t.connect(timeout=5)
    yield t
    t.close()


def test_key_auth_runs_commands_over_one_connection(ssh: SshTransport, sshd_server: SshdHandle) -> None:
    accepted_before = sshd_server.log.count("Accepted publickey")
    results = [ssh.run(["sh", "-c", f"echo out{i}; echo err{i} >&2; exit {i}"], timeout=10) for i in range(3)]
    assert [r.exit_code for r in results] == [0, 1, 2]
    assert results[2].stdout == b"out2\n" and results[2].stderr == b"err2\n"
    assert ssh.run(["id", "-un"]).stdout.strip() == b"plinthtest"
    # four commands, no new login: the connection made in the fixture was reused
    assert sshd_server.log.count("Accepted publickey") == accepted_before


def test_shell_metacharacters_in_an_argument_are_passed_literally(ssh: SshTransport, tmp_path: Path) -> None:
    marker = Path("/tmp") / f"plinth-marker-{uuid.uuid4().hex}"
    evil = [f"x; touch {marker}", f"$(touch {marker})", f"`touch {marker}`", f"a && touch {marker} | cat > /dev/null"]
    result = ssh.run(["printf", "%s\\n", *evil], timeout=10)
    assert result.exit_code == 0
    assert result.stdout.decode().splitlines() == evil
    assert not marker.exists()


def test_large_stdin_and_both_streams_do_not_deadlock(ssh: SshTransport) -> None:
    payload = b"0123456789abcdef" * 64 * 1024  # 1 MiB through stdin
    script = (
        "import sys\n"
        "data = sys.stdin.buffer.read()\n"
        "for _ in range(512):\n"
        "    sys.stderr.write('e' * 2048)\n"  # 1 MiB on stderr interleaved with 1 MiB on stdout
        "    sys.stdout.write('o' * 2048)\n"
        "sys.stdout.write(str(len(data)))\n"
    )
    result = ssh.run(["python3", "-c", script], stdin=payload, timeout=20)
    assert result.exit_code == 0, result.stderr[-300:]
    assert result.stdout.endswith(str(len(payload)).encode())
    assert len(result.stderr) == 512 * 2048


def test_timeout_kills_the_remote_command(ssh: SshTransport) -> None:
    marker = Path("/tmp") / f"plinth-timeout-{uuid.uuid4().hex}"
    t0 = time.monotonic()
    result = ssh.run(["sh", "-c", f"echo started; sleep 1; touch {marker}"], timeout=0.4)
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - t0 < 3
    assert result.stdout == b"started\n"  # output produced before the kill is kept
    time.sleep(1.3)
    assert not marker.exists(), "the command survived its timeout"
    assert ssh.run(["true"]).exit_code == 0  # the connection is still usable


def test_a_node_streaming_forever_is_cut_at_the_cap_and_the_connection_survives(ssh: SshTransport) -> None:
    from validators.transport.base import MAX_STDOUT, OutputTooLarge

    marker = Path("/tmp") / f"plinth-flood-{uuid.uuid4().hex}"
    t0 = time.monotonic()
    with pytest.raises(OutputTooLarge, match=f"output exceeded {MAX_STDOUT // 2**20} MiB on stdout"):
        ssh.run(["sh", "-c", f"yes; touch {marker}"], timeout=60)
    assert time.monotonic() - t0 < 20  # at the cap, not at the 60 s timeout
    time.sleep(0.5)
    assert not marker.exists(), "the flooding command was not killed"
    assert ssh.run(["echo", "ok"], timeout=10).stdout == b"ok\n"  # only that command was stopped


def test_background_command_can_be_stopped(ssh: SshTransport) -> None:
    running = ssh.start(["sh", "-c", "echo listening; sleep 30"])
    time.sleep(0.2)
    t0 = time.monotonic()
    running.stop()
    assert time.monotonic() - t0 < 3
    done = ssh.start(["sh", "-c", "cat"], stdin=b"ping")
    assert done.wait(5).stdout == b"ping"


def test_unknown_host_key_is_refused_by_default(sshd_server: SshdHandle, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    t = SshTransport(target(sshd_server, known_hosts=known))
    with pytest.raises(TransportError, match=r"unknown host key .*use --accept-new-host-keys"):
        t.connect(timeout=5)
    assert not known.exists()


def test_accept_new_host_key_records_it_and_it_is_then_trusted(sshd_server: SshdHandle, tmp_path: Path) -> None:
    known = tmp_path / "sub" / "known_hosts"
    t = SshTransport(target(sshd_server, known_hosts=known), accept_new_host_keys=True)
    t.connect(timeout=5)
    assert t.run(["echo", "ok"]).stdout == b"ok\n"
    t.close()
    assert known.read_text() == known_hosts_line(sshd_server.host, sshd_server.port, sshd_server.host_key)
    assert known.stat().st_mode & 0o777 == 0o600
    strict = SshTransport(target(sshd_server, known_hosts=known))  # no flag now: the recorded key is trusted
    strict.connect(timeout=5)
    strict.close()


def test_changed_host_key_is_refused_even_with_accept_new(sshd_server: SshdHandle, tmp_path: Path) -> None:
    other = tmp_path / "other_host_key"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    impostor = paramiko.Ed25519Key.from_private_key_file(str(other))
    known = tmp_path / "known_hosts"
    known.write_text(known_hosts_line(sshd_server.host, sshd_server.port, impostor))
    for accept in (False, True):
        t = SshTransport(target(sshd_server, known_hosts=known), accept_new_host_keys=accept)
        with pytest.raises(TransportError, match=r"host key mismatch: host key for \[127.0.0.1\]:\d+ does not match .*possible MITM"):
            t.connect(timeout=5)
    assert known.read_text() == known_hosts_line(sshd_server.host, sshd_server.port, impostor)


def test_wrong_key_is_an_authentication_failure_without_key_material(sshd_server: SshdHandle, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_key"
    key = generate_client_key(wrong)
    t = SshTransport(target(sshd_server, identity_file=wrong))
    with pytest.raises(TransportError) as info:
        t.connect(timeout=5)
    msg = str(info.value)
    assert msg.startswith("authentication failed for user plinthtest")
    assert key.get_base64()[:20] not in msg


def test_nothing_listening_is_connection_refused_quickly(tmp_path: Path) -> None:
    t = SshTransport(SshTarget("127.0.0.1", free_port(), "plinthtest", None, tmp_path / "kh"))
    t0 = time.monotonic()
    with pytest.raises(TransportError, match="connection refused"):
        t.connect(timeout=5)
    assert time.monotonic() - t0 < 1


def test_a_port_that_never_speaks_times_out_within_the_connect_timeout(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
    try:
        t = SshTransport(SshTarget("127.0.0.1", server.getsockname()[1], "plinthtest", None, tmp_path / "kh"))
        t0 = time.monotonic()
        with pytest.raises(TransportError, match=r"timed out after 1s connecting"):
            t.connect(timeout=1)
        assert 0.9 < time.monotonic() - t0 < 3
    finally:
        for s in held:
            s.close()
        server.close()


def test_jump_host_tunnels_to_the_target(sshd_server: SshdHandle) -> None:
    """The same sshd serves as bastion and target: two logins, and the target's SSH stream is a
    direct-tcpip channel inside the bastion's connection, not a socket of ours."""
    before = sshd_server.log.count("Accepted publickey")
    t = SshTransport(target(sshd_server), jump=target(sshd_server))
    t.connect(timeout=5)
    try:
        assert t.run(["echo", "via-jump"]).stdout == b"via-jump\n"
        streams = list(t._streams)
        assert isinstance(streams[0], socket.socket) and isinstance(streams[1], paramiko.Channel)
        assert len(streams) == 2
    finally:
        t.close()
    assert sshd_server.log.count("Accepted publickey") == before + 2


def test_unreachable_jump_host_is_named(sshd_server: SshdHandle, tmp_path: Path) -> None:
    jump = SshTarget("127.0.0.1", free_port(), "plinthtest", None, tmp_path / "kh")
    with pytest.raises(TransportError, match=r"^jump host 127.0.0.1: .*connection refused"):
        SshTransport(target(sshd_server), jump=jump).connect(timeout=2)
