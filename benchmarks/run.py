"""`make bench` / `python -m benchmarks.run`: set up hosts, run every comparison, write
docs/BENCHMARKS.md (and a JSON twin with every sample).

    python -m benchmarks.run                 # the full run (~15 min on 2 cores)
    python -m benchmarks.run --quick --out /tmp/b.md --tools plinth,pdsh   # the smoke-test size
    python -m benchmarks.run --only fanout,preview
    python -m benchmarks.run --only payload --out /tmp/payload.md   # the probe's size and speed only

Needs root (sshd drops privileges to the benchmark user; namespaces and tc for the accuracy part).
Timings are only comparable within one run: the table's ratios are taken repetition by repetition.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks import tools
from benchmarks.report import Section, machine_info, merge, render, to_json

SECTIONS = ("fanout", "accuracy", "scale", "facts", "preview", "payload", "fabric")


@dataclass
class Plan:
    reps: int
    sizes: list[int]
    limited: dict[str, tuple[int, ...]]  # fan-out tool -> the only sizes it runs at
    rates_mbit: list[int]
    delays_ms: list[float]
    disk_mb: int
    bw_seconds: int
    scale_sizes: list[int]
    scale_servers: int
    scale_concurrency: int
    scale_floor: bool  # also time pdsh at the scale size (costs ~as much again)
    stacks: list[str] | None  # None: every shipped stack
    payload_runs: int  # probe runs per repetition in the payload section
    fabric_sizes: list[int]  # full distributed_training validations
    fabric_rates_mbit: list[int]  # the ring all-reduce against its model
    fabric_reps: int
    facts_nodes: int = 10_000


FULL = Plan(reps=5, sizes=[8, 32, 64], limited={"plinth-cli": (32,), "testinfra": (32,)},
            rates_mbit=[10, 100, 1000], delays_ms=[1, 5, 20], disk_mb=64, bw_seconds=2, scale_sizes=[256, 1024], scale_servers=16,
            scale_concurrency=64, scale_floor=False, stacks=None, payload_runs=4,
            fabric_sizes=[8, 32], fabric_rates_mbit=[20, 100, 200], fabric_reps=3)
QUICK = Plan(reps=2, sizes=[2], limited={}, rates_mbit=[100], delays_ms=[5], disk_mb=8, bw_seconds=1,
             scale_sizes=[8, 16], scale_servers=2, scale_concurrency=4, scale_floor=True, stacks=["edge"], payload_runs=1,
             fabric_sizes=[2], fabric_rates_mbit=[100], fabric_reps=1, facts_nodes=100)


def _busy_note() -> str | None:
    """Other test runs make every figure noisy: say so in the document."""
    mine = os.getpid()
    others = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == mine:
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"pytest" in cmd and b"benchmarks" not in cmd:
            others += 1
    return f"{others} pytest process(es) were running beside the benchmark: expect noise" if others else None


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description="Run the plinth benchmarks, write docs/BENCHMARKS.md.")
    ap.add_argument("--quick", action="store_true", help="smoke-test size: N=2, 2 repetitions, one stack")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    ap.add_argument("--tools", default="plinth,plinth-cli,ansible,pdsh,testinfra", help="fan-out tools")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per figure (default 5; quick 2)")
    ap.add_argument("--out", type=Path, default=tools.REPO / "docs" / "BENCHMARKS.md")
    ap.add_argument("--json", type=Path, default=None, help="also write every sample as JSON here")
    ap.add_argument("--no-install", action="store_true", help="install nothing (ansible-core into benchmarks/.venv-ansible, pdsh with apt-get)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plan = QUICK if args.quick else FULL
    if args.reps:
        plan = replace(plan, reps=args.reps)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        print(f"error: --only: unknown section(s) {', '.join(bad)} (choose from {', '.join(SECTIONS)})", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("error: the benchmarks need root (sshd, network namespaces, tc)", file=sys.stderr)
        return 2
    wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    # SIGTERM (a CI timeout, `kill`) must still run the finally blocks that stop sshd and delete namespaces
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    t0 = time.monotonic()
    machine = machine_info()
    preamble: list[str] = [
        (f"Each figure: the median of {plan.reps} runs, with min–max. A ratio is taken repetition by repetition "
        "(this tool's time / the reference's time in the same repetition), then its median and min–max are shown, "
        "so noise that hits one repetition hits both sides of its ratio. Targets are the product's stated performance bars."),
        "",
        ("Hosts are real OpenSSH servers (127.0.0.1, one port each; the login user's shell is /bin/sh, so no rc file "
        "runs) and, for the network accuracy, two Linux network namespaces on a bridge with tc tbf. The controller "
        "and the hosts share this machine's CPUs: what a real fleet spreads over N machines runs here on these cores."),
        "",
    ]
    busy = _busy_note()
    if busy:
        preamble.append(f"**Note:** {busy}.")
    if "fanout" in only and "ansible" in wanted and not args.no_install and not args.quick:
        reason = tools.ensure_ansible(Path("/tmp") / f"plinth-bench-ansible-install-{os.getpid()}.log")
        if reason:
            preamble.append(f"**Note:** ansible-core could not be installed: {reason}.")
    if "pdsh" in wanted and not args.no_install:
        reason = tools.ensure_pdsh()
        if reason:
            preamble.append(f"**Note:** {reason}: no pdsh floor.")
    sections: list[Section] = []

    def log(msg: str) -> None:
        print(f"[bench {time.monotonic() - t0:6.0f}s] {msg}", file=sys.stderr, flush=True)

    if "fanout" in only or "scale" in only or "fabric" in only:
        from benchmarks.fanout import run_fanout
        from benchmarks.hosts import start_fleet
        from benchmarks.scale import run_scale

        servers = max(plan.sizes if "fanout" in only else [0], default=0)
        servers = max(servers, plan.scale_servers if "scale" in only else 0)
        servers = max(servers, max(plan.fabric_sizes) if "fabric" in only else 0)
        log(f"starting {servers} sshd servers on 127.0.0.1")
        fleet = start_fleet(servers)
        try:
            if "fanout" in only:
                log(f"fan-out N={plan.sizes}, {plan.reps} runs, tools {wanted}")
                sections.append(run_fanout(fleet, plan.sizes, plan.reps, wanted, plan.limited))
            if "scale" in only:
                log(f"scale: {plan.scale_sizes} hosts on {plan.scale_servers} servers, -c {plan.scale_concurrency}")
                scale_fleet = fleet
                if len(fleet.servers) != plan.scale_servers:
                    scale_fleet = type(fleet)(fleet.workdir, fleet.client_key, fleet.known_hosts, fleet.user,
                                              fleet.servers[:plan.scale_servers])
                sections.append(run_scale(scale_fleet, plan.scale_sizes, plan.scale_concurrency, plan.reps,
                                          use_pdsh=plan.scale_floor and "pdsh" in wanted))
            if "fabric" in only:
                from benchmarks.fabric import run_fabric

                log(f"fabric: ring vs model at {plan.fabric_rates_mbit} Mbit/s, full validation N={plan.fabric_sizes}")
                sections.append(run_fabric(fleet, plan.fabric_sizes, plan.fabric_rates_mbit, plan.fabric_reps))
        finally:
            fleet.close()
    if "accuracy" in only:
        from benchmarks.accuracy import run_accuracy

        log(f"accuracy: {plan.rates_mbit} Mbit/s, {plan.delays_ms} ms, disk {plan.disk_mb} MiB")
        sections.append(run_accuracy(plan.rates_mbit, plan.delays_ms, plan.disk_mb, plan.reps, plan.bw_seconds))
    if "facts" in only:
        from benchmarks.facts_scale import run_facts_scale

        log(f"facts: {plan.facts_nodes} nodes from moto S3 and a directory")
        sections.append(run_facts_scale(plan.facts_nodes, min(plan.reps, 3)))
    if "preview" in only:
        from benchmarks.preview import run_preview, shipped_stacks

        stacks = plan.stacks or shipped_stacks()
        log(f"preview: {stacks}")
        sections.append(run_preview(stacks, plan.reps))
    if "payload" in only:
        from benchmarks.payload import run_payload

        log("payload: assembled probe vs the one-file probe")
        sections.append(run_payload(plan.reps, plan.payload_runs))
    machine["load average at end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    preamble.append(f"Total harness wall time: {time.monotonic() - t0:.0f} s"
                    + (" (quick mode: smoke-test sizes, not a benchmark)." if args.quick else "."))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if set(only) != set(SECTIONS) and args.out.exists() and not args.quick:
        # a partial run updates its own sections in the existing document and leaves the others as they were
        args.out.write_text(merge(args.out.read_text(), sections, machine))
    else:
        args.out.write_text(render(sections, machine, preamble))
    if args.json is not None:
        args.json.write_text(to_json(sections, machine))
    log(f"wrote {args.out}" + (f" and {args.json}" if args.json else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
