"""What ``plinth agent`` stores per node, and how the controller reads it back: pure, no I/O.

A facts object (``<run>/nodes/<node>.json``) is the probe's facts (the same JSON the SSH path
streams back, validators/probe) in a small envelope::

    {"format": "plinth.facts/v1", "node": "ip-10-0-1-23.ec2.internal", "run_id": "2025-06-01-a",
     "time": "2025-06-01T10:00:03+00:00", "plinth_version": "0.1.0", "probe_version": 1,
     "host_ip": "10.0.1.23" | null, "verdict": "pass"|"warn"|"fail"|"error"|"skip",
     "facts": {...} | null, "error": "probe failed: ..." | null}

``verdict`` is the agent's own node-scope verdict (it decides the exit code and the node label);
the controller judges ``facts`` again with its own profile and ignores it.

A run manifest (``<run>/run.json``, optional) defines the run::

    {"format": "plinth.run/v1", "run_id": "2025-06-01-a", "started_at": "2025-06-01T09:59:00+00:00"?,
     "expected_nodes": ["ip-10-0-1-23.ec2.internal", ...]?}

Everything read back is data from the nodes: bounded in size, strict JSON (NaN, Infinity and
1e999 refused: they would pass or fail a threshold by accident), names checked before they are
used as keys or file names (a node name is never a path).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from validators.probe import PROBE_VERSION, facts_problem

FACTS_FORMAT = "plinth.facts/v1"
RUN_FORMAT = "plinth.run/v1"
# a real node's facts are 2-50 KB (xid events, mounts and NICs are capped by the probe); the bound
# keeps a hostile or broken object from costing more than this per fetch thread
MAX_FACTS_BYTES = 2 * 1024 * 1024
MAX_MANIFEST_BYTES = 8 * 1024 * 1024  # 100,000 expected node names fit
# Kubernetes node names are DNS subdomains (<= 253); inventory names are shorter. No '/', no leading
# '.', so a name can be neither a path nor a hidden temp file.
_NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
_RUN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
VERDICTS = ("pass", "warn", "fail", "error", "skip")


class FactsProblem(Exception):
    """A facts object or manifest that cannot be used; ``str(exc)`` is the one-line reason."""


def node_name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not _NODE.match(name) or ".." in name:
        return (f"{shown(name)} is not a node name (letters, digits, '.', '_', '-'; at most 253; "
                "no path separators, no '..')")
    return None


def run_id_problem(run_id: object) -> str | None:
    if not isinstance(run_id, str) or not _RUN.match(run_id) or ".." in run_id:
        return f"{shown(run_id)} is not a run id (letters, digits, '.', '_', '-'; at most 128)"
    return None


def shown(value: object, limit: int = 80) -> str:
    """A value from a node, safe to put in a one-line message: repr-escaped, bounded."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_time(value: object, what: str) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise FactsProblem(f"{what}: expected an ISO 8601 time, got {shown(value)}")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FactsProblem(f"{what}: expected an ISO 8601 time, got {shown(value)}") from None
    if t.tzinfo is None:
        raise FactsProblem(f"{what}: {shown(value)} has no time zone")
    return t


def build(node: str, run_id: str, *, facts: Mapping[str, Any] | None, error: str | None, verdict: str,
          plinth_version: str, host_ip: str | None = None, time: str | None = None) -> bytes:
    """The envelope's bytes. Raises ValueError for a name or run id that must never be stored."""
    for problem in (node_name_problem(node), run_id_problem(run_id)):
        if problem:
            raise ValueError(problem)
    doc = {"format": FACTS_FORMAT, "node": node, "run_id": run_id, "time": time or now_iso(),
           "plinth_version": plinth_version, "probe_version": PROBE_VERSION, "host_ip": host_ip,
           "verdict": verdict, "facts": facts, "error": error}
    # allow_nan=False: the controller refuses NaN, so the agent never writes it
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def strict_json(data: bytes, limit: int, what: str) -> Any:
    """UTF-8 JSON with no NaN/Infinity and no overflowing numbers, at most ``limit`` bytes."""
    if len(data) > limit:
        raise FactsProblem(f"{what} is larger than {limit // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FactsProblem(f"{what} is not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise FactsProblem(f"{what} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise FactsProblem(f"{what} is not valid JSON: {' '.join(str(exc).split())[:120]}") from None


@dataclass(frozen=True)
class Envelope:
    node: str
    run_id: str
    time: datetime
    verdict: str
    facts: dict[str, Any] | None
    error: str | None
    host_ip: str | None
    plinth_version: str


def parse(data: bytes, expected_node: str) -> Envelope:
    """The envelope of ``<run>/nodes/<expected_node>.json``, or :class:`FactsProblem` saying why not."""
    doc = strict_json(data, MAX_FACTS_BYTES, "facts object")
    if not isinstance(doc, dict):
        raise FactsProblem("facts object is JSON but not an object")
    if doc.get("format") != FACTS_FORMAT:
        raise FactsProblem(f"facts object format {shown(doc.get('format'))}, expected {FACTS_FORMAT!r}")
    problem = node_name_problem(doc.get("node"))
    if problem:
        raise FactsProblem(f"facts object's node: {problem}")
    if doc["node"] != expected_node:
        raise FactsProblem(f"facts object stored as {expected_node!r} names node {shown(doc['node'])}")
    problem = run_id_problem(doc.get("run_id"))
    if problem:
        raise FactsProblem(f"facts object's run_id: {problem}")
    time = parse_time(doc.get("time"), "facts object's time")
    verdict = doc.get("verdict")
    if verdict not in VERDICTS:
        raise FactsProblem(f"facts object's verdict {shown(verdict)} is not one of {', '.join(VERDICTS)}")
    facts, error = doc.get("facts"), doc.get("error")
    if error is not None and not isinstance(error, str):
        raise FactsProblem("facts object's error is not a string")
    if facts is None and error is None:
        raise FactsProblem("facts object has neither facts nor an error")
    if facts is not None:
        problem = facts_problem(facts)
        if problem:
            raise FactsProblem(problem)
    host_ip = doc.get("host_ip")
    try:
        host_ip = None if host_ip is None else str(ipaddress.ip_address(host_ip))
    except ValueError:
        raise FactsProblem(f"facts object's host_ip {shown(host_ip)} is not an IP address") from None
    version = doc.get("plinth_version")
    return Envelope(node=doc["node"], run_id=doc["run_id"], time=time, verdict=verdict,
                    facts=facts, error=None if error is None else error[:500], host_ip=host_ip,
                    plinth_version=version if isinstance(version, str) else "?")


@dataclass(frozen=True)
class Manifest:
    run_id: str
    started_at: datetime | None
    expected_nodes: tuple[str, ...] | None


def manifest_bytes(run_id: str, *, started_at: str | None = None, expected_nodes: list[str] | None = None) -> bytes:
    for problem in (run_id_problem(run_id), *(node_name_problem(n) for n in expected_nodes or [])):
        if problem:
            raise ValueError(problem)
    doc: dict[str, Any] = {"format": RUN_FORMAT, "run_id": run_id}
    if started_at is not None:
        doc["started_at"] = started_at
    if expected_nodes is not None:
        doc["expected_nodes"] = expected_nodes
    return json.dumps(doc, indent=1, sort_keys=True).encode()


def parse_manifest(data: bytes, run_id: str) -> Manifest:
    """The run manifest; :class:`FactsProblem` names the field that is wrong."""
    doc = strict_json(data, MAX_MANIFEST_BYTES, "run.json")
    if not isinstance(doc, dict):
        raise FactsProblem("run.json: (top level): expected a JSON object")
    unknown = sorted(set(doc) - {"format", "run_id", "started_at", "expected_nodes"})
    if unknown:
        raise FactsProblem(f"run.json: {shown(unknown[0])}: unknown field")
    if doc.get("format") != RUN_FORMAT:
        raise FactsProblem(f"run.json: format: expected {RUN_FORMAT!r}, got {shown(doc.get('format'))}")
    if doc.get("run_id") != run_id:
        raise FactsProblem(f"run.json: run_id: {shown(doc.get('run_id'))} is not this run's id {run_id!r} "
                           "(the last segment of the location)")
    started = parse_time(doc["started_at"], "run.json: started_at") if "started_at" in doc else None
    expected = doc.get("expected_nodes")
    if expected is not None:
        if not isinstance(expected, list):
            raise FactsProblem("run.json: expected_nodes: expected a list of node names")
        for i, name in enumerate(expected):
            problem = node_name_problem(name)
            if problem:
                raise FactsProblem(f"run.json: expected_nodes[{i}]: {problem}")
        if len(set(expected)) != len(expected):
            raise FactsProblem("run.json: expected_nodes: a node is named twice")
    return Manifest(run_id=run_id, started_at=started, expected_nodes=None if expected is None else tuple(expected))


__all__ = ["FACTS_FORMAT", "MAX_FACTS_BYTES", "RUN_FORMAT", "Envelope", "FactsProblem", "Manifest", "build",
           "manifest_bytes", "node_name_problem", "now_iso", "parse", "parse_manifest", "parse_time",
           "run_id_problem", "shown", "strict_json"]
