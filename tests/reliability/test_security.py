"""Security: inventory text is never executed, the probe needs no root, no
planted secret reaches any output, and what plinth writes is not world-writable.

Host keys verified by default: tests/transport/test_ssh.py (unknown refused, changed refused even
with --accept-new-host-keys) and tests/reliability/test_fault_matrix.py (the same through
`plinth validate`, known_hosts untouched)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from policies.thresholds import get_profile
from stacks import config as stack_config
from tests.reliability.support import REPO, deny_server, fast_probe, run_validate, ssh_node, write_inventory
from tests.support.sshd import SshdHandle
from validators.checks.base import CheckContext, judge_node
from validators.cli import app
from validators.probe import parse_probe_output, probe_command
from validators.transport import SshTarget, SshTransport

pytestmark = pytest.mark.root


@pytest.fixture
def markers() -> Iterator[list[Path]]:
    made = [Path("/tmp") / f"plinth-pwned-{uuid.uuid4().hex}" for _ in range(4)]
    yield made
    for m in made:
        m.unlink(missing_ok=True)


def _payloads(marker: Path) -> list[str]:
    return [f"$(touch {marker})", f"`touch {marker}`", f"x; touch {marker}", f"x && touch {marker} #", f"x\ntouch {marker}"]


def test_shell_metacharacters_in_inventory_text_are_never_executed(
    sshd_server: SshdHandle, markers: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Free-text fields (role, expected GPU model, instance type, bucket, an endpoint's path, an
    identity file path) go to the node, to boto3 and into reports: nothing in them may run, here or
    on the node (the node is this machine: a marker in /tmp would show either)."""
    m_role, m_model, m_store, m_key = markers
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPLINTHFAKE000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with deny_server() as url:
        endpoint = f"{url}/$(touch {m_store})`touch {m_store}`"
        nodes = [
            ssh_node(sshd_server, f"n{i}", role=role, expect={"gpu_model": model})
            for i, (role, model) in enumerate(zip(_payloads(m_role), _payloads(m_model)))
        ]
        nodes.append(ssh_node(sshd_server, "keypath", identity_file=f"/tmp/k;touch {m_key}"))
        inv = write_inventory(tmp_path / "inv.yaml", sshd_server, nodes,
                              object_store={"endpoint": endpoint, "bucket": f"b;touch {m_store}"})
        run = run_validate(monkeypatch, ["-i", str(inv), "-p", "single_gpu", "--no-network",
                                         "--markdown", str(tmp_path / "r.md"), "--junit", str(tmp_path / "r.xml")],
                           tmp_path, probe_options=fast_probe(object_store_endpoint=endpoint))
    assert run.exit_code == 1, run.output[-1500:]
    assert [n["reachable"] for n in run.report["nodes"]] == [True] * 5 + [False]
    for m in markers:
        assert not m.exists(), f"inventory text was executed: {m}"


@pytest.mark.parametrize(("field", "value"), [
    ("host", "10.0.0.1;touch {m}"), ("host", "-oProxyCommand=touch {m}"), ("user", "$(touch {m})"),
    ("name", "a`touch {m}`"), ("python", "python3 -c 'open(\"{m}\",\"w\")'"), ("port", "22;touch {m}"),
])
def test_shell_metacharacters_in_connection_fields_are_rejected_with_exit_2(
    field: str, value: str, markers: list[Path], tmp_path: Path,
) -> None:
    node = {"name": "a", "host": "127.0.0.1", "port": 1, field: value.format(m=markers[0])}
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump({"nodes": [node]}))
    result = CliRunner().invoke(app, ["validate", "-i", str(inv)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert re.match(rf"^error: {re.escape(str(inv))}:\d+:\d+: nodes\[0\]\.{field}: ", result.output), result.output  # file:line:column
    assert not markers[0].exists()


def test_the_probe_runs_unprivileged_and_root_only_checks_skip_with_the_reason(sshd_server: SshdHandle) -> None:
    t = SshTransport(SshTarget(sshd_server.host, sshd_server.port, sshd_server.user, sshd_server.client_key_path,
                               sshd_server.known_hosts))
    t.connect(timeout=5)
    try:
        assert t.run(["id", "-u"]).stdout.strip() != b"0"
        argv, stdin = probe_command(fast_probe())
        facts = parse_probe_output(t.run(argv, stdin=stdin, timeout=60))
    finally:
        t.close()
    assert facts["system"]["is_root"] is False
    results = judge_node(facts, CheckContext(profile=get_profile("single_gpu"), node="n"))
    restricted = Path("/proc/sys/kernel/dmesg_restrict").read_text().strip() == "1"
    xid = next(r for r in results if r.id == "gpu.xid")
    if restricted:  # the kernel log needs root here: skip with the reason, not error, never pass
        assert xid.status == "skip" and "root" in xid.message, xid
    for r in results:  # nothing errors for want of privileges
        assert not (r.status == "error" and any(w in r.message.lower() for w in ("permission", "root", "denied"))), r


# -- planted secrets -------------------------------------------------------------------------

def _scan(blobs: dict[str, bytes], secrets: dict[str, str]) -> list[str]:
    return [f"{what} leaked into {where}" for where, blob in blobs.items() for what, s in secrets.items()
            if s.encode() in blob]


@pytest.mark.slow
def test_planted_secrets_appear_in_no_output_stream_or_file(sshd_server: SshdHandle, tmp_path: Path) -> None:
    """Fake AWS keys in the environment, a private-key file whose contents carry a marker, a
    kubeconfig (file and inline) with a marker token: run audit, validate and preview with every
    report format, capture stdout/stderr, scan everything plinth wrote."""
    tag = uuid.uuid4().hex.upper()
    secrets = {
        "AWS_ACCESS_KEY_ID": f"AKIA{tag[:16]}", "AWS_SECRET_ACCESS_KEY": f"secret-{tag}",
        "AWS_SESSION_TOKEN": f"session-{tag}", "private key contents": f"keymaterial{tag}",
        "kubeconfig token": f"kubetoken-{tag}",
    }
    out = Path(tempfile.mkdtemp(prefix="plinth-rel-secrets-"))
    out.chmod(0o755)
    try:
        bad_key = out / "id_leaky"
        bad_key.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{secrets['private key contents']}\n-----END OPENSSH PRIVATE KEY-----\n")
        bad_key.chmod(0o600)
        kubeconfig = out / "kubeconfig"
        kube = {"apiVersion": "v1", "kind": "Config", "current-context": "onprem-gpu",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "contexts": [{"name": "onprem-gpu", "context": {"cluster": "c", "user": "u"}}],
                "users": [{"name": "u", "user": {"token": secrets["kubeconfig token"]}}]}
        kubeconfig.write_text(yaml.safe_dump(kube))
        env = {**os.environ, "CI": "1", "KUBECONFIG": str(kubeconfig), "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_CONFIG_FILE": str(out / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(out / "none"),
               **{k: v for k, v in secrets.items() if k.startswith("AWS_")}}
        hybrid = yaml.safe_load((REPO / "stacks" / "Pulumi.hybrid.yaml").read_text())
        hybrid["config"]["plinth:kubernetes"]["kubeconfig"] = yaml.safe_dump(kube)  # inline contents
        stack = out / "Pulumi.leaky.yaml"
        stack.write_text(yaml.safe_dump(hybrid))
        blobs: dict[str, bytes] = {}
        with deny_server() as url:
            inv = write_inventory(out / "inv.yaml", sshd_server, [
                ssh_node(sshd_server, "ok"), ssh_node(sshd_server, "leaky-key", identity_file=str(bad_key)),
            ], object_store={"endpoint": url, "bucket": "lake-raw"})
            runs = {
                "audit": ["audit", "--profile", "single_gpu", *_reports(out, "audit", ("json", "junit", "markdown"))],
                "validate": ["validate", "-i", str(inv), "-p", "single_gpu", "--no-network", "--timeout", "30",
                             *_reports(out, "validate", ("json", "junit", "markdown", "prometheus"))],
                "preview": ["preview", "--stack", str(stack), "--json", str(out / "preview.json")],
            }
            for name, args in runs.items():
                proc = subprocess.run([sys.executable, "-m", "validators.cli", *args], cwd=REPO, env=env,
                                      capture_output=True, timeout=180, check=False)
                assert proc.returncode in (0, 1), (name, proc.returncode, proc.stderr.decode()[-1500:])
                blobs[f"{name} stdout"], blobs[f"{name} stderr"] = proc.stdout, proc.stderr
        written = [p for p in out.iterdir() if p.name not in {"id_leaky", "kubeconfig", "inv.yaml", stack.name}]
        assert len(written) == 3 + 4 + 1, sorted(p.name for p in written)
        blobs.update({p.name: p.read_bytes() for p in written})
        assert b"leaky-key" in blobs["validate.json"]  # the node is reported (its error names the file, not its contents)
        assert _scan(blobs, secrets) == []
        _not_world_writable(out / "preview.json")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _reports(out: Path, prefix: str, kinds: tuple[str, ...]) -> list[str]:
    return [a for k in kinds for a in (f"--{k}", str(out / f"{prefix}.{k}"))]


# -- file modes ------------------------------------------------------------------------------

def _not_world_writable(path: Path) -> int:
    mode = stat.S_IMODE(path.stat().st_mode)
    assert not mode & 0o002, f"{path} is world-writable ({oct(mode)})"
    assert not mode & 0o020, f"{path} is group-writable ({oct(mode)})"
    return mode


def test_generated_stack_files_and_reports_are_0644_even_under_umask_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stack_config, "STACKS_DIR", tmp_path)
    inv = tmp_path / "inv.yaml"
    inv.write_text("nodes:\n  - {name: a, host: 127.0.0.1, port: 1}\n")
    old = os.umask(0)
    try:
        r1 = CliRunner().invoke(app, ["strategy", "--data-sensitivity", "high", "--write-stack", "modes"])
        r2 = CliRunner().invoke(app, ["validate", "-i", str(inv), "--no-network",
                                      *_reports(tmp_path, "r", ("json", "junit", "markdown", "prometheus"))], env={"CI": "1"})
    finally:
        os.umask(old)
    assert r1.exit_code == 0, r1.output
    assert r2.exit_code == 3, r2.output  # its one node is unreachable: not checked, the reports still written
    written = [tmp_path / "Pulumi.modes.yaml", *[tmp_path / f"r.{k}" for k in ("json", "junit", "markdown", "prometheus")]]
    assert {p.name: _not_world_writable(p) for p in written} == {p.name: 0o644 for p in written}
