"""In-cluster validation: every manifest through kubernetes_validate strict (1.31), the host access
and IAM it grants asserted exactly, and the component (and the cloud-first strategy wiring it) under
the Pulumi SDK mocks. What a real cluster would add — the API server admitting the CEL policy, the
NVIDIA runtime mounting nvidia-smi, Pod Identity handing out credentials — is not provable here."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pulumi_kubernetes as k8s
import pytest

from components.in_cluster_validation import (
    InClusterValidation,
    InClusterValidationArgs,
    agent_policy,
    job_name,
    manifests,
    trust_policy,
)
from policies.errors import ConfigError
from stacks.config import InClusterValidationConfig, config_from_mapping, stack_config_mapping, stack_file
from tests.components.mocks import ACCOUNT, run_program

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/plinth-agent@sha256:" + "a" * 64
K8S = "1.31.0"
BUCKET = "acme-raw-abc123"


def cfg(**kw: Any) -> InClusterValidationConfig:
    return InClusterValidationConfig.model_validate({"image": IMAGE, "runId": "2025-06-01", **kw})


VARIANTS = {
    "daemonset": cfg(),
    "daemonset-unprivileged-no-marking": cfg(readKernelLog=False, markNodes=False),
    "jobs": cfg(mode="jobs", nodes=["ip-10-0-1-23.ec2.internal", "ip-10-0-1-24.ec2.internal"], taintOnFail=True),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_manifest_passes_strict_schema_validation(variant: str) -> None:
    objs = manifests(VARIANTS[variant], BUCKET, "distributed_training", "us-east-1")
    assert objs
    for obj in objs:
        kubernetes_validate.validate(obj, K8S, strict=True)


def _pod(objs: list[dict[str, Any]], kind: str = "DaemonSet") -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == kind)["spec"]["template"]["spec"]


def test_daemonset_host_access_is_what_the_probe_needs_and_no_more() -> None:
    pod = _pod(manifests(cfg(), BUCKET, "distributed_training", "us-east-1"))
    assert pod["hostNetwork"] is True and "hostPID" not in pod and "hostIPC" not in pod
    assert pod["runtimeClassName"] == "nvidia" and pod["serviceAccountName"] == "plinth-agent"
    [ctr] = pod["containers"]
    assert ctr["image"] == IMAGE
    assert ctr["securityContext"] == {"readOnlyRootFilesystem": True, "privileged": True}  # /dev/kmsg only
    env = {e["name"]: e for e in ctr["env"]}
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["HOST_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert env["NVIDIA_VISIBLE_DEVICES"]["value"] == "all" and env["NVIDIA_DRIVER_CAPABILITIES"]["value"] == "utility"
    assert "resources" in ctr and "nvidia.com/gpu" not in str(ctr["resources"])  # takes no GPU from workloads
    mounts = {m["mountPath"]: m for m in ctr["volumeMounts"]}
    assert mounts["/var/log"]["readOnly"] and mounts["/dev/kmsg"]["readOnly"]
    writable = sorted(p for p, m in mounts.items() if not m.get("readOnly"))
    assert writable == ["/scratch", "/tmp"]
    host = {v["name"]: v["hostPath"] for v in pod["volumes"] if "hostPath" in v}
    assert host["kmsg"] == {"path": "/dev/kmsg", "type": "CharDevice"}
    assert host["scratch"]["path"] == "/var/lib/plinth-agent"
    keys = {(t["key"], t["effect"]) for t in pod["tolerations"]}
    assert {("nvidia.com/gpu", "NoSchedule"), ("aws.amazon.com/neuron", "NoSchedule"),
            ("plinth.dev/validation-failed", "NoSchedule")} <= keys
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "plinth.dev/accelerator", "operator": "In", "values": ["nvidia"]} in [t["matchExpressions"][0] for t in terms]
    assert ctr["command"] == ["plinth"]
    assert ctr["args"] == ["agent", "--upload", f"s3://{BUCKET}/plinth-runs/2025-06-01", "--profile", "distributed_training",
                           "--disk-test-mb", "64", "--mark-node", "--interval", "3600"]


def test_without_the_kernel_log_the_agent_is_unprivileged() -> None:
    objs = manifests(cfg(readKernelLog=False, markNodes=False), BUCKET, "single_gpu", "us-east-1")
    [ctr] = _pod(objs)["containers"]
    assert ctr["securityContext"] == {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                      "capabilities": {"drop": ["ALL"]}}
    assert "/dev/kmsg" not in str(objs)
    assert not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy")]
    assert "--mark-node" not in ctr["args"]


def test_node_marking_rbac_is_get_and_patch_nodes_and_own_node_only() -> None:
    objs = manifests(cfg(), BUCKET, "distributed_training", "us-east-1")
    role = next(o for o in objs if o["kind"] == "ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]
    binding = next(o for o in objs if o["kind"] == "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "plinth-agent", "namespace": "plinth-validation"}]
    policy = next(o for o in objs if o["kind"] == "ValidatingAdmissionPolicy")["spec"]
    assert policy["matchConditions"][0]["expression"] == "request.userInfo.username == 'system:serviceaccount:plinth-validation:plinth-agent'"
    assert "authentication.kubernetes.io/node-name" in policy["validations"][0]["expression"]
    assert policy["failurePolicy"] == "Fail"
    ns = next(o for o in objs if o["kind"] == "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_jobs_are_one_shot_pinned_per_node_and_never_retried_into_a_pass() -> None:
    c = VARIANTS["jobs"]
    jobs = [o for o in manifests(c, BUCKET, "distributed_training", "us-east-1") if o["kind"] == "Job"]
    assert [j["spec"]["template"]["spec"]["nodeSelector"] for j in jobs] == [
        {"kubernetes.io/hostname": n} for n in c.nodes]
    for job in jobs:
        assert job["spec"]["backoffLimit"] == 0
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never" and "affinity" not in pod
        assert "--interval" not in pod["containers"][0]["args"] and "--taint-on-fail" in pod["containers"][0]["args"]
    long = job_name("r" * 60, "ip-10-0-1-23.ec2.internal")
    assert len(long) <= 63 and long == job_name("r" * 60, "ip-10-0-1-23.ec2.internal")
    assert long != job_name("r" * 60, "ip-10-0-1-24.ec2.internal")


def test_iam_is_put_object_under_the_run_prefix_and_kms_through_s3_only() -> None:
    pol = agent_policy("arn:aws:s3:::acme-raw", "arn:aws:kms:us-east-1:1:key/k", "us-east-1", "r7")
    put, kms = pol["Statement"]
    assert put == {"Sid": "PutThisRunsFacts", "Effect": "Allow", "Action": "s3:PutObject",
                   "Resource": "arn:aws:s3:::acme-raw/plinth-runs/r7/nodes/*"}
    assert kms["Action"] == "kms:GenerateDataKey" and kms["Resource"] == "arn:aws:kms:us-east-1:1:key/k"
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert kms["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] == [
        "arn:aws:s3:::acme-raw", "arn:aws:s3:::acme-raw/plinth-runs/r7/*"]
    assert len(pol["Statement"]) == 2  # no Get, no List, no Delete, no Decrypt
    trust = trust_policy("123", "acme-eks", "plinth-validation")["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert trust["Condition"]["StringEquals"] == {
        "aws:SourceAccount": "123", "aws:RequestTag/eks-cluster-name": "acme-eks",
        "aws:RequestTag/kubernetes-namespace": "plinth-validation", "aws:RequestTag/kubernetes-service-account": "plinth-agent"}


@pytest.mark.parametrize(("extra", "message"), [
    ({"image": "plinth-agent:latest"}, "pin the image by digest"),
    ({"mode": "jobs"}, "list them in nodes"),
    ({"nodes": ["n1"]}, "nodes is for mode jobs"),
    ({"runId": "../x"}, "runId"),
    ({"scratchPath": "/"}, "scratchPath"),
    ({"taintOnFail": True, "markNodes": False}, "taintOnFail needs markNodes"),
    ({"bucketZone": "nope"}, "bucketZone: 'nope' is not a lakehouse zone"),
    ({"profile": "nope"}, "unknown profile"),
])
def test_bad_config_is_one_line_naming_the_field(extra: dict[str, Any], message: str) -> None:
    mapping = stack_config_mapping(stack_file("cloud-first"))
    mapping["plinth:validation"] = {"inCluster": {"image": IMAGE, **extra}}
    with pytest.raises(ConfigError, match=message) as exc:
        config_from_mapping(mapping, "Pulumi.cloud-first.yaml")
    assert str(exc.value).startswith("Pulumi.cloud-first.yaml: plinth:validation") and "\n" not in str(exc.value)


def test_edge_centric_has_no_cluster_for_it() -> None:
    mapping = stack_config_mapping(stack_file("edge"))
    mapping["plinth:validation"] = {"inCluster": {"image": IMAGE}}
    with pytest.raises(ConfigError, match="needs the EKS cluster plinth creates"):
        config_from_mapping(mapping, "Pulumi.edge.yaml")


# under the Pulumi SDK mocks --------------------------------------------------------------------------


def _component(c: InClusterValidationConfig) -> Any:
    def program() -> InClusterValidation:
        provider = k8s.Provider("eks", kubeconfig="{}")
        return InClusterValidation("acme-validation", InClusterValidationArgs(
            config=c, provider=provider, cluster_name="acme-eks", bucket_name=BUCKET, bucket_arn=f"arn:aws:s3:::{BUCKET}",
            kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k", region="us-east-1", profile="distributed_training",
            tags={"owner": "ml"}))

    return run_program(program)


def test_component_creates_the_iam_the_association_the_manifest_and_the_validated_objects() -> None:
    import json

    c = cfg()
    run = _component(c)
    comp = run.one("plinth:validation:InClusterValidation")
    role = run.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    policy = json.loads(run.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert policy == agent_policy(f"arn:aws:s3:::{BUCKET}", "arn:aws:kms:us-east-1:123456789012:key/k", "us-east-1", c.run_id)
    assoc = run.one("aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs
    assert (assoc["clusterName"], assoc["namespace"], assoc["serviceAccount"]) == ("acme-eks", "plinth-validation", "plinth-agent")
    obj = run.one("aws:s3/bucketObjectv2:BucketObjectv2")
    assert obj.inputs["key"] == "plinth-runs/2025-06-01/run.json" and obj.inputs["bucket"] == BUCKET
    assert json.loads(obj.inputs["content"]) == {"format": "plinth.run/v1", "run_id": "2025-06-01"}
    ds = run.one("kubernetes:apps/v1:DaemonSet")
    expected = next(o for o in manifests(c, BUCKET, "distributed_training", "us-east-1") if o["kind"] == "DaemonSet")
    assert ds.inputs["spec"] == expected["spec"]
    deps = {run.by_urn(u).type for u in ds.dependencies}
    assert {"aws:eks/podIdentityAssociation:PodIdentityAssociation", "aws:s3/bucketObjectv2:BucketObjectv2",
            "kubernetes:core/v1:Namespace"} <= deps
    provider = run.one("pulumi:providers:kubernetes")
    for r in run.resources:
        if r.type.startswith("kubernetes:"):
            assert r.parent == comp.urn and r.provider.startswith(provider.urn)
    assert run.value(run.result.facts_location) == f"s3://{BUCKET}/plinth-runs/2025-06-01"


def test_component_jobs_mode_lists_the_expected_nodes_in_the_manifest() -> None:
    import json

    run = _component(VARIANTS["jobs"])
    assert len(run.of_type("kubernetes:batch/v1:Job")) == 2 and not run.of_type("kubernetes:apps/v1:DaemonSet")
    manifest = json.loads(run.one("aws:s3/bucketObjectv2:BucketObjectv2").inputs["content"])
    assert manifest["expected_nodes"] == ["ip-10-0-1-23.ec2.internal", "ip-10-0-1-24.ec2.internal"]


def test_cloud_first_wires_it_to_the_eks_cluster_and_the_raw_bucket() -> None:
    from stacks import cloud_first

    mapping = stack_config_mapping(stack_file("cloud-first"))
    mapping["plinth:validation"] = {"inCluster": {"image": IMAGE, "runId": "r1"}}
    stack_cfg = config_from_mapping(mapping, "cloud-first")
    run = run_program(lambda: cloud_first.build(stack_cfg))
    comp = run.one("plinth:validation:InClusterValidation")
    eks_provider = next(r for r in run.of_type("pulumi:providers:kubernetes") if r.name.endswith("-eks-k8s"))
    ds = next(r for r in run.of_type("kubernetes:apps/v1:DaemonSet") if r.parent == comp.urn)
    assert ds.provider.startswith(eks_provider.urn)
    runtime_class = run.one("kubernetes:node.k8s.io/v1:RuntimeClass")
    assert runtime_class.urn in comp.dependencies  # the nvidia RuntimeClass exists before the agents
    raw = next(r for r in run.of_type("aws:s3/bucket:Bucket") if r.name == "lake-raw")
    assert run.one("aws:s3/bucketObjectv2:BucketObjectv2").inputs["bucket"] == raw.inputs.get("bucket", raw.name)
    outputs = run.result.as_dict()
    assert run.value(outputs["validation_facts"]).endswith("/plinth-runs/r1")
