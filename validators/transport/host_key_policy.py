"""Deciding whether a node's SSH host key is trusted: what its known_hosts file says, and what
happens to a key the file does not know (paramiko's ``MissingHostKeyPolicy``).

- a known key is accepted by paramiko itself; a key marked ``@revoked`` is always refused;
- an unknown key is refused (:class:`RefuseUnknown`) unless the user opted in
  (``--accept-new-host-keys``: :class:`AcceptNewAndRecord`, trust-on-first-use, recorded in the
  same file);
- where the platform has evidence of the node's keys (an EC2 node's first-boot console output,
  :mod:`validators.hostkeys`), :class:`CheckEvidence` asks it first: verified, the key is recorded
  like a trusted one; contradicted, it is refused even with the opt-in.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

import paramiko

from policies.errors import ConfigError
from policies.inputs import read_input_text
from validators.hostkeys import HostKeyEvidence
from validators.transport.base import TransportError
from validators.transport.known_hosts import Entry, HostKeys, for_host, parse

MAX_KNOWN_HOSTS = 16 * 1024 * 1024
_known_hosts_lock = threading.Lock()  # nodes connect in parallel threads; appends must not interleave


class UnknownHostKey(paramiko.SSHException):
    pass


class RevokedHostKey(paramiko.SSHException):
    pass


def revoked(hostname: str, key: paramiko.PKey, known_hosts: Path) -> RevokedHostKey:
    return RevokedHostKey(f"host key for {hostname} ({key.get_name()} {key.fingerprint}) is marked @revoked in {known_hosts}")


class _KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """A policy for one node's known_hosts file; a key it marks @revoked is never new."""

    def __init__(self, known: HostKeys, known_hosts: Path) -> None:
        self.known = known
        self.known_hosts = known_hosts

    def refuse_revoked(self, hostname: str, key: paramiko.PKey) -> None:
        if self.known.is_revoked(key):
            raise revoked(hostname, key, self.known_hosts)


class RefuseUnknown(_KnownHostsPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        self.refuse_revoked(hostname, key)
        ca = (" (known_hosts trusts a @cert-authority for this host; plinth verifies plain host keys only: "
              "add the host's own key, e.g. from ssh-keyscan)") if self.known.has_ca else ""
        raise UnknownHostKey(f"unknown host key for {hostname} ({key.get_name()} {key.fingerprint}) "
                             f"(use --accept-new-host-keys to trust it){ca}")


class AcceptNewAndRecord(_KnownHostsPolicy):
    """Trust-on-first-use, recorded: append the new key to the known_hosts file (created 0600).
    Appending keeps entries a rewrite would drop (markers, comments)."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        self.refuse_revoked(hostname, key)
        client.get_host_keys().add(hostname, key.get_name(), key)
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with _known_hosts_lock:
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOCTTY, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(line)


class CheckEvidence(_KnownHostsPolicy):
    """An unknown key is asked about first: verified by the evidence, it is recorded like a trusted
    one; contradicted, it is refused even with --accept-new-host-keys; with no evidence the usual
    rule holds (trust-on-first-use only when the user opted in). A revoked key is refused whatever
    the evidence says."""

    def __init__(self, evidence: HostKeyEvidence, known: HostKeys, known_hosts: Path, accept_new: bool) -> None:
        super().__init__(known, known_hosts)
        self.evidence = evidence
        self.record = AcceptNewAndRecord(known, known_hosts)
        self.accept_new = accept_new

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        self.refuse_revoked(hostname, key)
        verdict = self.evidence.verify(key.get_name(), key.asbytes())
        if verdict.status == "verified" or (verdict.status == "no-evidence" and self.accept_new):
            self.record.missing_host_key(client, hostname, key)
            return
        if verdict.status == "mismatch":
            raise UnknownHostKey(f"host key for {hostname} refused: {verdict.reason} (possible MITM; "
                                 "refused even with --accept-new-host-keys)")
        raise UnknownHostKey(f"unknown host key for {hostname} ({key.get_name()} {key.fingerprint}) not verified: "
                             f"{verdict.reason} (use --accept-new-host-keys to trust it)")


def missing_key_policy(known: HostKeys, known_hosts: Path, accept_new: bool,
                       evidence: HostKeyEvidence | None = None) -> paramiko.MissingHostKeyPolicy:
    """What to do with a key known_hosts does not hold, for this node."""
    if evidence is not None:
        return CheckEvidence(evidence, known, known_hosts, accept_new)
    return AcceptNewAndRecord(known, known_hosts) if accept_new else RefuseUnknown(known, known_hosts)


@lru_cache(maxsize=8)
def _parse_known_hosts(text: str) -> list[Entry]:
    return parse(text)  # one file serves every node of a fleet: parsed once per content


def known_keys(known_hosts: Path, host_key_name: str) -> HostKeys:
    """What the known_hosts file says about the host filed under ``host_key_name``; an absent file
    knows nothing."""
    try:
        text = read_input_text(known_hosts, "known_hosts", MAX_KNOWN_HOSTS)
    except ConfigError as exc:
        if str(exc).endswith("known_hosts not found"):
            return for_host([], host_key_name)
        raise TransportError(str(exc)) from None
    return for_host(_parse_known_hosts(text), host_key_name)
