"""JSON report: the contract in ARCHITECTURE.md §3, exactly ``Report.model_dump``."""

from __future__ import annotations

import json

from validators.results import Report


def render(report: Report) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"
