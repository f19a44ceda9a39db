"""Report contract (ARCHITECTURE.md §3): results of checks, per node, and the whole run.

Pure data. Judges build :class:`CheckResult`; the runner builds :class:`NodeReport`; reporters
render :class:`Report`. Field names are a public contract that CI scripts parse: change them only
with a note.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from validators import exit_codes

Status = Literal["pass", "warn", "fail", "error", "skip"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail", "error", "skip")


class CheckResult(BaseModel):
    # frozen: make() hands the same instance to every node whose result is the same (below)
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str  # "<pillar>.<check>", e.g. "gpu.count"
    pillar: str
    status: Status
    measured: float | int | str | bool | None = None
    threshold: float | int | str | bool | None = None
    unit: str | None = None
    message: str
    remediation: str | None = None

    @field_validator("measured", "threshold")
    @classmethod
    def _finite(cls, v: float | str | bool | None) -> float | str | bool | None:
        """JSON has no NaN or Infinity, and the score does arithmetic on these: a judge that would
        report one raises here, and judge_node turns that into ``error`` (facts are guarded before
        judging, so this only catches a judge's own arithmetic)."""
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"not a finite number: {v!r}")
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**63:
            raise ValueError("integer out of range")
        return v

    @classmethod
    def make(cls, check_id: str, status: Status, message: str, **kw: object) -> CheckResult:
        """Build a result; the pillar is the part of the id before the dot.

        Across a fleet most results are word for word the same on every node (the same 8 GPUs pass,
        the same checks skip): an identical request gets the instance built for the first one,
        validated once. At 10,000 nodes (360,000 results) that is a fifth of judging and most of
        the results' memory. The key holds each value's type, so 1, 1.0 and True stay apart."""
        values = tuple(kw.values())
        types = tuple(map(type, values))
        key = None
        if len(message) <= _MEMO_TEXT and _PLAIN.issuperset(types) and not (float in types and 0 in values and _minus_zero(values)):
            # plain values only: equal and of one type, they write the same JSON (but -0.0 == 0.0)
            key = (cls, check_id, status, message, tuple(kw), values, types)
            made = _MADE.get(key)
            if made is not None:
                return made
        made = cls(id=check_id, pillar=check_id.split(".", 1)[0], status=status, message=message, **kw)  # type: ignore[arg-type]
        if key is not None:
            if len(_MADE) >= _MADE_MAX:
                _MADE.clear()
            _MADE[key] = made
        return made


def _minus_zero(values: tuple[object, ...]) -> bool:
    return any(isinstance(v, float) and v == 0 and math.copysign(1.0, v) < 0 for v in values)


_MADE: dict[tuple[object, ...], CheckResult] = {}
_PLAIN = frozenset({str, int, float, bool, type(None)})
_MEMO_TEXT = 1024  # longer messages are built each time: the memo never holds much text
_MADE_MAX = 4096  # distinct results remembered; a fleet's distinct results are far fewer than its nodes


class NodeReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    host: str
    reachable: bool
    checks: list[CheckResult] = Field(default_factory=list)
    duration_s: float | None = None



class PairMeasurement(BaseModel):
    """One node pair of the pairwise network rounds (validators/network), as measured: ``client``
    sent to ``server``. The report keeps every pair so a reader can see which link was slow, not
    only which node the inference named."""

    model_config = ConfigDict(extra="forbid")

    client: str
    server: str
    tool: str | None = None
    bandwidth_gbps: float | None = None
    latency_ms: float | None = None
    error: str | None = None


class Summary(BaseModel):
    """Counts are of check results across all nodes (``nodes`` counts nodes); ``score`` is the
    0-100 readiness score (validators/score.py)."""

    model_config = ConfigDict(extra="forbid")

    nodes: int
    passed: int
    failed: int
    errors: int
    warnings: int = 0
    skipped: int = 0
    score: float


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: Summary
    profile: str
    nodes: list[NodeReport]
    fleet: list[CheckResult] = Field(default_factory=list)  # cross-node results (fleet outliers, posture)
    pairs: list[PairMeasurement] = Field(default_factory=list)  # pairwise network rounds, one per measured pair
    started_at: str | None = None
    duration_s: float | None = None

    @property
    def exit_code(self) -> int:
        """validators/exit_codes.py: 1 something that was checked failed or errored; else 3 when a
        node could not be reached; else 0 (warnings allowed)."""
        reached = {c.status for n in self.nodes if n.reachable for c in n.checks} | {c.status for c in self.fleet}
        if reached & {"fail", "error"}:
            return exit_codes.FAILED
        return exit_codes.UNREACHABLE if any(not n.reachable for n in self.nodes) else exit_codes.OK
