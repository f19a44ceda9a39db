"""The console parser and judge on real cloud-init output and on console text crafted to mislead.

Two real sources: AWS's published get-console-output example (Amazon Linux, "ec2:" tag; cited in
the data file), and cloud-init's own helper (Debian's cloud-init 22.4 package, the same script and
logger format AL2023's cloud-init 22.2 uses) run against keys made here, so the verdict can be
checked against the key itself."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cloud_init import CloudInitUnavailable, console_block
from validators.hostkeys.console import MAX_CONSOLE_CHARS, judge_host_key, parse_console, sha256_fingerprint

DATA = Path(__file__).parent / "data"
WHERE = "instance i-0123456789abcdef0"


def keygen(directory: Path, kind: str) -> tuple[str, bytes]:
    """A host key pair named as sshd names it; (type, public blob)."""
    path = directory / f"ssh_host_{kind}_key"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "root@node", "-f", str(path)], check=True)
    key_type, b64 = path.with_suffix(".pub").read_text().split()[:2]
    return key_type, base64.b64decode(b64)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bytes] | str]:
    d = tmp_path_factory.mktemp("host")
    ed, ec = keygen(d, "ed25519"), keygen(d, "ecdsa")
    try:
        console = console_block([d / "ssh_host_ed25519_key.pub", d / "ssh_host_ecdsa_key.pub"])
    except CloudInitUnavailable as exc:
        pytest.skip(str(exc))
    return {"ed25519": ed, "ecdsa": ec, "console": console}


def other_key(tmp_path: Path, kind: str = "ed25519") -> tuple[str, bytes]:
    return keygen(tmp_path, kind)


def test_cloud_init_helper_output_verifies_the_keys_it_printed(host) -> None:
    seen = parse_console(str(host["console"]))
    assert not seen.problems
    for kind in ("ed25519", "ecdsa"):
        key_type, blob = host[kind]  # type: ignore[misc]
        verdict = judge_host_key(key_type, blob, seen, WHERE)
        # Both the fingerprint line and the key line name this key: verified by both.
        assert verdict.status == "verified", verdict
        assert "fingerprint and key" in verdict.reason and sha256_fingerprint(blob) in verdict.reason


def test_another_key_of_the_same_type_is_a_mismatch(host, tmp_path: Path) -> None:
    """A man in the middle presents his own ED25519 key: the console says otherwise."""
    key_type, blob = other_key(tmp_path)
    verdict = judge_host_key(key_type, blob, parse_console(str(host["console"])), WHERE)
    assert verdict.status == "mismatch"
    assert sha256_fingerprint(host["ed25519"][1]) in verdict.reason  # type: ignore[index]


def test_a_type_the_console_never_printed_is_no_evidence_not_a_match(host, tmp_path: Path) -> None:
    key_type, blob = other_key(tmp_path, "rsa")
    verdict = judge_host_key(key_type, blob, parse_console(str(host["console"])), WHERE)
    assert verdict.status == "no-evidence" and "printed no RSA host key" in verdict.reason
    assert "ECDSA-256, ED25519" in verdict.reason


def test_aws_example_ec2_tagged_fingerprints() -> None:
    """AWS's example output: four fingerprints, all taken; an ED25519 key other than the one it
    printed is refused (the expert's verdict: it is not that instance's key)."""
    seen = parse_console((DATA / "ec2-user-guide_get-console-output.txt").read_text())
    assert seen.fingerprints == {
        ("DSA", "7HItIgTONZ/b0CH9c5Dq1ijgqQ6kFn86uQhQ5E/F9pU"), ("ECDSA-256", "l4UB/neBad9tvkgJf1QZWxheQmR59WgrgzEimCG6kZY"),
        ("ED25519", "kpEa+rw/Uq3zxaYZN8KT501iBtJOIdHG52dFi66EEfQ"), ("RSA", "L8l6pepcA7iqW/jBecQjVZClUrKY+o2cHLI0iHerbVc"),
    }
    assert not seen.keys and not seen.problems


def test_the_block_must_be_whole(host) -> None:
    text = str(host["console"])
    # EC2 keeps the tail: a console cut inside the fingerprints loses that block, keeps the keys
    cut = parse_console(text[text.index("(ECDSA)"):])
    assert not cut.fingerprints and cut.keys and "END line without its BEGIN" in " ".join(cut.problems)
    # a console still being written (no END yet): that block proves nothing
    head = parse_console(text[: text.index("-----END SSH HOST KEY KEYS-----")])
    assert head.fingerprints and not head.keys and "without its END line" in " ".join(head.problems)


def test_one_foreign_line_drops_the_whole_block(host) -> None:
    text = str(host["console"]).replace("-----END SSH HOST KEY KEYS-----",
                                        "AAAA-not-a-key\n-----END SSH HOST KEY KEYS-----")
    seen = parse_console(text)
    assert not seen.keys and seen.fingerprints  # the fingerprint block was fine and stays
    assert any("dropped whole" in p for p in seen.problems)


def test_a_second_block_with_another_key_is_a_contradiction(host, tmp_path: Path) -> None:
    """Someone able to print to the console later adds a block with his key: neither key wins."""
    forged_type, forged = other_key(tmp_path)
    forged_line = f"{forged_type} {base64.b64encode(forged).decode()}"
    text = str(host["console"]) + f"-----BEGIN SSH HOST KEY KEYS-----\n{forged_line}\n-----END SSH HOST KEY KEYS-----\n"
    seen = parse_console(text)
    for blob in (host["ed25519"][1], forged):  # type: ignore[index]
        assert judge_host_key("ssh-ed25519", blob, seen, WHERE).status == "mismatch"


def test_lines_outside_blocks_and_kernel_lines_are_not_evidence(host) -> None:
    key_type, blob = host["ed25519"]  # type: ignore[misc]
    line = f"256 SHA256:{sha256_fingerprint(blob)} root@node (ED25519)"
    # a fingerprint printed loose, and a whole block behind the kernel's printk prefix (not cloud-init's)
    text = f"{line}\n[   12.000001] -----BEGIN SSH HOST KEY FINGERPRINTS-----\n[   12.000002] {line}\n" \
           "[   12.000003] -----END SSH HOST KEY FINGERPRINTS-----\n"
    verdict = judge_host_key(key_type, blob, parse_console(text), WHERE)
    assert verdict.status == "no-evidence" and "no SSH host key block" in verdict.reason


def test_md5_fingerprints_are_not_evidence() -> None:
    """OpenSSH before 6.8 printed MD5 (`1024 26:dd:…  root@host (DSA)`): not strong enough to vouch."""
    text = ("ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
            "ec2: 256 b7:b2:e6:ee:64:e4:6b:bc:cb:76:fb:d2:6a:86:c5:2d  root@node (ED25519)\n"
            "ec2: -----END SSH HOST KEY FINGERPRINTS-----\n")
    seen = parse_console(text)
    assert seen.empty and "MD5" in " ".join(seen.problems)


def test_a_key_line_whose_blob_is_another_type_is_dropped(host) -> None:
    ecdsa_b64 = base64.b64encode(host["ecdsa"][1]).decode()  # type: ignore[index]
    text = f"-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 {ecdsa_b64}\n-----END SSH HOST KEY KEYS-----\n"
    assert parse_console(text).empty


def test_huge_console_keeps_its_tail_in_bounded_time(host) -> None:
    junk = ("x" * 200 + "\n") * 50_000 + "\x1b[31m\x00\r\n" * 1000  # 10 MB of noise before the block
    started = time.monotonic()
    seen = parse_console(junk + str(host["console"]))
    assert time.monotonic() - started < 2.0
    assert seen.fingerprints and seen.keys
    assert MAX_CONSOLE_CHARS < len(junk)
    # and a block pushed out of the kept tail is gone, as it would be from EC2's 64 KB
    assert parse_console(str(host["console"]) + junk).empty
