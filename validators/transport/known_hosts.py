"""known_hosts read the way OpenSSH reads it (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"; OpenSSH
hostfile.c ``load_hostkeys`` / ``check_key_not_revoked``), which paramiko's ``HostKeys`` does not:

- host patterns: comma lists, ``*`` and ``?`` wildcards, ``!`` negation, ``[host]:port``, and
  hashed names (``|1|salt|hash``), case-insensitive. paramiko matches exact and hashed names only.
- ``@revoked <patterns> <key>``: that key is refused for the hosts the patterns match, even where
  the same key is also listed plainly (OpenSSH checks revocation after a match, and a revoked key
  wins). paramiko raises on the marker line and so loses every other line of the file.
- ``@cert-authority <patterns> <key>``: trusts host *certificates* signed by that CA. plinth
  verifies plain host keys only (paramiko has no host-certificate verification), so these lines
  are read, never trusted, and never stop the other lines from loading; a host that is only known
  through a CA is "unknown", with a hint that says so.
- A line OpenSSH would skip (unknown marker, unknown key type, bad base64, too few fields) is
  skipped, not fatal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache

import paramiko
from paramiko.pkey import UnknownKeyType

MAX_KEY_FIELD = 8192  # characters of a line's key type and base64 together


@dataclass(frozen=True)
class Entry:
    patterns: tuple[str, ...]
    key: paramiko.PKey
    marker: str | None  # None, "@revoked" or "@cert-authority"
    line: int


@lru_cache(maxsize=8192)
def _key(key_type: str, blob: str) -> paramiko.PKey | None:
    # remembered: with --accept-new-host-keys or console evidence every node of a first run appends
    # its key, so each later connection re-parses a file one line longer. Decoding is most of a
    # line's cost (12.4 us a line parsed first, 3.2 us re-parsed, ed25519, measured on 2 cores):
    # over a 1,000-node first run's ~500,000 line parses, ~6 s of CPU under the GIL became ~1.6 s.
    # A PKey is never changed once made, so entries may share one.
    try:
        return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob, validate=True))
    except (binascii.Error, ValueError, TypeError, paramiko.SSHException, UnknownKeyType):
        return None  # a key type paramiko does not know, or a corrupt blob: OpenSSH skips the line too


def parse(text: str) -> list[Entry]:
    """Every usable entry of a known_hosts file, in file order."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker = None
        if fields[0].startswith("@"):
            marker, fields = fields[0], fields[1:]
            if marker not in ("@revoked", "@cert-authority"):
                continue  # OpenSSH: "invalid marker", line skipped
        if len(fields) < 3:
            continue
        # no public key is longer (RSA's 16384-bit cap: ~2.8 KB of base64); a longer field is not
        # decoded, nor remembered by _key's cache
        key = _key(fields[1], fields[2]) if len(fields[1]) + len(fields[2]) <= MAX_KEY_FIELD else None
        if key is not None:
            entries.append(Entry(tuple(fields[0].split(",")), key, marker, number))
    return entries


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.IGNORECASE | re.DOTALL)


def _hashed_match(pattern: str, name: str) -> bool:
    """``|1|base64(salt)|base64(HMAC-SHA1(salt, name))`` (ssh-keygen -H)."""
    parts = pattern.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        want = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), want)


def host_matches(patterns: tuple[str, ...], name: str) -> bool:
    """OpenSSH's match_hostname: a negated pattern that matches wins over everything; otherwise
    any positive match. ``name`` is ``host`` or ``[host]:port`` (port other than 22)."""
    positive = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        hit = _hashed_match(body, name) if body.startswith("|") else bool(_glob(body).fullmatch(name))
        if hit and negated:
            return False
        positive = positive or hit
    return positive


@dataclass(frozen=True)
class HostKeys:
    """What one known_hosts file says about one host name."""

    trusted: list[paramiko.PKey]  # plain entries for this host, revoked keys taken out
    revoked: list[paramiko.PKey]
    has_ca: bool  # a @cert-authority line covers this host

    def is_revoked(self, key: paramiko.PKey) -> bool:
        return any(_same(key, r) for r in self.revoked)


def _same(a: paramiko.PKey, b: paramiko.PKey) -> bool:
    return a.get_name() == b.get_name() and a.asbytes() == b.asbytes()


class AnyOf(paramiko.PKey):
    """Every trusted key of one type for one host, as the one entry paramiko's host-key table holds
    per (host, type): paramiko compares the server's key with ``our_key != server_key``, and this
    equals any of them. OpenSSH accepts a key that any matching line lists (hostfile.c
    check_key_in_hostkeys), so a host listed with its old and its new key after a re-key, or a name
    several servers answer for, is not a "mismatch" here either."""

    def __init__(self, keys: list[paramiko.PKey]) -> None:
        super().__init__()
        self.keys = keys  # all of one type, the file's order

    def get_name(self) -> str:
        return self.keys[0].get_name()

    def asbytes(self) -> bytes:
        return self.keys[0].asbytes()  # what paramiko names as "expected" in BadHostKeyException

    def __eq__(self, other: object) -> bool:
        return isinstance(other, paramiko.PKey) and any(_same(other, k) for k in self.keys)

    def __hash__(self) -> int:
        return hash(tuple(k.asbytes() for k in self.keys))

    @staticmethod
    def by_type(keys: list[paramiko.PKey]) -> list[AnyOf]:
        """One per key type, in the order each type first appears."""
        grouped: dict[str, list[paramiko.PKey]] = {}
        for k in keys:
            grouped.setdefault(k.get_name(), []).append(k)
        return [AnyOf(v) for v in grouped.values()]


def for_host(entries: list[Entry], name: str) -> HostKeys:
    # ssh(1) lowercases the host name before looking it up, and ssh-keygen -H hashed the lowercased
    # name: an inventory's "GPU-1" must hash as "gpu-1" (plain patterns match either case anyway)
    name = name.lower()
    matching = [e for e in entries if host_matches(e.patterns, name)]
    revoked = [e.key for e in matching if e.marker == "@revoked"]
    trusted = [e.key for e in matching if e.marker is None and not any(_same(e.key, r) for r in revoked)]
    return HostKeys(trusted=trusted, revoked=revoked, has_ca=any(e.marker == "@cert-authority" for e in matching))


__all__ = ["AnyOf", "Entry", "HostKeys", "for_host", "host_matches", "parse"]
