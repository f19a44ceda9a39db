"""Inventory from a deployed stack: ``plinth validate --stack S`` (or ``--stack-outputs FILE``).

The stack's outputs (stacks/outputs.py, docs/strategies.md) name GPU pools by EC2 tag selector
because EKS, not Pulumi, picks the instances. Here each pool's selector becomes an EC2
``describe_instances`` query (running instances only) and each instance a node, addressed by its
private IP.

How the validator gets there is the stack's ``validator_access`` output (``plinth:validation.
sshAccess``): the AMI's login user, and the way in: through an EC2 Instance Connect Endpoint (each
node's stream is ``aws ec2-instance-connect open-tunnel`` as a proxy command), through a bastion
(``jump_host``), or directly (the validator sits inside the VPC, or on-prem behind the VPN).
Every node carries its instance id: known_hosts files its key under the id (private IPs are reused
by the next node an autoscaler launches), and a key never seen before is checked against what the
instance printed to its console at first boot (validators/hostkeys).

The environment overrides (the private key is the user's, never a stack output):

- ``PLINTH_SSH_USER`` (default: the stack's ``ssh_user``, else ``ec2-user``, the EKS AL2023 AMIs' user),
- ``PLINTH_SSH_IDENTITY`` (default: ssh-agent, then ~/.ssh/id_*),
- ``PLINTH_SSH_KNOWN_HOSTS`` (default ~/.ssh/known_hosts),
- ``PLINTH_SSH_JUMP`` (``[user@]host[:port]`` of a bastion; default: the stack's ``jump_host``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from policies.errors import ConfigError, first_error
from policies.inputs import read_input_text
from validators.inventory import (
    _REGION,
    Ec2Instance,
    Expect,
    Inventory,
    JumpHost,
    NodeSpec,
    ObjectStore,
    _check_user,
)

_EICE = re.compile(r"^eice-[0-9a-f]{17}$")
_SG = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
_JUMP = re.compile(r"^(?:([^@]+)@)?([^:@]+)(?::(\d+))?$")


class ValidatorAccessOutput(BaseModel):
    """The stack's ``validator_access`` output, checked like any input: a stack output is data."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # keys added later are not an error

    ssh_user: str | None = None
    key_pair_name: str | None = None
    security_group_id: str | None = None
    instance_connect_endpoint_id: str | None = None
    jump_host: str | None = None

    _user = field_validator("ssh_user")(classmethod(lambda cls, v: _check_user(v)))

    @field_validator("key_pair_name")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is not None and not (0 < len(v) <= 255 and v.isascii() and v.isprintable()):
            raise ValueError("not an EC2 key pair name")
        return v

    @field_validator("security_group_id")
    @classmethod
    def _sg(cls, v: str | None) -> str | None:
        if v is not None and not _SG.match(v):
            raise ValueError("not a security group id")
        return v

    @field_validator("instance_connect_endpoint_id")
    @classmethod
    def _eice(cls, v: str | None) -> str | None:
        if v is not None and not _EICE.match(v):
            raise ValueError("not an EC2 Instance Connect Endpoint id (eice- and 17 hex digits)")
        return v


def read_outputs(stack: str | None, outputs_file: Path | None) -> dict[str, Any]:
    """The stack's outputs as JSON: from the file, else from ``pulumi stack output --json``."""
    label = f"--stack-outputs {outputs_file}" if outputs_file is not None else f"--stack {stack}"
    if outputs_file is not None:
        text = read_input_text(outputs_file, "stack outputs")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{label}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:  # a 5000-digit number, [[[[...]]]]
            raise ConfigError(f"{label}: not JSON: {' '.join(str(exc).split()) or exc.__class__.__name__}") from None
    else:
        if not stack or not re.match(r"^[A-Za-z0-9._/-]+$", stack):
            raise ConfigError(f"--stack {stack!r}: not a stack name")
        argv = ["pulumi", "stack", "output", "--json", "--stack", stack]  # secrets stay "[secret]"
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        except FileNotFoundError:
            raise ConfigError(f"{label}: the pulumi CLI is not installed; save `pulumi stack output --json` "
                              "and pass it with --stack-outputs FILE") from None
        except subprocess.TimeoutExpired:
            raise ConfigError(f"{label}: `pulumi stack output` did not answer within 120s") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise ConfigError(f"{label}: pulumi stack output failed: {last}")
        try:
            data = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise ConfigError(f"{label}: pulumi stack output did not print JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: (top level): expected a JSON object of stack outputs")
    return data


def _selectors(outputs: Mapping[str, Any], label: str) -> list[tuple[str, dict[str, str], str | None]]:
    """(pool name, tag selector, instance type) per GPU pool; the stack-wide selector when the
    stack exports no pools."""
    pools = outputs.get("node_groups") or []
    if not isinstance(pools, list):
        raise ConfigError(f"{label}: node_groups: expected a list")
    out = []
    for i, pool in enumerate(pools):
        sel = pool.get("tag_selector") if isinstance(pool, dict) else None
        if not isinstance(sel, dict) or not sel:
            raise ConfigError(f"{label}: node_groups[{i}].tag_selector: expected a mapping of EC2 tags")
        out.append((str(pool.get("name") or f"pool{i}"), {str(k): str(v) for k, v in sel.items()}, pool.get("instance_type")))
    if not out:
        sel = outputs.get("gpu_node_tag_selector")
        if not isinstance(sel, dict) or not sel:
            raise ConfigError(f"{label}: gpu_node_tag_selector: the stack exports no GPU nodes to validate")
        out.append(("gpu", {str(k): str(v) for k, v in sel.items()}, None))
    return out


def ec2_filters(selector: Mapping[str, str]) -> list[dict[str, Any]]:
    """The stack exports selectors as EC2 filter names (``{"tag:eks:cluster-name": c, "tag-key":
    "plinth:pool"}``); a bare key is taken as a tag name. Only running instances are nodes."""
    filters = [{"Name": k if k.startswith("tag:") or k == "tag-key" else f"tag:{k}", "Values": [v]}
               for k, v in selector.items()]
    filters.append({"Name": "instance-state-name", "Values": ["running"]})
    return filters


def find_instances(ec2: Any, selector: Mapping[str, str]) -> list[dict[str, Any]]:
    filters = ec2_filters(selector)
    found = []
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page.get("Reservations", []):
            found.extend(reservation.get("Instances", []))
    return sorted(found, key=lambda i: (i.get("LaunchTime") is None, str(i.get("LaunchTime")), i["InstanceId"]))


def parse_jump(text: str, where: str) -> JumpHost:
    """``[user@]host[:port]`` of a bastion; ConfigError naming ``where``."""
    m = _JUMP.match(text)
    if not m:
        raise ConfigError(f"{where}: expected [user@]host[:port], got {text!r:.80}")
    try:
        return JumpHost(host=m.group(2), user=m.group(1), port=int(m.group(3) or 22))
    except ValidationError as exc:
        raise ConfigError(f"{where}: {first_error(exc)}") from None


def read_access(outputs: Mapping[str, Any], label: str) -> ValidatorAccessOutput | None:
    raw = outputs.get("validator_access")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: validator_access: expected a mapping")
    try:
        return ValidatorAccessOutput.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{label}: validator_access.{first_error(exc)}") from None


def instance_connect_tunnel(endpoint_id: str, private_ip: str, region: str | None, port: int = 22) -> tuple[str, ...]:
    """The proxy command for one node through an EC2 Instance Connect Endpoint: the AWS CLI (v2.12+)
    opens a websocket to the endpoint and carries the TCP stream on stdin/stdout. With the endpoint
    id and the private IP given it needs no DescribeInstances (awscli ec2instanceconnect/opentunnel.py);
    the caller needs ``ec2-instance-connect:OpenTunnel`` on the endpoint. A tunnel lives at most
    3600 s (--max-tunnel-duration): a node whose run takes longer loses its connection."""
    if not _EICE.match(endpoint_id):
        raise ValueError(f"not an Instance Connect Endpoint id: {endpoint_id!r}")
    ip = str(ipaddress.IPv4Address(private_ip))  # EIC reaches IPv4 addresses only
    argv = ["aws", "ec2-instance-connect", "open-tunnel", "--instance-connect-endpoint-id", endpoint_id,
            "--private-ip-address", ip, "--remote-port", str(int(port))]
    if region is not None:
        if not _REGION.match(region):
            raise ValueError(f"not a region: {region!r}")
        argv += ["--region", region]
    return tuple(argv)


def _ssh_settings(access: ValidatorAccessOutput | None, label: str) -> dict[str, Any]:
    """Login settings for every node: the environment first, then the stack's validator_access."""
    user = os.environ.get("PLINTH_SSH_USER") or (access.ssh_user if access else None) or "ec2-user"
    fields: dict[str, Any] = {"user": user}
    if os.environ.get("PLINTH_SSH_IDENTITY"):
        fields["identity_file"] = Path(os.environ["PLINTH_SSH_IDENTITY"]).expanduser()
    if os.environ.get("PLINTH_SSH_KNOWN_HOSTS"):
        fields["known_hosts"] = Path(os.environ["PLINTH_SSH_KNOWN_HOSTS"]).expanduser()
    jump = os.environ.get("PLINTH_SSH_JUMP")
    if jump:
        fields["jump"] = parse_jump(jump, "PLINTH_SSH_JUMP")
    elif access is not None and access.jump_host:
        fields["jump"] = parse_jump(access.jump_host, f"{label}: validator_access.jump_host")
    return fields


def _launched_without_access(instances: list[dict[str, Any]], access: ValidatorAccessOutput | None) -> list[str]:
    """Instances that predate the stack's SSH access (no key pair, or not in the SSH group): a node
    group rolls its nodes to a new launch template one at a time, so old ones linger for a while."""
    if access is None:
        return []
    out = []
    for inst in instances:
        groups = {g.get("GroupId") for g in inst.get("SecurityGroups") or [] if isinstance(g, dict)}
        if (access.key_pair_name and inst.get("KeyName") != access.key_pair_name) or (
                access.security_group_id and access.security_group_id not in groups):
            out.append(str(inst["InstanceId"]))
    return out


def inventory_from_outputs(outputs: Mapping[str, Any], label: str, ec2: Any = None) -> Inventory:
    """Resolve the stack's GPU nodes through EC2. ``ec2``: a boto3 EC2 client (made from the
    outputs' region and the normal credential chain when None)."""
    region = outputs.get("region")
    if region is not None and (not isinstance(region, str) or not _REGION.match(region)):
        raise ConfigError(f"{label}: region: not an AWS region name")
    selectors = _selectors(outputs, label)
    access = read_access(outputs, label)
    if ec2 is None:
        import boto3

        ec2 = boto3.client("ec2", region_name=region)
    ssh = _ssh_settings(access, label)
    tunnel = access.instance_connect_endpoint_id if access is not None and "jump" not in ssh else None
    nodes: list[NodeSpec] = []
    seen: set[str] = set()
    resolved: list[dict[str, Any]] = []
    for pool, selector, pool_type in selectors:
        try:
            instances = find_instances(ec2, selector)
        except Exception as exc:  # noqa: BLE001  (botocore's errors: credentials, permissions, endpoint)
            raise ConfigError(f"{label}: cannot list EC2 instances for pool {pool} ({exc.__class__.__name__}: {exc})") from None
        for inst in instances:
            iid = inst["InstanceId"]
            ip = inst.get("PrivateIpAddress")
            if iid in seen or not ip:
                continue
            seen.add(iid)
            resolved.append(inst)
            name_tag = next((t["Value"] for t in inst.get("Tags", []) if t.get("Key") == "Name"), None)
            name = re.sub(r"[^A-Za-z0-9._-]", "-", f"{pool}-{iid}" if not name_tag else f"{name_tag}-{iid[-6:]}")[:63]
            itype = inst.get("InstanceType") or pool_type
            way_in: dict[str, Any] = {"host_key_alias": iid}
            if region is not None:
                way_in["ec2"] = Ec2Instance(instance_id=iid, region=region)
            if tunnel is not None:
                way_in["proxy_command"] = instance_connect_tunnel(tunnel, ip, region)
            try:
                nodes.append(NodeSpec(name=name, host=ip, role="gpu", expect=Expect(instance_type=itype), **ssh, **way_in))
            except (ValidationError, ValueError) as exc:  # an id or address EC2 would never hand out
                raise ConfigError(f"{label}: instance {iid!r:.40}: {exc.__class__.__name__}") from None
    if not nodes:
        sel = "; ".join(f"{p}: {s}" for p, s, _t in selectors)
        raise ConfigError(f"{label}: no running EC2 instances match the stack's GPU tag selectors ({sel}) in {region or 'the default region'}")
    store = None
    buckets = outputs.get("buckets") or {}
    if isinstance(buckets, dict) and buckets:
        bucket = buckets.get("raw") or next(iter(buckets.values()))
        store = ObjectStore(endpoint=outputs.get("object_store_endpoint"), bucket=str(bucket), region=region)
    profile = outputs.get("profile")
    notes = []
    stale = _launched_without_access(resolved, access)
    if stale:
        notes.append(f"{len(stale)} of {len(resolved)} node(s) were launched before the stack's SSH access (no key pair "
                     f"{access.key_pair_name if access else ''} or not in its security group); EKS replaces them as the "
                     f"node group rolls to the new launch template, until then SSH to them fails: {', '.join(stale[:5])}"
                     + (" …" if len(stale) > 5 else ""))
    return Inventory(source=label, profile=str(profile) if profile else None, nodes=nodes, object_store=store,
                     notes=tuple(notes))


def load_stack_inventory(stack: str | None, outputs_file: Path | None) -> Inventory:
    label = f"--stack-outputs {outputs_file}" if outputs_file is not None else f"--stack {stack}"
    return inventory_from_outputs(read_outputs(stack, outputs_file), label)
