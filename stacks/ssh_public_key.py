"""The validator's SSH public key, from the stack config (pure apart from one bounded read).

``plinth:validation.sshAccess.publicKey`` holds an OpenSSH public key line (``ssh-ed25519 AAAA…
comment``) or a path to the ``.pub`` file. It becomes an EC2 key pair (``aws.ec2.KeyPair``,
ImportKeyPair): only the public half ever reaches AWS or the Pulumi state, so a private key given
here is refused outright, and no message ever repeats what the value held.

EC2 imports ED25519 keys and RSA keys (ImportKeyPair; "Create a key pair using a third-party tool
and import the public key to Amazon EC2": ECDSA and security-key (``sk-``) types are not accepted).
RSA below 2048 bits is refused here although EC2 would take 1024: EC2 Instance Connect and current
OpenSSH policy want 2048 or more.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from components.edge_csr import read_bounded
from policies.errors import ConfigError

FIELD = "publicKey"
MAX_PUBLIC_KEY_BYTES = 16 * 1024  # an RSA-16384 public key line is under 3 KiB
EC2_KEY_TYPES = ("ssh-ed25519", "ssh-rsa")
MIN_RSA_BITS = 2048
_KEY_PREFIXES = ("ssh-", "ecdsa-", "sk-")
_HOW = "the public half, e.g. the contents of ~/.ssh/id_ed25519.pub or the path to it"


class PublicKeyError(ValueError):
    """Why the value is not a key EC2 can import; the message never quotes the value."""


def parse_public_key(text: str) -> str:
    """``type base64`` of the one OpenSSH public key in ``text`` (the comment is dropped: EC2 does not
    need it and it may name a user or host), or PublicKeyError."""
    if "PRIVATE KEY" in text:
        raise PublicKeyError(f"this is a private key; give {_HOW} (ssh-keygen -y -f KEY prints it): "
                             "a private key must never reach the Pulumi state")
    if "BEGIN SSH2 PUBLIC KEY" in text:
        raise PublicKeyError("an RFC 4716 (SSH2) key; convert it to one OpenSSH line with ssh-keygen -i -f FILE")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) != 1:
        raise PublicKeyError(f"expected exactly one OpenSSH public key line, found {len(lines)}")
    fields = lines[0].split()
    if len(fields) < 2 or not fields[0].startswith(_KEY_PREFIXES):
        raise PublicKeyError(f"not an OpenSSH public key line ('<type> <base64> [comment]'); give {_HOW}")
    key_type = fields[0]
    if key_type not in EC2_KEY_TYPES:
        shown = key_type if key_type.isascii() and key_type.isprintable() and len(key_type) <= 40 else "this type"
        raise PublicKeyError(f"EC2 imports only {' and '.join(EC2_KEY_TYPES)} keys, not {shown}")
    line = f"{key_type} {fields[1]}"
    try:
        key = serialization.load_ssh_public_key(line.encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise PublicKeyError(f"the {key_type} key does not decode (damaged base64, or a blob of another type)") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise PublicKeyError(f"an RSA key of {key.key_size} bits; use {MIN_RSA_BITS} or more (or ssh-ed25519)")
    if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):  # the type word and the blob disagree
        raise PublicKeyError(f"the blob is not an {key_type} key")
    return line


def looks_inline(value: str) -> bool:
    """A key (or key file contents) pasted into the config, as opposed to a path to a file."""
    head = value.lstrip()
    return head.startswith(_KEY_PREFIXES) or head.startswith("-----BEGIN") or "\n" in value


def load_public_key(value: str, base: Path) -> str:
    """The normalised key from an inline value or a file path (``~`` expanded; relative paths start at
    ``base``, the project directory). PublicKeyError for a bad key, ConfigError for an unreadable file
    (both without the file's contents)."""
    if looks_inline(value):
        return parse_public_key(value)
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    try:
        text = read_bounded(path, FIELD, MAX_PUBLIC_KEY_BYTES, kind="a public key file", text="an OpenSSH public key")
    except ConfigError as exc:
        raise PublicKeyError(str(exc).removeprefix(f"{FIELD}: ")) from None
    try:
        return parse_public_key(text)
    except PublicKeyError as exc:
        raise PublicKeyError(f"{path}: {exc}") from None
