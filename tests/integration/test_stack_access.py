"""`plinth validate --stack-outputs` end to end, the way a user runs it after `pulumi up`: the real CLI
in a subprocess, EC2 answered by a moto server (instances with the pool's tags, the validator key
pair and SSH security group, console output), the node a network namespace at the instance's private
address with a real sshd on port 22. Nothing about how to log in is given on the command line: the
user and the way in come from the stack's ``validator_access`` output, the host key is checked
against the console output. Only the private key and a fresh known_hosts come from the environment.

moto answers GetConsoleOutput with one fixed text per server (tests/support/moto.py); each server
here is started with the console text cloud-init's own helper prints for a host key
(tests/support/cloud_init.py): the node's real one, or another machine's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.cloud_init import CloudInitUnavailable, console_block
from tests.support.moto import MotoUnavailable, moto_server
from tests.support.netns import NsSshFleet

pytestmark = [pytest.mark.root, pytest.mark.slow]

PLINTH = Path(sys.executable).with_name("plinth")
REGION = "us-east-1"
KEY_PAIR = "acme-validator-20250101000000000000000001"


@dataclass
class Stack:
    outputs: Path
    instance_id: str
    moto_url: str


@pytest.fixture(scope="module")
def validator_key(ns_fleet_sshd: NsSshFleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's key pair (EC2 imports ED25519 and RSA only; the fleet's client key is ECDSA). Its
    public half goes into the node's authorized_keys, as cloud-init puts the key pair's there at boot."""
    key = tmp_path_factory.mktemp("validator") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "validator@ci", "-f", str(key)], check=True)
    authorized = ns_fleet_sshd.servers[0].workdir / "authorized_keys"
    before = authorized.read_text()
    authorized.write_text(before + Path(f"{key}.pub").read_text())
    try:
        yield key
    finally:
        authorized.write_text(before)


def stack_in_moto(url: str, fleet: NsSshFleet, key: Path, tmp: Path, access: dict[str, Any]) -> Stack:
    """What `pulumi up` + EKS would have made, as far as the validator can see: a running instance
    with the pool's tags, the key pair and the SSH group, at the node's address; and the outputs."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing")
    node = fleet.fleet.host(0)
    vpc = ec2.create_vpc(CidrBlock="10.213.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=fleet.fleet.subnet)["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="acme-validator-nodes", Description="ssh", VpcId=vpc)["GroupId"]
    ec2.import_key_pair(KeyName=KEY_PAIR, PublicKeyMaterial=Path(f"{key}.pub").read_bytes())
    tags = {"plinth:pool": "infer", "eks:cluster-name": "acme-eks", "Name": "acme-infer"}
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="g6e.xlarge", SubnetId=subnet,
        PrivateIpAddress=node.address, KeyName=KEY_PAIR, SecurityGroupIds=[group],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["Instances"][0]["InstanceId"]
    outputs = {
        "strategy": "cloud-first", "profile": "single_gpu", "region": REGION, "cluster_name": "acme-eks",
        "node_groups": [{"name": "infer", "instance_type": "g6e.xlarge", "max_size": 2,
                         "tag_selector": {"tag:plinth:pool": "infer", "tag:eks:cluster-name": "acme-eks"}}],
        "gpu_node_tag_selector": {"tag:eks:cluster-name": "acme-eks", "tag-key": "plinth:pool"},
        "buckets": {}, "vpc_id": vpc,
        # the AMI's user is the test sshd's login user here; on EKS AL2023 it is ec2-user
        "validator_access": {"ssh_user": fleet.user, "key_pair_name": KEY_PAIR, "security_group_id": group,
                             "source": "cidrs", "host_keys": "ec2-console-output", **access},
    }
    path = tmp / "outputs.json"
    path.write_text(json.dumps(outputs))
    return Stack(path, instance, url)


@pytest.fixture(scope="module")
def consoles(ns_fleet_sshd: NsSshFleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("consoles")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "ssh_host_ed25519_key")], check=True)
    boot = "[    0.000000] Linux version 6.1.141-155.222.amzn2023.x86_64\n"
    try:
        genuine = console_block([ns_fleet_sshd.servers[0].workdir / "ssh_host_ed25519_key.pub"])
        other = console_block([d / "ssh_host_ed25519_key.pub"])
    except CloudInitUnavailable as exc:
        pytest.skip(str(exc))
    (d / "genuine.txt").write_text(boot + genuine)
    (d / "other.txt").write_text(boot + other)
    return {"genuine": d / "genuine.txt", "other": d / "other.txt"}


@pytest.fixture
def run_stack(ns_fleet_sshd: NsSshFleet, validator_key: Path, tmp_path: Path) -> Iterator[Any]:
    if not PLINTH.exists():
        pytest.skip(f"{PLINTH} not installed (pip install -e .)")

    def run(console: Path | None, *extra: str, access: dict[str, Any] | None = None,
            env_extra: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], Stack, Path]:
        known = tmp_path / f"known_hosts-{len(list(tmp_path.glob('known_hosts-*')))}"
        try:
            with moto_server(console_output=console) as url:
                stack = stack_in_moto(url, ns_fleet_sshd, validator_key, tmp_path, access or {})
                env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PLINTH_SSH_"))}
                env.update(env_extra or {})
                env.update(AWS_ENDPOINT_URL_EC2=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                           AWS_DEFAULT_REGION=REGION, PLINTH_SSH_IDENTITY=str(validator_key),
                           PLINTH_SSH_KNOWN_HOSTS=str(known))
                report = tmp_path / "report.json"
                argv = [str(PLINTH), "validate", "--stack-outputs", str(stack.outputs), "--quick", "--json", str(report), *extra]
                proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180, check=False, cwd=tmp_path)
        except MotoUnavailable as exc:
            pytest.skip(str(exc))
        print(f"\n$ plinth validate --stack-outputs outputs.json --quick --json report.json {' '.join(extra)}  (exit {proc.returncode})\n"
              + proc.stdout[-1500:] + proc.stderr[-800:])
        return proc, json.loads(report.read_text()), stack, known

    yield run


def test_console_vouches_for_the_node_no_flags_needed(run_stack, consoles: dict[str, Path], ns_fleet_sshd: NsSshFleet) -> None:
    proc, report, stack, known = run_stack(consoles["genuine"])
    (node,) = report["nodes"]
    # A GPU-less namespace fails GPU checks (exit 1); what matters is that it was reached and probed.
    assert node["reachable"] is True, node
    assert node["host"] == ns_fleet_sshd.fleet.host(0).address and stack.instance_id[-6:] in node["name"]
    assert proc.returncode in (0, 1) and "note:" not in proc.stderr  # launched with the key pair and the group
    key = ns_fleet_sshd.servers[0].host_key
    assert known.read_text() == f"{stack.instance_id} {key.get_name()} {key.get_base64()}\n"


def test_a_console_showing_another_key_is_refused(run_stack, consoles: dict[str, Path]) -> None:
    proc, report, stack, known = run_stack(consoles["other"], "--accept-new-host-keys")
    (node,) = report["nodes"]
    assert node["reachable"] is False and proc.returncode == 3  # only unreachable nodes: exit 3
    text = json.dumps(node)
    assert f"host key for {stack.instance_id} refused: instance {stack.instance_id} printed a different ED25519 host key" in text
    assert "possible MITM" in text and not known.exists()


def test_no_host_key_block_is_refused_without_the_opt_in(run_stack) -> None:
    proc, report, stack, known = run_stack(None)  # moto's own console text: a Xen boot log
    (node,) = report["nodes"]
    assert node["reachable"] is False and proc.returncode == 3  # only unreachable nodes: exit 3
    text = json.dumps(node)
    assert f"unknown host key for {stack.instance_id}" in text and "not verified: no SSH host key block" in text
    assert "--accept-new-host-keys" in text and not known.exists()


def test_instance_connect_endpoint_tunnel_carries_the_session(run_stack, consoles: dict[str, Path], tmp_path: Path,
                                                              ns_fleet_sshd: NsSshFleet) -> None:
    """The stack names an EC2 Instance Connect Endpoint: each node's stream is the proxy command
    `aws ec2-instance-connect open-tunnel …`. The AWS CLI's websocket to a real endpoint cannot run
    here, so `aws` on PATH is a stand-in that records its argv and relays with nc to the address
    and port it was given: what is checked is the exact argv plinth runs, and that a session through
    a proxy command is verified and probed like a direct one."""
    from tests.support.apt import ensure_packages

    missing = ensure_packages({"nc": "netcat-openbsd"})
    if missing:
        pytest.skip(missing)
    bin_dir, argv_log = tmp_path / "bin", tmp_path / "aws-argv"
    bin_dir.mkdir()
    shim = bin_dir / "aws"
    # argv: ec2-instance-connect open-tunnel --instance-connect-endpoint-id E --private-ip-address IP --remote-port P --region R
    shim.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$AWS_ARGV_LOG"\nexec nc "$6" "$8"\n')
    shim.chmod(0o755)
    eice = "eice-0123456789abcdef0"
    _proc, report, stack, known = run_stack(
        consoles["genuine"], access={"source": "instance-connect-endpoint", "instance_connect_endpoint_id": eice},
        env_extra={"PATH": f"{bin_dir}:{os.environ['PATH']}", "AWS_ARGV_LOG": str(argv_log)})
    (node,) = report["nodes"]
    assert node["reachable"] is True, node
    assert argv_log.read_text().split() == [
        "ec2-instance-connect", "open-tunnel", "--instance-connect-endpoint-id", eice,
        "--private-ip-address", ns_fleet_sshd.fleet.host(0).address, "--remote-port", "22", "--region", REGION]
    assert known.read_text().startswith(f"{stack.instance_id} ssh-ed25519 ")

