"""Loading the SSH identity file (the user's private key, and an OpenSSH certificate beside it)."""

from __future__ import annotations

import io
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from policies.errors import ConfigError
from policies.inputs import read_input, read_input_text
from validators.transport.base import TransportError

MAX_KEY_FILE = 1024 * 1024  # an SSH private key is a few KiB (RSA 16384 bits: ~13 KiB)


def load_key(path: Path) -> paramiko.PKey | None:
    """Load an identity file of any type paramiko knows (the type is read from the file, so a
    wrong guess can't mask the server's real answer); None when it does not exist (authentication
    then says so). Encrypted keys belong in ssh-agent. Read once, through read_input (a FIFO or
    /dev/zero given as a key is refused, not read forever), then parsed in memory: what paramiko's
    PKey.from_path does, without its second read of the path."""
    try:
        data = read_input(path, "SSH identity file", MAX_KEY_FILE)
    except ConfigError as exc:
        if str(exc).endswith("SSH identity file not found"):
            return None
        raise TransportError(str(exc)) from None
    try:
        try:
            loaded = serialization.load_ssh_private_key(data, password=None)
        except ValueError:  # not the OpenSSH format: legacy PEM (BEGIN RSA/EC PRIVATE KEY)
            loaded = serialization.load_pem_private_key(data, password=None)
        key_class: type[paramiko.PKey]
        if isinstance(loaded, rsa.RSAPrivateKey):
            key_class = paramiko.RSAKey
        elif isinstance(loaded, ed25519.Ed25519PrivateKey):
            key_class = paramiko.Ed25519Key
        elif isinstance(loaded, ec.EllipticCurvePrivateKey):
            key_class = paramiko.ECDSAKey
        else:
            raise TransportError(f"identity file {path}: key type {loaded.__class__.__name__} is not supported")
        key = key_class.from_private_key(io.StringIO(data.decode("utf-8", "replace")))
    except (TypeError, paramiko.PasswordRequiredException):  # cryptography: "Password was not given but private key is encrypted"
        raise TransportError(f"identity file {path} is passphrase-protected: load it into ssh-agent (ssh-add) instead") from None
    except (paramiko.SSHException, ValueError, UnicodeError) as exc:
        raise TransportError(f"identity file {path}: cannot load key ({exc.__class__.__name__})") from None
    cert = Path(f"{path}-cert.pub")
    if cert.exists():  # an OpenSSH user certificate beside the key is presented with it, as ssh does
        try:
            key.load_certificate(read_input_text(cert, "SSH certificate", MAX_KEY_FILE).strip())
        except (ConfigError, paramiko.SSHException, ValueError) as exc:
            raise TransportError(f"identity file {path}: cannot load its certificate {cert}: {exc}") from None
    return key
