"""Inventory from a deployed stack: ``plinth validate --stack S`` (or ``--stack-outputs FILE``).

The stack's outputs (stacks/outputs.py, docs/strategies.md) name GPU pools by EC2 tag selector
because EKS, not Pulumi, picks the instances. Here each pool's selector becomes an EC2
``describe_instances`` query (running instances only) and each instance a node, addressed by its
private IP (validation runs from inside the VPC or through a jump host).

How to log in is not a stack output (keys are not infrastructure): it comes from the environment,
with the same defaults as an inventory file:

- ``PLINTH_SSH_USER`` (default ``ec2-user``, the user of the EKS AL2023 AMIs),
- ``PLINTH_SSH_IDENTITY`` (default: ssh-agent, then ~/.ssh/id_*),
- ``PLINTH_SSH_KNOWN_HOSTS`` (default ~/.ssh/known_hosts),
- ``PLINTH_SSH_JUMP`` (``[user@]host[:port]`` of a bastion, optional).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from policies.errors import ConfigError, first_error
from policies.inputs import read_input_text
from validators.inventory import Expect, Inventory, JumpHost, NodeSpec, ObjectStore


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


def _ssh_settings() -> dict[str, Any]:
    fields: dict[str, Any] = {"user": os.environ.get("PLINTH_SSH_USER", "ec2-user")}
    if os.environ.get("PLINTH_SSH_IDENTITY"):
        fields["identity_file"] = Path(os.environ["PLINTH_SSH_IDENTITY"]).expanduser()
    if os.environ.get("PLINTH_SSH_KNOWN_HOSTS"):
        fields["known_hosts"] = Path(os.environ["PLINTH_SSH_KNOWN_HOSTS"]).expanduser()
    jump = os.environ.get("PLINTH_SSH_JUMP")
    if jump:
        m = re.match(r"^(?:([^@]+)@)?([^:@]+)(?::(\d+))?$", jump)
        if not m:
            raise ConfigError(f"PLINTH_SSH_JUMP: expected [user@]host[:port], got {jump!r}")
        try:
            fields["jump"] = JumpHost(host=m.group(2), user=m.group(1), port=int(m.group(3) or 22))
        except ValidationError as exc:
            raise ConfigError(f"PLINTH_SSH_JUMP: {first_error(exc, JumpHost)}") from None
    return fields


def inventory_from_outputs(outputs: Mapping[str, Any], label: str, ec2: Any = None) -> Inventory:
    """Resolve the stack's GPU nodes through EC2. ``ec2``: a boto3 EC2 client (made from the
    outputs' region and the normal credential chain when None)."""
    region = outputs.get("region")
    selectors = _selectors(outputs, label)
    if ec2 is None:
        import boto3

        ec2 = boto3.client("ec2", region_name=region)
    ssh = _ssh_settings()
    nodes: list[NodeSpec] = []
    seen: set[str] = set()
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
            name_tag = next((t["Value"] for t in inst.get("Tags", []) if t.get("Key") == "Name"), None)
            name = re.sub(r"[^A-Za-z0-9._-]", "-", f"{pool}-{iid}" if not name_tag else f"{name_tag}-{iid[-6:]}")[:63]
            itype = inst.get("InstanceType") or pool_type
            nodes.append(NodeSpec(name=name, host=ip, role="gpu", expect=Expect(instance_type=itype), **ssh))
    if not nodes:
        sel = "; ".join(f"{p}: {s}" for p, s, _t in selectors)
        raise ConfigError(f"{label}: no running EC2 instances match the stack's GPU tag selectors ({sel}) in {region or 'the default region'}")
    store = None
    buckets = outputs.get("buckets") or {}
    if isinstance(buckets, dict) and buckets:
        bucket = buckets.get("raw") or next(iter(buckets.values()))
        store = ObjectStore(endpoint=outputs.get("object_store_endpoint"), bucket=str(bucket), region=region)
    profile = outputs.get("profile")
    return Inventory(source=label, profile=str(profile) if profile else None, nodes=nodes, object_store=store)


def load_stack_inventory(stack: str | None, outputs_file: Path | None) -> Inventory:
    label = f"--stack-outputs {outputs_file}" if outputs_file is not None else f"--stack {stack}"
    return inventory_from_outputs(read_outputs(stack, outputs_file), label)
