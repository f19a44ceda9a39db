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
    assert all(set(r) >= {"type", "name", "parent"} for r in data["resources"])
    assert "can't check" not in json.dumps(data["violations"])  # the mocks give every value a plausible output


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
    assert not list(tmp_path.glob(".p.json.*"))  # written atomically: no temporary file left behind
    assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o644  # readable by CI like every plinth report


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
