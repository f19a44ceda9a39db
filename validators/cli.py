"""`plinth` command line: thin wiring over the three flows. Each command's work lives in its own
module (imported lazily so `plinth --help` is instant); this file only parses arguments and maps
bad input to exit code 2 with one line naming the file and field."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from policies.errors import ConfigError
from validators import exit_codes
from validators.cli_options import (
    PANEL,
    HtmlOpt,
    JsonOpt,
    JunitOpt,
    MarkdownOpt,
    OutputOpt,
    PrometheusOpt,
    QuietOpt,
    VerboseOpt,
    outputs,
)

app = typer.Typer(
    name="plinth",
    help="Make infrastructure AI-ready and prove it.\n\n"
    "Provision with `pulumi up` on a strategy stack, enforce policy with `plinth preview`, "
    "validate nodes with `plinth audit` / `plinth validate`.\n\n"
    "Start here:  plinth audit   (this machine, no SSH)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
EXIT_CODES = exit_codes.help_text()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"plinth {version('plinth')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("plinth (not installed: no package metadata)")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print plinth's version and exit.")] = False,
) -> None:
    """Make infrastructure AI-ready and prove it."""


ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="Workload profile name (see `plinth profiles`) or a profile .yaml path."),
]
DiskTestOpt = Annotated[int | None, typer.Option(
    "--disk-test-mb", min=0, max=65536, metavar="MIB",
    help="Size of the sequential disk write+read test per node, in MiB (default 64; 0 = no disk test: "
         "storage.disk_throughput is skipped). Runs only when the profile checks disk throughput.")]
PreviewOutputOpt = Annotated[Literal["json"] | None, typer.Option(
    "--output", "-o", metavar="FORMAT", rich_help_panel=PANEL,
    help="Write the JSON report (json) to stdout and nothing else there: the console view goes to stderr. Same as --json -.")]
QuickOpt = Annotated[bool, typer.Option(
    "--quick", help="Fact gathering only: no pairwise network rounds and no disk test "
                    "(same as --no-network --disk-test-mb 0); the checks that need them are skipped with the reason.")]


def _bad_input(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


@app.command(epilog=EXIT_CODES)
def audit(
    profile: ProfileOpt = None,
    json_path: JsonOpt = None,
    junit: JunitOpt = None,
    markdown: MarkdownOpt = None,
    prometheus: PrometheusOpt = None,
    html: HtmlOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    disk_test_mb: DiskTestOpt = None,
    quick: QuickOpt = False,
) -> None:
    """Validate THIS machine (no SSH): GPU, network, storage and system readiness, with a 0-100 score.

    Default profile: single_gpu (a workstation or lone server is most often a one-GPU box; pass -p to judge it for another workload).

    Examples (what failed, by how much and what to do; the same judged for training, facts only; the JSON report on stdout, the console view on stderr):

      $ plinth audit

      $ plinth audit -p distributed_training --quick

      $ plinth audit -o json | jq .summary.score
    """
    from validators.commands import run_audit

    try:
        out = outputs(output=output, quiet=quiet, verbose=verbose, json=json_path, junit=junit, markdown=markdown,
                      prometheus=prometheus, html=html)
        code = run_audit(profile=profile, out=out, disk_test_mb=disk_test_mb, quick=quick)
    except ConfigError as exc:
        raise _bad_input(str(exc)) from None
    raise typer.Exit(code)


@app.command(epilog=EXIT_CODES)
def validate(
    inventory: Annotated[Path | None, typer.Option("--inventory", "-i", help="Inventory YAML (nodes, defaults, object_store).")] = None,
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="Resolve nodes from a deployed stack's outputs.")] = None,
    stack_outputs: Annotated[Path | None, typer.Option("--stack-outputs", help="Use this `pulumi stack output --json` file instead of calling pulumi.")] = None,
    profile: ProfileOpt = None,
    json_path: JsonOpt = None,
    junit: JunitOpt = None,
    markdown: MarkdownOpt = None,
    prometheus: PrometheusOpt = None,
    html: HtmlOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=1024, help="Nodes probed at once.")] = 32,
    timeout: Annotated[float, typer.Option("--timeout", "-t", min=1, help="Seconds allowed per node.")] = 120.0,
    accept_new_host_keys: Annotated[bool, typer.Option("--accept-new-host-keys", help="Trust (and record) host keys not yet in known_hosts. Off by default.")] = False,
    network: Annotated[bool | None, typer.Option("--network/--no-network", help="Run the pairwise bandwidth/latency rounds (default: on; off with --quick).")] = None,
    disk_test_mb: DiskTestOpt = None,
    quick: QuickOpt = False,
    details: Annotated[bool, typer.Option("--details", rich_help_panel=PANEL, help="A block per node even for fleets of more than 8 nodes (default there: one line per check with the worst nodes).")] = False,
    facts: Annotated[str | None, typer.Option("--facts", metavar="DIR|s3://BUCKET/PREFIX/RUN", help="Judge the facts `plinth agent` stored for this run instead of probing over SSH; --inventory/--stack, when given, name the nodes expected.")] = None,
) -> None:
    """Validate the nodes of an inventory or a deployed stack over SSH, against a workload profile.

    Each node gets one SSH connection and one probe round trip; pairwise network tests run in O(1) rounds. An unreachable node is one line in the console; each of its checks is `error` in the reports.

    Examples (a quick look, facts only; reports for CI and a page for people; an Ansible inventory as it is; the nodes of a deployed stack; the JSON report alone on stdout):

      $ plinth validate -i inventory.yaml --quick

      $ plinth validate -i inventory.yaml --json r.json --junit r.xml --html r.html

      $ plinth validate -i hosts.ini

      $ plinth validate -s prod --stack-outputs o.json --markdown "$GITHUB_STEP_SUMMARY"

      $ plinth validate -i inventory.yaml -o json > r.json
    """
    from validators.commands import run_validate

    try:
        out = outputs(output=output, quiet=quiet, verbose=verbose, json=json_path, junit=junit, markdown=markdown,
                      prometheus=prometheus, html=html)
    except ConfigError as exc:
        raise _bad_input(str(exc)) from None
    if facts is not None:
        from validators.commands import run_validate_facts

        try:
            code = run_validate_facts(
                facts, inventory=inventory, stack=stack, stack_outputs=stack_outputs, profile=profile, out=out,
                details=details, ssh_only={"--network/--no-network": network is not None, "--disk-test-mb": disk_test_mb is not None,
                                           "--quick": quick, "--accept-new-host-keys": accept_new_host_keys})
        except ConfigError as exc:
            raise _bad_input(str(exc)) from None
        raise typer.Exit(code)
    if (inventory is None) == (stack is None and stack_outputs is None):
        raise _bad_input("give exactly one of --inventory FILE or --stack NAME (optionally with --stack-outputs FILE)")
    try:
        code = run_validate(
            inventory=inventory, stack=stack, stack_outputs=stack_outputs, profile=profile, out=out,
            concurrency=concurrency, timeout=timeout, accept_new_host_keys=accept_new_host_keys, network=network,
            disk_test_mb=disk_test_mb, quick=quick, details=details,
        )
    except ConfigError as exc:
        raise _bad_input(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def agent(
    upload: Annotated[str, typer.Option("--upload", metavar="DIR|s3://BUCKET/PREFIX/RUN", help="Where this run's facts go; the last segment is the run id.")],
    node_name: Annotated[str | None, typer.Option("--node-name", help="This node's name (default: $NODE_NAME from the downward API, else the host name).")] = None,
    profile: ProfileOpt = None,
    disk_test_mb: DiskTestOpt = None,
    mark_node: Annotated[bool, typer.Option("--mark-node", help="Label this Kubernetes node plinth.dev/validation=<verdict> (in a pod: RBAC get/patch nodes).")] = False,
    taint_on_fail: Annotated[bool, typer.Option("--taint-on-fail", help="With --mark-node: taint the node NoSchedule while a check fails; removed when it passes.")] = False,
    interval: Annotated[float | None, typer.Option("--interval", min=60, max=604800, metavar="SECONDS", help="Probe again every SECONDS, forever (a DaemonSet's container).")] = None,
) -> None:
    """Probe THIS node with the same probe `plinth validate` streams over SSH, store its facts (one
    object per node, written atomically) for `plinth validate --facts`, optionally mark the node.

    The in-cluster entry point (DaemonSet or Job). Exit 0 pass, 1 fail or error, 2 bad input.

    Example:

      $ plinth agent --upload s3://acme-lake-raw/plinth-runs/2025-06-01 --profile distributed_training
    """
    from validators.agent import run_agent

    if taint_on_fail and not mark_node:
        raise _bad_input("--taint-on-fail needs --mark-node")
    try:
        code = run_agent(upload, node_name, profile, disk_test_mb=64 if disk_test_mb is None else disk_test_mb,
                         mark_node=mark_node, taint_on_fail=taint_on_fail, interval_s=interval)
    except ConfigError as exc:
        raise _bad_input(str(exc)) from None
    raise typer.Exit(code)


@app.command(epilog=exit_codes.help_text(exit_codes.PREVIEW_TABLE))
def preview(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack name (stacks/Pulumi.<stack>.yaml) or a stack file path.")],
    json_path: JsonOpt = None,
    output: PreviewOutputOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    policy_config: Annotated[Path | None, typer.Option("--policy-config", help="Policy config JSON/YAML (enforcement levels, budget, thresholds).")] = None,
    known_outputs: Annotated[bool, typer.Option(
        "--known-outputs",
        help="Run as if every resource existed (plausible ids, ARNs, names) instead of as a first preview, "
             "where outputs of resources not yet created are unknown.")] = False,
) -> None:
    """Run a stack's program offline and evaluate the policy pack on it, as a first real `pulumi preview` would (Pulumi SDK mocks: no cloud account, no Pulumi CLI).

    Prints the plan (resources to create), the violations per policy, what could not run before
    creation, the verdict and the estimated hourly cost; --known-outputs runs as if every resource existed.

    Examples (the resource tree and the policy verdicts; with your enforcement levels and budget; each violation's enforcement, from the JSON on stdout):

      $ plinth preview -s cloud-first

      $ plinth preview -s hybrid --policy-config policy.yaml

      $ plinth preview -s cloud-first -o json | jq '.violations[].enforcement'
    """
    from policies.preview import run_preview

    try:
        out = outputs(("json",), output=output, quiet=quiet, verbose=verbose, json=json_path)
        code = run_preview(stack=stack, json_path=out.files.get("json"), policy_config=policy_config,
                           console=out.console(), json_stdout=out.stdout == "json", verbose=out.verbose,
                           known_outputs=known_outputs)
    except ConfigError as exc:
        raise _bad_input(str(exc)) from None
    raise typer.Exit(code)


@app.command(epilog=exit_codes.help_text(exit_codes.STRATEGY_TABLE))
def strategy(
    data_sensitivity: Annotated[str, typer.Option(help="high | normal: must data stay on your own hardware?")] = "normal",
    workload_pattern: Annotated[str, typer.Option(help="bursty | steady: how does GPU demand arrive?")] = "steady",
    latency_ms: Annotated[float | None, typer.Option(help="End-to-end inference latency requirement in ms.")] = None,
    write_stack: Annotated[str | None, typer.Option(help="Write a starter stacks/Pulumi.<NAME>.yaml for the chosen strategy.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing stack file.")] = False,
) -> None:
    """Choose a strategy with the seed's decision matrix and say why: high data sensitivity -> hybrid; latency under 20 ms -> edge-centric; bursty -> cloud-first.

    Examples (which strategy for bursty training, and why; a starter stack config for sensitive data):

      $ plinth strategy --workload-pattern bursty

      $ plinth strategy --data-sensitivity high --write-stack onprem
    """
    from stacks.selector import run_strategy

    try:
        code = run_strategy(
            data_sensitivity=data_sensitivity, workload_pattern=workload_pattern, latency_ms=latency_ms,
            write_stack=write_stack, force=force,
        )
    except ConfigError as exc:
        raise _bad_input(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def init(
    path: Annotated[str, typer.Argument(help="Where to write it; - prints it.")] = "inventory.yaml",
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example inventory to start from (`plinth validate -i` accepts it as written).

    An existing file is kept unless --force (exit 2). Your Ansible inventory works as it is, too.

    Examples (write it, edit the nodes, validate; print it instead):

      $ plinth init inventory.yaml && plinth validate -i inventory.yaml --quick

      $ plinth init - | less
    """
    from validators.init_inventory import run_init

    try:
        code = run_init(path, force)
    except ConfigError as exc:
        raise _bad_input(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def profiles() -> None:
    """List the workload profiles and their thresholds.

    Example (then judge this machine against one of them):

      $ plinth profiles

      $ plinth audit -p multi_gpu_single_node
    """
    from rich.table import Table

    from policies.thresholds import builtin_profiles

    out = Console()
    for prof in builtin_profiles().values():
        table = Table(title=f"{prof.name} — {prof.description}", title_justify="left", show_lines=False)
        table.add_column("check")
        table.add_column("threshold")
        table.add_column("why", overflow="fold")
        for check_id, th in prof.thresholds.items():
            parts = []
            if th.min is not None:
                parts.append(f">= {th.min:g}")
            if th.max is not None:
                parts.append(f"<= {th.max:g}")
            if th.expect is not None:
                parts.append(f"== {th.expect}")
            window = f" in {th.window_hours:g} h" if th.window_hours is not None else ""
            table.add_row(check_id, " ".join(parts) + (f" {th.unit}" if th.unit else "") + window, th.why or "")
        out.print(table)


def main() -> None:
    try:
        app()
    except ConfigError as exc:  # a ConfigError escaping a command is still bad input, never a traceback
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
