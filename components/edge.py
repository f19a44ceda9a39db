"""The edge pillar: an AWS IoT device group, its path to the lakehouse and, optionally, an inference
workload on an edge cluster.

Usage (from a strategy)::

    from components.edge import EdgeDeviceGroup, EdgeDeviceGroupArgs, EdgeLake

    fleet = EdgeDeviceGroup("edge", EdgeDeviceGroupArgs(
        edge=cfg.edge, prefix=cfg.prefix, region=cfg.region, tags=cfg.resource_tags(),
        lake=EdgeLake(zones=cfg.lakehouse.zones, bucket_arns=lake.bucket_arns, kms_key_arn=lake.kms_key_arn)))
    pulumi.export("edge_credentials_endpoint", fleet.credentials_endpoint)
    pulumi.export("edge_role_aliases", fleet.role_aliases)      # device -> role alias it asks for

Per device: one IoT thing and one X.509 certificate, signed by AWS IoT from the device's CSR
(``csr``: inline PEM or a path; :mod:`components.edge_csr`), so the private key never leaves the
device and never lands in Pulumi state. ``generateKeyPair: true`` is the explicit opt-in to an
AWS-made key pair: the run warns, and the private key is a secret output to copy to the device once.

Devices reach their lakehouse zones through the AWS IoT credentials provider
(:mod:`components.edge_credentials`): per set of devices with the same zones, an IAM role trusted by
``credentials.iot.amazonaws.com`` whose policy reaches only ``devices/<thing name>/`` in those zones, a
role alias, and an IoT policy (:mod:`components.iot_policy`) allowing MQTT on the device's own topics
and ``iot:AssumeRoleWithCertificate`` on that alias only. The endpoints a device needs (credentials
provider, MQTT data) come from ``DescribeEndpoint`` invokes and are outputs.

With ``edge.workload`` an inference Deployment/DaemonSet runs on the edge cluster (k3s on Jetson,
NUC …) through its own Kubernetes provider: Guaranteed QoS (requests = limits), a GPU limit and
toleration when it uses GPUs, read-only root filesystem, non-root, and ``MAX_INPUT_MB`` (the seed's
10 MB input cap) in its environment. The manifest is a pure builder (:func:`workload_manifest`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.edge_credentials import (
    CREDENTIALS_ENDPOINT_TYPE,
    DATA_ENDPOINT_TYPE,
    access_sets,
    check_zone_access,
    lake_access_policy,
    role_alias_arn,
    role_alias_name,
    trust_policy,
)
from components.edge_csr import load_fleet_csrs
from components.iot_policy import check_topic_prefix, device_policy_document
from components.lakehouse import partition_of
from policies.errors import ConfigError
from stacks.config import EdgeConfig, EdgeDevice, EdgeWorkload

EDGE_NAMESPACE = "plinth-edge"
_IOT_NAME = re.compile(r"^[A-Za-z0-9:_-]{1,128}$")
# the group names a thing type, a thing group, IoT policies and role aliases: only what all four accept
_GROUP = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


# ---- pure helpers ---------------------------------------------------------------------------

def thing_name(prefix: str, device: EdgeDevice) -> str:
    return f"{prefix}-{device.name}"


def check_group(group: str) -> None:
    if not _GROUP.match(group):
        raise ConfigError(f"plinth:edge.group: letters, digits, '_' and '-' only, at most 60 characters (got {group!r})")


def check_devices(prefix: str, devices: list[EdgeDevice]) -> None:
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise ConfigError("plinth:edge.devices: device names must be unique")
    for i, d in enumerate(devices):
        if not _IOT_NAME.match(thing_name(prefix, d)):
            raise ConfigError(
                f"plinth:edge.devices[{i}].name: letters, digits, ':', '_' or '-' only, at most {127 - len(prefix)} characters (got {d.name!r})"
            )


def workload_labels(wl: EdgeWorkload) -> dict[str, str]:
    return {"app.kubernetes.io/name": wl.name, "app.kubernetes.io/part-of": "plinth", "plinth.dev/pillar": "edge"}


def workload_manifest(wl: EdgeWorkload, namespace: str = EDGE_NAMESPACE) -> dict[str, Any]:
    """The Deployment or DaemonSet for the edge inference workload, as a plain Kubernetes object."""
    if not _DNS_LABEL.match(wl.name):
        raise ConfigError(f"plinth:edge.workload.name: must be a DNS label (lowercase letters, digits, '-'; got {wl.name!r})")
    labels = workload_labels(wl)
    resources: dict[str, dict[str, str]] = {
        # requests == limits: Guaranteed QoS, so a small edge box never evicts its inference pod first
        "requests": {"cpu": wl.cpu, "memory": wl.memory},
        "limits": {"cpu": wl.cpu, "memory": wl.memory},
    }
    tolerations: list[dict[str, str]] = []
    if wl.gpus > 0:
        resources["limits"]["nvidia.com/gpu"] = str(wl.gpus)
        tolerations.append({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
    pod_spec: dict[str, Any] = {
        "nodeSelector": dict(wl.node_selector),
        "automountServiceAccountToken": False,  # inference needs no Kubernetes API access
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": wl.name,
            "image": wl.image,
            "env": [{"name": "MAX_INPUT_MB", "value": str(wl.max_input_mb)}],
            "resources": resources,
            "securityContext": {
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
            # a read-only root still needs somewhere to put temporary files
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
    }
    if tolerations:
        pod_spec["tolerations"] = tolerations
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if wl.kind == "Deployment":
        spec = {"replicas": wl.replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": wl.kind,
        "metadata": {"name": wl.name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def namespace_manifest(namespace: str = EDGE_NAMESPACE) -> dict[str, Any]:
    # "restricted" Pod Security: the cluster itself refuses a pod that loses the hardening above
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}


def _dict_output(items: dict[str, pulumi.Output[str]]) -> pulumi.Output[dict[str, str]]:
    # Output.all() with no arguments yields a list, not a dict (every device may have a CSR)
    return pulumi.Output.all(**items) if items else pulumi.Output.from_input(cast(dict[str, str], {}))


# ---- component ------------------------------------------------------------------------------

@dataclass
class EdgeLake:
    """The lakehouse the devices reach through the IoT credentials provider."""

    zones: list[str]
    bucket_arns: pulumi.Input[dict[str, str]]
    kms_key_arn: pulumi.Input[str]


@dataclass
class EdgeDeviceGroupArgs:
    edge: EdgeConfig
    prefix: str
    region: str
    tags: dict[str, str] = field(default_factory=dict)
    k8s_provider: k8s.Provider | None = None
    csr_base_dir: Path | None = None  # where relative csr paths start (default: cwd)
    lake: EdgeLake | None = None  # None: devices get no AWS credentials (MQTT only)


def certificate_sources(devices: list[EdgeDevice]) -> dict[int, str]:
    """Device index -> its CSR config value; a device without one must opt in to an AWS-made key."""
    out: dict[int, str] = {}
    for i, d in enumerate(devices):
        if d.csr and d.generate_key_pair:
            raise ConfigError(f"plinth:edge.devices[{i}].generateKeyPair: set either csr or generateKeyPair, not both")
        if d.csr:
            out[i] = d.csr
        elif not d.generate_key_pair:
            raise ConfigError(
                f"plinth:edge.devices[{i}].csr: required: the device's PEM certificate request (inline or a path), "
                "so its private key never leaves it; or generateKeyPair: true to let AWS make the key (it is "
                "then kept, encrypted, in Pulumi state)")
    return out


def set_key(zones: tuple[str, ...]) -> str:
    """A short, stable name for one access set (a zone list)."""
    tail = "-".join(zones) if zones else "none"
    return tail if len(tail) <= 40 else hashlib.sha256(tail.encode()).hexdigest()[:12]


class EdgeDeviceGroup(pulumi.ComponentResource):
    thing_group_name: pulumi.Output[str]
    thing_names: pulumi.Output[list[str]]
    policy_names: pulumi.Output[list[str]]
    certificate_arns: pulumi.Output[list[str]]
    certificate_pems: pulumi.Output[dict[str, str]]
    private_keys: pulumi.Output[dict[str, str]]
    role_aliases: pulumi.Output[dict[str, str]]
    credentials_endpoint: pulumi.Output[str]
    data_endpoint: pulumi.Output[str]
    workload_name: str | None

    def __init__(self, name: str, args: EdgeDeviceGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:edge:EdgeDeviceGroup", name, None, opts)
        cfg, region, p = args.edge, args.region, args.prefix
        check_topic_prefix(cfg.topic_prefix)
        check_group(cfg.group)
        check_devices(p, cfg.devices)
        csrs = load_fleet_csrs(certificate_sources(cfg.devices), args.csr_base_dir or Path.cwd())
        if args.lake is not None:
            check_zone_access(cfg, args.lake.zones)
        sets = access_sets(cfg)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "plinth:pillar": "edge"}
        group_id = f"{p}-{cfg.group}"

        thing_type = aws.iot.ThingType(
            f"{name}-type", name=group_id, region=region, tags=tags,
            properties=aws.iot.ThingTypePropertiesArgs(description=f"{p} edge devices ({cfg.group})",
                                                       searchable_attributes=["hardware"]),
            opts=child)
        group = aws.iot.ThingGroup(f"{name}-group", name=group_id, region=region, tags=tags, opts=child)
        caller = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))

        # One IoT policy per access set; with a lakehouse, each set also gets its role and alias.
        policy_of: dict[int, aws.iot.Policy] = {}
        alias_of: dict[int, pulumi.Output[str]] = {}
        policies: list[aws.iot.Policy] = []
        for zones, members in sets.items():
            key = set_key(zones)
            alias = self._credentials(name, key, zones, args, group_id, tags) if args.lake and zones else None
            policy = aws.iot.Policy(
                f"{name}-policy-{key}", name=f"{group_id}-device-{key}", region=region, tags=tags,
                policy=pulumi.Output.all(caller.account_id, caller.arn, alias.alias if alias else None).apply(
                    lambda a: json.dumps(device_policy_document(
                        region, a[0], cfg.topic_prefix, partition_of(a[1]),
                        role_alias_arn=role_alias_arn(partition_of(a[1]), region, a[0], a[2]) if a[2] else None))),
                opts=child)
            policies.append(policy)
            for i in members:
                policy_of[i] = policy
                if alias is not None:
                    alias_of[i] = alias.alias

        things: list[aws.iot.Thing] = []
        certs: list[aws.iot.Certificate] = []
        pems: dict[str, pulumi.Output[str]] = {}
        keys: dict[str, pulumi.Output[str]] = {}
        for i, d in enumerate(cfg.devices):
            thing = aws.iot.Thing(f"{name}-{d.name}", name=thing_name(p, d), thing_type_name=thing_type.name,
                                  attributes={"hardware": d.hardware, "group": cfg.group}, region=region, opts=child)
            csr = csrs.get(i)
            if csr is None:
                pulumi.log.warn(f"plinth:edge.devices[{i}].generateKeyPair: AWS makes {d.name}'s key pair; its private "
                                "key is stored (encrypted) in Pulumi state and exported once as a secret. "
                                "Prefer a CSR made on the device.")
            cert = aws.iot.Certificate(f"{name}-{d.name}", active=True, csr=csr, region=region, opts=child)
            aws.iot.PolicyAttachment(f"{name}-{d.name}", policy=policy_of[i].name, target=cert.arn, region=region,
                                     opts=child)
            # EXCLUSIVE_THING: this certificate cannot be attached to (and so act as) another thing; the
            # credentials provider also checks the x-amzn-iot-thingname header against this attachment
            aws.iot.ThingPrincipalAttachment(f"{name}-{d.name}", principal=cert.arn, thing=thing.name,
                                             thing_principal_type="EXCLUSIVE_THING", region=region, opts=child)
            aws.iot.ThingGroupMembership(f"{name}-{d.name}", thing_group_name=group.name, thing_name=thing.name,
                                         region=region, opts=child)
            things.append(thing)
            certs.append(cert)
            pems[d.name] = pulumi.Output.secret(cert.certificate_pem)
            if csr is None:
                keys[d.name] = pulumi.Output.secret(cert.private_key)

        self.workload_name = None
        if cfg.workload is not None:
            self._workload(name, cfg.workload, args.k8s_provider)

        invoke = pulumi.InvokeOptions(parent=self)
        self.credentials_endpoint = aws.iot.get_endpoint_output(
            endpoint_type=CREDENTIALS_ENDPOINT_TYPE, region=region, opts=invoke).endpoint_address
        self.data_endpoint = aws.iot.get_endpoint_output(
            endpoint_type=DATA_ENDPOINT_TYPE, region=region, opts=invoke).endpoint_address
        self.thing_group_name = group.name
        self.thing_names = pulumi.Output.all(*[t.name for t in things])
        self.policy_names = pulumi.Output.all(*[pol.name for pol in policies])
        self.certificate_arns = pulumi.Output.all(*[c.arn for c in certs])
        self.certificate_pems = pulumi.Output.secret(_dict_output(pems))
        self.private_keys = pulumi.Output.secret(_dict_output(keys))
        self.role_aliases = _dict_output({cfg.devices[i].name: a for i, a in alias_of.items()})
        self.register_outputs({
            "thing_group_name": self.thing_group_name,
            "thing_names": self.thing_names,
            "policy_names": self.policy_names,
            "certificate_arns": self.certificate_arns,
            "certificate_pems": self.certificate_pems,
            "private_keys": self.private_keys,
            "role_aliases": self.role_aliases,
            "credentials_endpoint": self.credentials_endpoint,
            "data_endpoint": self.data_endpoint,
            "workload_name": self.workload_name,
        })

    def _credentials(self, name: str, key: str, zones: tuple[str, ...], args: EdgeDeviceGroupArgs, group_id: str,
                     tags: dict[str, str]) -> aws.iot.RoleAlias:
        """Role (trusted by the credentials provider) + its lake policy + the alias devices ask for."""
        lake, region = args.lake, args.region
        assert lake is not None
        duration = args.edge.credential_duration_seconds
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-lake-{key}", assume_role_policy=json.dumps(trust_policy()),
            # the alias's credential lifetime must not exceed the role's maximum session (API rule)
            max_session_duration=max(3600, duration),
            description=f"{group_id} devices: lakehouse zones {', '.join(zones)} via the IoT credentials provider",
            tags=tags, opts=child)
        zone_access = args.edge.zone_access
        aws.iam.RolePolicy(
            f"{name}-lake-{key}", role=role.id,
            policy=pulumi.Output.all(pulumi.Output.from_input(lake.bucket_arns), lake.kms_key_arn).apply(
                lambda a: json.dumps(lake_access_policy(zone_access, zones, a[0], a[1], region))),
            opts=child)
        return aws.iot.RoleAlias(
            f"{name}-lake-{key}", alias=role_alias_name(group_id, zones), role_arn=role.arn,
            credential_duration=duration, region=region, tags=tags, opts=child)

    def _workload(self, name: str, wl: EdgeWorkload, provider: k8s.Provider | None) -> None:
        if provider is None:
            # kubeconfig takes a path or the file's contents; None means KUBECONFIG / ~/.kube/config
            provider = k8s.Provider(f"{name}-edge-cluster", kubeconfig=wl.kubeconfig, context=wl.context,
                                    opts=pulumi.ResourceOptions(parent=self))
        ns_obj = namespace_manifest()
        ns = k8s.core.v1.Namespace(f"{name}-ns", metadata=cast(Any, ns_obj["metadata"]),
                                   opts=pulumi.ResourceOptions(parent=self, provider=provider))
        manifest = workload_manifest(wl)
        wl_opts = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[ns])
        # The manifest is already camelCase Kubernetes JSON; the SDK passes such keys through as-is.
        if wl.kind == "Deployment":
            k8s.apps.v1.Deployment(f"{name}-{wl.name}", metadata=cast(Any, manifest["metadata"]),
                                   spec=cast(Any, manifest["spec"]), opts=wl_opts)
        else:
            k8s.apps.v1.DaemonSet(f"{name}-{wl.name}", metadata=cast(Any, manifest["metadata"]),
                                  spec=cast(Any, manifest["spec"]), opts=wl_opts)
        self.workload_name = wl.name
