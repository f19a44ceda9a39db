"""``plinth:validation.sshAccess`` in a stack file: bad values are one line naming the file and the
field (exit 2 from `plinth preview`, a RunError from `pulumi up`), a private key is never echoed,
and a good one gives every GPU pool the key and the SSH group and the stack its validator_access."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from policies.errors import ConfigError
from stacks.config import load_stack_file

BASE = {
    "aws:region": "us-east-1",
    "plinth:strategy": "cloud-first",
    "plinth:tags": {"owner": "t", "cost-center": "c"},
    "plinth:cluster": {"endpointPublicAccess": True, "publicAccessCidrs": ["198.51.100.0/24"]},
    "plinth:gpuPools": [
        {"name": "train", "instanceType": "p5.48xlarge", "maxSize": 2, "availabilityZone": "us-east-1b"},
        {"name": "infer", "instanceType": "g6e.xlarge", "maxSize": 2, "profile": "real_time_inference"},
    ],
}
FIELD = "plinth:validation.sshAccess"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name, argv in {"ed25519": ["-t", "ed25519"], "ecdsa": ["-t", "ecdsa"], "rsa1024": ["-t", "rsa", "-b", "1024"],
                       "rsa2048": ["-t", "rsa", "-b", "2048"]}.items():
        subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", f"{name}@ci", *argv, "-f", str(d / name)], check=True)
        out[name] = d / name
    return out


def stack(tmp_path: Path, access: dict[str, Any] | None, **over: Any) -> Path:
    config = {**BASE, **over}
    if access is not None:
        config["plinth:validation"] = {"sshAccess": access}
    path = tmp_path / "Pulumi.site.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    return path


def bad(keys: dict[str, Path]) -> list[tuple[dict[str, Any], str]]:
    pub = str(keys["ed25519"]) + ".pub"
    return [
        ({"publicKey": pub, "sourceCidrs": ["0.0.0.0/0"]}, f"{FIELD}.sourceCidrs: Value error, 0.0.0.0/0: SSH from anywhere is never allowed"),
        ({"publicKey": pub, "sourceCidrs": ["64.0.0.0/2"]}, f"{FIELD}.sourceCidrs: Value error, 64.0.0.0/2: wider than a /8"),
        ({"publicKey": pub, "sourceCidrs": ["fd00::/64"]}, f"{FIELD}.sourceCidrs: Value error, fd00::/64: nodes are reached on their private IPv4"),
        ({"publicKey": pub, "sourceSecurityGroupId": "bastion-sg"}, f"{FIELD}.sourceSecurityGroupId: Value error, not a security group id"),
        ({"publicKey": pub, "sourceSecurityGroupId": "sg-12345"}, f"{FIELD}.sourceSecurityGroupId"),
        ({"publicKey": pub}, f"{FIELD}: Value error, name exactly one SSH source"),
        ({"publicKey": pub, "instanceConnectEndpoint": True, "sourceCidrs": ["10.1.0.0/16"]}, "name exactly one SSH source"),
        ({"publicKey": pub, "instanceConnectEndpoint": True, "jumpHost": "bastion"}, "jumpHost: the Instance Connect Endpoint"),
        ({"publicKey": pub, "sourceCidrs": ["10.1.0.0/16"], "jumpHost": "a b"}, f"{FIELD}.jumpHost: Value error, expected [user@]host[:port]"),
        ({"publicKey": keys["ed25519"].read_text(), "instanceConnectEndpoint": True}, f"{FIELD}: Value error, publicKey: this is a private key"),
        ({"publicKey": str(keys["ed25519"]), "instanceConnectEndpoint": True}, "publicKey: " + str(keys["ed25519"]) + ": this is a private key"),
        ({"publicKey": str(keys["ecdsa"]) + ".pub", "instanceConnectEndpoint": True}, "publicKey: " + str(keys["ecdsa"]) + ".pub: EC2 imports only ssh-ed25519 and ssh-rsa"),
        ({"publicKey": str(keys["rsa1024"]) + ".pub", "instanceConnectEndpoint": True}, "an RSA key of 1024 bits"),
        ({"publicKey": "ssh-ed25519 AAAAnotbase64!!", "instanceConnectEndpoint": True}, "publicKey: the ssh-ed25519 key does not decode"),
        ({"publicKey": "/nonexistent/key.pub", "instanceConnectEndpoint": True}, "publicKey: cannot open /nonexistent/key.pub"),
    ]


def test_bad_ssh_access_names_file_and_field(tmp_path: Path, keys: dict[str, Path]) -> None:
    for access, expected in bad(keys):
        path = stack(tmp_path, access)
        with pytest.raises(ConfigError) as err:
            load_stack_file(path)
        msg = str(err.value)
        assert msg.startswith(f"{path}: ") and expected in msg and "\n" not in msg, (access, msg)


def test_private_key_is_never_echoed(tmp_path: Path, keys: dict[str, Path]) -> None:
    private = keys["ed25519"].read_text()
    body = "".join(private.splitlines()[1:-1])
    path = stack(tmp_path, {"publicKey": private, "instanceConnectEndpoint": True})
    with pytest.raises(ConfigError) as err:
        load_stack_file(path)
    msg = str(err.value)
    assert "OPENSSH PRIVATE" not in msg and not any(body[i:i + 12] in msg for i in range(0, len(body) - 12, 6))


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "key.pub"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"publicKey: .*key\.pub is not a regular file"):
        load_stack_file(stack(tmp_path, {"publicKey": str(fifo), "instanceConnectEndpoint": True}))


def test_access_without_gpu_pools_is_refused(tmp_path: Path, keys: dict[str, Path]) -> None:
    path = stack(tmp_path, {"publicKey": str(keys["ed25519"]) + ".pub", "instanceConnectEndpoint": True},
                 **{"plinth:gpuPools": []})
    with pytest.raises(ConfigError, match=f"{FIELD}: there are no gpuPools"):
        load_stack_file(path)


@pytest.mark.parametrize("case", ["open-cidr", "private-key", "unknown-group"])
def test_plinth_preview_exits_2_naming_the_file_and_the_field(tmp_path: Path, keys: dict[str, Path], case: str) -> None:
    """The user's command on a stack file with the mistake; no traceback, no key material."""
    from typer.testing import CliRunner

    from validators.cli import app

    access, field = {
        "open-cidr": ({"publicKey": str(keys["ed25519"]) + ".pub", "sourceCidrs": ["0.0.0.0/0"]}, f"{FIELD}.sourceCidrs"),
        "private-key": ({"publicKey": str(keys["ed25519"]), "instanceConnectEndpoint": True}, f"{FIELD}: Value error, publicKey"),
        "unknown-group": ({"publicKey": str(keys["ed25519"]) + ".pub", "sourceSecurityGroupId": "my-bastion"},
                          f"{FIELD}.sourceSecurityGroupId"),
    }[case]
    path = stack(tmp_path, access)
    result = CliRunner().invoke(app, ["preview", "--stack", str(path)])
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and field in result.output
    assert "Traceback" not in result.output and "PRIVATE KEY" not in result.output


def test_program_wires_every_pool_and_exports_validator_access(tmp_path: Path, keys: dict[str, Path], run_stack_file) -> None:
    pub = str(keys["rsa2048"]) + ".pub"
    run = run_stack_file(stack(tmp_path, {"publicKey": pub, "sourceSecurityGroupId": "sg-0123456789abcdef0",
                                          "jumpHost": "ec2-user@bastion.example.com"}))
    (key,) = run.of_type("aws:ec2/keyPair:KeyPair")
    assert key.inputs["publicKey"].startswith("ssh-rsa AAAA") and "@ci" not in key.inputs["publicKey"]
    templates = {r.name: r.inputs for r in run.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    gpu = {n: t for n, t in templates.items() if "-system-" not in n}
    assert sorted(gpu) == ["plinth-infer-lt", "plinth-train-lt"]
    # what the mocks compute: the key pair's prefix plus the provider's timestamp suffix, the cluster's
    # security group from its name, ids from logical names
    key_name = f"{key.inputs['keyNamePrefix']}20240101000000000000000001"
    assert all(t["keyName"] == key_name for t in gpu.values())
    ssh_group = "plinth-validator-nodes-id"
    [cluster] = run.of_type("aws:eks/cluster:Cluster")
    assert gpu["plinth-infer-lt"]["vpcSecurityGroupIds"] == [f"sg-{cluster.name}-cluster", ssh_group]
    assert all(ssh_group in nic["securityGroups"] for nic in gpu["plinth-train-lt"]["networkInterfaces"])
    # the system node group (CoreDNS, the autoscaler) is not a validation target: no key, no SSH
    system = next(t for n, t in templates.items() if "-system-" in n)
    assert "keyName" not in system
    assert run.outputs["validator_access"] == {
        "ssh_user": "ec2-user", "key_pair_name": key_name, "security_group_id": ssh_group,
        "source": "security-group", "host_keys": "ec2-console-output", "jump_host": "ec2-user@bastion.example.com"}


def test_without_the_setting_nothing_changes(tmp_path: Path, run_stack_file) -> None:
    run = run_stack_file(stack(tmp_path, None))
    assert not run.of_type("aws:ec2/keyPair:KeyPair") and "validator_access" not in run.outputs
    assert all("keyName" not in r.inputs for r in run.of_type("aws:ec2/launchTemplate:LaunchTemplate"))
