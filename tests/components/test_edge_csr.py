"""Device CSRs from the stack config: inline or a bounded regular file, exactly one request whose
signature verifies and whose key AWS IoT accepts (CreateCertificateFromCsr: RSA >= 2048 bits or
NIST P-256/P-384/P-521; SHA-256 or stronger). Real CSRs made with `cryptography`, real files, a real
FIFO and a real character device."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from components.edge_csr import MAX_CSR_BYTES, load_csr, load_fleet_csrs, parse_csr, read_bounded
from policies.errors import ConfigError

FIELD = r"^plinth:edge\.devices\[0\]\.csr: "


def make_csr(key=None, algorithm=None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme-cam-1")]))
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def p256() -> str:
    return make_csr(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())


def test_inline_and_file_forms_give_the_same_request(tmp_path: Path, p256: str) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "cam.csr").write_text(p256)
    inline, key1 = load_csr(p256, 0, tmp_path)
    from_file, key2 = load_csr("certs/cam.csr", 0, tmp_path)  # relative to the project directory
    assert inline == from_file == p256 and key1 == key2
    indented = "\n".join("  " + line for line in p256.splitlines())  # YAML folding mishaps, CRLF …
    with pytest.raises(ConfigError, match=FIELD + "found no PEM"):
        parse_csr(indented, "plinth:edge.devices[0].csr")
    assert parse_csr(p256.replace("\n", "\r\n"), "f")[0] == p256


@pytest.mark.parametrize(("key", "algorithm"), [
    (rsa.generate_private_key(65537, 2048), hashes.SHA256()),
    (ec.generate_private_key(ec.SECP384R1()), hashes.SHA384()),
    (ec.generate_private_key(ec.SECP521R1()), hashes.SHA512()),
])
def test_keys_aws_iot_accepts_are_accepted(key, algorithm) -> None:
    pem, _ = parse_csr(make_csr(key, algorithm), "f")
    assert pem.startswith("-----BEGIN CERTIFICATE REQUEST-----")


@pytest.mark.parametrize(("key", "algorithm", "message"), [
    (rsa.generate_private_key(65537, 1024), hashes.SHA256(), "RSA key of 1024 bits"),
    (ec.generate_private_key(ec.SECP256K1()), hashes.SHA256(), "EC curve secp256k1"),
    (ed25519.Ed25519PrivateKey.generate(), None, "Ed25519PublicKey key"),
    (rsa.generate_private_key(65537, 2048), hashes.SHA224(), "signed with sha224"),
])
def test_keys_or_signatures_aws_iot_refuses_are_config_errors(key, algorithm, message: str) -> None:
    with pytest.raises(ConfigError, match=FIELD) as err:
        load_csr(make_csr(key, algorithm), 0, Path("/nonexistent"))
    assert message in str(err.value)


def test_tampered_two_or_no_requests_are_refused(p256: str) -> None:
    body = p256.splitlines()
    # flip one base64 character inside the signed data: still parses, signature no longer verifies
    line = body[2]
    body[2] = line[:10] + ("A" if line[10] != "A" else "B") + line[11:]
    tampered = "\n".join(body) + "\n"
    with pytest.raises(ConfigError, match=FIELD + r"(the request's signature does not verify|not a valid certificate request)"):
        load_csr(tampered, 0, Path("."))
    with pytest.raises(ConfigError, match=FIELD + "found 2 certificate requests"):
        load_csr(p256 + p256, 0, Path("."))
    with pytest.raises(ConfigError, match=FIELD + "found no PEM certificate request"):
        load_csr("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", 0, Path("."))


def test_paths_must_be_small_regular_files(tmp_path: Path, p256: str) -> None:
    with pytest.raises(ConfigError, match=FIELD + ".*missing.csr: CSR not found"):
        load_csr("missing.csr", 0, tmp_path)
    with pytest.raises(ConfigError, match=FIELD + ".*: CSR is a directory, not a regular file"):
        load_csr(str(tmp_path), 0, tmp_path)
    with pytest.raises(ConfigError, match=FIELD + "/dev/zero: CSR is a character device, not a regular file"):
        load_csr("/dev/zero", 0, tmp_path)  # would otherwise be read forever
    big = tmp_path / "big.csr"
    big.write_text(p256 + "#" * MAX_CSR_BYTES)
    with pytest.raises(ConfigError, match=FIELD + rf".* bytes; plinth reads at most {MAX_CSR_BYTES:,} bytes"):
        load_csr("big.csr", 0, tmp_path)
    binary = tmp_path / "bin.csr"
    binary.write_bytes(b"\xff\xfe" + p256.encode())
    with pytest.raises(ConfigError, match=FIELD + ".* is not PEM text"):
        load_csr("bin.csr", 0, tmp_path)
    link = tmp_path / "link.csr"
    (tmp_path / "real.csr").write_text(p256)
    link.symlink_to(tmp_path / "real.csr")  # a link to a regular file is fine: the opened file is checked
    assert load_csr("link.csr", 0, tmp_path)[0] == p256


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes; the read must neither block nor be tried."""
    fifo = tmp_path / "pipe.csr"
    os.mkfifo(fifo)
    result: list[BaseException] = []

    def attempt() -> None:
        try:
            read_bounded(fifo, "plinth:edge.devices[0].csr")
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            result.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert isinstance(result[0], ConfigError) and "is a FIFO (named pipe), not a regular file" in str(result[0])


def test_two_devices_with_one_key_pair_are_refused(p256: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    a, b = make_csr(key, hashes.SHA256()), make_csr(key, hashes.SHA384())  # two requests, one key
    assert set(load_fleet_csrs({0: p256, 2: a}, Path("."))) == {0, 2}
    with pytest.raises(ConfigError, match=r"^plinth:edge\.devices\[3\]\.csr: the same key pair as devices\[1\]"):
        load_fleet_csrs({1: a, 3: b}, Path("."))
