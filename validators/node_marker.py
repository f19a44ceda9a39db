"""Node marking: after each pass, ``plinth agent --mark-node`` labels its Kubernetes node with the
verdict and, with ``--taint-on-fail``, keeps a NoSchedule taint on it while a node check fails.

- label ``plinth.dev/validation`` = ``pass`` | ``warn`` | ``fail`` | ``error`` (always set: a
  workload can require ``plinth.dev/validation in (pass, warn)`` through node affinity, as HyperPod's
  ``sagemaker.amazonaws.com/node-health-status`` label is used);
- taint ``plinth.dev/validation-failed=true:NoSchedule`` added on ``fail``, removed on ``pass`` or
  ``warn``; left as it is on ``error`` (not proven bad, not proven good either). Running pods stay:
  NoSchedule only stops new ones, so a check never evicts a training job.

What to change is a pure function of the Node object (:func:`marking_patch`). Talking to the API
server is one small interface, :class:`NodeMarker`; :class:`KubernetesNodeMarker` is the in-cluster
implementation (the pod's service-account token over HTTPS, verified against the cluster CA, stdlib
only). The RBAC it needs is ``get`` and ``patch`` on ``nodes`` (components/in_cluster_validation.py).
The patch is a JSON merge patch carrying the node's ``resourceVersion``: a taint list changed by
someone else in between (the node lifecycle controller) makes it fail with 409 instead of being
overwritten, and the agent reads the node again.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

LABEL = "plinth.dev/validation"
TAINT_KEY = "plinth.dev/validation-failed"
TAINT = {"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
ATTEMPTS = 5


class MarkError(Exception):
    """The node could not be marked; ``str(exc)`` is the one-line reason (never the token)."""


class NodeMarker(Protocol):
    def mark(self, node: str, verdict: str, taint: bool) -> None: ...


def marking_patch(node: Mapping[str, Any], verdict: str, taint: bool) -> dict[str, Any] | None:
    """The merge patch that brings ``node`` in line with ``verdict``; None when it already is."""
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    taints = (node.get("spec") or {}).get("taints") or []
    ours = [t for t in taints if isinstance(t, dict) and t.get("key") == TAINT_KEY]
    others = [t for t in taints if not (isinstance(t, dict) and t.get("key") == TAINT_KEY)]
    patch: dict[str, Any] = {}
    if labels.get(LABEL) != verdict:
        patch["metadata"] = {"labels": {LABEL: verdict}}
    new_taints: list[Any] | None = None
    if verdict == "fail" and taint and not ours:
        new_taints = [*others, dict(TAINT)]
    elif verdict in ("pass", "warn") and ours:
        new_taints = others
    if new_taints is not None:
        # a merge patch replaces the whole list: guard it with the version it was computed from
        patch["spec"] = {"taints": new_taints}
        patch.setdefault("metadata", {})["resourceVersion"] = meta.get("resourceVersion")
    return patch or None


class KubernetesNodeMarker:
    """In-cluster API client for exactly two calls: GET and PATCH /api/v1/nodes/<name>."""

    def __init__(self, host: str, port: int, token_path: Path = SA_DIR / "token", ca_path: Path = SA_DIR / "ca.crt",
                 timeout_s: float = 10.0) -> None:
        self.host, self.port, self.token_path, self.timeout_s = host, port, token_path, timeout_s
        try:
            self._tls = ssl.create_default_context(cafile=str(ca_path))
        except (OSError, ssl.SSLError) as exc:
            raise MarkError(f"cannot load the cluster CA {ca_path}: {exc}") from None

    @classmethod
    def in_cluster(cls) -> KubernetesNodeMarker:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise MarkError("not in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set): cannot mark the node")
        try:
            return cls(host, int(port))
        except ValueError:
            raise MarkError(f"KUBERNETES_SERVICE_PORT {port!r} is not a port") from None

    def _call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
        try:
            token = self.token_path.read_text().strip()  # projected tokens rotate: read it every time
        except OSError as exc:
            raise MarkError(f"cannot read the service-account token: {exc.strerror or exc}") from None
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/merge-patch+json"
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout_s, context=self._tls)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            raw = resp.read(4 * 1024 * 1024)
        except (OSError, http.client.HTTPException) as exc:
            raise MarkError(f"{method} {path}: {exc.__class__.__name__}: {exc}") from None
        finally:
            conn.close()
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {}
        return resp.status, doc if isinstance(doc, dict) else {}

    def mark(self, node: str, verdict: str, taint: bool) -> None:
        path = "/api/v1/nodes/" + urllib.parse.quote(node, safe="")
        for _ in range(ATTEMPTS):
            status, obj = self._call("GET", path)
            if status != 200:
                raise MarkError(f"GET node {node}: HTTP {status}: {str(obj.get('message', ''))[:200]}")
            patch = marking_patch(obj, verdict, taint)
            if patch is None:
                return
            status, answer = self._call("PATCH", path, json.dumps(patch).encode())
            if status == 200:
                return
            if status != 409:  # 409: the node changed since the GET; read it again
                raise MarkError(f"PATCH node {node}: HTTP {status}: {str(answer.get('message', ''))[:200]}")
        raise MarkError(f"PATCH node {node}: still conflicting after {ATTEMPTS} attempts")


__all__ = ["LABEL", "TAINT", "TAINT_KEY", "KubernetesNodeMarker", "MarkError", "NodeMarker", "marking_patch"]
