"""The SSH host keys an instance printed to its console at first boot (pure: text in, verdict out).

Who prints them: cloud-init's ``keys_to_console`` module (frequency PER_INSTANCE: once, on the
instance's first boot) runs ``write-ssh-key-fingerprints`` (canonical/cloud-init,
tools/write-ssh-key-fingerprints; the EKS AL2023 AMI keeps cloud-init's stock modules and deletes
``/etc/ssh/ssh_host*`` at build, so every node makes and prints its own keys). Two blocks:

- fingerprints, each line through ``logger -s`` (``ssh-keygen -l`` output), tagged ``cloud-init``
  since cloud-init 21.2 (AL2023 ships 22.2) and ``ec2`` before (the EC2 user guide's example)::

      <14>Dec  1 15:06:30 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----
      <14>Dec  1 15:06:30 cloud-init: 256 SHA256:kMLgq1ZpTIpfXgCpF/ZjRN4FBavzahwOfofNabCGAJ0 no comment (ED25519)
      ec2: 256 SHA256:l4UB/neBad9tvkgJf1QZWxheQmR59WgrgzEimCG6kZY root@ip-10-0-2-182 (ECDSA)

- the public keys themselves, written plainly::

      -----BEGIN SSH HOST KEY KEYS-----
      ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOQcbMBWshPpTIpBICR/JYKfaVcn/k2K4vYbX75VER63
      -----END SSH HOST KEY KEYS-----

Console output is hostile input like anything a node sends: read to a bound, only complete blocks
count (EC2 keeps the last 64 KB, so the start can be cut off), a block with one line that is not a
fingerprint (or a key) is dropped whole, MD5 fingerprints (OpenSSH before 6.8) are not evidence, and
a key counts as verified only if *every* entry of its kind agrees with it: two different ED25519 keys
on one console is a contradiction, refused, not a choice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass, field

from validators.hostkeys import HostKeyVerdict

MAX_CONSOLE_CHARS = 256 * 1024  # GetConsoleOutput returns at most 64 KB; keep the tail of anything longer
MAX_LINE_CHARS = 8192  # an RSA-16384 key line is under 3 KiB
MAX_ENTRIES = 32  # per kind; a host has a handful of keys

FP_BEGIN, FP_END = "-----BEGIN SSH HOST KEY FINGERPRINTS-----", "-----END SSH HOST KEY FINGERPRINTS-----"
KEYS_BEGIN, KEYS_END = "-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----"
# What logger -s puts before a message: "<PRI>Mon dd hh:mm:ss [host ]tag: " (util-linux), or just "tag: ".
_PREFIX = re.compile(r"^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )?(?:[\w.-]+ )?(?:cloud-init|ec2): ?")
_FINGERPRINT = re.compile(r"^(\d{3,5}) SHA256:([A-Za-z0-9+/]{43}) .*\((ED25519|ECDSA|RSA|DSA)\)$")
_MD5 = re.compile(r"^\d{3,5} (?:MD5:)?(?:[0-9a-f]{2}:){15}[0-9a-f]{2} ")
_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa|ssh-dss) ([A-Za-z0-9+/]{16,}={0,2})(?: .*)?$")
_FAMILY = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA", "ssh-dss": "DSA", "ecdsa-sha2-nistp256": "ECDSA-256",
           "ecdsa-sha2-nistp384": "ECDSA-384", "ecdsa-sha2-nistp521": "ECDSA-521"}


@dataclass(frozen=True)
class ConsoleHostKeys:
    """What complete blocks of the console said: (family, SHA256 fingerprint without padding) pairs
    and (key type, base64 blob) pairs; ``problems``: what was not taken, and why."""

    fingerprints: frozenset[tuple[str, str]] = frozenset()
    keys: frozenset[tuple[str, str]] = frozenset()
    problems: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.fingerprints and not self.keys


def sha256_fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint (base64, no padding), without the ``SHA256:`` prefix."""
    return base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _family(fp_kind: str, bits: str) -> str:
    return f"ECDSA-{bits}" if fp_kind == "ECDSA" else fp_kind  # ssh-keygen -l says (ECDSA) for every curve


def _blob_type(blob: bytes) -> str | None:
    """The key type named inside an SSH public key blob (a uint32 length, then the name)."""
    if len(blob) < 4:
        return None
    (size,) = struct.unpack(">I", blob[:4])
    name = blob[4:4 + size]
    return name.decode("ascii", "replace") if size < 64 and len(name) == size else None


def _content(line: str) -> str:
    return _PREFIX.sub("", line.rstrip(), count=1)


def parse_console(text: str) -> ConsoleHostKeys:
    """The host keys in ``text`` (console output, already decoded)."""
    if len(text) > MAX_CONSOLE_CHARS:
        text = text[-MAX_CONSOLE_CHARS:]
    fingerprints: set[tuple[str, str]] = set()
    keys: set[tuple[str, str]] = set()
    problems: list[str] = []
    block: str | None = None  # "fp" or "keys" while inside one
    entries: list[tuple[str, str]] = []
    bad: str | None = None
    for raw in text.splitlines():
        if len(raw) > MAX_LINE_CHARS:
            if block is not None:
                bad = "an overlong line"
            continue
        line = _content(raw)
        if line in (FP_BEGIN, KEYS_BEGIN):
            if block is not None:
                problems.append("a host key block without its END line")
            block, entries, bad = ("fp" if line == FP_BEGIN else "keys"), [], None
            continue
        if line in (FP_END, KEYS_END):
            if block != ("fp" if line == FP_END else "keys"):
                problems.append("an END line without its BEGIN (the console output may be cut off at the start)")
            elif bad is not None:
                problems.append(f"a host key block dropped whole: {bad}")
            else:
                (fingerprints if block == "fp" else keys).update(entries)
            block = None
            continue
        if block is None or bad is not None:
            continue
        if len(entries) >= MAX_ENTRIES:
            bad = f"more than {MAX_ENTRIES} entries"
        elif block == "fp":
            m = _FINGERPRINT.match(line)
            if m:
                entries.append((_family(m.group(3), m.group(1)), m.group(2)))
            elif _MD5.match(line):
                bad = "MD5 fingerprints (OpenSSH before 6.8) are not evidence"
            else:
                bad = "a line that is not an ssh-keygen fingerprint"
        else:
            m = _KEY.match(line)
            try:
                blob = base64.b64decode(m.group(2), validate=True) if m else b""
            except binascii.Error:
                blob = b""
            if m and _blob_type(blob) == m.group(1):
                entries.append((m.group(1), base64.b64encode(blob).decode()))
            else:
                bad = "a line that is not a public key"
    if block is not None:
        problems.append("a host key block without its END line (the console output may still be being written)")
    return ConsoleHostKeys(frozenset(fingerprints), frozenset(keys), tuple(problems))


def judge_host_key(key_type: str, key_blob: bytes, seen: ConsoleHostKeys, where: str) -> HostKeyVerdict:
    """Does the key the node presents agree with what ``where`` (e.g. "instance i-0abc…") printed?"""
    family = _FAMILY.get(key_type)
    fingerprint = sha256_fingerprint(key_blob)
    blob64 = base64.b64encode(key_blob).decode()
    same_kind = [("key", b64 == blob64, sha256_fingerprint(base64.b64decode(b64))) for t, b64 in seen.keys if t == key_type]
    same_kind += [("fingerprint", fp == fingerprint, fp) for fam, fp in seen.fingerprints if fam == family]
    shown = f"{key_type} SHA256:{fingerprint}"
    if same_kind and all(ok for _, ok, _ in same_kind):
        what = " and ".join(sorted({kind for kind, _, _ in same_kind}))
        return HostKeyVerdict("verified", f"{shown} matches the {what} {where} printed to its console at first boot")
    if same_kind:
        others = sorted({f"SHA256:{fp}" for _, ok, fp in same_kind if not ok})
        return HostKeyVerdict("mismatch", f"{where} printed a different {family} host key at first boot "
                                          f"({', '.join(others)}), the node presents {shown}")
    if not seen.empty:
        families = sorted({fam for fam, _ in seen.fingerprints} | {_FAMILY.get(t, t) for t, _ in seen.keys})
        return HostKeyVerdict("no-evidence", f"{where} printed no {family or key_type} host key at first boot "
                                             f"(it printed {', '.join(families)})")
    why = f" ({'; '.join(dict.fromkeys(seen.problems))})" if seen.problems else ""
    return HostKeyVerdict("no-evidence", f"no SSH host key block in {where}'s console output{why} (cloud-init prints it "
                                         "once, at first boot; EC2 keeps the last 64 KB)")
