"""Each strategy's whole program (stacks.program.main) under the Pulumi SDK mocks, fed the committed
stack file the way the CLI feeds it: which resources exist, how they are wired, what is exported."""

from __future__ import annotations

import json

import pulumi
import pytest
from conftest import STACKS

from stacks.config import load_stack
from stacks.outputs import CONTRACT_KEYS

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
PLACEMENT_GROUP = "aws:ec2/placementGroup:PlacementGroup"
BUCKET = "aws:s3/bucket:Bucket"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
VPN = "aws:ec2/vpnConnection:VpnConnection"
K8S_PROVIDER = "pulumi:providers:kubernetes"
EKS = "aws:eks/cluster:Cluster"
THING_GROUP = "aws:iot/thingGroup:ThingGroup"
CERT = "aws:iot/certificate:Certificate"
THING = "aws:iot/thing:Thing"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def _assert_required_tags(run, stack: str) -> None:
    """owner and cost-center on every AWS resource that takes tags (the policy pack demands them)."""
    tagged = [r for r in run.resources if r.type.startswith("aws:") and "tags" in r.inputs]
    assert tagged, "no tagged AWS resources at all"
    for r in tagged:
        missing = {"owner", "cost-center"} - set(r.inputs["tags"])
        assert not missing, f"{stack}: {r.type} {r.name} lacks tags {missing}"


def test_cloud_first_builds_network_eks_pools_gpu_enablement_and_lakehouse(run_stack_file):
    cfg = load_stack("cloud-first")
    run = run_stack_file(STACKS / "Pulumi.cloud-first.yaml")

    assert run.count(NODE_GROUP) == 3  # train, infer and the system node group
    assert run.count(LAUNCH_TEMPLATE) == 3
    # One cluster placement group, the network's, shared by the distributed pool (not one per pool).
    assert run.count(PLACEMENT_GROUP) == 1
    assert run.count(BUCKET) == len(cfg.lakehouse.zones) + 1 == 5  # zones + access-log bucket
    assert run.count(DAEMONSET) == 0  # on EKS the device plugins are pinned Helm charts, not raw DaemonSets
    assert run.count(EKS) == 1
    assert run.count(VPN) == 0 and run.count(THING_GROUP) == 0
    _assert_required_tags(run, "cloud-first")

    # The training pool lands in the network's placement group with EFA; inference does not.
    pg = run.of_type(PLACEMENT_GROUP)[0]
    templates = {r.name: r.inputs for r in run.of_type(LAUNCH_TEMPLATE)}
    train, infer = templates["acme-ml-train-lt"], templates["acme-ml-infer-lt"]
    assert train["placement"]["groupName"] == pg.name  # the mocks name a resource after its logical name
    assert len(train["networkInterfaces"]) == 32  # p5.48xlarge: 32 EFA interfaces (catalogue)
    assert "placement" not in infer and "networkInterfaces" not in infer

    groups = {r.name: r.inputs for r in run.of_type(NODE_GROUP)}
    assert groups["acme-ml-infer-ng"]["capacityType"] == "SPOT"
    assert groups["acme-ml-train-ng"]["scalingConfig"] == {"minSize": 0, "desiredSize": 2, "maxSize": 4}

    # The device plugin and team quotas go to the EKS cluster through the EKS component's provider.
    providers = run.of_type(K8S_PROVIDER)
    assert [p.name for p in providers] == ["acme-ml-eks-k8s"]
    assert all("acme-ml-eks-k8s" in r.provider for r in run.resources if r.type.startswith("kubernetes:"))


def test_cloud_first_exports_the_outputs_contract(run_stack_file):
    run = run_stack_file(STACKS / "Pulumi.cloud-first.yaml")
    out = run.outputs
    # None outputs are dropped, as the engine does; validator_access is opt-in (plinth:validation.sshAccess)
    assert set(CONTRACT_KEYS) - set(out) == {"thing_group", "validator_access"}
    assert (out["strategy"], out["profile"], out["region"]) == ("cloud-first", "distributed_training", "us-east-1")
    assert out["cluster_name"] == "acme-ml-eks-cluster"
    assert out["node_groups"] == [
        {"name": "acme-ml-train-ng", "instance_type": "p5.48xlarge", "max_size": 4,
         "tag_selector": {"tag:plinth:pool": "train", "tag:eks:cluster-name": "acme-ml-eks-cluster"}},
        {"name": "acme-ml-infer-ng", "instance_type": "g6e.xlarge", "max_size": 4,
         "tag_selector": {"tag:plinth:pool": "infer", "tag:eks:cluster-name": "acme-ml-eks-cluster"}},
    ]
    assert out["gpu_node_tag_selector"] == {"tag:eks:cluster-name": "acme-ml-eks-cluster", "tag-key": "plinth:pool"}
    assert sorted(out["buckets"]) == ["curated", "features", "models", "raw"]
    assert out["object_store_endpoint"] == "https://s3.us-east-1.amazonaws.com"
    assert out["vpc_id"]
    assert run.secret_outputs == {"kubeconfig"}
    json.dumps(out)  # the contract is plain JSON: what `pulumi stack output --json` prints


def test_hybrid_enables_gpus_on_the_existing_cluster_and_bursts_from_zero(run_stack_file):
    cfg = load_stack("hybrid")
    run = run_stack_file(STACKS / "Pulumi.hybrid.yaml")

    # On-prem: an explicit provider for the configured context, running the GPU operator (Helm).
    providers = {p.name: p.inputs for p in run.of_type(K8S_PROVIDER)}
    assert providers["acme-hybrid-onprem"]["context"] == "onprem-gpu"
    onprem = [r for r in run.of_type(HELM_RELEASE) if "acme-hybrid-onprem" in r.provider]
    assert [r.inputs["chart"] for r in onprem] == ["gpu-operator"]
    # Burst side: EKS with the NVIDIA device plugin chart (the AMI brings the driver) and the
    # autoscaler that takes the pool from 0 and back, same team quotas.
    burst = sorted(r.inputs["chart"] for r in run.of_type(HELM_RELEASE) if "acme-hybrid-eks-k8s" in r.provider)
    assert burst == ["cluster-autoscaler", "nvidia-device-plugin"]
    assert run.count(DAEMONSET) == 0
    assert run.count("kubernetes:core/v1:ResourceQuota") == 2 * len(cfg.kubernetes.teams)  # type: ignore[union-attr]
    # The operator owns RuntimeClass nvidia on-prem: the only one plinth makes is the burst cluster's.
    runtime_classes = run.of_type("kubernetes:node.k8s.io/v1:RuntimeClass")
    assert len(runtime_classes) == 1 and "acme-hybrid-eks-k8s" in runtime_classes[0].provider
    # The namespaces the stack lists as existing on-prem are patched, not created; on the new burst
    # cluster every namespace is created.
    patched = run.of_type("kubernetes:core/v1:NamespacePatch")
    assert sorted(p.inputs["metadata"]["name"] for p in patched) == ["nlp", "research"]
    assert all("acme-hybrid-onprem" in p.provider for p in patched)
    onprem_ns = [n.inputs["metadata"]["name"] for n in run.of_type("kubernetes:core/v1:Namespace") if "acme-hybrid-onprem" in n.provider]
    assert sorted(onprem_ns) == ["gpu-system", "vision"]

    # VPN to on-prem, with the static route to onPremCidr, to a real (public) customer gateway.
    assert run.count(VPN) == 1
    routes = run.of_type("aws:ec2/vpnConnectionRoute:VpnConnectionRoute")
    assert [r.inputs["destinationCidrBlock"] for r in routes] == ["10.100.0.0/16"]
    cgw = run.of_type("aws:ec2/customerGateway:CustomerGateway")[0]
    assert cgw.inputs["ipAddress"] == "12.1.2.3"
    # The burst API is reachable from on-prem over the tunnel: 443 from onPremCidr on the control
    # plane security group, in place before any Kubernetes object on the burst cluster.
    api = [r for r in run.of_type(INGRESS) if r.inputs.get("fromPort") == 443]
    [cluster] = run.of_type(EKS)
    control_plane_sg = f"sg-{cluster.name}-cluster"  # what the mocks compute for vpcConfig.clusterSecurityGroupId
    assert [(r.inputs["cidrIpv4"], r.inputs["toPort"], r.inputs["ipProtocol"], r.inputs["securityGroupId"]) for r in api] == [
        ("10.100.0.0/16", 443, "tcp", control_plane_sg)]

    [ng] = [r for r in run.of_type(NODE_GROUP) if r.name == "acme-hybrid-burst-ng"]
    assert ng.inputs["scalingConfig"]["minSize"] == 0
    assert ng.inputs["capacityType"] == "SPOT"

    # Data pinned to the region: residency tag on every bucket, KMS key single-region.
    buckets = run.of_type(BUCKET)
    assert len(buckets) == len(cfg.lakehouse.zones) + 1
    assert all(b.inputs["tags"]["plinth:data-residency"] == "eu-central-1" for b in buckets)
    assert all(b.inputs["region"] == "eu-central-1" for b in buckets)
    assert run.of_type("aws:kms/key:Key")[0].inputs["multiRegion"] is False
    _assert_required_tags(run, "hybrid")

    out = run.outputs
    assert out["strategy"] == "hybrid" and out["cluster_name"] == "acme-hybrid-eks-cluster"
    assert [g["instance_type"] for g in out["node_groups"]] == ["g6e.12xlarge"]
    assert out["vpn_connection_id"] and out["onprem_context"] == "onprem-gpu"


def test_edge_builds_the_device_group_workload_and_a_small_lakehouse(run_stack_file):
    cfg = load_stack("edge")
    run = run_stack_file(STACKS / "Pulumi.edge.yaml")

    assert run.count(THING_GROUP) == 1
    assert run.count(THING) == 3
    hardware = sorted(t.inputs["attributes"]["hardware"] for t in run.of_type(THING))
    assert hardware == ["intel-nuc", "jetson", "raspberry-pi"]
    assert run.count(EKS) == 0 and run.count(NODE_GROUP) == 0  # no gpuPools: no central cluster
    assert run.count("aws:ec2/vpc:Vpc") == 0
    assert run.count(BUCKET) == 2 + 1  # raw + models + access logs

    # The workload goes to the edge cluster through the provider for its context.
    providers = {p.name: p.inputs for p in run.of_type(K8S_PROVIDER)}
    assert list(providers) == ["acme-edge-edge-k8s"]
    assert providers["acme-edge-edge-k8s"]["context"] == "plant3-k3s"
    workloads = run.of_type(DAEMONSET)
    assert len(workloads) == 1 and "acme-edge-edge-k8s" in workloads[0].provider
    spec = workloads[0].inputs["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == "ghcr.io/acme/defect-detect:1.4.2"
    assert cfg.edge and spec["nodeSelector"] == cfg.edge.workload.node_selector  # type: ignore[union-attr]
    _assert_required_tags(run, "edge")

    # Every certificate from the device's CSR: no private key is made, stored or exported.
    assert all(c.inputs.get("csr", "").startswith("-----BEGIN CERTIFICATE REQUEST-----") for c in run.of_type(CERT))
    # The credentials-provider path: two access sets (raw+models for the line devices, raw for the
    # gateway), each a role, an inline S3/KMS policy, a role alias and an IoT policy.
    for typ in ("aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", "aws:iot/roleAlias:RoleAlias", "aws:iot/policy:Policy"):
        assert run.count(typ) == 2, typ
    aliases = sorted(a.inputs["alias"] for a in run.of_type("aws:iot/roleAlias:RoleAlias"))
    assert aliases == ["acme-edge-plant3-line-lake-models-raw", "acme-edge-plant3-line-lake-raw"]
    raw_only = json.loads(next(p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-raw")
                               and "models" not in p.name).inputs["policy"])
    assert [st["Sid"] for st in raw_only["Statement"]] == ["WriteRaw", "KmsOnlyThroughS3"]
    assert raw_only["Statement"][0]["Resource"].endswith("/devices/${credentials-iot:ThingName}/*")

    out = run.outputs
    assert out["thing_group"] == "acme-edge-plant3-line"
    assert "cluster_name" not in out and "vpc_id" not in out and out["node_groups"] == []
    assert sorted(out["buckets"]) == ["models", "raw"]
    assert {"edge_certificate_pems", "edge_device_keys"} <= run.secret_outputs
    assert out["edge_device_keys"] == {}
    assert out["edge_credentials_endpoint"].endswith(".credentials.iot.us-west-2.amazonaws.com")
    assert out["edge_data_endpoint"].endswith("-ats.iot.us-west-2.amazonaws.com")
    assert out["edge_role_aliases"] == {"line1-jetson": aliases[0], "line2-rpi": aliases[0], "gateway-nuc": aliases[1]}


def _edge_config(**extra):
    return {
        "aws:region": "us-west-2",
        "plinth:strategy": "edge-centric",
        "plinth:profile": "edge_inference",
        "plinth:tags": {"owner": "t", "cost-center": "c"},
        "plinth:edge": {"devices": [{"name": "cam-1", "hardware": "raspberry-pi", "generateKeyPair": True}]},
        **extra,
    }


def test_edge_defaults_to_raw_and_models_zones_but_honours_explicit_zones(run_config):
    assert sorted(run_config(_edge_config()).outputs["buckets"]) == ["models", "raw"]
    explicit = run_config(_edge_config(**{"plinth:lakehouse": {"zones": ["raw", "curated", "models"]}}))
    assert sorted(explicit.outputs["buckets"]) == ["curated", "models", "raw"]
    # No workload: no Kubernetes provider or object at all.
    assert explicit.count(K8S_PROVIDER) == 0 and explicit.count(DAEMONSET) == 0


def test_edge_with_gpu_pools_adds_a_central_cluster(run_config):
    run = run_config(_edge_config(**{"plinth:cluster": {"deployFromVpc": True}, "plinth:gpuPools": [
        {"name": "retrain", "instanceType": "g6.xlarge", "maxSize": 2, "profile": "single_gpu"}]}))
    assert run.count("aws:ec2/vpc:Vpc") == 1 and run.count(NODE_GROUP) == 2  # the pool and the system nodes
    assert run.outputs["thing_group"] and run.outputs["cluster_name"]


def _hybrid_config(**extra):
    return {
        "plinth:strategy": "hybrid",
        "plinth:tags": {"owner": "t", "cost-center": "c"},
        "plinth:kubernetes": {"context": "onprem"},
        "plinth:network": {"onPremCidr": "10.100.0.0/16"},
        "plinth:cluster": {"deployFromVpc": True},
        **extra,
    }


def test_hybrid_without_burst_pools_builds_no_eks(run_config):
    run = run_config(_hybrid_config())
    assert run.count(EKS) == 0 and run.count(NODE_GROUP) == 0
    assert run.count(DAEMONSET) == 1 and "onprem" in run.of_type(DAEMONSET)[0].provider
    assert run.count(VPN) == 0  # no network.vpn given (Direct Connect etc.): warned, not invented
    assert "cluster_name" not in run.outputs and run.outputs["node_groups"] == []


BURST = [{"name": "burst", "instanceType": "g6e.12xlarge", "maxSize": 2, "profile": "multi_gpu_single_node"}]


def test_hybrid_burst_needs_a_path_from_on_prem(run_config, caplog):
    with pytest.raises(pulumi.RunError) as err:
        run_config(_hybrid_config(**{"plinth:gpuPools": BURST}), stack="onprem")
    msg = str(err.value)
    assert msg.startswith(f"{STACKS / 'Pulumi.onprem.yaml'}: plinth:network.vpn: hybrid burst pools need a path")
    assert "\n" not in msg
    # Direct Connect / a transit gateway: declared, no VPN built, the API still admits on-prem.
    external = _hybrid_config(**{"plinth:gpuPools": BURST, "plinth:network": {
        "onPremCidr": ["10.100.0.0/16", "10.101.0.0/16"], "onPremLink": "external"}})
    with caplog.at_level("WARNING"):
        run = run_config(external)
    assert run.count(VPN) == 0 and run.count(EKS) == 1
    api = sorted(r.inputs["cidrIpv4"] for r in run.of_type(INGRESS) if r.inputs.get("fromPort") == 443)
    assert api == ["10.100.0.0/16", "10.101.0.0/16"]
    assert any("route onPremCidr through your own link" in r.getMessage() for r in caplog.records)


def test_hybrid_warns_when_the_burst_endpoint_is_public(run_config, caplog):
    cfg = _hybrid_config(**{"plinth:gpuPools": BURST, "plinth:cluster": {"endpointPublicAccess": True,
                                                                         "publicAccessCidrs": ["12.1.2.0/24"]},
                            "plinth:network": {"onPremCidr": "10.100.0.0/16", "onPremLink": "external"}})
    with caplog.at_level("WARNING"):
        run_config(cfg)
    assert any(r.getMessage().startswith("plinth:cluster.endpointPublicAccess: ") for r in caplog.records)


def test_hybrid_burst_pool_must_scale_from_zero(run_config):
    bad = _hybrid_config(**{"plinth:gpuPools": [
        {"name": "burst", "instanceType": "g6e.12xlarge", "minSize": 1, "desiredSize": 1, "maxSize": 2,
         "profile": "multi_gpu_single_node"}]})
    with pytest.raises(pulumi.RunError) as err:
        run_config(bad, stack="onprem")
    msg = str(err.value)
    assert "Pulumi.onprem.yaml" in msg and "plinth:gpuPools[0].minSize" in msg and "\n" not in msg


def test_component_config_errors_name_the_stack_file(run_config):
    # The mocks' region has 4 zones; asking for 5 fails inside the network component.
    bad = {"plinth:strategy": "cloud-first", "plinth:network": {"azCount": 5}, "plinth:cluster": {"deployFromVpc": True}}
    with pytest.raises(pulumi.RunError, match=r"Pulumi\.lab\.yaml: plinth:network\.azCount"):
        run_config(bad, stack="lab")


def test_config_through_the_pulumi_config_env_var_as_the_language_host_passes_it(monkeypatch):
    """`pulumi up`: the Python language host hands the program its config as the PULUMI_CONFIG
    JSON environment variable (not set_all_config). Same result, and unknown keys still refused."""
    from conftest import run_program

    from stacks.program import cli_config_for_stack

    config = cli_config_for_stack(STACKS / "Pulumi.edge.yaml")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    run = run_program({}, "edge", region="us-west-2")
    assert run.outputs["thing_group"] == "acme-edge-plant3-line" and run.count(THING) == 3

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({**config, "plinth:edges": "{}"}))
    with pytest.raises(pulumi.RunError, match=r"Pulumi\.edge\.yaml: plinth:edges: unknown field"):
        run_program({}, "edge")
