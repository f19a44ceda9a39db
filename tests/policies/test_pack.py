"""The pack itself: importing rules never blocks; the real analyzer server built by __main__ serves
our policies over gRPC; requirements.txt installs this repository from the pack directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "policies" / "pack"


RULE_MODULES = sorted(f"policies.rules.{p.stem}" for p in (REPO / "policies" / "rules").glob("*.py") if p.stem != "__init__")
MODULES = ["policies.rules", *RULE_MODULES, "policies.preview", "policies.preview_report", "policies.evaluate",
           "policies.preview_engine"]


def test_importing_rules_and_preview_never_blocks() -> None:
    """Only PolicyPack(...) starts a server and blocks; a fresh interpreter importing everything else
    (and reading the pack's policy list) must exit promptly."""
    code = (f"import importlib\nfor m in {MODULES!r}: importlib.import_module(m)\n"
            "print(len(importlib.import_module('policies.rules').ALL_POLICIES))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    from policies.rules import ALL_POLICIES

    assert done.stdout.decode().strip() == str(len(ALL_POLICIES)) and len(ALL_POLICIES) >= 30


def test_pack_manifest_and_requirements_point_at_this_repository() -> None:
    manifest = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python" and manifest["description"]
    lines = [ln.strip() for ln in (PACK / "requirements.txt").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines == ["-e ../.."]
    # pip resolves the path against its working directory, which the CLI sets to the pack directory
    root = (PACK / "../..").resolve()
    assert 'name = "plinth"' in (root / "pyproject.toml").read_text()


def test_pack_main_serves_every_policy_and_analyzes_a_resource() -> None:
    proc = subprocess.Popen([sys.executable, str(PACK / "__main__.py")], cwd=PACK,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())  # the analyzer prints its port, then serves
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
            from policies.rules import POLICY_NAMES

            assert info.name == "plinth" and [p.name for p in info.policies] == list(POLICY_NAMES)
            props = struct_pb2.Struct()
            props.update({"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}],
                          "tags": {"owner": "o", "cost-center": "c", "strategy": "s"}})
            resp = stub.Analyze(analyzer_pb2.AnalyzeRequest(
                type="aws:ec2/securityGroup:SecurityGroup", properties=props, name="ssh",
                urn="urn:pulumi:dev::plinth::aws:ec2/securityGroup:SecurityGroup::ssh"), timeout=30)
            diags = [(d.policyName, d.enforcementLevel) for d in resp.diagnostics]
            assert diags == [("security-group-no-open-ingress", analyzer_pb2.MANDATORY)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
