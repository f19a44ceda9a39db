"""``plinth preview``: run a stack's program offline and evaluate the policy pack on it.

1. the stack file is validated with ``stacks.config`` (bad input: ConfigError, exit 2);
2. its ``config:`` reaches the program the way the Pulumi CLI passes it (strings, objects as JSON;
   ``stacks.program.cli_config_for_stack``) and ``stacks.program.main`` runs under the SDK's mocks
   (``policies.preview_engine``), no cloud account and no Pulumi CLI needed;
3. every policy of the pack runs on the captured resources (``policies.evaluate``), with the same
   argument shapes the CrossGuard analyzer builds;
4. the resource tree, the violations by enforcement and the estimated hourly cost are printed; the
   JSON report (ARCHITECTURE.md section 3) is written atomically.

Exit 1 on a mandatory violation, 0 otherwise.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.tree import Tree

from policies.errors import ConfigError
from policies.evaluate import STACK_TYPE, CapturedResource, Violation, evaluate, policy_resources
from policies.policy_config import PolicyConfig, load_policy_config

PROJECT = "plinth"


def resolve_stack(stack: str) -> tuple[str, Path]:
    """``cloud-first`` -> stacks/Pulumi.cloud-first.yaml; a path to ``Pulumi.<name>.yaml`` -> (name, path)."""
    from stacks.config import stack_file

    path = Path(stack)
    if path.suffix in {".yaml", ".yml"} and path.exists():
        name = path.name.removeprefix("Pulumi.").rsplit(".", 1)[0]
        return name or "preview", path
    return stack, stack_file(stack)


def capture(stack: str) -> tuple[Any, list[CapturedResource], str, dict[str, str]]:
    """Validate the stack file, run its program under mocks: (StackConfig, resources, name, config)."""
    import pulumi

    from policies.preview_engine import run_program
    from stacks.config import load_stack_file, stack_file
    from stacks.program import cli_config_for_stack, main

    name, path = resolve_stack(stack)
    cfg = load_stack_file(path)
    config = cli_config_for_stack(path)
    try:
        resources = run_program(main, config, project=PROJECT, stack=name, region=cfg.region)
    except (pulumi.RunError, ConfigError) as exc:  # the program's one-line bad-input errors
        raise ConfigError(str(exc).replace(str(stack_file(name)), str(path))) from None
    return cfg, resources, name, config


def estimated_cost(resources: Sequence[CapturedResource]):
    from policies.rules.cost import stack_estimate

    return stack_estimate(policy_resources(resources))


def report_data(stack: str, strategy: str, resources: Sequence[CapturedResource], violations: Sequence[Violation],
                cost_usd: float, budget: float | None) -> dict[str, Any]:
    names = {r.urn: r.name for r in resources if r.type != STACK_TYPE}
    return {
        "stack": stack,
        "strategy": strategy,
        "resources": [
            {"type": r.type, "name": r.name, "parent": names.get(r.parent or ""), "urn": r.urn}
            for r in resources if r.type != STACK_TYPE
        ],
        "violations": [
            {"policy": v.policy, "resource": v.resource, "enforcement": v.enforcement, "message": v.message, "urn": v.urn}
            for v in violations
        ],
        "estimated_hourly_cost_usd": round(cost_usd, 2),
        "budget_usd_per_hour": budget,
    }


def write_json_atomic(path: Path, data: Any) -> None:
    """The JSON report, written like every plinth report (temp file + fsync + rename, mode 0644):
    readers never see half a report, and a failed write leaves no temp file behind."""
    from validators.reports.atomic import write_atomic

    path = path.expanduser()
    directory = path.parent if str(path.parent) else Path(".")

    def render(fh: Any) -> None:
        json.dump(data, fh, indent=2)
        fh.write("\n")

    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(path, render)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the JSON report: {exc.strerror or exc}") from None


def resource_tree(stack: str, resources: Sequence[CapturedResource]) -> Tree:
    root = Tree(f"[bold]{stack}[/]")
    children: dict[str | None, list[CapturedResource]] = defaultdict(list)
    stack_urns = {r.urn for r in resources if r.type == STACK_TYPE}
    for r in resources:
        if r.type != STACK_TYPE:
            children[None if (r.parent in stack_urns or r.parent is None) else r.parent].append(r)

    def add(node: Tree, parent: str | None) -> None:
        for r in children.get(parent, []):
            style = "bold cyan" if not r.custom else ""
            label = f"[{style}]{r.name}[/] [dim]{r.type}[/]" if style else f"{r.name} [dim]{r.type}[/]"
            add(node.add(label), r.urn)

    add(root, None)
    return root


def print_report(console: Console, data: dict[str, Any], resources: Sequence[CapturedResource],
                 violations: Sequence[Violation], cost: Any, verbose: bool = False) -> None:
    console.print(resource_tree(data["stack"], resources))
    console.print(f"{len(data['resources'])} resources, strategy {data['strategy']}")
    for level, style in (("mandatory", "bold red"), ("advisory", "yellow")):
        group = [v for v in violations if v.enforcement == level]
        console.print(f"[{style}]{level} violations: {len(group)}[/]")
        for v in group:
            console.print(f"  [{style}]{v.policy}[/] {v.message}", highlight=False, soft_wrap=True)
            if verbose and v.urn:
                console.print(f"    {v.urn}", markup=False, highlight=False, soft_wrap=True)
    lines = ", ".join(f"{p.name} {p.max_nodes} x {p.instance_type}" for p in cost.pools if p.instance_type)
    budget = data["budget_usd_per_hour"]
    console.print(
        f"estimated hourly cost at max nodes: [bold]{data['estimated_hourly_cost_usd']:,.2f} USD[/]"
        + (f" ({lines})" if lines else "") + (f"; budget {budget:,.2f} USD" if budget else ""),
        highlight=False, soft_wrap=True,
    )


def run_preview(stack: str, json_path: Path | None, policy_config: Path | None,
                console: Console | None = None, json_stdout: bool = False, verbose: bool = False) -> int:
    """``json_stdout``: the JSON report on stdout as well, as the only thing written there (give a
    ``console`` on stderr); ``verbose``: each violation's resource URN under it."""
    from policies.rules import POLICY_NAMES

    console = console or Console()
    pcfg: PolicyConfig = load_policy_config(policy_config, POLICY_NAMES)
    from policies.preview_engine import with_stack_config

    cfg, resources, name, config = capture(stack)
    violations = with_stack_config(config, lambda: evaluate(resources, pcfg))
    cost = estimated_cost(resources)
    budget = pcfg.budget_usd_per_hour or cfg.budget_usd_per_hour
    data = report_data(name, cfg.strategy, resources, violations, cost.usd_per_hour, budget)
    print_report(console, data, resources, violations, cost, verbose)
    if json_path is not None:
        write_json_atomic(json_path, data)
    if json_stdout:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()
    return 1 if any(v.enforcement == "mandatory" for v in violations) else 0
