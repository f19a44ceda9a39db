"""known_hosts as OpenSSH reads it (sshd(8) SSH_KNOWN_HOSTS FILE FORMAT; OpenSSH hostfile.c).

Before: paramiko's HostKeys loader raised InvalidHostKey on any ``@cert-authority`` or ``@revoked``
line, and plinth reported every node as failing -- one CA line for another domain in a shared
known_hosts took the whole fleet down. And a revoked key listed plainly too was trusted."""

from __future__ import annotations

import os
from pathlib import Path

import paramiko
import pytest

from tests.support.sshd import SshdHandle, generate_host_key, known_hosts_line
from validators.transport import SshTarget, SshTransport, TransportError, known_hosts
from validators.transport.known_hosts import for_host, host_matches, parse


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> paramiko.PKey:
    return generate_host_key(tmp_path_factory.mktemp("keys") / "other")


def _line(patterns: str, key: paramiko.PKey, marker: str = "") -> str:
    return f"{marker + ' ' if marker else ''}{patterns} {key.get_name()} {key.get_base64()}\n"


def _connect(h: SshdHandle, known: Path, accept_new: bool = False) -> SshTransport:
    t = SshTransport(SshTarget(h.host, h.port, h.user, h.client_key_path, known), accept_new_host_keys=accept_new)
    t.connect(timeout=5)
    return t


def _assert_runs(h: SshdHandle, known: Path) -> None:
    """The node is trusted with ``known`` and a command runs on it."""
    t = _connect(h, known)
    try:
        assert t.run(["true"], timeout=10).exit_code == 0
    finally:
        t.close()


# -- matching, as OpenSSH's match_hostname ---------------------------------------------------------

@pytest.mark.parametrize(("patterns", "name", "match"), [
    ("gpu-1", "gpu-1", True),
    ("GPU-1", "gpu-1", True),  # case-insensitive
    ("gpu-*", "gpu-17", True),
    ("gpu-?", "gpu-17", False),
    ("*.example.com,!bad.example.com", "bad.example.com", False),  # a negation that matches wins
    ("*.example.com,!bad.example.com", "ok.example.com", True),
    ("[10.0.0.*]:2222", "[10.0.0.5]:2222", True),  # brackets are literal, not a character class
    ("[10.0.0.*]:2222", "10.0.0.5", False),
    ("a.b", "axb", False),  # '.' is literal
])
def test_host_patterns(patterns: str, name: str, match: bool) -> None:
    assert host_matches(tuple(patterns.split(",")), name) is match


def test_hashed_names_match_their_host_only(other_key: paramiko.PKey) -> None:
    hashed = paramiko.HostKeys.hash_host("[127.0.0.1]:2200")
    entries = parse(_line(hashed, other_key))
    assert for_host(entries, "[127.0.0.1]:2200").trusted and not for_host(entries, "[127.0.0.1]:2201").trusted


def test_a_hashed_name_matches_the_host_in_any_case(other_key: paramiko.PKey) -> None:
    """ssh(1) lowercases the host before hashing, so ssh-keygen -H filed "GPU-1.example.com" as the
    HMAC of "gpu-1.example.com"; an inventory naming the node in capitals must still find it."""
    entries = parse(_line(paramiko.HostKeys.hash_host("gpu-1.example.com"), other_key))
    assert for_host(entries, "GPU-1.Example.com").trusted == [other_key]


def test_lines_openssh_skips_are_skipped_not_fatal(other_key: paramiko.PKey) -> None:
    text = ("# comment\n\n@bogus-marker host ssh-ed25519 AAAA\nhost ssh-ed25519 !!notbase64!!\nhost ssh-foo AAAAC3Nz\n"
            "host\n@cert-authority *.other.example " + f"{other_key.get_name()} {other_key.get_base64()}\n" + _line("host", other_key))
    entries = parse(text)
    assert [(e.marker, e.line) for e in entries] == [("@cert-authority", 7), (None, 8)]


def test_a_file_grown_by_one_line_does_not_decode_its_keys_again(other_key: paramiko.PKey) -> None:
    """Each node a first run records appends a line and the next connection re-parses the file:
    the keys already decoded are reused, so a 1,000-node first run is not 500,000 key decodes."""
    text = _line("i-0000000000000000a", other_key)
    first = parse(text)
    again = parse(text + _line("i-0000000000000000b", other_key))
    assert again[0].key is first[0].key and len(again) == 2
    huge = f"gpu-1 ssh-ed25519 {'A' * 20_000}\n"  # no key is that long (RSA-16384: 2,764 characters)
    remembered = known_hosts._key.cache_info().currsize
    assert [e.line for e in parse(huge + text)] == [2]
    assert known_hosts._key.cache_info().currsize == remembered  # neither decoded nor held by the cache


def test_a_revoked_key_is_never_trusted_even_when_listed_plainly(other_key: paramiko.PKey) -> None:
    entries = parse(_line("gpu-1", other_key) + _line("*", other_key, "@revoked"))
    known = for_host(entries, "gpu-1")
    assert known.trusted == [] and known.is_revoked(other_key)


# -- against a real sshd --------------------------------------------------------------------------

def test_a_cert_authority_line_for_another_domain_does_not_make_the_node_unreachable(
        sshd_server: SshdHandle, tmp_path: Path, other_key: paramiko.PKey) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(_line("*.corp.example.org", other_key, "@cert-authority")
                     + known_hosts_line(sshd_server.host, sshd_server.port, sshd_server.host_key))
    _assert_runs(sshd_server, known)


def test_a_revoked_server_key_is_refused_even_when_also_listed_plainly(sshd_server: SshdHandle, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    text = known_hosts_line(sshd_server.host, sshd_server.port, sshd_server.host_key) + _line("*", sshd_server.host_key, "@revoked")
    known.write_text(text)
    for accept_new in (False, True):
        with pytest.raises(TransportError, match=r"host key for \[127\.0\.0\.1\]:\d+ \(ssh-ed25519 .*\) is marked @revoked in "):
            _connect(sshd_server, known, accept_new=accept_new)
    assert known.read_text() == text  # nothing recorded


def test_a_revoked_key_is_not_accepted_as_new(sshd_server: SshdHandle, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    text = _line("*", sshd_server.host_key, "@revoked")
    known.write_text(text)
    with pytest.raises(TransportError, match="is marked @revoked"):
        _connect(sshd_server, known, accept_new=True)
    assert known.read_text() == text


def test_a_wildcard_entry_trusts_the_host(sshd_server: SshdHandle, tmp_path: Path) -> None:
    """paramiko alone matches exact names only: a `*` line (common for a fleet behind one CA-less
    key rotation) made every node 'unknown'."""
    known = tmp_path / "known_hosts"
    known.write_text(_line(f"[127.0.0.?]:{sshd_server.port}", sshd_server.host_key))
    t = _connect(sshd_server, known)
    t.close()


def test_any_listed_key_of_the_type_is_trusted_as_openssh_does(sshd_server: SshdHandle, tmp_path: Path,
                                                               other_key: paramiko.PKey) -> None:
    """A host listed twice with ed25519 keys, the stale one first (re-keyed, the old line never
    removed): OpenSSH accepts the key any matching line lists. paramiko keeps one key per type and
    host, so plinth used to report the first line's key and refuse the node as "possible MITM"."""
    known = tmp_path / "known_hosts"
    known.write_text(_line(f"[127.0.0.1]:{sshd_server.port}", other_key)
                     + known_hosts_line(sshd_server.host, sshd_server.port, sshd_server.host_key))
    _assert_runs(sshd_server, known)
    known.write_text(_line(f"[127.0.0.1]:{sshd_server.port}", other_key))  # only another key of the type
    with pytest.raises(TransportError, match="host key mismatch"):
        _connect(sshd_server, known, accept_new=True)


def test_a_negated_pattern_excludes_the_host(sshd_server: SshdHandle, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(_line(f"[*]:{sshd_server.port},![127.0.0.1]:{sshd_server.port}", sshd_server.host_key))
    with pytest.raises(TransportError, match="unknown host key"):
        _connect(sshd_server, known)


def test_a_host_known_only_through_a_ca_is_unknown_with_a_hint(sshd_server: SshdHandle, tmp_path: Path,
                                                               other_key: paramiko.PKey) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(_line(f"[127.0.0.1]:{sshd_server.port}", other_key, "@cert-authority"))
    with pytest.raises(TransportError, match="plinth verifies plain host keys only"):
        _connect(sshd_server, known)


def test_known_hosts_that_is_not_a_file_is_a_reason_not_a_hang(sshd_server: SshdHandle, tmp_path: Path) -> None:
    fifo = tmp_path / "known_hosts"
    os.mkfifo(fifo)
    with pytest.raises(TransportError, match=r"known_hosts is a FIFO \(named pipe\), not a regular file"):
        _connect(sshd_server, fifo)
