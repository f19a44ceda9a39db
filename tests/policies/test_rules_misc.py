"""KMS, security groups, IoT, tags and Kubernetes GPU workloads, on engine-shaped props."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UnknownValueError

from tests.policies.engine_args import UNKNOWN_STR, run_resource

SG = "aws:ec2/securityGroup:SecurityGroup"


@pytest.mark.parametrize(("props", "bad"), [
    ({"enableKeyRotation": True, "description": "lake"}, False),
    ({"description": "lake"}, True),
    ({"enableKeyRotation": False}, True),
    ({"customerMasterKeySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY"}, False),  # AWS can't rotate asymmetric keys
])
def test_kms_key_rotation(props: dict, bad: bool) -> None:
    assert bool(run_resource("kms-key-rotation", "aws:kms/key:Key", props)) == bad


@pytest.mark.parametrize(("type_", "props", "words"), [
    (SG, {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]}, "SSH"),
    (SG, {"ingress": [{"protocol": "tcp", "fromPort": 0, "toPort": 65535, "ipv6CidrBlocks": ["::/0"]}]}, "all TCP ports"),
    (SG, {"ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]}, "all traffic"),
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
     {"securityGroupId": UNKNOWN_STR, "ipProtocol": "tcp", "fromPort": 20, "toPort": 25, "cidrIpv4": "0.0.0.0/0"}, "SSH"),
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
     {"securityGroupId": UNKNOWN_STR, "ipProtocol": "-1", "cidrIpv6": "::/0"}, "all traffic"),
    ("aws:ec2/securityGroupRule:SecurityGroupRule",
     {"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8", "0.0.0.0/0"],
      "securityGroupId": UNKNOWN_STR}, "SSH"),
])
def test_open_ingress_fails(type_: str, props: dict, words: str) -> None:
    messages = run_resource("security-group-no-open-ingress", type_, props)
    assert len(messages) == 1 and words in messages[0], messages


@pytest.mark.parametrize(("type_", "props"), [
    (SG, {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/16"]}]}),
    (SG, {"ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}]}),
    (SG, {"ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]}),  # the EFA group
    ("aws:ec2/securityGroupRule:SecurityGroupRule",
     {"type": "egress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"], "securityGroupId": "sg-1"}),
])
def test_narrow_or_egress_rules_pass(type_: str, props: dict) -> None:
    assert run_resource("security-group-no-open-ingress", type_, props) == []


def iot_doc(actions, resources) -> dict:
    return {"policy": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": resources}]})}


SCOPED = "arn:aws:iot:us-west-2:123456789012:topic/plant3/${iot:Connection.Thing.ThingName}/*"


@pytest.mark.parametrize(("doc", "words"), [
    (iot_doc("*", SCOPED), "action '*'"),
    (iot_doc(["iot:Connect", "iot:*"], SCOPED), "action 'iot:*'"),
    (iot_doc("iot:Publish", "*"), "resource '*'"),
    (iot_doc("iot:Publish", "arn:aws:iot:us-west-2:123456789012:topic/*"), "topic/*"),
])
def test_iot_wildcards_fail(doc: dict, words: str) -> None:
    messages = run_resource("iot-policy-no-wildcards", "aws:iot/policy:Policy", doc)
    assert len(messages) == 1 and words in messages[0], messages


def test_scoped_iot_policy_passes_and_unknown_policy_cant_be_checked() -> None:
    client = "arn:aws:iot:us-west-2:123456789012:client/${iot:Connection.Thing.ThingName}"
    assert run_resource("iot-policy-no-wildcards", "aws:iot/policy:Policy",
                        iot_doc(["iot:Connect", "iot:Publish"], [client, SCOPED])) == []
    with pytest.raises(UnknownValueError):
        run_resource("iot-policy-no-wildcards", "aws:iot/policy:Policy", {"policy": UNKNOWN_STR})


def test_tags_on_taggable_types_only_and_provider_default_tags_count() -> None:
    assert run_resource("required-tags", "aws:s3/bucket:Bucket", {"bucketPrefix": "x-"})  # taggable, no tags input
    assert run_resource("required-tags", "aws:s3/bucketVersioning:BucketVersioning", {"bucket": "x"}) == []
    assert run_resource("required-tags", "kubernetes:core/v1:Namespace", {"metadata": {"name": "x"}}) == []
    provider = {"region": "us-east-1", "defaultTags": {"tags": {"owner": "o", "cost-center": "c"}}}
    assert run_resource("required-tags", "aws:s3/bucket:Bucket", {"tags": {"strategy": "hybrid"}}, provider_props=provider) == []
    assert run_resource("required-tags", "aws:s3/bucket:Bucket", {"tags": {"owner": "", "cost-center": "c", "strategy": "s"}})


def deployment(container: dict, tolerations: list | None = None) -> dict:
    spec: dict = {"containers": [{"name": "train", "image": "nvcr.io/nvidia/pytorch:25.01-py3", **container}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "t"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}}}


GPU_LIMITS = {"resources": {"limits": {"nvidia.com/gpu": "1"}}}
TOLERATE = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.mark.parametrize(("obj", "words"), [
    (deployment(GPU_LIMITS), "doesn't tolerate"),
    (deployment({"resources": {"requests": {"nvidia.com/gpu": "1"}}}, TOLERATE), "without a limit"),
    (deployment(GPU_LIMITS, [{"key": "other", "operator": "Exists"}]), "doesn't tolerate"),
])
def test_gpu_workload_variants_fail(obj: dict, words: str) -> None:
    messages = run_resource("k8s-gpu-workload-scheduling", "kubernetes:apps/v1:Deployment", obj)
    assert len(messages) == 1 and words in messages[0], messages


def test_gpu_workloads_that_pass() -> None:
    assert run_resource("k8s-gpu-workload-scheduling", "kubernetes:apps/v1:Deployment", deployment(GPU_LIMITS, TOLERATE)) == []
    assert run_resource("k8s-gpu-workload-scheduling", "kubernetes:apps/v1:Deployment", deployment({})) == []  # no GPUs
    cron = {"spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "i", **GPU_LIMITS}],
        "tolerations": [{"operator": "Exists"}]}}}}}}
    assert run_resource("k8s-gpu-workload-scheduling", "kubernetes:batch/v1:CronJob", cron) == []
    del cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["tolerations"]
    assert run_resource("k8s-gpu-workload-scheduling", "kubernetes:batch/v1:CronJob", cron)
