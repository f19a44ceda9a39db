"""Run a Pulumi program offline under the SDK's mocks and capture what the engine would see.

This is plinth's one Pulumi mock harness: ``plinth preview`` runs stacks with it, and the component
and stack tests run their programs with it too (``tests/components/mocks.py`` and
``tests/stacks/conftest.py`` are thin views over :func:`run_program`).

``RecordingMonitor`` sits where the engine's resource monitor would: every ``RegisterResource``
request (custom resources, components and providers alike) carries the resource's type, name,
parent URN, dependencies, per-property dependencies and its inputs serialised exactly as the SDK
sends them to the engine (camelCase per the provider's translation table, nested, unknowns as the
engine's sentinel strings). Those are kept in wire form (``json_format.MessageToDict``), which is
what ``pulumi_policy``'s analyzer deserialises too.

``PlausibleMocks`` answers provider invokes (AZs, caller identity, region, partition, IAM policy
documents, AMIs …) and decides what a resource's outputs are, in one of two modes:

- ``unknown_outputs=True``, **as a first real preview would**: a resource that doesn't exist yet
  has no id and no computed outputs. The engine's preview of a create propagates the resource's
  inputs to its outputs and leaves everything else unknown (Pulumi docs, "Policy as code concepts":
  "inputs are propagated to outputs during preview"); the SDK then resolves a missing id or output as
  unknown when ``dry_run`` is set (``pulumi.runtime.rpc.resolve_properties``), so ``apply`` callbacks
  on them never run, exactly as in ``pulumi preview`` of a new stack. Auto-names a provider would
  fill in during a real preview count as unknown here too: this mode never knows more than the engine.
- ``unknown_outputs=False``, **as after creation**: each resource gets an id and the outputs a
  provider would compute (ARNs, names, endpoints), so programs that build policy documents from
  ARNs produce real JSON. Physical names are the logical names; ids are ``<name>-id``.

Each run happens in a fresh ``contextvars.Context``: the SDK keeps its settings, root stack and
config in context variables, so repeated runs in one process (tests, several stacks) don't leak.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from policies.evaluate import STACK_TYPE, CapturedResource

ACCOUNT_ID = "123456789012"
T = TypeVar("T")
Invoke = Callable[[dict[str, Any]], dict[str, Any]]
# Resource references in wire form (the SDK's rpc._special_resource_sig); the analyzer never sees
# them (the engine sends the referenced id or URN), so they are flattened the same way.
RESOURCE_REF_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
SIG_KEY = "4dabf18193072939515e22adb298388d"


def _flatten_refs(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == RESOURCE_REF_SIG:
            return value.get("id") or value.get("urn")
        return {k: _flatten_refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_flatten_refs(v) for v in value]
    return value


def render_policy_document(args: Mapping[str, Any]) -> str:
    """``aws.iam.get_policy_document`` arguments (camelCase) to the IAM JSON the provider returns."""
    out_statements = []
    for st in args.get("statements") or []:
        doc: dict[str, Any] = {}
        if st.get("sid"):
            doc["Sid"] = st["sid"]
        doc["Effect"] = st.get("effect") or "Allow"
        for key, name in (("actions", "Action"), ("notActions", "NotAction"), ("resources", "Resource"),
                          ("notResources", "NotResource")):
            if st.get(key):
                vals = list(st[key])
                doc[name] = vals[0] if len(vals) == 1 else vals
        for key, name in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            if st.get(key):
                principal: dict[str, Any] = {}
                for p in st[key]:
                    ids = list(p.get("identifiers") or [])
                    principal[p.get("type")] = ids[0] if len(ids) == 1 else ids
                doc[name] = "*" if principal == {"*": "*"} else principal
        if st.get("conditions"):
            cond: dict[str, Any] = {}
            for c in st["conditions"]:
                vals = list(c.get("values") or [])
                cond.setdefault(c.get("test"), {})[c.get("variable")] = vals[0] if len(vals) == 1 else vals
            doc["Condition"] = cond
        out_statements.append(doc)
    return json.dumps({"Version": args.get("version") or "2012-10-17", "Statement": out_statements})


# DescribeEndpoint's endpoint types and the host each answers with (AWS IoT API reference; the
# provider's own validation refuses any other spelling, e.g. "iot:CredentialsProvider").
IOT_ENDPOINTS = {
    None: "{id}-ats.iot.{region}.amazonaws.com",
    "iot:Data-ATS": "{id}-ats.iot.{region}.amazonaws.com",
    "iot:Data": "{id}.iot.{region}.amazonaws.com",
    "iot:CredentialProvider": "{id}.credentials.iot.{region}.amazonaws.com",
    "iot:Jobs": "{id}.jobs.iot.{region}.amazonaws.com",
}


def iot_endpoint(endpoint_type: str | None, region: str) -> dict[str, Any]:
    """``aws.iot.get_endpoint``'s answer, or the provider's refusal of an unknown endpoint type."""
    if endpoint_type not in IOT_ENDPOINTS:
        raise ValueError(f"aws:iot/getEndpoint: expected endpoint_type to be one of "
                         f"{sorted(t for t in IOT_ENDPOINTS if t)}, got {endpoint_type}")
    address = IOT_ENDPOINTS[endpoint_type].format(id="a1b2c3d4e5f6g7", region=region)
    return {"id": region, "endpointAddress": address, "endpointType": endpoint_type}


class PlausibleMocks(pulumi.runtime.Mocks):
    """Invokes answered as AWS would; resource outputs as a first preview or as after creation
    (see the module docstring). ``zones`` is how many availability zones the region reports;
    ``calls`` adds or overrides invoke answers by token. Invokes made are kept in ``self.calls``."""

    def __init__(self, region: str = "us-east-1", *, zones: int = 6, unknown_outputs: bool = False,
                 calls: Mapping[str, Invoke] | None = None) -> None:
        self.region = region
        self.zones = zones
        self.unknown_outputs = unknown_outputs
        self.overrides = dict(calls or {})
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.local = threading.local()  # the SDK calls the monitor from executor threads

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        # The SDK's MockMonitor iterates the failures half of the answer: always a list, never None.
        self.calls.append((args.token, dict(args.args)))
        if args.token in self.overrides:
            return self.overrides[args.token](dict(args.args)), []
        return self.invoke(args.token, args.args), []

    def invoke(self, token: str, a: Mapping[str, Any]) -> dict[str, Any]:
        region = a.get("region") or self.region
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            letters = "abcdef"[: self.zones]
            return {"id": region, "names": [f"{region}{z}" for z in letters],
                    "zoneIds": [f"{_region_code(region)}-az{i}" for i in range(1, len(letters) + 1)],
                    "groupNames": [region] * len(letters), "state": a.get("state")}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"id": ACCOUNT_ID, "accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/plinth-preview",
                    "userId": "AIDAPLINTHPREVIEW"}
        if token == "aws:index/getRegion:getRegion":
            return {"id": region, "name": region, "region": region, "description": region,
                    "endpoint": f"ec2.{region}.amazonaws.com"}
        if token == "aws:index/getPartition:getPartition":
            return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            rendered = render_policy_document(a)
            return {"id": "policy-document", "json": rendered, "minifiedJson": rendered}
        if token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-0123456789abcdef0", "imageId": "ami-0123456789abcdef0", "name": "plinth-preview-ami",
                    "architecture": "x86_64"}
        if token == "aws:ssm/getParameter:getParameter":
            return {"id": a.get("name", "param"), "name": a.get("name"), "value": "ami-0123456789abcdef0",
                    "insecureValue": "ami-0123456789abcdef0", "type": "String"}
        if token == "aws:iot/getEndpoint:getEndpoint":
            return iot_endpoint(a.get("endpointType"), region)
        return {"id": token.rsplit(":", 1)[-1]}

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict]:
        self.local.args = args  # RecordingMonitor reads the SDK-deserialised inputs back
        state = dict(args.inputs)
        if self.unknown_outputs:
            return "", state  # not created yet: no id, no computed outputs (both resolve as unknown)
        if not args.custom:
            return "", state
        return f"{args.name}-id", {**state, **self.computed(args.typ, args.name, state)}

    def computed(self, typ: str, name: str, state: Mapping[str, Any]) -> dict[str, Any]:
        """The outputs a provider would fill in on create, for the types plinth reads back."""
        if not typ.startswith("aws:"):
            return {}  # providers, Kubernetes objects: nothing plinth reads back
        region, service = self.region, typ.split(":")[1].split("/")[0]
        physical = state.get("name") or name
        out: dict[str, Any] = {"name": physical, "arn": f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{name}"}
        if typ == "aws:s3/bucket:Bucket":
            bucket = state.get("bucket") or name
            out.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}", bucketDomainName=f"{bucket}.s3.amazonaws.com",
                       bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com")
        elif typ == "aws:kms/key:Key":
            out["keyId"] = f"key-{name}"
        elif typ == "aws:iam/role:Role":
            out["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:role/{physical}"
        elif typ == "aws:iam/policy:Policy":
            out["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:policy/{physical}"
        elif typ == "aws:eks/cluster:Cluster":
            out.update(endpoint=f"https://{name}.gr7.{region}.eks.amazonaws.com",
                       certificateAuthority={"data": "LS0tLS1CRUdJTi1DRVJUSUZJQ0FURS0tLS0t"},
                       vpcConfig={**(state.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{name}-cluster"},
                       identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{name}"}]}])
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            out["latestVersion"] = 1
        elif typ == "aws:ec2/keyPair:KeyPair":  # the provider names it from keyNamePrefix plus a timestamp
            out["keyName"] = state.get("keyName") or f"{state.get('keyNamePrefix', '')}20240101000000000000000001"
        elif typ == "aws:eks/nodeGroup:NodeGroup":
            out["nodeGroupName"] = state.get("nodeGroupName") or name
            out["resources"] = [{"autoscalingGroups": [{"name": f"eks-{name}-asg"}]}]  # EKS makes one ASG per group
        elif typ == "aws:iot/certificate:Certificate":
            out.update(certificatePem="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                       privateKey="-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n",
                       publicKey="-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n")
        return out


def _region_code(region: str) -> str:
    """The prefix of a region's zone ids, near enough for mocks: us-east-1 -> use1, eu-central-1 -> euc1."""
    parts = region.split("-")
    return parts[0] + "".join(p[0] for p in parts[1:-1]) + parts[-1] if len(parts) > 2 else region


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, keeping each registration as the engine would describe it."""

    def __init__(self, mock: PlausibleMocks) -> None:
        super().__init__(mock)
        self.plausible = mock
        self.captured: list[CapturedResource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == STACK_TYPE:
            self.captured.append(CapturedResource(urn=response.urn, type=request.type, name=request.name, custom=False))
            return response
        sdk_args = self.plausible.local.args
        inputs = _flatten_refs(json_format.MessageToDict(request.object))
        outputs = inputs
        if response.object and not self.plausible.unknown_outputs:
            outputs = {**inputs, **_flatten_refs(json_format.MessageToDict(response.object))}
        self.captured.append(CapturedResource(
            urn=response.urn, type=request.type, name=request.name, custom=bool(request.custom),
            parent=request.parent or None, dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items() if v.urns},
            inputs=inputs, outputs=outputs,
            provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
            provider_ref=request.provider or "", ignore_changes=list(request.ignoreChanges),
            retain_on_delete=bool(request.retainOnDelete),
            values=dict(sdk_args.inputs),
        ))
        return response


@dataclass
class EngineRun(Generic[T]):
    """One program run: what it returned, every registration in order, the stack's exports."""

    result: T
    resources: list[CapturedResource]
    mocks: PlausibleMocks
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)


def with_stack_config(config: Mapping[str, str], fn: Callable[[], T]) -> T:
    """Call ``fn`` where ``pulumi.Config`` answers with the stack's config, as it does inside a policy
    pack (the CLI hands the pack the stack's config in ``PULUMI_CONFIG``)."""

    def run() -> T:
        set_all_config(dict(config))
        return fn()

    return contextvars.Context().run(run)


async def _stack_exports() -> tuple[dict[str, Any], set[str]]:
    from pulumi.runtime.settings import get_root_resource

    root: Any = get_root_resource()
    exported: dict[str, Any] = dict(getattr(root, "outputs", None) or {})
    secret = {k for k, v in exported.items() if isinstance(v, pulumi.Output) and await v.is_secret()}
    values = await pulumi.Output.from_input(exported).future() or {}
    return dict(values), secret


def run_program(
    program: Callable[[], T],
    config: Mapping[str, str] | None = None,
    *,
    project: str = "plinth",
    stack: str = "test",
    region: str = "us-east-1",
    zones: int = 6,
    preview: bool = True,
    unknown_outputs: bool | None = None,
    calls: Mapping[str, Invoke] | None = None,
) -> EngineRun[T]:
    """Run ``program`` with ``config`` (CLI-encoded ``ns:key`` -> string) and return what it
    registered. ``preview`` is the SDK's dry-run flag; ``unknown_outputs`` (default: same as
    ``preview``) leaves outputs of resources not yet created unknown, as a first ``pulumi preview``
    sees them. The program's exceptions propagate unchanged."""

    unknown = preview if unknown_outputs is None else unknown_outputs

    def run() -> EngineRun[T]:
        set_all_config(dict(config or {}))
        mock = PlausibleMocks(region, zones=zones, unknown_outputs=unknown, calls=calls)
        monitor = RecordingMonitor(mock)
        quiet = logging.getLogger("plinth.preview.engine")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
        mocks.set_mocks(mock, project=project, stack=stack, preview=preview, logger=quiet, monitor=monitor)
        holder: list[T] = []
        with warnings.catch_warnings():
            # pulumi-aws warns about each deprecated class as its module loads, whether used or not
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_aws(\.|$)")
            _sync_await(run_pulumi_func(lambda: holder.append(program())))
        outputs, secret = _sync_await(_stack_exports())
        return EngineRun(holder[0], monitor.captured, mock, outputs, secret)

    return contextvars.Context().run(run)
