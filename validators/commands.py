"""What `plinth audit` and `plinth validate` do (validators/cli.py only parses arguments).

Exit codes (validators/exit_codes.py): 0 nothing failed (warnings allowed); 1 a check failed or
errored; 2 bad input (ConfigError, raised before any node is contacted); 3 some nodes unreachable
and every node reached passed; 128+signal when interrupted (130 Ctrl-C, 143 SIGTERM): the shells'
convention, so a CI script can tell "the fleet is bad" (1) from "the run was cut short and its
report is partial" -- the reports are still written, with the unfinished nodes' checks as
``error: interrupted``.

Where things go (validators/cli_options.Output): report files as asked; at most one report on
stdout (``-o FORMAT`` or ``--FORMAT -``), and then the console view on stderr, so stdout is that
document alone; progress always on stderr; nothing but errors with ``--quiet``.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from rich.console import Console
from rich.markup import escape

from policies.errors import ConfigError
from policies.inputs import check_input
from policies.thresholds import get_profile
from validators import exit_codes
from validators.cli_options import Output
from validators.inventory import Inventory, NodeSpec, load_inventory
from validators.reports import check_report_paths, console, render
from validators.results import Report
from validators.runner import FleetInterrupted, RunOptions, run_fleet

if TYPE_CHECKING:
    from validators.facts.collect import Collected

AUDIT_DEFAULT_PROFILE = "single_gpu"  # a workstation or lone server is most often a one-GPU box
VALIDATE_DEFAULT_PROFILE = "distributed_training"  # a fleet of GPU nodes is most often for training
DEFAULT_DISK_TEST_MB = 64
MAX_DISK_TEST_MB = 65536


class ActiveTests(NamedTuple):
    network: bool
    disk_test_mb: int
    network_off_reason: str
    disk_off_reason: str


def active_tests(quick: bool, network: bool | None, disk_test_mb: int | None) -> ActiveTests:
    """Which active tests run, and the reason a skipped one reports, from --quick / --[no-]network /
    --disk-test-mb (None: not given). --quick is shorthand for --no-network --disk-test-mb 0; asking for a test it
    turns off is a contradiction, so bad input rather than a silent winner."""
    if disk_test_mb is not None and not 0 <= disk_test_mb <= MAX_DISK_TEST_MB:
        raise ConfigError(f"--disk-test-mb: expected 0 (no disk test) to {MAX_DISK_TEST_MB} MiB, got {disk_test_mb}")
    if quick:
        if network:
            raise ConfigError("--quick: it turns the pairwise network rounds off; drop --network or --quick")
        if disk_test_mb:
            raise ConfigError(f"--quick: it turns the disk test off; drop --disk-test-mb {disk_test_mb} or --quick")
        return ActiveTests(False, 0, "pairwise network tests not run (--quick)", "disk test disabled (--quick)")
    return ActiveTests(network is not False, DEFAULT_DISK_TEST_MB if disk_test_mb is None else disk_test_mb,
                       "pairwise network tests not run (--no-network)", "disk test disabled (--disk-test-mb 0)")


def fabric_tests(quick: bool, fabric: bool | None) -> tuple[bool, str]:
    """(run the profile's fabric tests?, the reason they report when not). --quick turns them off;
    asking for them with --quick is a contradiction."""
    if quick and fabric:
        raise ConfigError("--quick: it turns the fabric tests off; drop --fabric or --quick")
    if quick:
        return False, "fabric tests not run (--quick)"
    return fabric is not False, "fabric tests not run (--no-fabric)"


def _fabric_options(port_range: str | None) -> object | None:
    if port_range is None:
        return None
    from validators.fabric.phase import FabricOptions
    from validators.fabric.ports import parse_range

    return FabricOptions(port_range=parse_range(port_range))


def _net_options(port_range: str | None) -> object | None:
    if port_range is None:
        return None
    from validators.fabric.ports import parse_range
    from validators.network import NetOptions

    return NetOptions(port_range=parse_range(port_range))


def _report_to_stdout(report: Report, kind: str, title: str) -> list[str]:
    """The one report on stdout (``-o FORMAT`` / ``--FORMAT -``), written straight to the stream."""
    text = render(kind, report, title)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader left; don't let the interpreter's exit flush fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return [f"-o {kind}: stdout closed before the report was written"]
    except OSError as exc:
        return [f"-o {kind}: cannot write to stdout: {exc.strerror or exc}"]
    return []


def _finish(report: Report, out: Output, signum: int | None, title: str, details: bool = False) -> int:
    from validators.reports import parallel

    files = parallel.start(report, dict(out.files), title)  # a large run's report files, written while the console prints
    try:
        console.render(report, out.console(), details=details, verbose=out.verbose)
    except BaseException:
        files.wait()  # the report files are finished (the writers reaped) before the error goes on
        raise
    err = Console(stderr=True)
    if signum is not None:
        err.print("[bold red]interrupted[/]: partial report; unfinished nodes are marked error: interrupted", highlight=False)
    problems = files.wait()
    if out.stdout is not None:
        problems += _report_to_stdout(report, out.stdout, title)
    for problem in problems:
        err.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    if signum is not None:
        return exit_codes.SIGNAL_BASE + signum
    return exit_codes.FAILED if problems else report.exit_code  # a report CI expects but cannot read fails the run


def _run(nodes: list[NodeSpec], profile_name: str, opts: RunOptions, out: Output, title: str,
         details: bool = False) -> int:
    from validators.fabric.phase import check_params

    profile = get_profile(profile_name)
    check_params(profile, profile_name)  # a typo in a fabric line's params: exit 2 before any node is contacted
    if out.quiet:
        opts = replace(opts, progress=False)
    try:
        report = run_fleet(nodes, profile, opts)
    except FleetInterrupted as exc:
        return _finish(exc.report, out, exc.signum, title, details)
    return _finish(report, out, None, title, details)


def run_audit(profile: str | None, out: Output, disk_test_mb: int | None = None, quick: bool = False) -> int:
    """Audit this machine through the local transport (no SSH). Default profile: single_gpu."""
    tests = active_tests(quick, None, disk_test_mb)
    get_profile(profile or AUDIT_DEFAULT_PROFILE)  # bad profile: exit 2 before probing
    check_report_paths(_targets(out), {"profile": _profile_file(profile)})
    hostname = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:63] or "localhost"
    # the probe needs a python3 on this machine; the one running plinth will do when PATH has none
    python = "python3" if shutil.which("python3") else sys.executable
    node = NodeSpec(name=hostname, host="localhost", transport="local", python=python)
    fabric, fabric_off = fabric_tests(quick, None)
    opts = RunOptions(concurrency=1, network=False, disk_test_mb=tests.disk_test_mb, disk_off_reason=tests.disk_off_reason,
                      network_off_reason="pairwise network tests need two nodes; `plinth audit` checks this machine only",
                      fabric=fabric, fabric_off_reason=fabric_off)
    return _run([node], profile or AUDIT_DEFAULT_PROFILE, opts, out, "plinth audit")


def _targets(out: Output) -> dict[str, str | Path]:
    """Every report target, the one on stdout included: two reports on one stream is caught too."""
    return {**({out.stdout: "-"} if out.stdout else {}), **out.files}


def _profile_file(profile: str | None) -> Path | None:
    """The profile's file when it is a user's file, not a built-in name."""
    return Path(profile).expanduser() if profile and profile.endswith((".yaml", ".yml")) else None


def _ssh_files(nodes: list[NodeSpec]) -> dict[str, Path]:
    """Every distinct key and known_hosts file the run will read (or append to), by what it is."""
    files: dict[Path, str] = {}
    for n in nodes:
        if n.transport != "ssh":
            continue
        for what, path in (("SSH identity file", n.identity_file), ("known_hosts", n.known_hosts),
                           ("SSH identity file", n.jump.identity_file if n.jump else None),
                           ("known_hosts", n.jump.known_hosts if n.jump else None)):
            if path is not None:
                files.setdefault(path, f"{what} of {n.name}")
    return {what: path for path, what in files.items()}


def _inventory(inventory: Path | None, stack: str | None, stack_outputs: Path | None) -> Inventory:
    if inventory is not None:
        return load_inventory(inventory)
    from validators.stack_inventory import load_stack_inventory

    return load_stack_inventory(stack, stack_outputs)


def run_validate(
    inventory: Path | None, stack: str | None, stack_outputs: Path | None, profile: str | None, out: Output,
    concurrency: int = 32, timeout: float = 120.0, accept_new_host_keys: bool = False, network: bool | None = None,
    disk_test_mb: int | None = None, quick: bool = False, details: bool = False,
    fabric: bool | None = None, port_range: str | None = None,
) -> int:
    """Validate an inventory's (or a stack's) nodes over SSH. Profile: --profile, else the
    inventory's ``profile:``, else distributed_training. ``network`` and ``fabric`` None: on
    unless ``quick``. ``port_range``: where the active tests' listeners may bind on the nodes."""
    tests = active_tests(quick, network, disk_test_mb)
    fabric_on, fabric_off = fabric_tests(quick, fabric)
    fabric_options, net_options = _fabric_options(port_range), _net_options(port_range)
    if not math.isfinite(timeout):  # click's FloatRange lets inf and nan through; threads can't wait that long
        raise ConfigError(f"--timeout: expected a finite number of seconds, got {timeout!r}")
    # report targets are checked against the inputs once those are read: comparing them means a stat(),
    # which on a hung mount would block where read_input gives up after its deadline
    inv = _inventory(inventory, stack, stack_outputs)
    profile_name = profile or inv.profile or VALIDATE_DEFAULT_PROFILE
    get_profile(profile_name)
    ssh_files = _ssh_files(inv.nodes)
    for what, path in ssh_files.items():  # a FIFO or /dev/zero as a key: exit 2 now, not an error per node later
        check_input(path, what.split(" of ")[0])
    check_report_paths(_targets(out), {"inventory": inventory, "stack outputs": stack_outputs,
                                       "profile": _profile_file(profile_name), **ssh_files})
    for note in inv.notes:  # e.g. stack nodes launched before the stack's SSH access
        Console(stderr=True, highlight=False).print(f"note: {note}", markup=False, soft_wrap=True)
    opts = RunOptions(concurrency=concurrency, node_timeout_s=timeout, accept_new_host_keys=accept_new_host_keys,
                      network=tests.network, network_off_reason=tests.network_off_reason, object_store=inv.object_store,
                      disk_test_mb=tests.disk_test_mb, disk_off_reason=tests.disk_off_reason, net_options=net_options,
                      fabric=fabric_on, fabric_off_reason=fabric_off, fabric_options=fabric_options)
    return _run(inv.nodes, profile_name, opts, out, "plinth validate", details)


def run_validate_facts(
    location: str, inventory: Path | None, stack: str | None, stack_outputs: Path | None, profile: str | None,
    out: Output, details: bool = False, ssh_only: dict[str, bool] | None = None,
) -> int:
    """Judge the facts `plinth agent` stored at ``location`` like a live run (validators/facts).
    The inventory or stack, when given, names the expected nodes and the object store."""
    from validators.facts.collect import cyclic_gc_paused, judge_store
    from validators.facts.store import open_store
    from validators.runner import controller_facts

    given = [flag for flag, on in (ssh_only or {}).items() if on]
    if given:
        raise ConfigError(f"--facts: {given[0]} does not apply: the agents already gathered the facts")
    inv = _inventory(inventory, stack, stack_outputs) if inventory or stack or stack_outputs else None
    profile_name = profile or (inv.profile if inv else None) or VALIDATE_DEFAULT_PROFILE
    prof = get_profile(profile_name)
    check_report_paths(_targets(out), {"inventory": inventory, "stack outputs": stack_outputs,
                                       "profile": _profile_file(profile_name)})
    store = open_store(location)
    controller = controller_facts(inv.object_store) if inv else {}
    with cyclic_gc_paused():
        try:
            collected = judge_store(store, prof, expected=inv.nodes if inv else None, controller=controller)
        except KeyboardInterrupt:
            Console(stderr=True).print("interrupted: no report (nothing was judged yet)", highlight=False)
            return 130
        return _report_facts_run(collected, out, details)


def _report_facts_run(collected: Collected, out: Output, details: bool) -> int:
    run = collected.run
    err = Console(stderr=True, highlight=False, quiet=out.quiet)
    started = run.started_at.isoformat(timespec="seconds") if run.started_at else "unknown"
    err.print(f"facts: run {run.run_id} at {run.location}; started {started} ({run.start_from}); "
              f"expected nodes from {run.expected_from}", markup=False, soft_wrap=True)
    if run.unexpected:
        err.print(f"facts: {len(run.unexpected)} node(s) reported but were not expected (judged too): "
                  + ", ".join(run.unexpected[:5]) + (" …" if len(run.unexpected) > 5 else ""), markup=False, soft_wrap=True)
    if run.ignored:
        err.print(f"facts: {len(run.ignored)} object(s) ignored, their names are not node names: "
                  + ", ".join(run.ignored[:5]) + (" …" if len(run.ignored) > 5 else ""), markup=False, soft_wrap=True)
    return _finish(collected.report, out, None, "plinth validate --facts", details)


__all__ = ["AUDIT_DEFAULT_PROFILE", "DEFAULT_DISK_TEST_MB", "VALIDATE_DEFAULT_PROFILE", "ActiveTests", "active_tests",
           "fabric_tests", "run_audit", "run_validate", "run_validate_facts"]
