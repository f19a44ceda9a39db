"""Run a Pulumi program offline under the SDK's mocks and capture what the engine would see.

``RecordingMonitor`` sits where the engine's resource monitor would: every ``RegisterResource``
request (custom resources, components and providers alike) carries the resource's type, name,
parent URN, dependencies, per-property dependencies and its inputs serialised exactly as the SDK
sends them to the engine (camelCase per the provider's translation table, nested, unknowns as the
engine's sentinel strings). Those are kept in wire form (``json_format.MessageToDict``), which is
what ``pulumi_policy``'s analyzer deserialises too.

``PlausibleMocks`` answers provider invokes (AZs, caller identity, region, partition, IAM policy
documents, AMIs …) and gives each resource an id and the outputs a provider would compute (ARNs,
names, endpoints), so programs that build policy documents from ARNs produce real JSON.

Each run happens in a fresh ``contextvars.Context``: the SDK keeps its settings, root stack and
config in context variables, so repeated runs in one process (tests, several stacks) don't leak.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from policies.evaluate import CapturedResource

ACCOUNT_ID = "123456789012"
T = TypeVar("T")
# Resource references in wire form (the SDK's rpc._special_resource_sig); the analyzer never sees
# them (the engine sends the referenced id or URN), so they are flattened the same way.
RESOURCE_REF_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
SIG_KEY = "4dabf18193072939515e22adb298388d"


def _suffix(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:7]


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
        for key, field in (("actions", "Action"), ("notActions", "NotAction"), ("resources", "Resource"),
                           ("notResources", "NotResource")):
            if st.get(key):
                vals = list(st[key])
                doc[field] = vals[0] if len(vals) == 1 else vals
        for key, field in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            if st.get(key):
                principal: dict[str, Any] = {}
                for p in st[key]:
                    ids = list(p.get("identifiers") or [])
                    principal[p.get("type")] = ids[0] if len(ids) == 1 else ids
                doc[field] = "*" if principal == {"*": "*"} else principal
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
    def __init__(self, region: str) -> None:
        self.region = region

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        token, a, region = args.token, args.args, self.region
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{z}" for z in "abcdef"]
            return {"id": region, "names": names, "zoneIds": [f"use1-az{i}" for i in range(1, 7)],
                    "groupNames": [region] * 6, "state": a.get("state")}, []
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"id": ACCOUNT_ID, "accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/plinth-preview",
                    "userId": "AIDAPLINTHPREVIEW"}, []
        if token == "aws:index/getRegion:getRegion":
            return {"id": region, "name": region, "region": region, "description": region,
                    "endpoint": f"ec2.{region}.amazonaws.com"}, []
        if token == "aws:index/getPartition:getPartition":
            return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}, []
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            rendered = render_policy_document(a)
            return {"id": _suffix(rendered), "json": rendered, "minifiedJson": rendered}, []
        if token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-0123456789abcdef0", "imageId": "ami-0123456789abcdef0", "name": "plinth-preview-ami",
                    "architecture": "x86_64"}, []
        if token == "aws:ssm/getParameter:getParameter":
            return {"id": a.get("name", "param"), "name": a.get("name"), "value": "ami-0123456789abcdef0",
                    "insecureValue": "ami-0123456789abcdef0", "type": "String"}, []
        if token == "aws:iot/getEndpoint:getEndpoint":
            return iot_endpoint(a.get("endpointType"), region), []
        return {"id": token.rsplit(":", 1)[-1]}, []

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict]:
        state = dict(args.inputs)
        if not args.custom:
            return "", state
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", state
        name = args.name
        region = state.get("region") or self.region
        service = args.typ.split(":")[1].split("/")[0]
        rid = f"{name}-{_suffix(name)}"
        arn = f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{name}"
        if args.typ == "aws:s3/bucket:Bucket":
            bucket = state.get("bucket") or f"{state.get('bucketPrefix') or name + '-'}{_suffix(name)}"
            rid, arn = bucket, f"arn:aws:s3:::{bucket}"
            state.update(bucket=bucket, bucketDomainName=f"{bucket}.s3.amazonaws.com",
                         bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com")
        elif args.typ == "aws:kms/key:Key":
            key_id = f"{_suffix(name)}-0000-4000-8000-{_suffix(name + 'k')}00000"
            rid, arn = key_id, f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id}"
            state["keyId"] = key_id
        elif args.typ == "aws:iam/role:Role":
            role = state.get("name") or rid
            arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"
            state.setdefault("name", role)
        elif args.typ == "aws:eks/cluster:Cluster":
            state.setdefault("name", rid)
            state.update(endpoint=f"https://{_suffix(name).upper()}.gr7.{region}.eks.amazonaws.com",
                         certificateAuthority={"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="},
                         vpcConfig={**(state.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{_suffix(name)}"},
                         identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{_suffix(name)}"}]}])
        elif args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
            rid = f"lt-{_suffix(name)}"
            state["latestVersion"] = 1
        elif args.typ == "aws:ec2/keyPair:KeyPair":  # the provider names it from keyNamePrefix
            rid = state.get("keyName") or f"{state.get('keyNamePrefix', '')}{_suffix(name)}"
            state["keyName"] = rid
        elif args.typ == "aws:eks/nodeGroup:NodeGroup":
            state.setdefault("nodeGroupName", rid)
            state["resources"] = [{"autoscalingGroups": [{"name": f"eks-{rid}"}]}]  # EKS makes one ASG per group
        elif args.typ == "aws:iot/certificate:Certificate":
            state.update(certificatePem="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                         privateKey="-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n",
                         publicKey="-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n")
        state.setdefault("name", state.get("name") or rid)
        state.setdefault("arn", arn)
        state["id"] = rid
        return rid, state


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, keeping each registration as the engine would describe it."""

    def __init__(self, mock: pulumi.runtime.Mocks) -> None:
        super().__init__(mock)
        self.captured: list[CapturedResource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        inputs = _flatten_refs(json_format.MessageToDict(request.object))
        outputs = _flatten_refs(json_format.MessageToDict(response.object)) if response.object else {}
        provider = request.provider.rsplit("::", 1)[0] if request.provider else None
        self.captured.append(CapturedResource(
            urn=response.urn, type=request.type, name=request.name, custom=bool(request.custom),
            parent=request.parent or None, dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items() if v.urns},
            inputs=inputs, outputs={**inputs, **outputs}, provider=provider,
        ))
        return response


def with_stack_config(config: Mapping[str, str], fn: Callable[[], T]) -> T:
    """Call ``fn`` where ``pulumi.Config`` answers with the stack's config, as it does inside a policy
    pack (the CLI hands the pack the stack's config in ``PULUMI_CONFIG``)."""

    def run() -> T:
        set_all_config(dict(config))
        return fn()

    return contextvars.Context().run(run)


def run_program(
    program: Callable[[], None], config: Mapping[str, str], *, project: str, stack: str, region: str
) -> list[CapturedResource]:
    """Run ``program`` with ``config`` (CLI-encoded ``ns:key`` -> string) as a preview; return every
    registration. The program's exceptions propagate."""

    def run() -> list[CapturedResource]:
        set_all_config(dict(config))
        mock = PlausibleMocks(region)
        monitor = RecordingMonitor(mock)
        quiet = logging.getLogger("plinth.preview.engine")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
        mocks.set_mocks(mock, project=project, stack=stack, preview=True, logger=quiet, monitor=monitor)
        with warnings.catch_warnings():
            # pulumi-aws warns about each deprecated class as its module loads, whether used or not
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_aws(\.|$)")
            _sync_await(run_pulumi_func(program))
        return monitor.captured

    return contextvars.Context().run(run)
