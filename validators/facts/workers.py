"""Reading and judging a large run on every core.

Judging is pure Python and holds the GIL: one process reads and judges ~1,500-2,000 nodes a
second, whatever the thread count, so 10,000 nodes would keep one core busy while the others idle. Above
:data:`MIN_NODES_PER_WORKER` nodes per core, the nodes are cut into chunks and each chunk is read,
parsed and judged in a worker process — with the same :func:`~validators.facts.collect.judged` as
in-process, so the same judges, the same errors for missing or hostile objects — and its node
reports (plus the facts the fleet judges read) come back in order. The fleet judges and
the reports stay in this process.

The workers are forked once the run is planned (Linux; elsewhere, or with one core, the run stays in
process), so they inherit the plan, the profile and the store without pickling any of it; a chunk's
results are pickled back (~0.1 ms a node). Connections are per process: each worker reopens the
store (:meth:`FactsStore.reopen`), never sharing a socket with the controller.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from policies.thresholds import Profile
from validators.facts.collect import JudgedNode, RunInfo, judged
from validators.facts.store import FactsStore, StoredObject
from validators.inventory import NodeSpec

MIN_NODES_PER_WORKER = 1000  # below this a worker's start-up and the pickling cost more than they save
MAX_WORKERS = 8  # memory: each worker is a copy of this process, dirtied as it runs
CHUNK = 200  # nodes per task: small enough to keep every worker busy to the end

# What the workers inherit: set just before they fork, read in them, cleared after.
_job: tuple[FactsStore, RunInfo, list[tuple[NodeSpec, str, StoredObject | None]], Profile, dict[str, Any] | None, int] | None = None


def worker_count(nodes: int) -> int:
    """Processes for ``nodes`` nodes: one per usable core, at least MIN_NODES_PER_WORKER nodes each.

    Not fewer on a busy machine: the scheduler shares a core fairly between runnable processes, so
    two workers get a larger share of two busy cores than one process does, and that outweighs what
    they add (~30% more CPU in all, pickling the results back). Measured on 2 cores at 10,000
    nodes: at a load average of 2-2.7, ~8 s for 2 workers against ~9-10 s for one process; at ~4.7
    (two busy loops added), 22-24 s against 26-35 s."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_WORKERS, nodes // MIN_NODES_PER_WORKER))


def _start_worker() -> None:
    """Ctrl-C is the controller's to handle: it stops handing out chunks and says so; a worker
    interrupted mid-chunk would only break the pool under it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    assert _job is not None
    _job[0].reopen()


def _judge_chunk(start: int) -> list[JudgedNode]:
    assert _job is not None, "a worker runs only inside judged_in_workers"
    store, run, todo, profile, keep, concurrency = _job
    return list(judged(store, run, todo[start:start + CHUNK], profile, keep, concurrency))


def judged_in_workers(store: FactsStore, run: RunInfo, todo: list[tuple[NodeSpec, str, StoredObject | None]],
                      profile: Profile, keep: dict[str, Any] | None, concurrency: int, workers: int) -> Iterator[JudgedNode]:
    """What :func:`~validators.facts.collect.judged` yields, from ``workers`` processes."""
    global _job
    _job = (store, run, todo, profile, keep, max(1, concurrency // workers))
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker)
    try:
        for chunk in pool.map(_judge_chunk, range(0, len(todo), CHUNK)):
            yield from chunk
    finally:
        _job = None
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["CHUNK", "MAX_WORKERS", "MIN_NODES_PER_WORKER", "judged_in_workers", "worker_count"]
