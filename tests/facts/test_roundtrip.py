"""The real probe through `plinth agent` on this machine, stored in a directory and in S3 (moto), then
`plinth validate --facts`: the same verdicts as a live local run of the same profile.

This machine has no GPU: the honest verdict is gpu.count fail, so the agent exits 1 and both reports
say fail for the same checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

PLINTH = [sys.executable, "-m", "validators.cli"]
PROFILE = "distributed_training"
ROOT = Path(__file__).resolve().parents[2]


def plinth(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "CI": "1", **(env or {})}
    return subprocess.run([*PLINTH, *args], capture_output=True, text=True, env=full, cwd=ROOT, timeout=240, check=False)


def verdicts(report_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    doc: dict[str, Any] = json.loads(report_path.read_text())
    [node] = doc["nodes"]
    return {c["id"]: c["status"] for c in node["checks"]}, {c["id"]: c["status"] for c in doc["fleet"]}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, str]]:
    out = tmp_path_factory.mktemp("live") / "live.json"
    proc = plinth("audit", "-p", PROFILE, "--disk-test-mb", "0", "--json", str(out))
    assert proc.returncode == 1, proc.stderr  # no GPU here: a fail, honestly
    return verdicts(out)


def test_directory_round_trip_gives_the_live_verdicts(tmp_path: Path, live: tuple[dict[str, str], dict[str, str]]) -> None:
    run = tmp_path / "runs" / "2025-06-01-a"
    agent = plinth("agent", "--upload", str(run), "--node-name", "gpu-node-1", "-p", PROFILE, "--disk-test-mb", "0",
                   env={"HOST_IP": "10.0.1.23"})
    assert agent.returncode == 1, agent.stderr  # the node's verdict: fail
    assert "gpu-node-1: fail; facts stored at" in agent.stdout
    stored = json.loads((run / "nodes" / "gpu-node-1.json").read_text())
    assert stored["node"] == "gpu-node-1" and stored["run_id"] == "2025-06-01-a" and stored["verdict"] == "fail"
    assert stored["host_ip"] == "10.0.1.23" and stored["facts"]["probe_version"] == 1
    assert oct((run / "nodes" / "gpu-node-1.json").stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in (run / "nodes").iterdir()] == ["gpu-node-1.json"]  # no temp file left
    report = tmp_path / "facts.json"
    judged = plinth("validate", "--facts", str(run), "-p", PROFILE, "--json", str(report))
    assert judged.returncode == 1, judged.stderr
    node_checks, fleet_checks = verdicts(report)
    assert node_checks == live[0]
    assert fleet_checks == live[1]
    assert json.loads(report.read_text())["nodes"][0]["host"] == "10.0.1.23"
    assert "facts: run 2025-06-01-a" in judged.stderr


def test_s3_round_trip_gives_the_live_verdicts(tmp_path: Path, aws_env: dict[str, str], moto: str,
                                               live: tuple[dict[str, str], dict[str, str]]) -> None:
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="acme-lake-raw")
    location = "s3://acme-lake-raw/plinth-runs/r1"
    s3.put_object(Bucket="acme-lake-raw", Key="plinth-runs/r1/run.json",
                  Body=json.dumps({"format": "plinth.run/v1", "run_id": "r1", "expected_nodes": ["gpu-node-1", "gpu-node-2"]}))
    s3.put_object(Bucket="acme-lake-raw", Key="plinth-runs/r1/nodes/../../evil.json", Body=b"{}")  # a real S3 key
    agent = plinth("agent", "--upload", location, "-p", PROFILE, "--disk-test-mb", "0", env={**aws_env, "NODE_NAME": "gpu-node-1"})
    assert agent.returncode == 1, agent.stderr
    body = s3.get_object(Bucket="acme-lake-raw", Key="plinth-runs/r1/nodes/gpu-node-1.json")["Body"].read()
    assert json.loads(body)["run_id"] == "r1"
    report = tmp_path / "s3.json"
    judged = plinth("validate", "--facts", location, "-p", PROFILE, "--json", str(report), "--junit", str(tmp_path / "s3.xml"),
                    env=aws_env)
    assert judged.returncode == 1, judged.stderr
    doc = json.loads(report.read_text())
    by_name = {n["name"]: n for n in doc["nodes"]}
    assert list(by_name) == ["gpu-node-1", "gpu-node-2"]
    assert {c["id"]: c["status"] for c in by_name["gpu-node-1"]["checks"]} == live[0]
    missing = by_name["gpu-node-2"]
    assert not missing["reachable"] and {c["status"] for c in missing["checks"]} == {"error"}
    assert missing["checks"][0]["message"].startswith("no facts: the agent did not report in run r1")
    assert "1 object(s) ignored, their names are not node names: '../../evil.json'" in judged.stderr


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--upload", "RUNDIR", "--node-name", "../../etc"], {}, "--node-name: '../../etc' is not a node name"),
    (["--upload", "RUNDIR"], {"NODE_NAME": "a/b"}, "NODE_NAME: 'a/b' is not a node name"),
    (["--upload", "s3://only-a-bucket"], {}, "expected s3://BUCKET/PREFIX/RUN-ID"),
    (["--upload", "RUNDIR", "-p", "no_such_profile"], {}, "no_such_profile"),
    (["--upload", "RUNDIR", "--taint-on-fail"], {}, "--taint-on-fail needs --mark-node"),
    (["--upload", "RUNDIR", "--mark-node"], {"KUBERNETES_SERVICE_HOST": ""}, "--mark-node: not in a Kubernetes pod"),
])
def test_agent_bad_input_is_one_line_and_exit_2_before_probing(tmp_path: Path, args: list[str], env: dict[str, str],
                                                              message: str) -> None:
    run = tmp_path / "r2"
    proc = plinth("agent", *[str(run) if a == "RUNDIR" else a for a in args], env=env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not run.exists()  # nothing written


def test_validate_facts_refuses_ssh_only_flags(tmp_path: Path) -> None:
    proc = plinth("validate", "--facts", str(tmp_path / "r3"), "--quick")
    assert proc.returncode == 2 and "--facts: --quick does not apply" in proc.stderr
