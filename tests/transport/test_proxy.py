"""SSH through a proxy command (what an EC2 Instance Connect Endpoint tunnel is to the transport):
a real sshd behind a real relay, ``nc`` from Debian's netcat-openbsd (the ProxyCommand OpenSSH's
own documentation uses). The AWS CLI's websocket tunnel itself cannot run without AWS."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.support.apt import ensure_packages
from tests.support.sshd import SshdHandle, free_port
from validators.transport import SshTarget, SshTransport, TransportError
from validators.transport.proxy import ProxyCommand


@pytest.fixture(scope="module", autouse=True)
def netcat() -> None:
    missing = ensure_packages({"nc": "netcat-openbsd"})
    if missing:
        pytest.skip(missing)


def via(h: SshdHandle, argv: list[str]) -> SshTransport:
    # the host is what the node is called and how known_hosts names it; the bytes go through argv
    return SshTransport(SshTarget(h.host, h.port, h.user, h.client_key_path, h.known_hosts), proxy_command=argv)


def test_commands_run_through_the_relay_and_close_ends_it(sshd_server: SshdHandle) -> None:
    t = via(sshd_server, ["nc", sshd_server.host, str(sshd_server.port)])
    t.connect(timeout=5)
    proxy = next(s for s in t._streams if isinstance(s, ProxyCommand))
    try:
        assert t.run(["sh", "-c", "echo $SSH_CONNECTION"]).stdout.split()[0] == b"127.0.0.1"  # sshd saw nc's socket
        assert proxy.proc.poll() is None
    finally:
        t.close()
    assert proxy.proc.poll() is not None  # never left running


def test_a_failing_tunnel_says_why_in_the_one_line_error(sshd_server: SshdHandle) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(TransportError) as err:
        via(sshd_server, ["nc", "-v", "127.0.0.1", str(port)]).connect(timeout=5)  # -v: nc says why
    msg = str(err.value)
    assert "connection closed before the SSH banner" in msg
    assert f"(proxy: nc exited 1; nc: connect to 127.0.0.1 port {port} (tcp) failed: Connection refused)" in msg


def test_missing_program_is_named(sshd_server: SshdHandle) -> None:
    with pytest.raises(TransportError, match="proxy command 'no-such-tunnel-cli' not found on PATH"):
        via(sshd_server, ["no-such-tunnel-cli", "open-tunnel"]).connect(timeout=5)


def test_arguments_never_reach_a_shell(sshd_server: SshdHandle) -> None:
    marker = Path("/tmp") / f"plinth-proxy-{uuid.uuid4().hex}"
    with pytest.raises(TransportError):
        via(sshd_server, ["nc", "127.0.0.1", f"1; touch {marker}", f"$(touch {marker})"]).connect(timeout=5)
    assert not marker.exists()


def test_a_jump_host_and_a_proxy_together_are_refused(sshd_server: SshdHandle) -> None:
    target = SshTarget(sshd_server.host, sshd_server.port, sshd_server.user)
    with pytest.raises(ValueError, match="not both"):
        SshTransport(target, jump=target, proxy_command=["nc", "x", "22"])
    assert os.environ.get("PATH")
