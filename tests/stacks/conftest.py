"""Run the real Pulumi program (stacks.program.main) under the Pulumi SDK's mocks.

The stack file reaches the program the way the CLI passes it: Pulumi.yaml defaults overlaid by the
stack's ``config:``, every value a string, objects JSON (``pulumi.runtime.set_all_config``). The mocks
record every resource registration and answer the invokes the components use. Mock state is global
in the SDK (settings, root stack resource, config): every run resets it first.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import Stack

from policies.preview_engine import iot_endpoint
from stacks.program import cli_config_for_stack, cli_config_values, main

ACCOUNT = "123456789012"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str


@dataclass
class PlinthMocks(pulumi.runtime.Mocks):
    region: str = "us-east-1"
    resources: list[Registered] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.provider or ""))
        state = dict(args.inputs)
        service = args.typ.split(":")[1].split("/")[0] if ":" in args.typ else "x"
        if state.get("name"):
            physical = state["name"]
        elif "bucketPrefix" in state:
            physical = f"{state['bucketPrefix']}mock"
        else:
            physical = args.name
        state.setdefault("name", physical)
        state.setdefault("arn", f"arn:aws:{service}:{self.region}:{ACCOUNT}:{args.name}")
        typ = args.typ
        if typ == "aws:eks/cluster:Cluster":
            state["endpoint"] = f"https://{args.name}.eks.amazonaws.com"
            state["certificateAuthority"] = {"data": "Y2VydA=="}
            state["vpcConfig"] = {**state.get("vpcConfig", {}), "clusterSecurityGroupId": "sg-cluster"}
        elif typ == "aws:eks/nodeGroup:NodeGroup":
            state["nodeGroupName"] = args.name
            state["resources"] = [{"autoscalingGroups": [{"name": f"eks-{args.name}-asg"}]}]
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            state["latestVersion"] = 1
        elif typ == "aws:s3/bucket:Bucket":
            state["bucket"] = physical
        elif typ == "aws:kms/key:Key":
            state["keyId"] = f"key-{args.name}"
        elif typ == "aws:ec2/keyPair:KeyPair":  # the provider names it from keyNamePrefix
            state.setdefault("keyName", f"{state.get('keyNamePrefix', '')}mock")
        elif typ == "aws:iot/certificate:Certificate":
            state.setdefault("certificatePem", "-----BEGIN CERTIFICATE-----\nmock\n-----END CERTIFICATE-----\n")
            state.setdefault("privateKey", "mock-private-key")
            state.setdefault("publicKey", "mock-public-key")
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append((args.token, dict(args.args)))
        token = args.token
        region = args.args.get("region") or self.region
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{z}" for z in "abcd"]
            return {"names": names, "zoneIds": [f"use1-az{i}" for i in range(4)], "id": region}, []
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "AIDAMOCK", "id": ACCOUNT}, []
        if token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": json.dumps({"Version": "2012-10-17", "Statement": []}), "id": "doc"}, []
        if token == "aws:iot/getEndpoint:getEndpoint":
            return iot_endpoint(args.args.get("endpointType"), region), []
        return {}, []


@dataclass
class StackRun:
    mocks: PlinthMocks
    outputs: dict[str, Any]
    secret_outputs: set[str]

    @property
    def resources(self) -> list[Registered]:
        return self.mocks.resources

    def count(self, typ: str) -> int:
        return sum(1 for r in self.resources if r.type == typ)

    def types(self) -> Counter[str]:
        return Counter(r.type for r in self.resources)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]


def _reset_sdk_state() -> None:
    """The SDK keeps the root Stack, settings and config in module-level ContextVars: a second
    program in the same process would otherwise export into the first one's stack."""
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_all_config({}, [])


def run_program(config: dict[str, str], stack: str, region: str = "us-east-1") -> StackRun:
    """Run stacks.program.main under fresh mocks with ``config`` (CLI-encoded) and resolve outputs."""
    _reset_sdk_state()
    mocks = PlinthMocks(region=region)
    pulumi.runtime.set_mocks(mocks, project="plinth", stack=stack, preview=False)
    pulumi.runtime.set_all_config(config, [])
    captured: dict[str, Any] = {}
    secret: set[str] = set()

    @pulumi.runtime.test
    def program() -> Any:
        main()
        root = cast(Stack, pulumi_settings.get_root_resource())
        assert root is not None
        outputs: dict[str, Any] = root.outputs

        async def collect() -> None:
            for key, value in outputs.items():
                if isinstance(value, pulumi.Output) and await value.is_secret():
                    secret.add(key)
            captured.update(await pulumi.Output.from_input(outputs).future() or {})

        return asyncio.ensure_future(collect())

    program()
    return StackRun(mocks, captured, secret)


@pytest.fixture
def run_stack_file() -> Callable[[Path], StackRun]:
    def run(path: Path) -> StackRun:
        config = cli_config_for_stack(path)
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        return run_program(config, stack, region=config.get("aws:region", "us-east-1"))

    return run


@pytest.fixture
def run_config() -> Callable[..., StackRun]:
    def run(config: dict[str, Any], stack: str = "test") -> StackRun:
        return run_program(cli_config_values(config), stack, region=config.get("aws:region", "us-east-1"))

    return run


@pytest.fixture(autouse=True)
def _clean_pulumi_state():
    yield
    _reset_sdk_state()


REPO = Path(__file__).resolve().parents[2]
STACKS = REPO / "stacks"
