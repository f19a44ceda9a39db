"""Run the real Pulumi program (stacks.program.main) under the Pulumi SDK's mocks.

The stack file reaches the program the way the CLI passes it: Pulumi.yaml defaults overlaid by the
stack's ``config:``, every value a string, objects JSON (``pulumi.runtime.set_all_config``). The
program runs in the product's own harness (``policies.preview_engine.run_program``, the one
``plinth preview`` uses) as after creation: every output known, so the stack's exports resolve.
Each run gets a fresh SDK context (settings, root stack, config), so runs never leak into each other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from policies.preview_engine import ACCOUNT_ID, PlausibleMocks
from policies.preview_engine import run_program as run_engine
from stacks.program import cli_config_for_stack, cli_config_values, main
from tests.components.mocks import Registered, registered

ACCOUNT = ACCOUNT_ID
ZONES = 4  # us-east-1a..d: a config asking for more zones than the region has must fail


@dataclass
class StackRun:
    mocks: PlausibleMocks  # .calls: every invoke the program made
    outputs: dict[str, Any]
    secret_outputs: set[str]
    resources: list[Registered] = field(default_factory=list)

    def count(self, typ: str) -> int:
        return sum(1 for r in self.resources if r.type == typ)

    def types(self) -> Counter[str]:
        return Counter(r.type for r in self.resources)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]


def run_program(config: dict[str, str], stack: str, region: str = "us-east-1") -> StackRun:
    """Run stacks.program.main with ``config`` (CLI-encoded), every output known, and resolve the exports."""
    run = run_engine(main, config, project="plinth", stack=stack, region=region, zones=ZONES, preview=False)
    return StackRun(run.mocks, run.outputs, run.secret_outputs, registered(run.resources))


@pytest.fixture
def run_stack_file() -> Callable[[Path], StackRun]:
    def run(path: Path) -> StackRun:
        config = cli_config_for_stack(path)
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        return run_program(config, stack, region=config.get("aws:region", "us-east-1"))

    return run


@pytest.fixture
def run_config() -> Callable[..., StackRun]:
    def run(config: dict[str, Any], stack: str = "test") -> StackRun:
        return run_program(cli_config_values(config), stack, region=config.get("aws:region", "us-east-1"))

    return run


REPO = Path(__file__).resolve().parents[2]
STACKS = REPO / "stacks"
