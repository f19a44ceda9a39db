"""S3 endpoint faults through `plinth validate`: the inventory's object store is down (nothing
listening), stalls (accepts and never answers), or answers 403 AccessDenied. The storage checks
say why (error, or fail where the node measured that it cannot reach its store), within the
documented bounds; the node's other checks are judged; exit 1; the report is complete."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.reliability.support import (
    SilentServer,
    assert_complete,
    deny_server,
    fast_probe,
    run_validate,
    ssh_node,
    write_inventory,
)
from tests.support.sshd import SshdHandle, free_port

pytestmark = pytest.mark.root
FLEET = ("storage.bucket_posture", "storage.object_store_throughput")


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPLINTHFAKE000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "plinth-fake-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@contextmanager
def _endpoint(kind: str) -> Iterator[str]:
    if kind == "down":
        yield f"http://127.0.0.1:{free_port()}"
    elif kind == "stalls":
        server = SilentServer()
        try:
            yield f"http://127.0.0.1:{server.port}"
        finally:
            server.close()
    else:
        with deny_server() as url:
            yield url


@pytest.mark.parametrize(("kind", "controller_reason", "node_reason", "bound_s"), [
    ("down", "endpoint unreachable", "refused", 10),
    ("stalls", "endpoint too slow - read timed out", "timed out", 20),  # boto3 read timeout 15 s, one attempt
    ("forbidden", "access denied (403)", None, 10),
])
def test_object_store_fault_is_a_reason_not_a_hang(
    sshd_server: SshdHandle, monkeypatch: pytest.MonkeyPatch, kind: str, controller_reason: str,
    node_reason: str | None, bound_s: float,
) -> None:
    work = Path(tempfile.mkdtemp(prefix="plinth-rel-s3-"))
    try:
        with _endpoint(kind) as url:
            inv = write_inventory(work / "inv.yaml", sshd_server, [ssh_node(sshd_server, "ok")],
                                  object_store={"endpoint": url, "bucket": "lake-raw", "region": "us-east-1"})
            run = run_validate(monkeypatch, ["-i", str(inv), "-p", "single_gpu", "--no-network"], work,
                               probe_options=fast_probe(object_store_endpoint=url))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert run.exit_code == 1, run.output[-1500:]
    assert run.elapsed < bound_s, run.elapsed
    assert_complete(run.report, "single_gpu", ["ok"])
    fleet = {c["id"]: c for c in run.report["fleet"]}
    for check_id in FLEET:
        assert fleet[check_id]["status"] == "error", fleet[check_id]
        assert controller_reason in fleet[check_id]["message"], fleet[check_id]
    checks = {c["id"]: c for c in run.node("ok")["checks"]}
    latency = checks["storage.object_store_latency"]
    if node_reason is None:  # a 403 still answers: the node reaches its store, latency is measured
        assert latency["status"] in ("pass", "warn"), latency
    else:
        assert latency["status"] in ("error", "fail") and node_reason in latency["message"].lower(), latency
    assert checks["system.memory"]["status"] == "pass"  # the rest of the node is unaffected
