"""The edge pillar: an AWS IoT device group and, optionally, an inference workload on an edge cluster.

Usage (from a strategy)::

    from components.edge import EdgeDeviceGroup, EdgeDeviceGroupArgs

    fleet = EdgeDeviceGroup("edge", EdgeDeviceGroupArgs(edge=cfg.edge, prefix=cfg.prefix, region=cfg.region,
                                                        tags=cfg.resource_tags(), k8s_provider=None))
    pulumi.export("things", fleet.thing_names)
    pulumi.export("device_keys", fleet.private_keys)   # secret: only for devices without a CSR

Per device: one IoT thing and one X.509 certificate. With ``csrFile`` the certificate is signed from
the device's CSR, so the private key never leaves the device (preferred); without it AWS generates
the key pair and the private key is a Pulumi *secret* output, to be copied to the device once.
One least-privilege policy (:mod:`components.iot_policy`) serves the whole group.

With ``edge.workload`` an inference Deployment/DaemonSet runs on the edge cluster (k3s on Jetson,
NUC …) through its own Kubernetes provider: Guaranteed QoS (requests = limits), a GPU limit and
toleration when it uses GPUs, read-only root filesystem, non-root, and ``MAX_INPUT_MB`` (the seed's
10 MB input cap) in its environment. The manifest is a pure builder (:func:`workload_manifest`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.iot_policy import check_topic_prefix, device_policy_document
from components.lakehouse import partition_of
from policies.errors import ConfigError
from stacks.config import EdgeConfig, EdgeDevice, EdgeWorkload

EDGE_NAMESPACE = "plinth-edge"
_IOT_NAME = re.compile(r"^[A-Za-z0-9:_-]{1,128}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_CSR_HEADER = "-----BEGIN CERTIFICATE REQUEST-----"


# ---- pure helpers ---------------------------------------------------------------------------

def thing_name(prefix: str, device: EdgeDevice) -> str:
    return f"{prefix}-{device.name}"


def check_devices(prefix: str, devices: list[EdgeDevice]) -> None:
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise ConfigError("plinth:edge.devices: device names must be unique")
    for i, d in enumerate(devices):
        if not _IOT_NAME.match(thing_name(prefix, d)):
            raise ConfigError(
                f"plinth:edge.devices[{i}].name: letters, digits, ':', '_' or '-' only, at most {127 - len(prefix)} characters (got {d.name!r})"
            )


def read_csr(path: str, index: int, base: Path | None = None) -> str:
    """The CSR's PEM text. Relative paths are relative to the Pulumi project (the program's cwd)."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (base or Path.cwd()) / p
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"plinth:edge.devices[{index}].csrFile: cannot read {p}: {exc.__class__.__name__}") from None
    if _CSR_HEADER not in text:
        raise ConfigError(f"plinth:edge.devices[{index}].csrFile: {p} is not a PEM certificate request")
    return text


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
class EdgeDeviceGroupArgs:
    edge: EdgeConfig
    prefix: str
    region: str
    tags: dict[str, str] = field(default_factory=dict)
    k8s_provider: k8s.Provider | None = None
    csr_base_dir: Path | None = None  # where relative csrFile paths start (default: cwd)


class EdgeDeviceGroup(pulumi.ComponentResource):
    thing_group_name: pulumi.Output[str]
    thing_names: pulumi.Output[list[str]]
    policy_name: pulumi.Output[str]
    certificate_arns: pulumi.Output[list[str]]
    certificate_pems: pulumi.Output[dict[str, str]]
    private_keys: pulumi.Output[dict[str, str]]
    workload_name: str | None

    def __init__(self, name: str, args: EdgeDeviceGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:edge:EdgeDeviceGroup", name, None, opts)
        cfg, region, p = args.edge, args.region, args.prefix
        check_topic_prefix(cfg.topic_prefix)
        check_devices(p, cfg.devices)
        csrs = {d.name: read_csr(d.csr_file, i, args.csr_base_dir) for i, d in enumerate(cfg.devices) if d.csr_file}
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
        policy = aws.iot.Policy(
            f"{name}-policy", name=f"{group_id}-device", region=region, tags=tags,
            policy=pulumi.Output.all(caller.account_id, caller.arn).apply(
                lambda a: json.dumps(device_policy_document(region, a[0], cfg.topic_prefix, partition_of(a[1])))),
            opts=child)

        things: list[aws.iot.Thing] = []
        certs: list[aws.iot.Certificate] = []
        pems: dict[str, pulumi.Output[str]] = {}
        keys: dict[str, pulumi.Output[str]] = {}
        for d in cfg.devices:
            thing = aws.iot.Thing(f"{name}-{d.name}", name=thing_name(p, d), thing_type_name=thing_type.name,
                                  attributes={"hardware": d.hardware, "group": cfg.group}, region=region, opts=child)
            csr = csrs.get(d.name)
            cert = aws.iot.Certificate(f"{name}-{d.name}", active=True, csr=csr, region=region, opts=child)
            aws.iot.PolicyAttachment(f"{name}-{d.name}", policy=policy.name, target=cert.arn, region=region, opts=child)
            # EXCLUSIVE_THING: this certificate cannot be attached to (and so act as) another thing
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

        self.thing_group_name = group.name
        self.thing_names = pulumi.Output.all(*[t.name for t in things])
        self.policy_name = policy.name
        self.certificate_arns = pulumi.Output.all(*[c.arn for c in certs])
        self.certificate_pems = pulumi.Output.secret(_dict_output(pems))
        self.private_keys = pulumi.Output.secret(_dict_output(keys))
        self.register_outputs({
            "thing_group_name": self.thing_group_name,
            "thing_names": self.thing_names,
            "policy_name": self.policy_name,
            "certificate_arns": self.certificate_arns,
            "certificate_pems": self.certificate_pems,
            "private_keys": self.private_keys,
            "workload_name": self.workload_name,
        })

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
