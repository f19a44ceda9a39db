"""Run a Pulumi program under the real SDK's mocks and record every resource it registers.

Shared by the component tests (any pillar may import it)::

    from tests.components.mocks import run_program

    run = run_program(lambda: GpuNodePool("gpu", args))
    ng = run.one("aws:eks/nodeGroup:NodeGroup")
    assert ng.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert run.value(run.result.max_size) == 4

What the SDK does for real here: input serialisation (so inputs arrive with their wire names, camelCase,
and integers come back as floats), Output plumbing, parent/provider URNs and resource options. What is
faked: the cloud. ``new_resource`` echoes the inputs back as state plus a few computed attributes
(ids, ARNs, endpoints) that real providers would fill in; ``call`` answers the few invokes components use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pulumi
from pulumi.runtime import mocks as _mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

T = TypeVar("T")
ACCOUNT = "123456789012"


@dataclass
class Registered:
    """One RegisterResource call as the engine would have seen it."""

    type: str
    name: str
    inputs: dict[str, Any]
    urn: str = ""
    parent: str = ""
    provider: str = ""
    custom: bool = True
    ignore_changes: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    retain_on_delete: bool = False


def _computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Attributes the provider would compute, for the types plinth's components read back."""
    arn = f"arn:aws:{typ.split(':')[1].split('/')[0]}:us-east-1:{ACCOUNT}:{name}"
    extra: dict[str, Any] = {"arn": arn}
    if typ == "aws:iam/role:Role":
        extra["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        extra["name"] = inputs.get("name", name)
    elif typ == "aws:eks/cluster:Cluster":
        extra.update(
            name=inputs.get("name", name),
            endpoint=f"https://{name}.gr7.us-east-1.eks.amazonaws.com",
            certificateAuthority={"data": "LS0tLS1CRUdJTi1DRVJUSUZJQ0FURS0tLS0t"},
            vpcConfig={**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{name}-cluster"},
        )
    elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
        extra["latestVersion"] = 1
    elif typ == "aws:eks/nodeGroup:NodeGroup":
        extra["nodeGroupName"] = inputs.get("nodeGroupName", name)
        extra["resources"] = [{"autoscalingGroups": [{"name": f"eks-{name}-asg"}]}]  # EKS makes one ASG per group
    elif typ == "aws:ec2/placementGroup:PlacementGroup":
        extra["name"] = inputs.get("name", name)
    elif typ == "aws:ec2/keyPair:KeyPair":  # the provider names it from keyNamePrefix
        extra["keyName"] = inputs.get("keyName") or f"{inputs.get('keyNamePrefix', '')}20240101000000000000000001"
    elif typ.startswith("aws:s3/bucket:Bucket"):
        extra["bucket"] = inputs.get("bucket", name)
        extra["arn"] = f"arn:aws:s3:::{extra['bucket']}"
    return extra


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs as state (plus computed attributes); answer common invokes."""

    def __init__(self, calls: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None) -> None:
        self.calls = {
            "aws:index/getPartition:getPartition": lambda _a: {"partition": "aws", "dnsSuffix": "amazonaws.com"},
            "aws:index/getRegion:getRegion": lambda _a: {"region": "us-east-1", "name": "us-east-1"},
            "aws:index/getCallerIdentity:getCallerIdentity": lambda _a: {
                "accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test", "userId": "AIDTEST"},
            "aws:index/getAvailabilityZones:getAvailabilityZones": lambda _a: {
                "names": ["us-east-1a", "us-east-1b", "us-east-1c"], "zoneIds": ["use1-az1", "use1-az2", "use1-az4"]},
            **(calls or {}),
        }

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        state = {**args.inputs, **_computed(args.typ, args.name, args.inputs)}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        handler = self.calls.get(args.token)
        # The SDK's MockMonitor iterates the failures half of this answer: it must be a list, never None.
        return (handler(args.args) if handler else {}), []


class RecordingMonitor(_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping the request fields mocks don't see (parent, options)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registered.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    inputs=_mocks.rpc.deserialize_properties(request.object),
                    urn=response.urn,
                    parent=request.parent,
                    provider=request.provider,
                    custom=bool(request.custom),
                    ignore_changes=list(request.ignoreChanges),
                    dependencies=list(request.dependencies),
                    retain_on_delete=bool(request.retainOnDelete),
                )
            )
        return response


@dataclass
class Run(Generic[T]):
    result: T
    resources: list[Registered]

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> Registered:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, got {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def types(self) -> list[str]:
        return [r.type for r in self.resources]

    @staticmethod
    def value(output: Any) -> Any:
        """The resolved value of an Output (or plain value) after the run."""
        return _sync_await(pulumi.Output.from_input(output).future())


def run_program(
    build: Callable[[], T],
    *,
    preview: bool = False,
    calls: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
    project: str = "plinth",
    stack: str = "test",
) -> Run[T]:
    """Configure fresh mocks, run ``build`` as a Pulumi program, wait for every registration, and
    return what it built plus everything registered. Exceptions raised by ``build`` (e.g. ConfigError)
    propagate unchanged."""
    mocks = RecordingMocks(calls)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    holder: list[T] = []
    _sync_await(run_pulumi_func(lambda: holder.append(build())))
    return Run(result=holder[0], resources=monitor.registered)
