"""Fan-out over the fleet: connect → probe → parse (per node, in parallel) → pairwise network rounds
→ fabric tests (:func:`gather_fleet`), then the shared judging path (validators/judging.py) →
:class:`Report`.

- Bounded concurrency (a thread per node in flight, default 32) and a per-node budget that covers
  connecting and the probe round trip; the pairwise rounds bound themselves (NetOptions.timeout_s).
- One connection per node, opened once and reused by the probe, the network rounds and the fabric
  tests (validators/fabric/phase.py: DCGM, NCCL, RDMA, the builtin ring all-reduce -- those the
  profile has a line for, each bounded), closed at the end whatever happens.
- A node that cannot be reached (refused, timed out, auth, host key) or whose probe fails is
  reported ``reachable`` accordingly and EVERY node check its profile asks for is ``error`` with the
  reason. Why every check and not one ``system.reachable`` line: the counts in the summary, the
  JUnit totals and the score then say honestly how much of the fleet went unchecked.
- Ctrl-C / SIGTERM: stop scheduling, close live connections (which unblocks their commands), mark
  unfinished nodes ``error: interrupted`` and raise :class:`FleetInterrupted` carrying the partial
  report, so the caller still writes every requested report.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from types import FrameType
from typing import Any

from policies.thresholds import Profile
from validators.inventory import NodeSpec, ObjectStore
from validators.judging import INTERRUPTED, NodeOutcome, judge_outcomes, summarize
from validators.progress import Progress, progress_for
from validators.results import Report
from validators.transport import Transport, TransportError, make_transport

PAIRWISE_CHECKS = ("network.bandwidth", "network.latency")
DISK_CHECKS = ("storage.disk_throughput", "storage.disk_outlier")  # the only readers of the disk test

FactsGatherer = Callable[[Transport, NodeSpec, float, "RunOptions"], dict[str, Any]]


class NodeFailed(Exception):
    """The node was reached but its facts could not be gathered (probe failed, timed out)."""


class FleetInterrupted(Exception):
    """Raised by :func:`run_fleet` after SIGINT/SIGTERM, with the partial report."""

    def __init__(self, report: Report, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.report = report
        self.signum = signum


class _Terminated(BaseException):
    """SIGTERM turned into an exception in the main thread (like KeyboardInterrupt for SIGINT)."""


@dataclass
class RunOptions:
    concurrency: int = 32
    node_timeout_s: float = 120.0  # connect + probe, per node
    connect_timeout_s: float = 10.0
    accept_new_host_keys: bool = False
    network: bool = True  # pairwise rounds (need >= 2 reachable nodes)
    network_off_reason: str = "pairwise network tests not run (--no-network)"
    net_options: Any = None  # validators.network.NetOptions; None: its defaults
    fabric: bool = True  # the profile's active fabric tests (validators/fabric/phase.py)
    fabric_off_reason: str = "fabric tests not run (--no-fabric)"
    fabric_options: Any = None  # validators.fabric.phase.FabricOptions; None: its defaults
    object_store: ObjectStore | None = None
    disk_test_mb: int = 64  # MiB per node; 0 = no disk test (only used when probe_options is None)
    disk_off_reason: str = "disk test disabled (--disk-test-mb 0)"
    probe_options: Any = None  # validators.probe.ProbeOptions; None: built from object_store and disk_test_mb
    progress: bool | None = None  # None: a bar on a terminal, plain lines elsewhere (validators/progress.py); False: none
    transport_factory: Callable[[NodeSpec, bool], Transport] = make_transport
    gather: FactsGatherer | None = None  # None: the probe (validators.probe)


@dataclass
class _NodeState:
    spec: NodeSpec
    transport: Transport | None = None
    reachable: bool = False
    facts: dict[str, Any] | None = None
    error: str | None = None
    started: float | None = None
    duration_s: float | None = None
    done: bool = False
    # set by the main thread when it gives up on the node (interrupt, budget): the verdict is
    # `abandoned`, whatever the node's thread writes afterwards
    abandoned: str | None = None


def _s3_endpoint(store: ObjectStore | None) -> str | None:
    if store is None:
        return None
    if store.endpoint:
        return store.endpoint
    return f"https://s3.{store.region}.amazonaws.com" if store.region else "https://s3.amazonaws.com"


def probe_facts(transport: Transport, node: NodeSpec, timeout: float, opts: RunOptions) -> dict[str, Any]:
    """The default gatherer: stream the probe, one round trip, parse its JSON."""
    from validators.probe import ProbeError, ProbeOptions, parse_probe_output, probe_command

    probe_opts = opts.probe_options or ProbeOptions(object_store_endpoint=_s3_endpoint(opts.object_store),
                                                    disk_test_mb=opts.disk_test_mb)
    argv, stdin = probe_command(probe_opts)
    if node.python != "python3" and argv and argv[0].startswith("python"):
        argv = [node.python, *argv[1:]]  # the inventory names this node's interpreter
    result = transport.run(argv, stdin=stdin, timeout=timeout)
    if result.timed_out:
        raise NodeFailed(f"probe timed out after {timeout:.0f}s (node budget; raise --timeout)")
    try:
        return parse_probe_output(result)
    except ProbeError as exc:
        raise NodeFailed(f"probe failed: {exc}") from None


def _resolve_probe_options(opts: RunOptions, profile: Profile) -> Any:
    """The probe options this run sends: the disk test (64 MiB fio write + read, ~1 s per node, the
    bulk of a quick probe's time) runs only when asked for AND the profile has a check that reads it;
    otherwise facts["disk"]["skipped"] says why."""
    from validators.probe import ProbeOptions

    base = opts.probe_options or ProbeOptions(object_store_endpoint=_s3_endpoint(opts.object_store),
                                              disk_test_mb=opts.disk_test_mb)
    if base.disk_test_mb <= 0:
        return replace(base, disk_test_mb=0, disk_skip_reason=base.disk_skip_reason or opts.disk_off_reason)
    if not any(cid in profile.thresholds for cid in DISK_CHECKS):
        return replace(base, disk_test_mb=0, disk_skip_reason=(
            f"disk test not run: profile {profile.name} has no {' or '.join(DISK_CHECKS)} line"))
    return base


def _run_node(state: _NodeState, opts: RunOptions, stop: threading.Event) -> None:
    spec = state.spec
    state.started = time.monotonic()
    deadline = state.started + opts.node_timeout_s
    try:
        if stop.is_set():
            return
        transport = state.transport = opts.transport_factory(spec, opts.accept_new_host_keys)
        try:
            transport.connect(min(opts.connect_timeout_s, opts.node_timeout_s))
        except TransportError as exc:
            state.error = f"unreachable: {exc}"
            return
        state.reachable = True
        if stop.is_set():
            return
        gather = opts.gather or probe_facts
        try:
            state.facts = gather(transport, spec, max(1.0, deadline - time.monotonic()), opts)
        except (NodeFailed, TransportError) as exc:
            state.error = str(exc)
    except Exception as exc:  # noqa: BLE001  (a bug on one node must not lose the others)
        state.error = f"internal error: {exc.__class__.__name__}: {exc}"
    finally:
        state.duration_s = time.monotonic() - state.started
        state.done = True


def _pairwise(states: list[_NodeState], opts: RunOptions) -> dict[str, dict[str, Any]]:
    ready = [s for s in states if s.abandoned is None and s.facts is not None and s.transport is not None]
    if not opts.network:
        return {s.spec.name: {"skipped": opts.network_off_reason} for s in ready}
    if len(ready) < 2:
        return {s.spec.name: {"skipped": "pairwise network tests not run: fewer than 2 reachable nodes"} for s in ready}
    try:
        from validators.network import NetOptions, measure_pairs
    except ImportError:
        return {s.spec.name: {"skipped": "pairwise network tests not run (validators.network unavailable)"} for s in ready}
    transports = {s.spec.name: s.transport for s in ready if s.transport is not None}
    addresses = {s.spec.name: s.spec.host for s in ready}
    try:
        return measure_pairs(transports, addresses, opts.net_options or NetOptions())
    except Exception as exc:  # noqa: BLE001  (the rounds failing must not lose the per-node results)
        return {name: {"error": f"pairwise rounds failed: {exc.__class__.__name__}: {exc}"} for name in transports}


def _fabric(states: list[_NodeState], opts: RunOptions, profile: Profile, out: Any) -> None:
    """The fabric phase: each ready node's facts["fabric"] is ``out.nodes[name]``, filled in place
    (so an interrupted phase leaves what finished); the fleet tests land in ``out.controller``."""
    from validators.fabric.phase import FabricOptions, Peer, run_fabric

    ready = [s for s in states if s.abandoned is None and s.facts is not None and s.transport is not None]
    if not opts.fabric:
        for s in ready:
            if s.facts is not None:
                s.facts["fabric"] = {"skipped": opts.fabric_off_reason}
        out.controller.update({test: {"status": "skipped", "reason": opts.fabric_off_reason} for test in out.planned})
        return
    peers = []
    for s in ready:
        assert s.facts is not None and s.transport is not None
        s.facts["fabric"] = out.nodes.setdefault(s.spec.name, {})
        peers.append(Peer(s.spec.name, s.spec.host, s.transport, s.facts, python=s.spec.python, ssh_port=s.spec.port,
                          instance_type=s.spec.expect.instance_type))
    try:
        run_fabric(peers, profile, opts.fabric_options or FabricOptions(), out)
    except Exception as exc:  # noqa: BLE001  (a bug in the phase must not lose the node results)
        out.close_unfinished(f"fabric phase failed: {exc.__class__.__name__}: {exc}")


def controller_facts(store: ObjectStore | None) -> dict[str, Any]:
    """The controller's own facts: the object store's posture and throughput seen from here."""
    if store is None:
        return {}
    try:
        from validators.objectstore import controller_store_facts
    except ImportError:
        return {}
    try:
        return {"object_store": controller_store_facts(store)}
    except Exception as exc:  # noqa: BLE001  (a bug there must not lose the node results)
        return {"object_store": {"endpoint": store.endpoint, "bucket": store.bucket,
                                 "error": f"{exc.__class__.__name__}: {exc}"}}




class _SignalGuard:
    """SIGTERM → _Terminated in the main thread while the run is in progress (SIGINT already
    raises KeyboardInterrupt). Only the main thread may install handlers; elsewhere a no-op."""

    def __enter__(self) -> _SignalGuard:  # noqa: PYI034
        self._old: Any = None
        if threading.current_thread() is threading.main_thread():
            def on_term(signum: int, frame: FrameType | None) -> None:
                raise _Terminated()

            self._old = signal.signal(signal.SIGTERM, on_term)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


def _finished(state: _NodeState) -> tuple[str, str | None]:
    """What the progress line says of a node that finished: (outcome, why)."""
    if state.facts is not None:
        return "probed", None
    if not state.reachable:
        return "unreachable", (state.error or "").removeprefix("unreachable: ") or None
    return "not probed", state.error


def _wait_nodes(futures: Mapping[Future[None], _NodeState], opts: RunOptions, progress: Progress,
                keep_open: bool) -> Iterator[None]:
    """Yield as nodes finish; a node still running after its budget (a transport that ignored
    its timeout) is abandoned with an error and its connection closed."""
    pending = set(futures)
    grace = 5.0
    while pending:
        done, pending = wait_futures(pending, timeout=0.25, return_when="FIRST_COMPLETED")
        for fut in done:
            state = futures[fut]
            if state.transport is not None and (not keep_open or state.facts is None):
                # no pairwise round or fabric test will use this connection: close it now, so open
                # connections (fds, sshd sessions) are bounded by --concurrency, not by the fleet's size
                state.transport.close()
            progress.node_done(state.spec.name, *_finished(state), state.duration_s)
        now = time.monotonic()
        for fut in list(pending):
            state = futures[fut]
            if state.started is not None and now - state.started > opts.node_timeout_s + grace:
                state.abandoned = f"node did not finish within its {opts.node_timeout_s:.0f}s budget"
                if state.transport is not None:
                    state.transport.close()
                pending.discard(fut)
        yield


@dataclass
class Gathered:
    """What the SSH/local fan-out found: one outcome per node (inventory order), the controller's own
    facts, and the signal that cut the run short (None: it finished)."""

    outcomes: list[NodeOutcome]
    controller: dict[str, Any]
    started_at: str
    t0: float
    interrupted: int | None = None


def _outcome(s: _NodeState) -> NodeOutcome:
    if s.abandoned is None and s.facts is not None:
        return NodeOutcome(s.spec, s.reachable, s.facts, None, s.duration_s)
    return NodeOutcome(s.spec, s.reachable, None, s.abandoned or s.error or INTERRUPTED, s.duration_s)


def gather_fleet(nodes: list[NodeSpec], profile: Profile, opts: RunOptions | None = None) -> Gathered:
    """Connect, probe, run the pairwise rounds and the profile's fabric tests; judge nothing. Never
    raises for a node's own failures; on SIGINT/SIGTERM returns what it has with ``interrupted`` set."""
    from validators.fabric.phase import FabricFacts, planned_tests

    opts = opts or RunOptions()
    opts = replace(opts, probe_options=_resolve_probe_options(opts, profile))
    fabric = FabricFacts(planned=planned_tests(profile))
    t0 = time.monotonic()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    states = [_NodeState(n) for n in nodes]
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, min(opts.concurrency, len(states))), thread_name_prefix="plinth-node")
    side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plinth-controller")
    interrupted: int | None = None
    controller: dict[str, Any] = {}
    try:
        with _SignalGuard(), progress_for(opts.progress, len(states)) as progress:
            try:
                controller_future = side.submit(controller_facts, opts.object_store)
                futures = {pool.submit(_run_node, s, opts, stop): s for s in states}
                keep_open = opts.network or (opts.fabric and bool(fabric.planned))
                for _ in _wait_nodes(futures, opts, progress, keep_open):
                    pass
                if opts.network and sum(s.facts is not None for s in states) >= 2:
                    progress.describe("pairwise network rounds")
                for name, pw in _pairwise(states, opts).items():
                    state = next(s for s in states if s.spec.name == name)
                    if state.facts is not None:
                        state.facts["pairwise"] = pw
                if fabric.planned:
                    if opts.fabric:
                        progress.describe("fabric tests")
                    _fabric(states, opts, profile, fabric)
                controller = {**controller_future.result(), "fabric": fabric.controller}
            except KeyboardInterrupt:
                interrupted = signal.SIGINT
            except _Terminated:
                interrupted = signal.SIGTERM
            if interrupted is not None:
                stop.set()
                # decide who was unfinished BEFORE closing connections: a node's thread woken by the
                # close would otherwise report "connection lost" instead of "interrupted"
                for s in states:
                    if not s.done or (s.facts is None and s.error is None):
                        s.abandoned = s.abandoned or INTERRUPTED
                pool.shutdown(wait=False, cancel_futures=True)
                fabric.close_unfinished(INTERRUPTED)  # before the closes below kill the tools mid-run
                for s in states:
                    if s.transport is not None:
                        s.transport.close()  # unblocks a node's command; its thread then ends
                for s in states:
                    if s.abandoned is None and s.facts is not None and "pairwise" not in s.facts:
                        s.facts["pairwise"] = {"skipped": "pairwise network tests not run: interrupted"}
                    if s.abandoned is None and s.facts is not None and fabric.planned:
                        s.facts["fabric"] = fabric.nodes.setdefault(s.spec.name, {})
                fabric.close_unfinished(INTERRUPTED)  # nodes that had not reached the phase: what finished stays
        outcomes = [_outcome(s) for s in states]
    finally:
        stop.set()
        for s in states:
            if s.transport is not None:
                s.transport.close()
        pool.shutdown(wait=interrupted is None, cancel_futures=True)
        side.shutdown(wait=False, cancel_futures=True)
    return Gathered(outcomes, controller, started_at, t0, interrupted)


def run_fleet(nodes: list[NodeSpec], profile: Profile, opts: RunOptions | None = None) -> Report:
    """Validate ``nodes`` against ``profile``: :func:`gather_fleet`, then the shared judging path
    (validators/judging.py). Raises :class:`FleetInterrupted` (with the partial report) on
    SIGINT/SIGTERM; never raises for a node's own failures. An interrupted run's fleet checks are
    ``error: interrupted``: outliers against a partial fleet would name the wrong nodes."""
    gathered = gather_fleet(nodes, profile, opts)
    report = judge_outcomes(gathered.outcomes, gathered.controller, profile, started_at=gathered.started_at,
                            duration_s=time.monotonic() - gathered.t0,
                            fleet_error=INTERRUPTED if gathered.interrupted is not None else None)
    if gathered.interrupted is not None:
        raise FleetInterrupted(report, gathered.interrupted)
    return report


__all__ = [
    "FleetInterrupted",
    "Gathered",
    "NodeFailed",
    "RunOptions",
    "controller_facts",
    "gather_fleet",
    "probe_facts",
    "run_fleet",
    "summarize",
]
