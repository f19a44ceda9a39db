"""Run a Pulumi program under the real SDK's mocks and look at every resource it registers.

Shared by the component tests (any pillar may import it)::

    from tests.components.mocks import run_program

    run = run_program(lambda: GpuNodePool("gpu", args))
    ng = run.one("aws:eks/nodeGroup:NodeGroup")
    assert ng.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert run.value(run.result.max_size) == 4

A thin view over the product's own harness (``policies.preview_engine.run_program``, which
``plinth preview`` runs too): what the SDK does for real here is input serialisation (inputs arrive
with their wire names, camelCase, and integers come back as floats), Output plumbing, parent/provider
URNs and resource options. What is faked is the cloud: resources get an id (``<name>-id``) and the
outputs a provider computes (ARNs, names, endpoints; ``PlausibleMocks.computed``), and invokes get
plausible answers (three zones here). ``preview=True`` runs as a first ``pulumi preview``: outputs of
resources not yet created stay unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pulumi
from pulumi.runtime.sync_await import _sync_await

from policies.evaluate import STACK_TYPE, CapturedResource
from policies.preview_engine import ACCOUNT_ID
from policies.preview_engine import run_program as run_engine

T = TypeVar("T")
ACCOUNT = ACCOUNT_ID
ZONES = 3  # us-east-1a..c


@dataclass
class Registered:
    """One RegisterResource call as the engine would have seen it (``inputs``: Python values)."""

    type: str
    name: str
    inputs: dict[str, Any]
    urn: str = ""
    parent: str = ""
    provider: str = ""  # "<provider urn>::<provider id>"
    custom: bool = True
    ignore_changes: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    retain_on_delete: bool = False

    @classmethod
    def of(cls, c: CapturedResource) -> Registered:
        return cls(type=c.type, name=c.name, inputs=c.values, urn=c.urn, parent=c.parent or "",
                   provider=c.provider_ref, custom=c.custom, ignore_changes=list(c.ignore_changes),
                   dependencies=list(c.dependencies), retain_on_delete=c.retain_on_delete)


def registered(resources: list[CapturedResource]) -> list[Registered]:
    return [Registered.of(c) for c in resources if c.type != STACK_TYPE]


@dataclass
class Run(Generic[T]):
    result: T
    resources: list[Registered]

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> Registered:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, got {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def types(self) -> list[str]:
        return [r.type for r in self.resources]

    @staticmethod
    def value(output: Any) -> Any:
        """The resolved value of an Output (or plain value) after the run."""
        return _sync_await(pulumi.Output.from_input(output).future())


def run_program(
    build: Callable[[], T],
    *,
    preview: bool = False,
    calls: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
    project: str = "plinth",
    stack: str = "test",
) -> Run[T]:
    """Run ``build`` as a Pulumi program under fresh mocks, wait for every registration, and return
    what it built plus everything registered. ``calls`` adds or overrides invoke answers by token.
    Exceptions raised by ``build`` (e.g. ConfigError) propagate unchanged."""
    run = run_engine(build, project=project, stack=stack, zones=ZONES, preview=preview, calls=calls)
    return Run(result=run.result, resources=registered(run.resources))
