"""`plinth preview`: the real stack program under the SDK's mocks, the whole pack, the JSON contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from validators.cli import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def preview(tmp: Path, *args: str) -> tuple[int, str, dict[str, Any] | None]:
    out = tmp / "p.json"
    result = runner.invoke(app, ["preview", *args, "--json", str(out)])
    data = json.loads(out.read_text()) if out.exists() else None
    return result.exit_code, result.output, data


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, dict[str, Any] | None]]:
    return {s: preview(tmp_path_factory.mktemp(s), "--stack", s) for s in ("cloud-first", "hybrid", "edge")}


def types(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in data["resources"]:
        out.setdefault(r["type"], []).append(r)
    return out


@pytest.mark.parametrize("stack", ["cloud-first", "hybrid", "edge"])
def test_shipped_stacks_pass_every_mandatory_rule(shipped, stack: str) -> None:
    code, output, data = shipped[stack]
    assert data is not None, output
    mandatory = [v for v in data["violations"] if v["enforcement"] == "mandatory"]
    assert code == 0 and mandatory == [], mandatory
    assert set(data) >= {"stack", "strategy", "resources", "violations", "estimated_hourly_cost_usd"}
    assert all(set(r) >= {"type", "name", "parent", "inputs"} for r in data["resources"])
    # the EKS platform rules find what they look for: system nodes, device plugins, autoscaler, agent
    assert not {v["policy"] for v in data["violations"]} & {
        "eks-system-node-capacity", "eks-accelerator-device-plugin", "eks-efa-device-plugin",
        "eks-scale-from-zero-autoscaler", "eks-pod-identity-agent", "eks-secrets-encryption",
        "launch-template-imds-hop-limit", "eks-subnets-multi-az", "lakehouse-workload-identity"}


@pytest.mark.parametrize("stack", ["cloud-first", "hybrid", "edge"])
def test_first_preview_says_what_could_not_run_and_never_overstates(shipped, stack: str) -> None:
    """A first real preview can't know a bucket policy built from the bucket's ARN: the two rules that
    read those documents could not run; everything else could. The verdict line says both."""
    _, output, data = shipped[stack]
    assert data is not None and data["mode"] == "first-preview"
    assert "mode: first preview" in output
    s3_docs = {"s3-policy-not-public", "s3-policy-tls-only"}
    for c in data["could_not_run"]:
        if c["policy"] in s3_docs:
            assert c["resource"].startswith("lake-") and c["reason"] == "cannot be evaluated during preview: policy unknown"
    statuses = data["policies"]
    blocked = {n for n, s in statuses.items() if s == "could-not-run"}
    # the lakehouse identity's documents are built from ARNs too, once there is an identity to judge
    assert s3_docs <= blocked <= s3_docs | {"lakehouse-workload-identity"}
    assert blocked == {c["policy"] for c in data["could_not_run"]}
    ran = sum(1 for s in statuses.values() if s == "ran")
    mandatory = sum(1 for v in data["violations"] if v["enforcement"] == "mandatory")
    line = (f"{mandatory} mandatory violation{'' if mandatory == 1 else 's'} among the {ran} policies that could run; "
            f"{len(blocked)} could not run before creation")
    assert data["verdict"] == line and line in output


def test_known_outputs_mode_runs_every_policy(tmp_path: Path) -> None:
    _, output, data = preview(tmp_path, "--stack", "cloud-first", "--known-outputs")
    assert data is not None and data["mode"] == "known-outputs" and "mode: known outputs" in output
    assert data["could_not_run"] == [] and set(data["policies"].values()) == {"ran"}
    # the bucket policies and the workload identities' policies are real JSON now, and pass: the
    # Pod Identity roles may list and read every zone and decrypt with the lakehouse key
    assert not [v for v in data["violations"] if v["policy"].startswith("s3-") or v["policy"] == "lakehouse-workload-identity"]


def test_the_plan_lists_creates_in_a_stable_order_with_a_summary(shipped) -> None:
    _, output, data = shipped["cloud-first"]
    assert data is not None and len(data["resources"]) > 100
    created = len(data["resources"])
    assert data["summary"] == {"create": created} and f"Resources: + {created} to create" in output
    assert all(r["action"] == "create" for r in data["resources"])
    # parents come before their children; siblings by type, then name
    seen: set[str | None] = {None}
    for r in data["resources"]:
        assert r["parent"] in seen
        seen.add(r["name"])
    lake = [(r["type"], r["name"]) for r in data["resources"] if r["parent"] == "lake"]
    assert lake == sorted(lake) and len(lake) > 30


def test_json_inputs_are_masked_and_two_previews_are_byte_identical(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for out in (first, second):
        result = runner.invoke(app, ["preview", "--stack", "cloud-first", "--json", str(out)])
        assert result.exit_code in (0, 1), result.output
    assert first.read_bytes() == second.read_bytes()
    data = json.loads(first.read_text())
    by_name = {r["name"]: r for r in data["resources"]}
    provider = by_name["acme-ml-eks-k8s"]
    assert provider["inputs"]["kubeconfig"] == "[secret]"  # a Pulumi secret (and unknown before the cluster exists)
    ng = by_name["acme-ml-train-ng"]["inputs"]
    assert ng["clusterName"] == "[unknown]" and ng["scalingConfig"] == {"desiredSize": 2, "maxSize": 4, "minSize": 0}
    assert list(ng) == sorted(ng)


def test_cloud_first_lists_the_gpu_pool_network_and_lakehouse(shipped) -> None:
    _, _, data = shipped["cloud-first"]
    assert data is not None and data["stack"] == "cloud-first" and data["strategy"] == "cloud-first"
    by_type = types(data)
    assert len(by_type["aws:eks/nodeGroup:NodeGroup"]) == 3  # train, infer, system
    assert by_type["aws:ec2/launchTemplate:LaunchTemplate"] and by_type["aws:ec2/placementGroup:PlacementGroup"]
    buckets = {b["name"] for b in by_type["aws:s3/bucket:Bucket"]}
    for side in ("bucketVersioning:BucketVersioning", "bucketPublicAccessBlock:BucketPublicAccessBlock",
                 "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                 "bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
        assert len(by_type[f"aws:s3/{side}"]) == len(buckets) >= 5
    # parents: node groups sit under their GpuNodePool component, buckets under the Lakehouse
    pools = {c["name"] for c in by_type["plinth:compute:GpuNodePool"]} | {
        c["name"] for c in by_type["plinth:compute:SystemNodeGroup"]}
    assert {ng["parent"] for ng in by_type["aws:eks/nodeGroup:NodeGroup"]} == pools
    # the estimate is the catalogue's price x max nodes: 4 x p5.48xlarge + 4 x g6e.xlarge
    assert data["estimated_hourly_cost_usd"] == pytest.approx(4 * 55.04 + 4 * 1.861, abs=0.01)


def test_hybrid_lists_the_device_plugin_and_edge_the_thing_group(shipped) -> None:
    hybrid = shipped["hybrid"][2]
    edge = shipped["edge"][2]
    assert hybrid is not None and edge is not None
    assert any("device-plugin" in d["name"] for d in types(hybrid)["kubernetes:helm.sh/v3:Release"])
    assert types(edge)["aws:iot/thingGroup:ThingGroup"]
    assert types(edge)["aws:iot/policy:Policy"]


BAD_STACK = {
    "config": {
        "aws:region": "us-east-1",
        "plinth:strategy": "cloud-first",
        "plinth:prefix": "bad",
        "plinth:tags": {"owner": "someone"},  # no cost-center
        "plinth:budgetUsdPerHour": 20,  # a p5 pool of 4 costs ~220 USD/h
        "plinth:cluster": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
        "plinth:gpuPools": [
            {"name": "train", "instanceType": "p5.48xlarge", "maxSize": 4, "profile": "distributed_training",
             "efa": False, "placementGroup": False, "availabilityZone": "us-east-1a"},
            {"name": "slowtrain", "instanceType": "g6e.xlarge", "maxSize": 2, "profile": "distributed_training",
             "availabilityZone": "us-east-1b"},
            {"name": "spot", "instanceType": "g6.xlarge", "maxSize": 2, "capacityType": "SPOT", "interruptible": False,
             "profile": "real_time_inference"},
        ],
    }
}
BAD_RULES = {"eks-endpoint-not-public", "training-pool-efa", "training-pool-placement-group", "training-pool-bandwidth",
             "eks-spot-interruptible-only", "cost-within-budget", "required-tags"}


@pytest.fixture
def bad_stack(tmp_path: Path) -> Path:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump(BAD_STACK))
    return path


def test_bad_stack_exits_1_and_names_each_violated_rule(bad_stack: Path, tmp_path: Path) -> None:
    code, output, data = preview(tmp_path, "--stack", str(bad_stack))
    assert data is not None, output
    violated = {v["policy"] for v in data["violations"]}
    assert code == 1 and BAD_RULES <= violated, (code, violated)
    for rule in BAD_RULES:
        assert rule in output  # the console names them too
    on: dict[str, set[str]] = {}
    for v in data["violations"]:
        on.setdefault(v["policy"], set()).add(v["resource"])
        if v["policy"] == "eks-endpoint-not-public":
            assert v["enforcement"] == "mandatory"
    assert on["training-pool-efa"] == {"bad-train-ng", "bad-slowtrain-ng"}  # EFA off; no EFA hardware
    assert on["training-pool-placement-group"] == {"bad-train-ng"}  # slowtrain keeps the network's cluster group
    assert on["training-pool-bandwidth"] == {"bad-slowtrain-ng"}
    assert on["eks-spot-interruptible-only"] >= {"bad-spot-ng"}
    assert on["cost-within-budget"] == {None}  # a stack-level violation
    # one group per policy, with its count, in the JSON and on the console
    tags = [v for v in data["violations"] if v["policy"] == "required-tags"]
    group = next(g for g in data["violations_by_policy"] if g["policy"] == "required-tags")
    assert group["count"] == len(tags) > 10 and group["resources"] == sorted({v["resource"] for v in tags})
    assert f"required-tags  x{len(tags)}" in output and output.count("missing required tags") <= 3
    assert not list(tmp_path.glob(".p.json.*"))  # written atomically: no temporary file left behind
    assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o644  # readable by CI like every plinth report


def test_a_single_zone_network_never_passes_silently(tmp_path: Path) -> None:
    """EKS refuses subnets in fewer than two zones. The stack program may refuse the config itself
    (exit 2, naming the field); if it builds the stack, eks-subnets-multi-az must stop it (exit 1)."""
    stack = {"config": {"aws:region": "us-east-1", "plinth:strategy": "cloud-first", "plinth:prefix": "onezone",
                        "plinth:tags": {"owner": "o", "cost-center": "c"}, "plinth:network": {"azCount": 1},
                        "plinth:gpuPools": [{"name": "infer", "instanceType": "g6e.xlarge", "maxSize": 2}]}}
    path = tmp_path / "Pulumi.onezone.yaml"
    path.write_text(yaml.safe_dump(stack))
    code, output, data = preview(tmp_path, "--stack", str(path))
    if code == 2:  # refused as input: one line naming the file and a zone field
        assert str(path) in output and "zone" in output.lower() and data is None
    else:
        assert data is not None and code == 1
        assert {v["resource"] for v in data["violations"] if v["policy"] == "eks-subnets-multi-az"} == {"onezone-eks-cluster"}


def test_policy_config_changes_enforcement(bad_stack: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "policy.json"
    cfg.write_text(json.dumps({"all": "advisory", "training-pool-efa": "mandatory", "required-tags": "disabled"}))
    code, output, data = preview(tmp_path, "--stack", str(bad_stack), "--policy-config", str(cfg))
    assert data is not None, output
    levels = {v["policy"]: v["enforcement"] for v in data["violations"]}
    assert code == 1 and levels["training-pool-efa"] == "mandatory" and levels["eks-endpoint-not-public"] == "advisory"
    assert "required-tags" not in levels


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda c: c.__setitem__("plinth:gpuPools", [{"name": "x", "instanceType": "p5.48xlarge", "minSize": 3, "maxSize": 1}]),
     "plinth:gpuPools[0]"),
    (lambda c: c.__setitem__("plinth:gpuPools", [{"name": "x", "instanceType": "p9.huge"}]), "instanceType"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, mutate, words: str) -> None:
    stack = json.loads(json.dumps(BAD_STACK))
    mutate(stack["config"])
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(stack))
    result = runner.invoke(app, ["preview", "--stack", str(path)])
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and words in result.output and "Traceback" not in result.output


def test_unknown_stack_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["preview", "--stack", "no-such-stack"])
    assert result.exit_code == 2 and "stack file not found" in result.output


def test_json_on_stdout_is_the_report_and_nothing_else(tmp_path: Path) -> None:
    """`-o json`: the same bytes as the --json file, alone on stdout (the plan goes to stderr)."""
    out = tmp_path / "edge.json"
    result = runner.invoke(app, ["preview", "--stack", "edge", "-o", "json", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == out.read_text() and json.loads(result.stdout)["summary"]["create"] > 40
    assert "Resources: +" in result.stderr
