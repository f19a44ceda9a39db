"""A real node_exporter (textfile collector only) and a real Prometheus scraping it, on free ports
of 127.0.0.1, each with its own directories; stopped by PID. Debian's packages:
``prometheus-node-exporter`` and ``prometheus`` (which brings ``promtool``)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.sshd import free_port

NODE_EXPORTER = "prometheus-node-exporter"
PROMETHEUS = "prometheus"


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # 127.0.0.1 only
        return resp.read()


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{log.stem} exited with {proc.returncode}: {log.read_text(errors='replace')[-800:]}")
        try:
            _get(url, timeout=0.5)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not answering after {timeout}s: {log.read_text(errors='replace')[-800:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def textfile_exporter(directory: Path, workdir: Path) -> Iterator[str]:
    """node_exporter serving only the ``*.prom`` files of ``directory``; yields its host:port."""
    port = free_port()
    log = workdir / "node_exporter.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
             f"--collector.textfile.directory={directory}", f"--web.listen-address=127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
    try:
        _wait(f"http://127.0.0.1:{port}/metrics", proc, log, timeout=10)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)


@contextmanager
def prometheus_server(target: str, rule_files: list[Path], workdir: Path) -> Iterator[str]:
    """Prometheus scraping ``target`` every second (job ``plinth``) and evaluating ``rule_files``
    every second; yields its base URL."""
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": "plinth", "static_configs": [{"targets": [target]}]}],
    }))
    log = workdir / "prometheus.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{base}/-/ready", proc, log, timeout=20)
        yield base
    finally:
        _stop(proc)


def api(base: str, path: str, **params: str) -> Any:
    """``data`` of a Prometheus HTTP API answer; RuntimeError with the server's reason otherwise."""
    url = f"{base}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    try:
        body = json.loads(_get(url, timeout=5))
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
    if body.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def query(base: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector (a scalar answer comes back as one sample without labels)."""
    data = api(base, "query", query=expr)
    if data["resultType"] == "vector":
        return data["result"]
    return [{"metric": {}, "value": data["result"]}]


def wait_for(base: str, expr: str, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Poll ``expr`` until it returns something (the first scrape, the first rule evaluation)."""
    deadline = time.monotonic() + timeout
    while True:
        result = query(base, expr)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)
