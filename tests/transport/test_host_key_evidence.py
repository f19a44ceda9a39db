"""A node's unknown host key against the evidence of its first-boot console, over a real sshd.

The console text is what cloud-init's own helper prints for the sshd's host key (tests/support/
cloud_init.py); only the EC2 read is replaced (moto cannot hold per-instance console text: the
GetConsoleOutput path itself is tested against moto in tests/hostkeys/test_ec2_console.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.cloud_init import CloudInitUnavailable, console_block
from tests.support.sshd import SshdHandle
from validators.hostkeys.ec2 import Ec2ConsoleEvidence
from validators.transport import SshTarget, SshTransport, TransportError

IID = "i-0123456789abcdef0"
MOTO_TEXT = "Linux version 2.6.16-xenU (builder@patchbat.amazonsa)\nBIOS-provided physical RAM map:\n"


class ConsoleText:
    """What EC2 returns for the instance's console."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.reads = 0

    def read(self, instance_id: str) -> str:
        assert instance_id == IID
        self.reads += 1
        return self.text


def block_for(pub: Path) -> str:
    try:
        return console_block([pub])
    except CloudInitUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def genuine(sshd_server: SshdHandle) -> str:
    return block_for(sshd_server.workdir / "ssh_host_ed25519_key.pub")


@pytest.fixture(scope="module")
def impostor(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The console of another machine (another ED25519 host key)."""
    d = tmp_path_factory.mktemp("impostor")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "ssh_host_ed25519_key")], check=True)
    return block_for(d / "ssh_host_ed25519_key.pub")


def transport(h: SshdHandle, known_hosts: Path, console: ConsoleText | None, accept_new: bool = False) -> SshTransport:
    target = SshTarget(h.host, h.port, h.user, h.client_key_path, known_hosts, host_key_alias=IID)
    evidence = Ec2ConsoleEvidence(IID, "us-east-1", console) if console is not None else None
    return SshTransport(target, accept_new_host_keys=accept_new, host_key_evidence=evidence)


def test_a_key_the_console_vouches_for_is_trusted_and_recorded_under_the_instance_id(
        sshd_server: SshdHandle, genuine: str, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    console = ConsoleText(genuine)
    t = transport(sshd_server, known, console)
    t.connect(timeout=5)  # no --accept-new-host-keys
    try:
        assert t.run(["id", "-un"]).stdout.strip() == b"plinthtest"
    finally:
        t.close()
    key = sshd_server.host_key
    assert known.read_text() == f"{IID} {key.get_name()} {key.get_base64()}\n"
    # next time the key is known: no console read, and no evidence needed at all
    again = transport(sshd_server, known, console)
    again.connect(timeout=5)
    again.close()
    assert console.reads == 1
    transport(sshd_server, known, None).connect(timeout=5)


@pytest.mark.parametrize("accept_new", [False, True])
def test_a_key_the_console_contradicts_is_refused_even_with_accept_new(
        sshd_server: SshdHandle, impostor: str, tmp_path: Path, accept_new: bool) -> None:
    known = tmp_path / "known_hosts"
    t = transport(sshd_server, known, ConsoleText(impostor), accept_new=accept_new)
    with pytest.raises(TransportError) as err:
        t.connect(timeout=5)
    msg = str(err.value)
    assert msg.startswith(f"host key for {IID} refused: instance {IID} printed a different ED25519 host key at first boot")
    assert sshd_server.host_key.fingerprint in msg and "possible MITM" in msg and "\n" not in msg
    assert not known.exists()


def test_no_block_on_the_console_is_refused_unless_the_user_opts_in(sshd_server: SshdHandle, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    with pytest.raises(TransportError, match=rf"unknown host key for {IID} \(ssh-ed25519 SHA256:.*\) not verified: "
                                             rf"no SSH host key block in instance {IID}'s console output .*"
                                             r"\(use --accept-new-host-keys to trust it\)"):
        transport(sshd_server, known, ConsoleText(MOTO_TEXT)).connect(timeout=5)
    assert not known.exists()
    t = transport(sshd_server, known, ConsoleText(MOTO_TEXT), accept_new=True)  # trust on first use, recorded
    t.connect(timeout=5)
    t.close()
    assert known.read_text().startswith(f"{IID} ssh-ed25519 ")


def test_a_changed_key_is_refused_whatever_the_console_says(sshd_server: SshdHandle, genuine: str, impostor: str,
                                                           tmp_path: Path) -> None:
    """known_hosts wins: a recorded key that differs is a mismatch before any evidence is asked."""
    known = tmp_path / "known_hosts"
    other = impostor.split("-----BEGIN SSH HOST KEY KEYS-----")[1].split()[:2]
    known.write_text(f"{IID} {other[0]} {other[1]}\n")
    console = ConsoleText(genuine)
    with pytest.raises(TransportError, match=rf"host key mismatch: host key for {IID} does not match"):
        transport(sshd_server, known, console, accept_new=True).connect(timeout=5)
    assert console.reads == 0
