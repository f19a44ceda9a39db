"""Facts at fleet scale: `plinth validate --facts` over N nodes' objects (default 10,000) in an S3 API
(moto_server on 127.0.0.1) and in a directory, the whole command timed (wall from fork to reap, its
own ru_maxrss), then the same run in-process for the per-phase split (manifest + listing, fetch +
parse + node judging, fleet judging, each report). The store's own CPU (moto is a Python server
sharing these 2 cores) is read from /proc, so a reader can tell plinth's time from the stand-in's.

The facts are realistic: this machine's real probe output with an 8x H100 ``nvidia-smi -q`` and a
large clean dmesg from the recorded fixtures (../shared/fixtures/real) in place of its GPU and Xid
sections; 1 node in 100 has lost a GPU (8 attached, 7 described: gpu.count error, a gpu.count_outlier warning) and the run
manifest expects 5 nodes that never reported (missing → error), so the reports carry real failures.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import tools
from benchmarks.report import Row, Section, Target, fmt
from benchmarks.stats import Series, run_measured

WALL_TARGET_S = 10.0
RSS_TARGET_MB = 1024.0
CONSOLE_LINES_MAX = 200
MISSING = 5


def template_facts() -> dict[str, Any]:
    """This machine's facts, with recorded 8-GPU H100 and dmesg sections when the fixtures are there."""
    from validators.inventory import NodeSpec
    from validators.probe import ProbeOptions
    from validators.runner import RunOptions, probe_facts
    from validators.transport.local import LocalTransport

    python = "python3" if shutil.which("python3") else sys.executable
    opts = RunOptions(probe_options=ProbeOptions(disk_test_mb=8, use_fio=False))
    facts = probe_facts(LocalTransport(), NodeSpec(name="t", host="localhost", transport="local", python=python), 60, opts)
    from tests.checks.facts import H100_8, gpu_facts
    from tests.probe.helpers import FIXTURES

    if (FIXTURES / H100_8).exists():  # else (a clone without ../shared): this machine's own GPU-less facts
        recorded = gpu_facts()
        facts["gpu"], facts["xid"] = recorded["gpu"], recorded["xid"]
    return facts


def node_names(n: int) -> list[str]:
    return [f"ip-10-{i // 65536 % 256}-{i // 256 % 256}-{i % 256}.ec2.internal" for i in range(n)]


def envelopes(n: int, run_id: str) -> tuple[list[tuple[str, bytes]], int]:
    from validators.facts import envelope

    base = template_facts()
    out = []
    for i, name in enumerate(node_names(n)):
        facts = base
        if i % 100 == 7 and base["gpu"].get("devices"):
            facts = copy.deepcopy(base)
            facts["gpu"]["devices"] = facts["gpu"]["devices"][:-1]
        facts = {**facts, "hostname": name}
        out.append((name, envelope.build(name, run_id, facts=facts, error=None, verdict="pass", plinth_version="bench")))
    return out, len(out[0][1])


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _moto_pid(url: str) -> int | None:
    port = url.rsplit(":", 1)[1]
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"moto_server" in c for c in cmd) and port.encode() in cmd:
                return int(d.name)
    return None


def _check_reports(workdir: Path, expected_nodes: int) -> str | None:
    """Why the reports are not usable at this size, or None."""
    try:
        doc = json.loads((workdir / "r.json").read_text())
        ET.parse(workdir / "r.xml")
    except (OSError, ValueError, ET.ParseError) as exc:
        return f"report unreadable: {exc}"
    if len(doc["nodes"]) != expected_nodes:
        return f"{len(doc['nodes'])} nodes in the JSON report, expected {expected_nodes}"
    return None


def _load() -> float:
    return os.getloadavg()[0]


def _precompile() -> None:
    """Bytecode for plinth's own modules, as an installed plinth has: where PYTHONDONTWRITEBYTECODE is
    set (this machine) every run would otherwise compile them from source first (~1 s)."""
    import compileall

    for package in ("validators", "policies"):
        compileall.compile_dir(str(tools.REPO / package), quiet=1)


def run_facts_scale(n: int, reps: int, concurrency: int = 64) -> Section:
    from tests.support.moto import moto_server
    from validators.facts import envelope

    section = Section("facts", f"Facts at fleet scale: `plinth validate --facts` over {n:,} nodes")
    t_section = time.monotonic()
    # Linux keeps a process's peak RSS across exec: a command forked from this process (which holds
    # the 10,000 objects and, after the in-process phases, their reports) would report this process's
    # size as its own. The commands are started from a small forkserver child instead.
    launcher = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
    launcher.submit(os.getpid).result()  # started now, while this process is still small
    run_id = "bench-run"
    objects, size = envelopes(n, run_id)
    expected = [name for name, _ in objects] + [f"never-reported-{i}" for i in range(MISSING)]
    manifest = envelope.manifest_bytes(run_id, expected_nodes=expected)
    workdir = Path(tempfile.mkdtemp(prefix="plinth-bench-facts-"))
    _precompile()
    runs: dict[str, dict[str, Series]] = {"s3": {}, "dir": {}}  # figure -> series, per store
    phases: dict[str, dict[str, Series]] = {"s3": {}, "dir": {}}
    failures: list[str] = []
    console_lines = 0
    workers: set[int] = set()
    read_path = ""

    def add(where: dict[str, Series], key: str, value: float) -> None:
        where.setdefault(key, Series()).add(value)

    def measure(kind: str, location: str, env: dict[str, str], moto_pid: int | None) -> None:
        nonlocal console_lines, read_path
        argv = [str(tools.PLINTH), "validate", "--facts", location, "-p", "distributed_training",
                "--json", str(workdir / "r.json"), "--junit", str(workdir / "r.xml")]
        add(runs[kind], "load", _load())
        before = _cpu_s(moto_pid) if moto_pid else 0.0
        proc = launcher.submit(run_measured, argv, env=env, cwd=tools.REPO, timeout_s=900).result()
        if moto_pid:
            add(runs[kind], "moto", _cpu_s(moto_pid) - before)
        add(runs[kind], "wall", proc.wall_s)
        add(runs[kind], "cpu", proc.cpu_s or 0.0)
        add(runs[kind], "rss", proc.maxrss_kb / 1024)
        console_lines = len(proc.stdout.splitlines())
        problem = _check_reports(workdir, n + MISSING) if proc.returncode == 1 else f"exit {proc.returncode}: {proc.tail()}"
        if problem:
            failures.append(f"{kind} run: {problem}")
        add(phases[kind], "load", _load())
        split, used, path = _phases(location, env)
        workers.add(used)
        read_path = path or read_path
        for key, value in split.items():
            add(phases[kind], key, value)

    try:
        run_dir = workdir / "runs" / run_id
        from validators.facts.store import DirStore

        store = DirStore(str(run_dir))
        store.put_manifest(manifest)  # first: the run starts when its manifest is written
        for name, data in objects:
            store.put(name + ".json", data)
        with moto_server() as url:
            env = {**os.environ, "CI": "1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": url}
            location = _upload(url, env, run_id, objects, manifest)
            moto_pid = _moto_pid(url)
            for _ in range(reps):
                measure("s3", location, env, moto_pid)
        for _ in range(reps):
            measure("dir", str(run_dir), {**os.environ, "CI": "1"}, None)
    finally:
        launcher.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
    params = f"{n:,} nodes (+{MISSING} missing), {size // 1024} KiB each, -p distributed_training"
    label = {"s3": "validate --facts s3:// (moto)", "dir": "validate --facts DIR"}
    for kind in ("s3", "dir"):
        r = runs[kind]
        section.rows.append(Row(f"{label[kind]}: wall time", params, "s", r.get("wall"), note="JSON + JUnit written, console printed"))
        section.rows.append(Row(f"{label[kind]}: plinth CPU", params, "s", r.get("cpu"),
                                note="user + system of plinth and its workers (what a real S3 would leave)"))
        section.rows.append(Row(f"{label[kind]}: peak RSS", params, "MB", r.get("rss"),
                                note="ru_maxrss of the plinth process (and of its workers, the largest, when it forks them)"))
        if kind == "s3":
            section.rows.append(Row("  moto_server CPU during that run", params, "s", r.get("moto"),
                                    note="the stand-in S3's own CPU on the same 2 cores (not plinth's)"))
        section.rows.append(Row("  load average (1 min) before the run", params, "", r.get("load")))
        for key, series in phases[kind].items():
            if key != "load":
                section.rows.append(Row(f"  of which: {key}", params, "s", series, note="in-process, same store"))
    wall, dir_wall = runs["s3"].get("wall", Series()), runs["dir"].get("wall", Series())
    rss = Series([*runs["s3"].get("rss", Series()).samples, *runs["dir"].get("rss", Series()).samples])
    moto_cpu = runs["s3"].get("moto", Series())
    section.targets.append(Target(f"judge {n:,} nodes' stored facts in <= {WALL_TARGET_S:.0f} s (directory store)",
                                  f"{fmt(dir_wall.median)} s median ({fmt(dir_wall.low)}–{fmt(dir_wall.high)})",
                                  dir_wall.median <= WALL_TARGET_S))
    section.targets.append(Target(f"judge {n:,} nodes from the object store in <= {WALL_TARGET_S:.0f} s (moto S3)",
                                  f"{fmt(wall.median)} s median" + (f", of which moto_server alone spent {fmt(moto_cpu.median)} s "
                                                                   f"of CPU ({fmt(moto_cpu.median / n * 1000)} ms a GET)"
                                                                   if moto_cpu.n else ""),
                                  wall.median <= WALL_TARGET_S))
    section.targets.append(Target(f"peak RSS < {RSS_TARGET_MB:.0f} MB at {n:,} nodes", f"{fmt(rss.high)} MB (worst of {rss.n})",
                                  rss.high < RSS_TARGET_MB))
    section.targets.append(Target(f"console bounded at {n:,} nodes (< {CONSOLE_LINES_MAX} lines)", f"{console_lines} lines",
                                  console_lines < CONSOLE_LINES_MAX))
    section.notes.append(f"S3 reads: {read_path or '?'}; {concurrency} fetches in flight; nodes read and judged by "
                         f"{' or '.join(str(w) for w in sorted(workers))} process(es) (one per usable core: "
                         "validators/facts/workers.py).")
    section.notes.append("moto_server is one Python process: every GET costs it milliseconds of CPU (in process, without "
                         "any HTTP server, moto's WSGI app alone takes ~2.5 ms a GET, half of it finding its own backends "
                         "on disk per request; werkzeug's server adds a thread and a connection per request), so "
                         f"{n:,} GETs need more than {WALL_TARGET_S:.0f} s of the stand-in's CPU on these 2 cores whatever "
                         "the client does. Real S3 serves them in parallel: the plinth CPU row is what the controller "
                         "itself spends, and the directory rows are plinth's judging with a store that costs ~nothing.")
    section.notes.append("Per-phase split: wall and CPU (process time) in one process, the collector paused as in the "
                         "CLI; JSON and JUnit streamed to /dev/null, the console rendered at 160 columns.")
    section.notes.append(f"Load average at the end of this section: {' '.join(Path('/proc/loadavg').read_text().split()[:3])} "
                         "(2 cores: above 2, every figure here is inflated by the other work on the machine).")
    section.notes += failures
    section.wall_s = time.monotonic() - t_section
    return section


def _upload(url: str, env: dict[str, str], run_id: str, objects: list[tuple[str, bytes]], manifest: bytes) -> str:
    import boto3

    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    bucket = "plinth-bench-facts"
    s3.create_bucket(Bucket=bucket)
    prefix = f"plinth-runs/{run_id}"
    s3.put_object(Bucket=bucket, Key=f"{prefix}/run.json", Body=manifest)
    time.sleep(1.1)  # S3 times have 1 s resolution: every object strictly after the run's start
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda o: s3.put_object(Bucket=bucket, Key=f"{prefix}/nodes/{o[0]}.json", Body=o[1]), objects))
    return f"s3://{bucket}/{prefix}"


def _phases(location: str, env: dict[str, str]) -> tuple[dict[str, float], int, str]:
    """The same run in this process, wall and CPU per phase (the reports written to /dev/null), the
    worker count it used and, for S3, its read path."""
    from rich.console import Console

    from policies.thresholds import get_profile
    from validators.facts.collect import cyclic_gc_paused, judge_store
    from validators.facts.store import open_store
    from validators.reports import console, json_report, junit

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    out: dict[str, float] = {}
    try:
        with cyclic_gc_paused():  # as the CLI does
            store = open_store(location)
            c0 = time.process_time()
            got = judge_store(store, get_profile("distributed_training"))
            cpu = time.process_time() - c0  # this process's: with workers, theirs comes on top
            out = {"manifest + listing (wall)": got.timings["manifest_and_list_s"],
                   "fetch + parse + node judging (wall)": got.timings["fetch_and_judge_s"],
                   "fleet judging (wall)": got.timings["fleet_s"], "judge_store CPU (this process)": cpu}
            with open(os.devnull, "w") as sink:
                for name, write in (("JSON report", json_report.write), ("JUnit report", junit.write),
                                    ("console report", lambda r, f: console.render(r, Console(file=f, width=160)))):
                    w0, c0 = time.perf_counter(), time.process_time()
                    write(got.report, sink)
                    out[f"{name} (wall)"] = time.perf_counter() - w0
                    out[f"{name} (CPU)"] = time.process_time() - c0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return out, got.workers, getattr(store, "read_path", "")


__all__ = ["run_facts_scale", "template_facts"]
