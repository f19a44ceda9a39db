"""In-cluster validation: ``plinth agent`` on every GPU node, facts into the lakehouse, nodes marked.

Past a few hundred nodes one controller fanning out over SSH is the bottleneck; the cluster itself
can run the probe on every node at once, as the NVIDIA GPU Operator's validator, SageMaker HyperPod's
health checks and Node Problem Detector do. What it creates (``plinth:validation:InClusterValidation``):

- namespace ``plinth-validation`` (Pod Security ``privileged``: host network and hostPath below);
- ServiceAccount ``plinth-agent``; with node marking, a ClusterRole that may only ``get`` and
  ``patch`` nodes, its binding, and a ValidatingAdmissionPolicy that lets this service account patch
  only the node its pod runs on (the token's ``authentication.kubernetes.io/node-name``), so one
  compromised agent cannot taint the fleet;
- a DaemonSet (``mode: daemonset``: probes every ``intervalMinutes``, the latest pass overwrites the
  node's object) or one Job per listed node (``mode: jobs``: a one-shot run), pinned to NVIDIA GPU
  nodes, tolerating the accelerator taints and plinth's own;
- EKS Pod Identity: an IAM role trusted only by ``pods.eks.amazonaws.com`` for this cluster, namespace
  and service account, allowed exactly ``s3:PutObject`` under ``plinth-runs/<runId>/nodes/`` of the
  lakehouse bucket, and the lakehouse KMS key only through S3 for that bucket (``kms:ViaService``,
  encryption context); the association binds it to the service account;
- the run manifest ``plinth-runs/<runId>/run.json`` (written before the agents start: its
  LastModified is the run's start; in ``jobs`` mode it lists the expected nodes).

Host access, and why (validators/probe reads the same paths over SSH):

- ``hostNetwork``: NIC speed, MTU, EFA devices and the default route are facts of the node's network
  namespace; in the pod's own namespace the probe would judge a veth. It also puts IMDS (and the node
  role) in reach, the hop limit of 1 notwithstanding; the SDK's credential chain takes Pod Identity's
  container credentials first, so uploads use the agent's own role;
- ``runtimeClassName: nvidia`` + ``NVIDIA_VISIBLE_DEVICES=all`` + ``NVIDIA_DRIVER_CAPABILITIES=utility``:
  the NVIDIA container runtime mounts nvidia-smi and NVML for every GPU without the pod requesting
  ``nvidia.com/gpu`` (it must not take GPUs from workloads; DCGM exporter does the same);
- ``/dev/kmsg`` (hostPath, read-only) for Xid errors, and ``privileged: true`` only for it: the
  device cgroup of an unprivileged container refuses the kernel log device, and there is no
  Kubernetes field that allows one device (Node Problem Detector runs privileged for the same
  reason). ``readKernelLog: false`` drops both; gpu.xid then says it could not read the log;
- ``/var/log`` (hostPath, read-only): kern.log/syslog where the distribution keeps them;
- a scratch hostPath (``scratchPath``, the only writable host path) for the disk test, so it
  measures the node's disk, not the container's overlay.
No hostPID: the probe reads no other process.

The image: a container image with plinth installed (components/agent_image/Dockerfile), pinned by
digest in the stack config; see docs/validators.md for how it is built and pushed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.k8s_gpu import DEFAULT_GPU_NODE_TERMS, MANAGED_BY, resource_name
from components.node_template import pod_identity_role_trust, pod_identity_trust_policy
from stacks.config import InClusterValidationConfig
from validators.facts.envelope import manifest_bytes
from validators.node_marker import TAINT_KEY

NAME = "plinth-agent"
RUNS_PREFIX = "plinth-runs"
APP = {"app.kubernetes.io/name": NAME}
TOLERATIONS = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"},
    # its own taint: the agent must keep running on a failed node to clear the taint when it passes
    {"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
]


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}/{run_id}"


def facts_location(bucket: str, run_id: str) -> str:
    """What ``plinth validate --facts`` takes for this run."""
    return f"s3://{bucket}/{run_prefix(run_id)}"


def agent_args(cfg: InClusterValidationConfig, bucket: str, profile: str, *, one_shot: bool) -> list[str]:
    args = ["agent", "--upload", facts_location(bucket, cfg.run_id), "--profile", profile,
            "--disk-test-mb", str(cfg.disk_test_mb)]
    if cfg.mark_nodes:
        args.append("--mark-node")
        if cfg.taint_on_fail:
            args.append("--taint-on-fail")
    if not one_shot:
        args += ["--interval", str(cfg.interval_minutes * 60)]
    return args


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**APP, **MANAGED_BY}, **extra}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def namespace_manifest(namespace: str) -> dict[str, Any]:
    meta = _meta(namespace)
    meta["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"  # host network, hostPath, /dev/kmsg
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account_manifest(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, namespace)}


def node_marker_rbac_manifests(namespace: str) -> list[dict[str, Any]]:
    """get and patch on nodes, nothing else (validators/node_marker.py makes exactly those calls)."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(f"{NAME}-node-marker"),
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": _meta(f"{NAME}-node-marker"),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{NAME}-node-marker"},
               "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}]}
    return [role, binding]


def own_node_policy_manifests(namespace: str) -> list[dict[str, Any]]:
    """RBAC cannot say "your own node": this admission policy does, from the node name Kubernetes
    (1.30+) puts in a pod-bound service-account token's user info."""
    user = f"system:serviceaccount:{namespace}:{NAME}"
    key = "'authentication.kubernetes.io/node-name'"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": _meta(f"{NAME}-own-node-only"),
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"],
                                                    "resources": ["nodes"]}]},
            "matchConditions": [{"name": "plinth-agent", "expression": f"request.userInfo.username == '{user}'"}],
            "validations": [{
                "expression": (f"{key} in request.userInfo.extra && "
                               f"request.userInfo.extra[{key}].exists(n, n == object.metadata.name)"),
                "message": f"{NAME} may only mark the node its pod runs on",
            }],
        },
    }
    binding = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
               "metadata": _meta(f"{NAME}-own-node-only"),
               "spec": {"policyName": f"{NAME}-own-node-only", "validationActions": ["Deny"]}}
    return [policy, binding]


def pod_spec(cfg: InClusterValidationConfig, bucket: str, profile: str, region: str, *, one_shot: bool,
             node_terms: list[dict[str, Any]] | None = None, node_name: str | None = None) -> dict[str, Any]:
    env = [
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "AWS_REGION", "value": region},
        {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"},
        {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "utility"},
    ]
    mounts = [{"name": "var-log", "mountPath": "/var/log", "readOnly": True},
              {"name": "scratch", "mountPath": "/scratch"},
              {"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [
        {"name": "var-log", "hostPath": {"path": "/var/log", "type": "Directory"}},
        {"name": "scratch", "hostPath": {"path": cfg.scratch_path, "type": "DirectoryOrCreate"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
    ]
    security: dict[str, Any] = {"readOnlyRootFilesystem": True}
    if cfg.read_kernel_log:
        mounts.append({"name": "kmsg", "mountPath": "/dev/kmsg", "readOnly": True})
        volumes.append({"name": "kmsg", "hostPath": {"path": "/dev/kmsg", "type": "CharDevice"}})
        security["privileged"] = True  # only for /dev/kmsg: see the module docstring
    else:
        security.update(allowPrivilegeEscalation=False, capabilities={"drop": ["ALL"]})
    container = {
        "name": "agent", "image": cfg.image, "imagePullPolicy": "IfNotPresent",
        "command": ["plinth"], "args": agent_args(cfg, bucket, profile, one_shot=one_shot),
        "env": env, "securityContext": security, "volumeMounts": mounts,
        "workingDir": "/scratch",
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    }
    spec: dict[str, Any] = {
        "serviceAccountName": NAME,
        "hostNetwork": True,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "tolerations": [dict(t) for t in TOLERATIONS],
        "containers": [container],
        "volumes": volumes,
        "terminationGracePeriodSeconds": 30,
    }
    if cfg.runtime_class:
        spec["runtimeClassName"] = cfg.runtime_class
    if node_name is not None:  # a Job for one named node
        spec["nodeSelector"] = {"kubernetes.io/hostname": node_name}
    else:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": node_terms or DEFAULT_GPU_NODE_TERMS}}}
    if one_shot:
        spec["restartPolicy"] = "Never"
    return spec


def daemonset_manifest(cfg: InClusterValidationConfig, bucket: str, profile: str, region: str,
                       node_terms: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta(NAME, cfg.namespace),
        "spec": {
            "selector": {"matchLabels": dict(APP)},
            # a new runId rolls every node; a tenth at a time keeps most agents reporting
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {
                "metadata": {"labels": dict(APP), "annotations": {"plinth.dev/run-id": cfg.run_id}},
                "spec": pod_spec(cfg, bucket, profile, region, one_shot=False, node_terms=node_terms),
            },
        },
    }


def job_name(run_id: str, node: str) -> str:
    """``plinth-agent-<run>-<node>`` cut to a DNS label (63) with a stable hash when too long."""
    import hashlib
    import re

    base = re.sub(r"[^a-z0-9-]", "-", f"{NAME}-{run_id}-{node}".lower()).strip("-")
    if len(base) <= 63:
        return base
    digest = hashlib.sha256(f"{run_id}/{node}".encode()).hexdigest()[:8]
    return f"{base[:54].rstrip('-')}-{digest}"


def job_manifests(cfg: InClusterValidationConfig, bucket: str, profile: str, region: str) -> list[dict[str, Any]]:
    jobs = []
    for node in cfg.nodes:
        jobs.append({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(job_name(cfg.run_id, node), cfg.namespace),
            "spec": {
                "backoffLimit": 0,  # the verdict is the exit code: a failing node must not be retried into a pass
                "activeDeadlineSeconds": 1800,
                "ttlSecondsAfterFinished": 7 * 24 * 3600,
                "template": {"metadata": {"labels": dict(APP), "annotations": {"plinth.dev/run-id": cfg.run_id}},
                             "spec": pod_spec(cfg, bucket, profile, region, one_shot=True, node_name=node)},
            },
        })
    return jobs


def manifests(cfg: InClusterValidationConfig, bucket: str, profile: str, region: str,
              node_terms: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every Kubernetes object, in apply order."""
    objs = [namespace_manifest(cfg.namespace), service_account_manifest(cfg.namespace)]
    if cfg.mark_nodes:
        objs += node_marker_rbac_manifests(cfg.namespace) + own_node_policy_manifests(cfg.namespace)
    if cfg.mode == "daemonset":
        objs.append(daemonset_manifest(cfg, bucket, profile, region, node_terms))
    else:
        objs += job_manifests(cfg, bucket, profile, region)
    return objs


def trust_policy(account_id: str, cluster_name: str, namespace: str) -> dict[str, Any]:
    """Only EKS Pod Identity, only for this cluster's agent service account (session tags)."""
    return pod_identity_trust_policy(account_id, cluster_name, namespace, NAME)


def agent_policy(bucket_arn: str, kms_key_arn: str, region: str, run_id: str) -> dict[str, Any]:
    """PutObject under this run's nodes/ and nothing else; the KMS key only through S3, for this
    bucket (the lakehouse uses S3 Bucket Keys: the context is the bucket ARN, else the object ARN)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "PutThisRunsFacts", "Effect": "Allow", "Action": "s3:PutObject",
         "Resource": f"{bucket_arn}/{run_prefix(run_id)}/nodes/*"},
        {"Sid": "EncryptThroughS3Only", "Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": kms_key_arn,
         "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                       "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, f"{bucket_arn}/{run_prefix(run_id)}/*"]}}},
    ]}


def run_manifest(cfg: InClusterValidationConfig) -> str:
    return manifest_bytes(cfg.run_id, expected_nodes=list(cfg.nodes) if cfg.mode == "jobs" else None).decode()


@dataclass
class InClusterValidationArgs:
    config: InClusterValidationConfig
    provider: k8s.Provider
    cluster_name: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    region: str
    profile: str
    tags: dict[str, str] = field(default_factory=dict)
    node_terms: list[dict[str, Any]] | None = None  # None: NVIDIA GPU nodes (k8s_gpu.DEFAULT_GPU_NODE_TERMS)


class InClusterValidation(pulumi.ComponentResource):
    facts_location: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: InClusterValidationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:validation:InClusterValidation", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        caller = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        role = aws.iam.Role(f"{name}-agent", tags=args.tags, opts=child, assume_role_policy=pod_identity_role_trust(
            caller.account_id, args.cluster_name, cfg.namespace, NAME))
        policy = aws.iam.RolePolicy(
            f"{name}-agent", role=role.id, opts=child,
            policy=pulumi.Output.all(args.bucket_arn, args.kms_key_arn).apply(
                lambda a: json.dumps(agent_policy(a[0], a[1], args.region, cfg.run_id))))
        assoc = aws.eks.PodIdentityAssociation(
            f"{name}-agent", cluster_name=args.cluster_name, namespace=cfg.namespace, service_account=NAME,
            role_arn=role.arn, tags=args.tags, opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]))
        # the run starts when this is written; the agents are created after it, so their objects are newer
        started = aws.s3.BucketObjectv2(
            f"{name}-run-{cfg.run_id}", bucket=args.bucket_name, key=f"{run_prefix(cfg.run_id)}/run.json",
            content=run_manifest(cfg), content_type="application/json", tags=args.tags, opts=child)

        bucket_out = pulumi.Output.from_input(args.bucket_name)
        created: list[str] = []
        namespace: pulumi.Resource | None = None
        # only the agent's --upload argument carries the bucket name (unknown until the bucket exists): the
        # rest of every object stays known at preview, where the policy pack and the diff can read it
        agent = bucket_out.apply(lambda b: agent_args(cfg, b, args.profile, one_shot=cfg.mode == "jobs"))
        for obj in manifests(cfg, "<bucket>", args.profile, args.region, args.node_terms):
            res_name = resource_name(name, obj)
            kind = obj["kind"]
            deps: list[pulumi.Resource] = [namespace] if namespace is not None and "namespace" in obj["metadata"] else []
            if kind in ("DaemonSet", "Job"):
                obj["spec"]["template"]["spec"]["containers"][0]["args"] = agent
                deps += [assoc, started]  # credentials first, run manifest first
            res = self._k8s(res_name, obj, pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=deps))
            if kind == "Namespace":
                namespace = res
            created.append(res_name)

        self.facts_location = bucket_out.apply(lambda b: facts_location(b, cfg.run_id))
        self.role_arn = role.arn
        self.register_outputs({"facts_location": self.facts_location, "role_arn": self.role_arn, "objects": created})

    @staticmethod
    def _k8s(res_name: str, obj: dict[str, Any], o: pulumi.ResourceOptions) -> pulumi.Resource:
        kind, meta = obj["kind"], obj["metadata"]
        if kind == "Namespace":
            return k8s.core.v1.Namespace(res_name, metadata=meta, opts=o)
        if kind == "ServiceAccount":
            return k8s.core.v1.ServiceAccount(res_name, metadata=meta, opts=o)
        if kind == "ClusterRole":
            return k8s.rbac.v1.ClusterRole(res_name, metadata=meta, rules=obj["rules"], opts=o)
        if kind == "ClusterRoleBinding":
            return k8s.rbac.v1.ClusterRoleBinding(res_name, metadata=meta, role_ref=obj["roleRef"], subjects=obj["subjects"], opts=o)
        if kind == "ValidatingAdmissionPolicy":
            return k8s.admissionregistration.v1.ValidatingAdmissionPolicy(res_name, metadata=meta, spec=obj["spec"], opts=o)
        if kind == "ValidatingAdmissionPolicyBinding":
            return k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(res_name, metadata=meta, spec=obj["spec"], opts=o)
        if kind == "DaemonSet":
            return k8s.apps.v1.DaemonSet(res_name, metadata=meta, spec=obj["spec"], opts=o)
        if kind == "Job":
            return k8s.batch.v1.Job(res_name, metadata=meta, spec=obj["spec"], opts=o)
        raise ValueError(f"unhandled kind {kind}")  # pragma: no cover - manifests() yields only the kinds above


__all__ = ["NAME", "RUNS_PREFIX", "InClusterValidation", "InClusterValidationArgs", "agent_args", "agent_policy",
           "daemonset_manifest", "facts_location", "job_manifests", "job_name", "manifests", "own_node_policy_manifests",
           "pod_spec", "run_manifest", "trust_policy"]
