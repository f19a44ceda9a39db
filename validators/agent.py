"""``plinth agent``: probe THIS node, store its facts for the controller, mark the node.

The in-cluster entry point (a DaemonSet or a Job per node runs it; components/in_cluster_validation.py):

1. the node name: ``--node-name``, else ``NODE_NAME`` (the downward API's ``spec.nodeName``), else the
   host name; checked as a name (never a path) before anything is written;
2. the same probe the SSH path streams, run through the local transport and the runner's own
   gathering (``gather_fleet``), so timeouts, the disk-test rule and the facts are identical;
3. the node-scope judges of ``--profile`` (the shared judging path) give the node's verdict;
4. the facts, in an envelope (validators/facts/envelope.py), go to ``<location>/nodes/<node>.json``,
   written atomically;
5. with ``--mark-node``, the node's label (and with ``--taint-on-fail`` its taint) follow the verdict.

Exit: 0 pass/warn, 1 fail or error (or the facts could not be stored, or the node not marked),
2 bad input. ``--interval S`` repeats steps 2-5 every S seconds and never exits on its own (a
DaemonSet's container; the latest pass overwrites the node's object).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from importlib import metadata

from rich.console import Console

from policies.errors import ConfigError
from policies.thresholds import Profile, get_profile
from validators.facts import envelope
from validators.facts.store import SUFFIX, FactsStore, open_store
from validators.inventory import NodeSpec
from validators.judging import assemble, node_report
from validators.node_marker import KubernetesNodeMarker, MarkError, NodeMarker
from validators.reports import console
from validators.results import NodeReport
from validators.runner import RunOptions, gather_fleet

SEVERITY = ("fail", "error", "warn", "pass")
NOT_HERE = "pairwise network tests are not run by the agent (one node); the controller runs them over SSH or a Job pair"


def node_name(given: str | None) -> str:
    """``--node-name``, else the downward API's NODE_NAME, else the host name; ConfigError if it
    is not a node name."""
    if given is not None:
        name, source = given, "--node-name"
    elif os.environ.get("NODE_NAME"):
        name, source = os.environ["NODE_NAME"], "NODE_NAME"
    else:
        name, source = socket.gethostname(), "the host name"
    problem = envelope.node_name_problem(name)
    if problem:
        raise ConfigError(f"{source}: {problem}")
    return name


def host_ip() -> str | None:
    """The node's address from the downward API (``status.hostIP``), when it is one."""
    value = os.environ.get("HOST_IP")
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def verdict(node: NodeReport) -> str:
    statuses = {c.status for c in node.checks}
    return next((s for s in SEVERITY if s in statuses), "pass")


def plinth_version() -> str:
    try:
        return metadata.version("plinth")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def probe_once(name: str, profile: Profile, store: FactsStore, disk_test_mb: int, out: Console) -> tuple[str, bytes]:
    """Probe, judge, build the envelope. Returns (verdict, envelope bytes)."""
    python = "python3" if shutil.which("python3") else sys.executable
    spec = NodeSpec(name=name, host="localhost", transport="local", python=python)
    opts = RunOptions(concurrency=1, network=False, network_off_reason=NOT_HERE, disk_test_mb=disk_test_mb,
                      disk_off_reason="disk test disabled (--disk-test-mb 0)", progress=False)
    gathered = gather_fleet([spec], profile, opts)
    if gathered.interrupted is not None:
        raise KeyboardInterrupt
    outcome = gathered.outcomes[0]
    report = node_report(outcome, profile)
    console.render(assemble([report], [], profile, started_at=gathered.started_at, duration_s=report.duration_s),
                   out)
    result = verdict(report)
    facts = None
    if outcome.facts is not None:
        facts = {k: v for k, v in outcome.facts.items() if k != "pairwise"}  # the controller adds its own
    data = envelope.build(name, store.run_id, facts=facts, error=outcome.error, verdict=result,
                          plinth_version=plinth_version(), host_ip=host_ip())
    return result, data


def run_agent(upload: str, node: str | None, profile: str | None, disk_test_mb: int = 64, mark_node: bool = False,
              taint_on_fail: bool = False, interval_s: float | None = None,
              marker_factory: Callable[[], NodeMarker] = KubernetesNodeMarker.in_cluster,
              sleep: Callable[[float], None] = time.sleep) -> int:
    from validators.commands import VALIDATE_DEFAULT_PROFILE

    name = node_name(node)
    store = open_store(upload)
    prof = get_profile(profile or VALIDATE_DEFAULT_PROFILE)
    out, err = Console(), Console(stderr=True)  # the width the log or terminal gives; the console reads at 80
    marker: NodeMarker | None = None
    if mark_node:
        try:
            marker = marker_factory()
        except MarkError as exc:
            raise ConfigError(f"--mark-node: {exc}") from None
    while True:
        result, data = probe_once(name, prof, store, disk_test_mb, out)
        code = 0 if result in ("pass", "warn") else 1
        try:
            store.put(name + SUFFIX, data)
            out.print(f"{name}: {result}; facts stored at {store.location}/nodes/{name}{SUFFIX} ({len(data)} bytes)",
                      highlight=False, markup=False)
        except Exception as exc:  # noqa: BLE001 - the controller will report this node missing; say why here
            err.print(f"error: cannot store the facts at {store.location}: {exc.__class__.__name__}: {exc}",
                      highlight=False, markup=False)
            code = 1
        if marker is not None:
            try:
                marker.mark(name, result, taint_on_fail)
            except MarkError as exc:
                err.print(f"error: cannot mark node {name}: {exc}", highlight=False, markup=False)
                code = 1
        if interval_s is None:
            return code
        sleep(interval_s)


__all__ = ["host_ip", "node_name", "plinth_version", "probe_once", "run_agent", "verdict"]
