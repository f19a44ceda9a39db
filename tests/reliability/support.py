"""Helpers for the fault matrix: node-side scripts, misbehaving servers, running `plinth validate`
in-process (CliRunner) or as a real subprocess, and the "report is complete" assertion."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from policies.thresholds import get_profile
from tests.support.sshd import SshdHandle
from validators.checks.base import load_all

REPO = Path(__file__).resolve().parents[2]


class NodeDir:
    """A world-readable directory for scripts the *node* runs (the test sshd logs in as the
    unprivileged ``plinthtest``, who cannot read pytest's 0700 tmp_path). ``markers`` is
    world-writable (sticky) so node-side scripts can leave evidence there."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="plinth-rel-node-"))
        self.path.chmod(0o755)
        self.markers = self.path / "markers"
        self.markers.mkdir()
        self.markers.chmod(0o1777)

    def script(self, name: str, body: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o755)
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
        return path

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class SilentServer:
    """Accepts TCP connections and never says a word (a hung sshd, a stalled S3 endpoint).
    ``accepted`` counts connections: a test can prove nothing was contacted."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port: int = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


class _Deny(http.server.BaseHTTPRequestHandler):
    """S3 answering 403 AccessDenied to everything, with the XML body S3 sends."""

    protocol_version = "HTTP/1.1"
    BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            b"<Message>Access Denied</Message><RequestId>PLINTHTEST</RequestId></Error>")

    def _deny(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(self.BODY)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.BODY)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _deny

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def deny_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Deny)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def ssh_node(h: SshdHandle, name: str, **kw: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"name": name, "host": h.host, "port": h.port}
    node.update(kw)
    return node


def write_inventory(path: Path, h: SshdHandle, nodes: list[dict[str, Any]], **top: Any) -> Path:
    path.write_text(yaml.safe_dump({
        "defaults": {"user": h.user, "identity_file": str(h.client_key_path), "known_hosts": str(h.known_hosts)},
        "nodes": nodes, **top,
    }))
    return path


def fast_probe(**kw: Any) -> Any:
    """Probe options with short steps: what `plinth validate` runs, only with a 2 s step budget
    (the CLI's default is 20 s) so a hung step costs the test seconds, not minutes."""
    from validators.probe import ProbeOptions

    base: dict[str, Any] = {"disk_test_mb": 4, "use_fio": False, "step_timeout_s": 2.0}
    base.update(kw)
    return ProbeOptions(**base)


@dataclass
class CliRun:
    exit_code: int
    output: str
    elapsed: float
    json_path: Path | None
    exception: BaseException | None = None
    report: dict[str, Any] = field(default_factory=dict)

    def node(self, name: str) -> dict[str, Any]:
        return next(n for n in self.report["nodes"] if n["name"] == name)


def run_validate(monkeypatch: pytest.MonkeyPatch, args: list[str], out_dir: Path, **run_opts: Any) -> CliRun:
    """`plinth validate <args> --json <out_dir>/r.json` through typer's CliRunner: the real CLI
    code path (argument parsing, run_validate, reports, exit code); ``run_opts`` are RunOptions
    fields the CLI has no flag for (probe step budget, pairwise options, a gather hook)."""
    from validators import commands
    from validators.runner import RunOptions

    run_opts.setdefault("probe_options", fast_probe())
    run_opts.setdefault("progress", False)
    def options(**cli: Any) -> RunOptions:
        # what the CLI sets wins, except where it passes None ("no flag given": net_options without
        # --port-range): there the test's own options stand
        return RunOptions(**{**run_opts, **{k: v for k, v in cli.items() if v is not None or k not in run_opts}})

    monkeypatch.setattr(commands, "RunOptions", options)
    json_path = out_dir / "r.json"
    t0 = time.monotonic()
    result = CliRunner().invoke(__import__("validators.cli", fromlist=["app"]).app,
                                ["validate", *args, "--json", str(json_path)], env={"CI": "1", "COLUMNS": "200"})
    run = CliRun(result.exit_code, result.output, time.monotonic() - t0, json_path, result.exception)
    if json_path.exists():
        run.report = json.loads(json_path.read_text())
    return run


def node_check_ids(profile: str) -> list[str]:
    registry = load_all()
    return [cid for cid in get_profile(profile).thresholds if cid in registry and registry[cid].scope == "node"]


def fleet_check_ids(profile: str) -> set[str]:
    registry = load_all()
    return {cid for cid in get_profile(profile).thresholds if cid in registry and registry[cid].scope == "fleet"}


def assert_complete(report: dict[str, Any], profile: str, names: list[str]) -> None:
    """Every node of the inventory, in order, with every node check of the profile (none dropped,
    none duplicated), every fleet check present, and the summary counting all of them."""
    assert [n["name"] for n in report["nodes"]] == names
    want = node_check_ids(profile)
    for n in report["nodes"]:
        assert [c["id"] for c in n["checks"]] == want, n["name"]
        for c in n["checks"]:
            assert c["status"] in ("pass", "warn", "fail", "error", "skip") and c["message"], c
    assert fleet_check_ids(profile) <= {c["id"] for c in report["fleet"]}
    s = report["summary"]
    total = sum(len(n["checks"]) for n in report["nodes"]) + len(report["fleet"])
    assert s["nodes"] == len(names)
    assert s["passed"] + s["failed"] + s["errors"] + s["warnings"] + s["skipped"] == total


def all_errors_with(node: dict[str, Any], *fragments: str) -> None:
    """Every check of the node is ``error`` and its message carries the reason."""
    assert {c["status"] for c in node["checks"]} == {"error"}, node
    for c in node["checks"]:
        for f in fragments:
            assert f in c["message"], (f, c["message"])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, parents before children. sshd serves a connection with a
    privileged monitor child and an unprivileged grandchild that owns the socket (and under it the
    command): killing the session means killing that whole subtree."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            parent_of[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out: list[int] = []
    frontier = [pid]
    while frontier:
        kids = [p for p, pp in parent_of.items() if pp in frontier]
        out += kids
        frontier = kids
    return out
