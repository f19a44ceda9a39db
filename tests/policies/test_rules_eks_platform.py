"""What an EKS cluster needs to be usable, on engine-shaped stacks: system capacity, device plugins,
an autoscaler for pools at 0, the Pod Identity agent, subnets in two zones, encrypted Secrets and
launch templates that keep pods off IMDS.

The synthetic stacks are shaped as a first preview delivers them: ids and ARNs unknown, resources
joined through property dependencies (``clusterName``, ``vpcConfig``, ``launchTemplate``, a
provider's ``kubeconfig``), Helm releases applied through an explicit Kubernetes provider.
"""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UnknownValueError

from tests.policies.engine_args import UNKNOWN_STR, StackBuilder, run_resource

CLUSTER = "aws:eks/cluster:Cluster"
NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
SUBNET = "aws:ec2/subnet:Subnet"
ADDON = "aws:eks/addon:Addon"
FARGATE = "aws:eks/fargateProfile:FargateProfile"
ASSOC = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
PROVIDER = "pulumi:providers:kubernetes"
RELEASE = "kubernetes:helm.sh/v3:Release"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
SECRET_UNKNOWN = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": UNKNOWN_STR}
GPU_TAINT = [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
IMDS_OK = {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}
PLATFORM_RULES = ("eks-system-node-capacity", "eks-accelerator-device-plugin", "eks-efa-device-plugin",
                  "eks-scale-from-zero-autoscaler", "eks-pod-identity-agent", "eks-subnets-multi-az")


class Eks:
    """A cluster in two zones with a system node group, an EFA p5 pool at 0, add-ons, the NVIDIA and
    EFA device plugins and Cluster Autoscaler: what plinth's EKS platform builds."""

    def __init__(self, zones: str = "ab", name: str = "eks", st: StackBuilder | None = None) -> None:
        self.st = st or StackBuilder()
        self.subnets = [self.st.add(SUBNET, f"{name}-private-{z}", {"availabilityZone": f"us-east-1{z}", "vpcId": UNKNOWN_STR})
                        for z in zones]
        self.cluster = self.st.add(CLUSTER, f"{name}-cluster", {
            "roleArn": UNKNOWN_STR, "vpcConfig": {"subnetIds": [UNKNOWN_STR] * len(zones), "endpointPublicAccess": False}},
            deps={"vpcConfig": self.subnets})
        self.provider = self.st.add(PROVIDER, f"{name}-k8s", {"kubeconfig": SECRET_UNKNOWN}, deps={"kubeconfig": [self.cluster]})
        self.name = name

    def node_group(self, pool: str, *, min_size: int = 0, taints: list | None = None, itype: str = "p5.48xlarge",
                   efa: bool = False) -> str:
        lt = self.st.add(LT, f"{self.name}-{pool}-lt", {
            "metadataOptions": IMDS_OK,
            "networkInterfaces": [{"deviceIndex": i, "networkCardIndex": i, "interfaceType": "efa"} for i in range(2)] if efa else []})
        return self.st.add(NG, f"{self.name}-{pool}-ng", {
            "clusterName": UNKNOWN_STR, "instanceTypes": [itype], "taints": GPU_TAINT if taints is None else taints,
            "scalingConfig": {"minSize": min_size, "desiredSize": min_size, "maxSize": 4},
            "launchTemplate": {"id": UNKNOWN_STR, "version": UNKNOWN_STR}},
            deps={"clusterName": [self.cluster], "launchTemplate": [lt]})

    def release(self, chart: str, name: str | None = None, provider: str | None = None) -> str:
        release = name or chart.rsplit("/", 1)[-1]
        return self.st.add(RELEASE, f"{self.name}-{release}", {"chart": chart, "name": release, "namespace": "kube-system"},
                           provider=provider or self.provider)

    def addon(self, addon: str) -> str:
        return self.st.add(ADDON, f"{self.name}-{addon}", {"clusterName": UNKNOWN_STR, "addonName": addon},
                           deps={"clusterName": [self.cluster]})

    def run(self, rule: str) -> list[str]:
        return self.st.run(rule)


def platform(**skip: bool) -> Eks:
    eks = Eks()
    if not skip.get("system"):
        eks.node_group("system", min_size=2, taints=[], itype="m6i.large")
    eks.node_group("train", efa=True)
    if not skip.get("nvidia"):
        eks.release("nvidia-device-plugin")
    if not skip.get("efa"):
        eks.release("aws-efa-k8s-device-plugin")
    if not skip.get("autoscaler"):
        eks.release("cluster-autoscaler")
    for addon in ("vpc-cni", "kube-proxy", "coredns", *(() if skip.get("agent") else ("eks-pod-identity-agent",))):
        eks.addon(addon)
    eks.st.add(ASSOC, "lake-reader", {"clusterName": UNKNOWN_STR, "namespace": "research", "serviceAccount": "trainer",
                                      "roleArn": UNKNOWN_STR}, deps={"clusterName": [eks.cluster]})
    return eks


@pytest.mark.parametrize("rule", PLATFORM_RULES)
def test_the_complete_platform_passes(rule: str) -> None:
    assert platform().run(rule) == []


@pytest.mark.parametrize(("skip", "rule", "words"), [
    ("system", "eks-system-node-capacity", "CoreDNS"),
    ("nvidia", "eks-accelerator-device-plugin", "nvidia.com/gpu"),
    ("efa", "eks-efa-device-plugin", "vpc.amazonaws.com/efa"),
    ("autoscaler", "eks-scale-from-zero-autoscaler", "Cluster Autoscaler"),
    ("agent", "eks-pod-identity-agent", "eks-pod-identity-agent"),
])
def test_each_missing_piece_fails_its_rule_only(skip: str, rule: str, words: str) -> None:
    eks = platform(**{skip: True})
    messages = eks.run(rule)
    assert len(messages) == 1 and words in messages[0] and "eks-cluster" in messages[0], messages
    assert all(eks.run(other) == [] for other in PLATFORM_RULES if other != rule)


# ---- system capacity --------------------------------------------------------------------------------

@pytest.mark.parametrize(("system", "passes"), [
    ({"min_size": 2, "taints": [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]}, True),
    ({"min_size": 0, "taints": []}, False),  # nothing runs until something scales it: the autoscaler can't start
    ({"min_size": 1, "taints": [{"key": "dedicated", "value": "infra", "effect": "NO_EXECUTE"}]}, False),
    ({"min_size": 1, "taints": [{"key": "spot", "value": "true", "effect": "PREFER_NO_SCHEDULE"}]}, True),
])
def test_what_counts_as_capacity_for_system_pods(system: dict, passes: bool) -> None:
    eks = platform(system=True)
    eks.node_group("system", itype="m6i.large", **system)
    assert (eks.run("eks-system-node-capacity") == []) is passes


def test_a_kube_system_fargate_profile_or_auto_mode_is_capacity_too() -> None:
    eks = platform(system=True)
    eks.st.add(FARGATE, "system", {"clusterName": UNKNOWN_STR, "selectors": [{"namespace": "kube-system"}]},
               deps={"clusterName": [eks.cluster]})
    assert eks.run("eks-system-node-capacity") == []
    auto = StackBuilder()
    c = auto.add(CLUSTER, "auto", {"computeConfig": {"enabled": True, "nodePools": ["system", "general-purpose"]}})
    auto.add(NG, "gpu", {"clusterName": UNKNOWN_STR, "taints": GPU_TAINT, "scalingConfig": {"minSize": 0, "maxSize": 2}},
             deps={"clusterName": [c]})
    assert auto.run("eks-system-node-capacity") == []


def test_a_system_group_of_another_cluster_does_not_count() -> None:
    st = StackBuilder()
    a, b = Eks(name="a", st=st), Eks(name="b", st=st)
    a.node_group("system", min_size=2, taints=[], itype="m6i.large")
    b.node_group("train")
    messages = st.run("eks-system-node-capacity")
    assert len(messages) == 1 and "b-cluster" in messages[0]


# ---- device plugins and autoscaler: how an installation is recognised ----------------------------

@pytest.mark.parametrize("install", [
    lambda e: e.release("nvidia/nvidia-device-plugin", name="gpu-plugin"),  # chart name
    lambda e: e.release("nvidia/gpu-operator"),  # the GPU Operator runs the device plugin
    lambda e: e.st.add(DAEMONSET, "dp", {"metadata": {"name": "nvidia-device-plugin", "namespace": "gpu-system"}},
                       provider=e.provider),  # raw manifest, by workload name
    lambda e: e.st.add(DAEMONSET, "custom", {"metadata": {"name": "gpu", "labels": {"plinth.dev/provides": "nvidia-device-plugin"}}},
                       provider=e.provider),  # plinth's label
    lambda e: e.st.add(DAEMONSET, "default-provider", {"metadata": {"name": "nvidia-device-plugin-daemonset"}}),  # cluster unknown
])
def test_the_nvidia_device_plugin_is_recognised_however_it_is_installed(install) -> None:
    eks = platform(nvidia=True)
    install(eks)
    assert eks.run("eks-accelerator-device-plugin") == []


def test_a_device_plugin_on_another_cluster_does_not_count() -> None:
    st = StackBuilder()
    a, b = Eks(name="a", st=st), Eks(name="b", st=st)
    b.node_group("gpu")
    a.release("nvidia-device-plugin")  # through a's provider, whose kubeconfig comes from cluster a
    messages = st.run("eks-accelerator-device-plugin")
    assert len(messages) == 1 and "b-cluster" in messages[0] and "b-gpu-ng" in messages[0]


def test_a_plugin_on_an_on_prem_cluster_does_not_cover_the_burst_cluster() -> None:
    """hybrid: the GPU Operator goes to the existing cluster through a provider built from a kubeconfig
    context; the burst EKS cluster still needs its own device plugin."""
    eks = platform(nvidia=True)
    onprem = eks.st.add(PROVIDER, "onprem", {"context": "onprem-gpu"})
    eks.release("nvidia/gpu-operator", provider=onprem)
    [message] = eks.run("eks-accelerator-device-plugin")
    assert "eks-cluster" in message and "nvidia-device-plugin" in message


def test_neuron_pools_need_the_neuron_plugin_not_the_nvidia_one() -> None:
    eks = platform()
    eks.node_group("trn", itype="trn1.32xlarge", taints=[{"key": "aws.amazon.com/neuron", "value": "true", "effect": "NO_SCHEDULE"}])
    messages = eks.run("eks-accelerator-device-plugin")
    assert len(messages) == 1 and "neuron-device-plugin" in messages[0] and "eks-trn-ng" in messages[0]
    eks.release("oci://public.ecr.aws/neuron/neuron-helm-chart", name="neuron-device-plugin")
    assert eks.run("eks-accelerator-device-plugin") == []


def test_efa_chart_from_a_repository_alias_counts() -> None:
    eks = platform(efa=True)
    eks.release("eks/aws-efa-k8s-device-plugin", name="efa")
    assert eks.run("eks-efa-device-plugin") == []


def test_pools_without_efa_need_no_efa_plugin() -> None:
    eks = Eks()
    eks.node_group("infer", itype="g6e.xlarge")
    assert eks.run("eks-efa-device-plugin") == []


def test_karpenter_does_not_scale_managed_node_groups() -> None:
    eks = platform(autoscaler=True)
    eks.release("oci://public.ecr.aws/karpenter/karpenter")
    [message] = eks.run("eks-scale-from-zero-autoscaler")
    assert "Karpenter is installed" in message and "eks-train-ng" in message


def test_pools_that_never_reach_zero_need_no_autoscaler() -> None:
    eks = Eks()
    eks.node_group("steady", min_size=2)
    assert eks.run("eks-scale-from-zero-autoscaler") == []


# ---- subnets ------------------------------------------------------------------------------------

def test_subnets_in_one_zone_fail_and_unknown_zones_cannot_be_evaluated() -> None:
    one = Eks(zones="a")
    [message] = one.run("eks-subnets-multi-az")
    assert "us-east-1a" in message and "two availability zones" in message
    unknown = StackBuilder()
    s = unknown.add(SUBNET, "s", {"availabilityZone": UNKNOWN_STR})
    unknown.add(CLUSTER, "c", {"vpcConfig": {"subnetIds": [UNKNOWN_STR]}}, deps={"vpcConfig": [s]})
    with pytest.raises(UnknownValueError):
        unknown.run("eks-subnets-multi-az")


def test_subnets_without_a_zone_are_undecided_unless_there_is_only_one() -> None:
    two = StackBuilder()
    subnets = [two.add(SUBNET, f"s{i}", {"cidrBlock": f"10.0.{i}.0/24"}) for i in range(2)]  # AWS picks the zones
    two.add(CLUSTER, "c", {"vpcConfig": {"subnetIds": [UNKNOWN_STR] * 2}}, deps={"vpcConfig": subnets})
    with pytest.raises(UnknownValueError):
        two.run("eks-subnets-multi-az")
    one = StackBuilder()
    s = one.add(SUBNET, "s", {"cidrBlock": "10.0.0.0/24"})
    one.add(CLUSTER, "c", {"vpcConfig": {"subnetIds": [UNKNOWN_STR]}}, deps={"vpcConfig": [s]})
    assert len(one.run("eks-subnets-multi-az")) == 1


def test_existing_subnets_outside_the_stack_are_not_judged() -> None:
    st = StackBuilder()
    st.add(CLUSTER, "c", {"vpcConfig": {"subnetIds": ["subnet-0a", "subnet-0b"]}})
    assert st.run("eks-subnets-multi-az") == []


# ---- resource rules: Secrets encryption, IMDS --------------------------------------------------------

@pytest.mark.parametrize(("props", "ok"), [
    ({"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": UNKNOWN_STR}}}, True),  # key not created yet
    ({"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/k"}}}, True),
    ({}, False),
    ({"encryptionConfig": {"resources": ["configmaps"], "provider": {"keyArn": "arn:k"}}}, False),
    ({"encryptionConfig": {"resources": ["secrets"], "provider": {}}}, False),
])
def test_secrets_encryption_needs_secrets_and_a_key(props: dict, ok: bool) -> None:
    messages = run_resource("eks-secrets-encryption", CLUSTER, {"roleArn": UNKNOWN_STR, **props}, resource_name="c")
    assert (messages == []) is ok and all("customer-managed KMS key" in m for m in messages)


@pytest.mark.parametrize(("options", "words"), [
    (IMDS_OK, None),
    ({"httpEndpoint": "disabled"}, None),
    ({**IMDS_OK, "httpPutResponseHopLimit": 2}, "httpPutResponseHopLimit is 2, not 1"),
    ({**IMDS_OK, "httpTokens": "optional"}, "httpTokens is optional"),
    (None, "no metadataOptions"),
])
def test_launch_templates_keep_pods_off_imds(options: dict | None, words: str | None) -> None:
    props = {"metadataOptions": options} if options is not None else {}
    messages = run_resource("launch-template-imds-hop-limit", LT, props, resource_name="gpu-lt")
    if words is None:
        assert messages == []
    else:
        assert len(messages) == 1 and words in messages[0] and "gpu-lt" in messages[0]


def test_unknown_hop_limit_cannot_be_evaluated() -> None:
    with pytest.raises(UnknownValueError):
        run_resource("launch-template-imds-hop-limit", LT, {"metadataOptions": {**IMDS_OK, "httpPutResponseHopLimit": UNKNOWN_STR}})
