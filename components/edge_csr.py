"""A device's certificate signing request, from the stack config (pure apart from one bounded read).

``plinth:edge.devices[i].csr`` holds the device's PEM CSR inline or a path to a file holding it. AWS
IoT signs the certificate from it (``aws.iot.Certificate(csr=...)``, CreateCertificateFromCsr), so
the private key never leaves the device and never lands in Pulumi state.

A config file is input like any other (policies/inputs.read_input): a path must name a regular file
(not a FIFO that would hang the run, not a device, not a directory) of at most :data:`MAX_CSR_BYTES`. The text must hold exactly one PEM certificate request whose self-signature verifies and
whose key AWS IoT accepts: "an RSA key with a length of at least 2048 bits or an ECC key from NIST
P-256, NIST P-384, or NIST P-521 curves", signed with SHA-256 or stronger (CreateCertificateFromCsr;
"Certificate signing algorithms supported by AWS IoT").
"""

from __future__ import annotations

import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from policies.errors import ConfigError
from policies.inputs import read_input

MAX_CSR_BYTES = 16 * 1024  # an RSA-4096 CSR is under 2 KiB of PEM
_PEM_CSR = re.compile(r"-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END (NEW )?CERTIFICATE REQUEST-----")
_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)


def _field(index: int) -> str:
    return f"plinth:edge.devices[{index}].csr"


def read_bounded(path: Path, field: str, limit: int = MAX_CSR_BYTES, kind: str = "a CSR", text: str = "PEM text") -> str:
    """The ASCII text of a regular file of at most ``limit`` bytes, read by policies/inputs.read_input
    (the one way plinth reads an input file), or a ConfigError naming ``field`` (``kind``/``text`` name
    what the file should hold; SSH public keys are read the same way)."""
    try:
        data = read_input(path, kind.split(" ", 1)[1] if kind.startswith(("a ", "an ")) else kind, limit)
    except ConfigError as exc:
        raise ConfigError(f"{field}: {exc}") from None
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(f"{field}: {path} is not {text} (non-ASCII bytes)") from None


def key_problem(csr: x509.CertificateSigningRequest) -> str | None:
    """Why AWS IoT would refuse this CSR's key or signature, or None."""
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            return f"RSA key of {key.key_size} bits (AWS IoT needs at least 2048)"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _CURVES):
            return f"EC curve {key.curve.name} (AWS IoT accepts NIST P-256, P-384, P-521)"
    else:
        return f"{type(key).__name__.removeprefix('_')} key (AWS IoT accepts RSA >= 2048 bits or NIST P-256/384/521)"
    algorithm = csr.signature_hash_algorithm
    if not isinstance(algorithm, _HASHES):
        name = algorithm.name if algorithm is not None else "none"
        return f"signed with {name} (AWS IoT accepts SHA-256, SHA-384, SHA-512)"
    return None


def parse_csr(text: str, field: str) -> tuple[str, bytes]:
    """(the PEM block, the DER public key) of the one valid CSR in ``text``."""
    blocks = [m.group(0) for m in _PEM_CSR.finditer(text)]
    if len(blocks) != 1:
        what = "no PEM certificate request" if not blocks else f"{len(blocks)} certificate requests"
        raise ConfigError(f"{field}: found {what} (expected one -----BEGIN CERTIFICATE REQUEST----- block)")
    pem = blocks[0].replace("\r\n", "\n") + "\n"
    try:
        csr = x509.load_pem_x509_csr(pem.encode("ascii"))
        valid = csr.is_signature_valid
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{field}: not a valid certificate request ({' '.join(str(exc).split())[:120]})") from None
    if not valid:
        raise ConfigError(f"{field}: the request's signature does not verify (corrupted or edited)")
    problem = key_problem(csr)
    if problem:
        raise ConfigError(f"{field}: {problem}")
    der = csr.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, der


def load_csr(value: str, index: int, base: Path) -> tuple[str, bytes]:
    """A device's CSR from its config value: inline PEM, or a path (relative to ``base``)."""
    field = _field(index)
    if "-----BEGIN" in value:
        return parse_csr(value, field)
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    return parse_csr(read_bounded(path, field), field)


def load_fleet_csrs(values: dict[int, str], base: Path) -> dict[int, str]:
    """Every device's CSR (by device index). Two devices sharing one key pair is refused: stealing one
    device's key would then impersonate both."""
    out: dict[int, str] = {}
    owner: dict[bytes, int] = {}
    for index, value in values.items():
        pem, key = load_csr(value, index, base)
        if key in owner:
            raise ConfigError(f"{_field(index)}: the same key pair as devices[{owner[key]}] (each device needs its own key)")
        owner[key] = index
        out[index] = pem
    return out
