"""Node marking: what to patch is pure (table-tested); the in-cluster client speaks real HTTPS, verifies
the server against the given CA, sends the bearer token and retries on 409.

No Kubernetes API server can run here. The client is exercised against a small HTTPS server that
answers GET/PATCH /api/v1/nodes/<name> the way the API server does for these two calls (JSON merge
patch, 409 on a stale resourceVersion); that it is the API server's exact behaviour is unproven here."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from validators.node_marker import LABEL, TAINT, KubernetesNodeMarker, MarkError, marking_patch

OTHER = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


def node(label: str | None = None, taints: list[dict[str, Any]] | None = None, rv: str = "7") -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": "n1", **({LABEL: label} if label else {})}
    return {"metadata": {"name": "n1", "resourceVersion": rv, "labels": labels}, "spec": {"taints": taints or []}}


@pytest.mark.parametrize(("before", "verdict", "taint", "patch"), [
    (node(), "fail", True, {"metadata": {"labels": {LABEL: "fail"}, "resourceVersion": "7"}, "spec": {"taints": [TAINT]}}),
    (node(), "fail", False, {"metadata": {"labels": {LABEL: "fail"}}}),
    (node("fail", [OTHER, TAINT]), "pass", True, {"metadata": {"labels": {LABEL: "pass"}, "resourceVersion": "7"},
                                                  "spec": {"taints": [OTHER]}}),  # cleared, the other taint kept
    (node("fail", [TAINT]), "error", True, {"metadata": {"labels": {LABEL: "error"}}}),  # not proven good: taint stays
    (node("fail", [TAINT]), "fail", True, None),  # already marked: no write
    (node("pass"), "pass", True, None),
    (node("fail", [TAINT]), "warn", False, {"metadata": {"labels": {LABEL: "warn"}, "resourceVersion": "7"}, "spec": {"taints": []}}),
])
def test_marking_patch(before: dict[str, Any], verdict: str, taint: bool, patch: dict[str, Any] | None) -> None:
    assert marking_patch(before, verdict, taint) == patch


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


class FakeApi:
    def __init__(self) -> None:
        self.nodes = {"n1": node()}
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.conflicts = 0  # answer this many PATCHes with 409 after bumping the version (a concurrent writer)


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _node(self) -> str | None:
            if self.headers.get("Authorization") != "Bearer sa-token":
                self._send(401, {"message": "Unauthorized"})
                return None
            name = self.path.removeprefix("/api/v1/nodes/")
            if name not in api.nodes:
                self._send(404, {"message": f'nodes "{name}" not found'})
                return None
            return name

        def do_GET(self) -> None:
            api.requests.append(("GET", self.path, dict(self.headers), None))
            name = self._node()
            if name:
                self._send(200, api.nodes[name])

        def do_PATCH(self) -> None:
            patch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            api.requests.append(("PATCH", self.path, dict(self.headers), patch))
            name = self._node()
            if not name:
                return
            current = api.nodes[name]
            if api.conflicts:
                api.conflicts -= 1
                current["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
                current["spec"]["taints"] = [*current["spec"]["taints"], OTHER]
            wanted = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
                self._send(409, {"message": "the object has been modified"})
                return
            merged = _merge(current, patch)
            merged["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
            api.nodes[name] = merged
            self._send(200, merged)

    return Handler


def _cert(tmp: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    crt, pem = tmp / f"{name}.crt", tmp / f"{name}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return crt, pem


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[FakeApi, int, Path]]:
    fake = FakeApi()
    crt, pem = _cert(tmp_path, "apiserver")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, pem)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (tmp_path / "token").write_text("sa-token\n")
    try:
        yield fake, server.server_address[1], crt
    finally:
        server.shutdown()
        server.server_close()


def marker(port: int, ca: Path, tmp: Path) -> KubernetesNodeMarker:
    return KubernetesNodeMarker("127.0.0.1", port, token_path=tmp / "token", ca_path=ca, timeout_s=5)


def test_marks_then_clears_over_https_with_the_token(api: tuple[FakeApi, int, Path], tmp_path: Path) -> None:
    fake, port, ca = api
    m = marker(port, ca, tmp_path)
    m.mark("n1", "fail", True)
    assert fake.nodes["n1"]["metadata"]["labels"][LABEL] == "fail"
    assert fake.nodes["n1"]["spec"]["taints"] == [TAINT]
    patch_req = next(r for r in fake.requests if r[0] == "PATCH")
    assert patch_req[2]["Content-Type"] == "application/merge-patch+json"
    assert patch_req[2]["Authorization"] == "Bearer sa-token"
    m.mark("n1", "pass", True)
    assert fake.nodes["n1"]["metadata"]["labels"][LABEL] == "pass"
    assert fake.nodes["n1"]["spec"]["taints"] == []
    assert fake.nodes["n1"]["metadata"]["labels"]["kubernetes.io/hostname"] == "n1"  # other labels untouched
    writes = sum(1 for r in fake.requests if r[0] == "PATCH")
    m.mark("n1", "pass", True)
    assert sum(1 for r in fake.requests if r[0] == "PATCH") == writes  # nothing to change: no write


def test_a_concurrent_taint_change_is_not_overwritten(api: tuple[FakeApi, int, Path], tmp_path: Path) -> None:
    fake, port, ca = api
    fake.conflicts = 1  # someone adds a taint between our GET and PATCH
    marker(port, ca, tmp_path).mark("n1", "fail", True)
    taints = fake.nodes["n1"]["spec"]["taints"]
    assert OTHER in taints and TAINT in taints  # re-read and kept the other writer's taint


def test_an_untrusted_server_certificate_is_refused(api: tuple[FakeApi, int, Path], tmp_path: Path) -> None:
    _fake, port, _ca = api
    other_ca, _ = _cert(tmp_path, "someone-else")
    with pytest.raises(MarkError, match="CERTIFICATE_VERIFY_FAILED"):
        marker(port, other_ca, tmp_path).mark("n1", "fail", True)


def test_api_errors_are_one_line_without_the_token(api: tuple[FakeApi, int, Path], tmp_path: Path) -> None:
    _fake, port, ca = api
    (tmp_path / "token").write_text("wrong-token")
    with pytest.raises(MarkError) as exc:
        marker(port, ca, tmp_path).mark("n1", "fail", True)
    assert str(exc.value) == "GET node n1: HTTP 401: Unauthorized" and "wrong-token" not in str(exc.value)
    (tmp_path / "token").write_text("sa-token")
    with pytest.raises(MarkError, match=r'GET node ghost: HTTP 404: nodes "ghost" not found'):
        marker(port, ca, tmp_path).mark("ghost", "fail", True)
