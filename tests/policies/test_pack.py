"""The pack itself: importing rules never blocks; the real analyzer server built by __main__ serves
our policies over gRPC; requirements.txt installs this repository from the pack directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from packaging.version import Version
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


def serve_and_analyze(python: str) -> None:
    """Start the pack exactly as the Pulumi CLI does (its ``__main__.py`` under ``python``), then ask
    the real analyzer server for its policies, one resource verdict and one stack verdict."""
    proc = subprocess.Popen([python, str(PACK / "__main__.py")], cwd=PACK, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the analyzer prints its port, then serves
        if not line.strip():
            proc.kill()
            raise AssertionError(proc.communicate(timeout=10)[1].decode()[-3000:])
        with grpc.insecure_channel(f"127.0.0.1:{int(line)}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
            from policies.rules import DEFAULT_ENFORCEMENT, POLICY_NAMES

            assert info.name == "plinth" and [p.name for p in info.policies] == list(POLICY_NAMES)
            levels = {p.name: p.enforcementLevel for p in info.policies}
            assert levels["eks-system-node-capacity"] == analyzer_pb2.MANDATORY == levels["s3-policy-tls-only"]
            assert {n for n, lvl in levels.items() if lvl == analyzer_pb2.MANDATORY} == {
                n for n, lvl in DEFAULT_ENFORCEMENT.items() if lvl == "mandatory"}
            props = struct_pb2.Struct()
            props.update({"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}],
                          "tags": {"owner": "o", "cost-center": "c", "strategy": "s"}})
            resp = stub.Analyze(analyzer_pb2.AnalyzeRequest(
                type="aws:ec2/securityGroup:SecurityGroup", properties=props, name="ssh",
                urn="urn:pulumi:dev::plinth::aws:ec2/securityGroup:SecurityGroup::ssh"), timeout=30)
            diags = [(d.policyName, d.enforcementLevel) for d in resp.diagnostics]
            assert diags == [("security-group-no-open-ingress", analyzer_pb2.MANDATORY)]
            # a stack policy through AnalyzeStack: a bucket no versioning resource refers to
            bucket = struct_pb2.Struct()
            bucket.update({"bucketPrefix": "raw-", "tags": {"owner": "o", "cost-center": "c", "strategy": "s"}})
            stack = stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[analyzer_pb2.AnalyzerResource(
                type="aws:s3/bucket:Bucket", properties=bucket, name="raw",
                urn="urn:pulumi:dev::plinth::aws:s3/bucket:Bucket::raw")]), timeout=30)
            assert "s3-bucket-versioning" in {d.policyName for d in stack.diagnostics}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_pack_main_serves_every_policy_and_analyzes_a_resource() -> None:
    serve_and_analyze(sys.executable)


def declared_floor(package: str) -> str:
    """``pulumi-policy>=1.19,<2`` in pyproject.toml -> "1.19"."""
    found = re.search(rf'^\s*"{re.escape(package)}\s*>=\s*([0-9.]+)', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert found, f"pyproject.toml declares no floor for {package}"
    return found.group(1)


@pytest.fixture(scope="session")
def floor_python(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> str:
    """A throwaway venv whose only own package is pulumi-policy at the declared floor; everything else
    (pulumi, protobuf, grpc, pydantic, plinth) comes from this venv behind it. Cached between runs."""
    version = declared_floor("pulumi-policy")
    store = getattr(pytestconfig, "cache", None)  # absent under -p no:cacheprovider: a fresh install then
    cache = store.mkdir(f"pulumi-policy-{version}") if store is not None else tmp_path_factory.mktemp("floor")
    venv = Path(cache) / "venv"
    python = venv / "bin" / "python"
    if not (venv / ".ready").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(venv)], check=True, timeout=120)
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True, timeout=60).stdout.strip()
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                               "--target", site, f"pulumi-policy=={version}"],
                              check=False, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.skip(f"cannot install pulumi-policy=={version} from the package index: {done.stderr.strip()[-300:]}")
        # after its own site-packages: the floor's pulumi_policy shadows the newer one installed here
        ours = next(p for p in sys.path if p.endswith("site-packages"))
        (Path(site) / "zz-plinth-deps.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
        (venv / ".ready").touch()
    return str(python)


def test_the_pack_builds_and_serves_at_the_declared_pulumi_policy_floor(floor_python: str) -> None:
    """`pulumi-policy` at its floor (remediation_steps and not_applicable came in 1.18, stack tags in
    1.19): the real PolicyPack accepts every policy, serves and judges."""
    version = declared_floor("pulumi-policy")
    probe = "from importlib.metadata import version; import pulumi_policy; print(version('pulumi-policy'), pulumi_policy.__file__)"
    got = subprocess.run([floor_python, "-c", probe],
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert Version(got[0]) == Version(version) and str(REPO / ".venv") not in got[1]
    serve_and_analyze(floor_python)


def test_the_offline_evaluation_runs_at_the_floor(floor_python: str) -> None:
    """policies.evaluate builds analyzer arguments with the floor's classes (stack tags included)."""
    code = ("from policies.evaluate import CapturedResource, evaluate\n"
            "from policies.policy_config import PolicyConfig\n"
            "r = CapturedResource(urn='urn:pulumi:d::p::aws:kms/key:Key::k', type='aws:kms/key:Key', name='k', custom=True,"
            " inputs={'enableKeyRotation': False})\n"
            "print(sorted({v.policy for v in evaluate([r], PolicyConfig()).violations}))")
    out = subprocess.run([floor_python, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "kms-key-rotation" in out.stdout
