"""``plinth validate --facts LOCATION``: read a run's facts objects and judge them like a live run.

Which nodes are expected, in this order: the inventory or stack when one is given (a stack node also
matches the object of its Kubernetes node, named by the EC2 private DNS name ``ip-10-0-1-23.…``), else
the run manifest's ``expected_nodes``, else whatever the store holds (then a node that never
reported cannot be noticed: the console says so). A node that is expected but has no object, whose
object predates the run or belongs to another run, or whose object is malformed or hostile, gets
``error`` on every node check with that reason, exactly like an unreachable node over SSH.

When the run starts: the manifest's ``started_at``, else the time the store wrote the manifest (the
deployer writes it before the agents start), else unknown (only the run id is checked). Times are
compared on the store's own clock (S3 LastModified, file mtime), never a node's.

Scale (10,000 nodes): S3 objects are fetched by a thread pool through a bounded window (over a
signed keep-alive pool, validators/facts/s3_http.py), a directory's are read inline (a hand-over to a
thread costs more than the read), each node is parsed and judged as soon as its facts
arrive, and only the facts the fleet judges read (``checks.base.fleet_reads``) are kept
afterwards, so memory follows the report, not the facts. A large run on a machine with idle cores
is read and judged by worker processes (validators/facts/workers.py), with the same functions.
"""

from __future__ import annotations

import gc
import ipaddress
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from policies.errors import ConfigError
from policies.thresholds import Profile
from validators.checks.base import Facts, fleet_part, fleet_reads
from validators.facts import envelope
from validators.facts.envelope import FactsProblem, shown
from validators.facts.store import SUFFIX, FactsStore, Missing, StoredObject
from validators.inventory import NodeSpec
from validators.judging import NodeOutcome, assemble, fleet_results, node_report
from validators.judging import fleet_facts as with_expect
from validators.results import NodeReport, Report

PAIRWISE_SKIPPED = ("pairwise network tests are not run from a facts store (each agent probes its own node): "
                    "run `plinth validate` over SSH, or a Job pair, for node-to-node bandwidth and latency")
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class RunInfo:
    location: str
    run_id: str
    started_at: datetime | None = None
    start_from: str = "unknown: no run.json (only the run id is checked)"
    expected_from: str = "the store's listing (a node that never reported cannot be noticed)"
    ignored: list[str] = field(default_factory=list)  # object names that are not node names, shown()
    unexpected: list[str] = field(default_factory=list)  # reported but not expected; judged too


@dataclass
class Collected:
    report: Report
    run: RunInfo
    timings: dict[str, float]  # seconds per phase: manifest+list, fetch+judge, fleet
    workers: int = 1  # processes that read and judged the nodes


def private_dns_match(host: str, names: Iterable[str]) -> str | None:
    """The EC2 private DNS name (``ip-10-0-1-23.ec2.internal``) among ``names`` for an IPv4 ``host``:
    EKS names a node after it by default, while a stack inventory knows the instance by its IP."""
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        return None
    prefix = "ip-" + str(ip).replace(".", "-") + "."
    return next((n for n in names if n.startswith(prefix)), None)


def _manifest(store: FactsStore) -> tuple[envelope.Manifest | None, datetime | None]:
    try:
        found = store.get_manifest(envelope.MAX_MANIFEST_BYTES)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - the store as a whole failed (credentials, endpoint, bucket)
        raise ConfigError(f"{store.location}: cannot read run.json: {exc.__class__.__name__}: {exc}") from None
    if found is None:
        return None, None
    data, written = found
    try:
        return envelope.parse_manifest(data, store.run_id), written
    except FactsProblem as exc:
        raise ConfigError(f"{store.location}/{exc}") from None


def _listing(store: FactsStore, run: RunInfo) -> dict[str, StoredObject]:
    found: dict[str, StoredObject] = {}
    try:
        for obj in store.list():
            node = obj.name[: -len(SUFFIX)] if obj.name.endswith(SUFFIX) else None
            if node is None or envelope.node_name_problem(node):
                run.ignored.append(shown(obj.name, 60))
                continue
            found[node] = obj
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"{store.location}: cannot list facts objects: {exc.__class__.__name__}: {exc}") from None
    return found


def _specs(names: Iterable[str]) -> list[NodeSpec]:
    """A spec per stored or manifest node name (already checked by node_name_problem): copies of one
    validated spec, ~100x cheaper than validating 10,000 alike (each resolves the user, ~/.ssh …)."""
    template = NodeSpec(name="node", host="node")
    return [template.model_copy(update={"name": n, "host": n}) for n in names]


def plan(store: FactsStore, expected: list[NodeSpec] | None) -> tuple[RunInfo, list[tuple[NodeSpec, str, StoredObject | None]]]:
    """The run, and (spec, object name, object or None) per node to judge, in report order."""
    run = RunInfo(store.location, store.run_id)
    manifest, written = _manifest(store)
    if manifest is not None and manifest.started_at is not None:
        run.started_at, run.start_from = manifest.started_at, "run.json started_at"
    elif manifest is not None:
        run.started_at, run.start_from = written, "the time the store wrote run.json"
    listed = _listing(store, run)
    if manifest is None and not listed and expected is None:
        # nothing names a node and nothing was stored: a mistyped run id or location, or the agents never
        # ran. "0 nodes, nothing failed" would be a green CI step that judged nothing.
        raise ConfigError(f"{store.location}: no facts there (no run.json, no node objects): check the location and "
                          f"run id, or run `plinth agent --upload {store.location}` on the nodes first")
    if expected is not None:
        specs, run.expected_from = list(expected), "the inventory"
    elif manifest is not None and manifest.expected_nodes is not None:
        specs = _specs(manifest.expected_nodes)
        run.expected_from = "run.json expected_nodes"
    else:
        specs = []
    todo: list[tuple[NodeSpec, str, StoredObject | None]] = []
    taken: set[str] = set()
    for spec in specs:
        name = spec.name if spec.name in listed else private_dns_match(spec.host, listed) or spec.name
        taken.add(name)
        todo.append((spec, name, listed.get(name)))
    extra = sorted(set(listed) - taken)
    if specs:
        run.unexpected = extra
    todo += [(spec, spec.name, listed[spec.name]) for spec in _specs(extra)]
    return run, todo


Fetched = tuple[bytes | None, str | None]  # (the object's bytes, or why there are none)


def fetch_node(store: FactsStore, run: RunInfo, name: str, obj: StoredObject | None) -> Fetched:
    """One node's object as bytes, or the reason it was not read (never raises). Runs in a fetch
    thread (S3), or inline for a local store. Only I/O happens here: parsing and judging hold the
    GIL, and in a fetch thread they would contend with the thread that judges."""
    where = f"{store.location}/nodes/{name}{SUFFIX}"
    if obj is None:
        return None, f"no facts: the agent did not report in run {run.run_id} ({where} is missing)"
    if obj.size > envelope.MAX_FACTS_BYTES:
        return None, f"malformed facts: the object is {obj.size} bytes, more than {envelope.MAX_FACTS_BYTES // 1024} KiB; not read"
    if run.started_at is not None and obj.written < run.started_at:
        return None, (f"stale facts: written {obj.written.isoformat(timespec='seconds')}, before run {run.run_id} "
                      f"started {run.started_at.isoformat(timespec='seconds')} ({run.start_from})")
    try:
        return store.get(name + SUFFIX, envelope.MAX_FACTS_BYTES), None
    except Missing:
        return None, f"no facts: {where} disappeared while reading"
    except Exception as exc:  # noqa: BLE001 - one unreadable object must not lose the others
        return None, f"cannot read facts: {exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}"


def outcome_of(run: RunInfo, spec: NodeSpec, name: str, fetched: Fetched) -> NodeOutcome:
    """One node's outcome from what :func:`fetch_node` returned (never raises)."""
    data, problem = fetched
    if data is None:
        return NodeOutcome(spec, False, None, problem)
    try:
        env = envelope.parse(data, name)
    except FactsProblem as exc:
        return NodeOutcome(spec, False, None, f"malformed facts: {exc}")
    except Exception as exc:  # noqa: BLE001 - whatever a hostile object does to the parser costs only its node
        return NodeOutcome(spec, False, None, f"cannot read facts: {exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}")
    if env.run_id != run.run_id:
        return NodeOutcome(spec, False, None, f"stale facts: the object is from run {env.run_id!r}, not {run.run_id!r}")
    if env.host_ip and spec.host == spec.name:  # no inventory address: show the one the node reported
        spec = spec.model_copy(update={"host": env.host_ip})
    if env.facts is None:
        return NodeOutcome(spec, True, None, f"agent: {env.error}")
    facts = env.facts
    facts["pairwise"] = {"skipped": PAIRWISE_SKIPPED}
    took = facts.get("duration_s")
    return NodeOutcome(spec, True, facts, None, float(took) if isinstance(took, (int, float)) else None)


def ordered_map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], window: int) -> Iterator[R]:
    """``pool.map`` with at most ``window`` results in flight or waiting: memory stays bounded when
    the consumer (judging) is slower than the fetchers."""
    pending: deque[Future[R]] = deque()
    it = iter(items)
    for item in it:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            break
    while pending:
        result = pending.popleft().result()
        nxt = next(it, None)
        if nxt is not None:
            pending.append(pool.submit(fn, nxt))
        yield result


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Judging 10,000 nodes builds ~350,000 results that live until the reports are written, and
    CPython's cyclic collector rescans every one of them each time a full collection triggers: a
    quarter to a half of the judging and rendering time, measured. Nothing here makes reference
    cycles (results, reports and facts are trees, freed by reference counting), so the collector is
    off for the run and back on after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


JudgedNode = tuple[NodeReport, Mapping[str, Any] | None]  # the node's report, the facts its fleet judges read


def judged(store: FactsStore, run: RunInfo, todo: list[tuple[NodeSpec, str, StoredObject | None]], profile: Profile,
           keep: dict[str, Any] | None, concurrency: int) -> Iterator[JudgedNode]:
    """Each node of ``todo`` read (``concurrency`` fetches in flight), judged and reduced to what the
    fleet judges read, in ``todo``'s order."""
    def fetch(item: tuple[NodeSpec, str, StoredObject | None]) -> Fetched:
        return fetch_node(store, run, item[1], item[2])

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="plinth-facts") as pool:
        # a local read (~10 us) costs less than handing it to a thread and back (~0.5 ms here, measured:
        # the judging thread is made to drop the GIL for every object a fetch thread brings in)
        fetched = (map(fetch, todo) if store.local or concurrency <= 1
                   else ordered_map(pool, fetch, todo, window=4 * concurrency))
        for (spec, name, _), got in zip(todo, fetched):
            outcome = outcome_of(run, spec, name, got)
            part = None
            if outcome.facts is not None:
                facts = with_expect(outcome)
                part = fleet_part(facts, keep)
            yield node_report(outcome, profile), part


def judge_store(store: FactsStore, profile: Profile, *, expected: list[NodeSpec] | None = None,
                controller: Facts | None = None, concurrency: int = 64, workers: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> Collected:
    """Judge every node of the run at ``store`` (the shared judging path, node by node as facts
    arrive), then the fleet. ``workers``: processes that read and judge (None: one per idle core for
    a large run, validators/facts/workers.py; 1: this process only). Bad input (an unreadable store,
    a bad manifest) is ConfigError."""
    from validators.facts import workers as processes

    t0 = time.monotonic()
    run, todo = plan(store, expected)
    t_listed = time.monotonic()
    keep = fleet_reads(profile)
    nodes: list[NodeReport] = []
    fleet_facts: dict[str, Mapping[str, Any]] = {}
    count = processes.worker_count(len(todo)) if workers is None else max(1, workers)
    results = (processes.judged_in_workers(store, run, todo, profile, keep, concurrency, count) if count > 1
               else judged(store, run, todo, profile, keep, concurrency))
    for i, (report, part) in enumerate(results, 1):
        nodes.append(report)
        if part is not None:
            fleet_facts[report.name] = part
        if progress is not None:
            progress(i, len(todo))
    t_judged = time.monotonic()
    fleet = fleet_results(fleet_facts, controller or {}, profile)
    t_fleet = time.monotonic()
    started = (run.started_at or datetime.now().astimezone()).isoformat(timespec="seconds")
    report = assemble(nodes, fleet, profile, started_at=started, duration_s=t_fleet - t0)
    return Collected(report, run, {"manifest_and_list_s": t_listed - t0, "fetch_and_judge_s": t_judged - t_listed,
                                   "fleet_s": t_fleet - t_judged}, count)


__all__ = ["PAIRWISE_SKIPPED", "Collected", "JudgedNode", "RunInfo", "cyclic_gc_paused", "fetch_node", "judge_store",
           "judged", "ordered_map", "outcome_of", "plan", "private_dns_match"]
