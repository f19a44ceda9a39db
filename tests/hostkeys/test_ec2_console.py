"""Reading an instance's console through EC2 GetConsoleOutput: boto3's real client against a moto
server (its EC2 API over HTTP). moto answers with one fixed text per server; the default one is a
Xen boot log with no host key block, which must never verify anything."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.cloud_init import CloudInitUnavailable, console_block
from tests.support.moto import MotoUnavailable, moto_server
from validators.hostkeys.ec2 import ConsoleUnavailable, Ec2Console, Ec2ConsoleEvidence

REGION = "us-east-1"


def ec2_client(url: str) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def launch(ec2: Any) -> str:
    return ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="g6e.xlarge")["Instances"][0]["InstanceId"]


@pytest.fixture(scope="module")
def host_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    d = tmp_path_factory.mktemp("host")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "ssh_host_ed25519_key")], check=True)
    pub = d / "ssh_host_ed25519_key.pub"
    return pub, base64.b64decode(pub.read_text().split()[1])


def test_moto_console_has_no_block_so_nothing_is_verified(moto: str, host_key: tuple[Path, bytes]) -> None:
    ec2 = ec2_client(moto)
    iid = launch(ec2)
    text = Ec2Console(ec2).read(iid)
    assert text.startswith("Linux version")  # moto's text came back through base64, decoded
    verdict = Ec2ConsoleEvidence(iid, REGION, Ec2Console(ec2)).verify("ssh-ed25519", host_key[1])
    assert verdict.status == "no-evidence" and f"no SSH host key block in instance {iid}'s console output" in verdict.reason


def test_an_unknown_instance_is_an_aws_error_code_not_a_verdict(moto: str, host_key: tuple[Path, bytes]) -> None:
    ec2 = ec2_client(moto)
    with pytest.raises(ConsoleUnavailable, match=r"ec2:GetConsoleOutput failed \(InvalidInstanceID.NotFound\)"):
        Ec2Console(ec2).read("i-0123456789abcdef0")
    verdict = Ec2ConsoleEvidence("i-0123456789abcdef0", REGION, Ec2Console(ec2)).verify("ssh-ed25519", host_key[1])
    assert verdict.status == "no-evidence" and "InvalidInstanceID.NotFound" in verdict.reason


def test_console_with_the_cloud_init_block_verifies_through_the_api(tmp_path: Path, host_key: tuple[Path, bytes]) -> None:
    try:
        block = console_block([host_key[0]])
    except CloudInitUnavailable as exc:
        pytest.skip(str(exc))
    console = tmp_path / "console.txt"
    console.write_text("[    0.000000] Linux version 6.1.0 (mockbuild@amazon)\n" + block)
    try:
        with moto_server(console_output=console) as url:
            ec2 = ec2_client(url)
            iid = launch(ec2)
            verdict = Ec2ConsoleEvidence(iid, REGION, Ec2Console(ec2)).verify("ssh-ed25519", host_key[1])
    except MotoUnavailable as exc:
        pytest.skip(str(exc))
    assert verdict.status == "verified", verdict


class _Console:
    """EC2's two answers for one Nitro instance: ``Latest`` (the console's last 64 KB now) and the
    buffered output posted after the instance started. moto answers both with one text, so this
    pins the choice between them; the API calls themselves are the tests above."""

    def __init__(self, latest: str | None, buffered: str) -> None:
        self.latest, self.buffered = latest, buffered
        self.calls: list[bool] = []  # the Latest flag of each call

    def get_console_output(self, InstanceId: str, Latest: bool = False) -> dict[str, Any]:  # the API's parameter names
        from botocore.exceptions import ClientError

        self.calls.append(Latest)
        if Latest and self.latest is None:  # not a Nitro instance
            raise ClientError({"Error": {"Code": "UnsupportedOperation"}}, "GetConsoleOutput")
        return {"InstanceId": InstanceId, "Output": self.latest if Latest else self.buffered}


def _keys_block(pub: Path) -> str:
    return ("ec2: -----BEGIN SSH HOST KEY KEYS-----\n" + f"ec2: {pub.read_text().strip()}\n"
            + "ec2: -----END SSH HOST KEY KEYS-----\n")


def test_a_block_scrolled_out_of_the_latest_output_is_read_from_the_buffered_one(host_key: tuple[Path, bytes]) -> None:
    """A GPU node's latest 64 KB after first boot is driver, EFA and kernel messages; the buffered
    output posted after start still holds cloud-init's block. Reading only ``Latest`` left such a
    node unverifiable."""
    scrolled = "[ 1234.5] NVRM: loading NVIDIA UNIX x86_64 Kernel Module\n" * 1000
    console = _Console(latest=scrolled, buffered="[    0.000000] Linux version 6.1\n" + _keys_block(host_key[0]))
    verdict = Ec2ConsoleEvidence("i-0123456789abcdef0", REGION, Ec2Console(console)).verify("ssh-ed25519", host_key[1])
    assert verdict.status == "verified", verdict
    assert console.calls == [True, False]


def test_the_buffered_output_is_read_only_when_the_latest_lacks_the_block(host_key: tuple[Path, bytes]) -> None:
    console = _Console(latest=_keys_block(host_key[0]), buffered="")
    assert Ec2ConsoleEvidence("i-0123456789abcdef0", REGION, Ec2Console(console)).verify(
        "ssh-ed25519", host_key[1]).status == "verified"
    assert console.calls == [True]
    older = _Console(latest=None, buffered="no block here\n")  # not Nitro: one buffered read, not two
    assert Ec2ConsoleEvidence("i-0123456789abcdef0", REGION, Ec2Console(older)).verify(
        "ssh-ed25519", host_key[1]).status == "no-evidence"
    assert older.calls == [True, False]
