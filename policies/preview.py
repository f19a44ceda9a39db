"""``plinth preview``: run a stack's program offline and evaluate the policy pack on it.

1. the stack file is validated with ``stacks.config`` (bad input: ConfigError, exit 2);
2. its ``config:`` reaches the program the way the Pulumi CLI passes it (strings, objects as JSON;
   ``stacks.program.cli_config_for_stack``) and ``stacks.program.main`` runs under the SDK's mocks
   (``policies.preview_engine``), no cloud account and no Pulumi CLI needed;
3. every policy of the pack runs on the captured resources (``policies.evaluate``), with the same
   argument shapes the CrossGuard analyzer builds;
4. the plan (resources to create, violations per policy, what could not run, the verdict, the
   estimated hourly cost) is printed, and the JSON report written atomically
   (``policies.preview_report``).

Mode. By default the program runs **as a first real preview would** (``first-preview``): outputs of
resources not yet created are unknown, so a policy that needs one says it cannot be evaluated
instead of passing on a value the mocks made up. That is what ``pulumi preview --policy-pack`` shows
in CI for a new stack, and the offline verdict must never claim more than that. ``known_outputs``
(``--known-outputs``) runs as if every resource existed, with plausible provider outputs: what stack
policies see at the end of a ``pulumi up``, and a way to exercise rules that need computed values.

Exit 1 on a mandatory violation, 0 otherwise.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policies.errors import ConfigError

if TYPE_CHECKING:  # imported where used, while the collector is paused (see paused_gc)
    from rich.console import Console

    from policies.evaluate import CapturedResource

PROJECT = "plinth"


@contextmanager
def paused_gc() -> Iterator[None]:
    """A preview allocates some 300,000 long-lived objects while importing the SDKs and building the
    program, and leaves no cyclic garbage (a full collection afterwards finds none): the collector's
    passes over them cost about a fifth of the run, and the collection at interpreter exit another
    0.2 s (measured, docs/policies.md). So the collector is paused for the run, and what the run
    built is then frozen (``gc.freeze``: still freed by reference counting, never scanned again)
    before collection resumes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def resolve_stack(stack: str) -> tuple[str, Path]:
    """``cloud-first`` -> stacks/Pulumi.cloud-first.yaml; a path to ``Pulumi.<name>.yaml`` -> (name, path)."""
    from stacks.config import stack_file

    path = Path(stack)
    if path.suffix in {".yaml", ".yml"} and path.exists():
        name = path.name.removeprefix("Pulumi.").rsplit(".", 1)[0]
        return name or "preview", path
    return stack, stack_file(stack)


def capture(stack: str, known_outputs: bool = False) -> tuple[Any, list[CapturedResource], str, dict[str, str]]:
    """Validate the stack file, run its program under mocks: (StackConfig, resources, name, config)."""
    import pulumi

    from policies.preview_engine import run_program
    from stacks.config import load_stack_file, stack_file
    from stacks.program import cli_config_for_stack, main

    name, path = resolve_stack(stack)
    cfg = load_stack_file(path)
    config = cli_config_for_stack(path)
    try:
        run = run_program(main, config, project=PROJECT, stack=name, region=cfg.region, preview=True,
                          unknown_outputs=not known_outputs)
    except (pulumi.RunError, ConfigError) as exc:  # the program's one-line bad-input errors
        raise ConfigError(str(exc).replace(str(stack_file(name)), str(path))) from None
    return cfg, run.resources, name, config


def estimated_cost(resources: Sequence[CapturedResource]):
    from policies.evaluate import policy_resources
    from policies.rules.cost import stack_estimate

    return stack_estimate(policy_resources(resources))


def write_json_atomic(path: Path, text: str) -> None:
    """The JSON report, written like every plinth report (temp file + fsync + rename, mode 0644):
    readers never see half a report, and a failed write leaves no temp file behind."""
    from validators.reports.atomic import write_atomic

    path = path.expanduser()
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda fh: fh.write(text))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the JSON report: {exc.strerror or exc}") from None


def preview_data(stack: str, policy_config: Path | None = None, known_outputs: bool = False) -> tuple[dict[str, Any], Any]:
    """Run the preview: (the JSON report's data, a view for the console). Raises ConfigError on bad input."""
    from policies.evaluate import evaluate
    from policies.policy_config import load_policy_config
    from policies.preview_engine import with_stack_config
    from policies.preview_report import FIRST_PREVIEW, KNOWN_OUTPUTS, report_data
    from policies.rules import POLICY_NAMES

    pcfg = load_policy_config(policy_config, POLICY_NAMES)
    cfg, resources, name, config = capture(stack, known_outputs)
    evaluation = with_stack_config(config, lambda: evaluate(resources, pcfg))
    cost = estimated_cost(resources)
    mode = KNOWN_OUTPUTS if known_outputs else FIRST_PREVIEW
    budget = pcfg.budget_usd_per_hour or cfg.budget_usd_per_hour
    data = report_data(name, cfg.strategy, mode, resources, evaluation, cost.usd_per_hour, budget)
    return data, (resources, evaluation, cost)


def run_preview(stack: str, json_path: Path | None, policy_config: Path | None, console: Console | None = None,
                json_stdout: bool = False, verbose: bool = False, known_outputs: bool = False) -> int:
    """``json_stdout``: the JSON report on stdout as well, as the only thing written there (give a
    ``console`` on stderr); ``verbose``: each violation's resource URN under it."""
    with paused_gc():
        from rich.console import Console

        from policies.preview_report import print_plan, render_json

        data, (resources, evaluation, cost) = preview_data(stack, policy_config, known_outputs)
        print_plan(console or Console(), data, resources, evaluation, cost, verbose)
        text = render_json(data)
        if json_path is not None:
            write_json_atomic(json_path, text)
        if json_stdout:
            sys.stdout.write(text)
            sys.stdout.flush()
    return 1 if evaluation.mandatory else 0
