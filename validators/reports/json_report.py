"""JSON report: the contract in ARCHITECTURE.md §3, exactly ``Report.model_dump``."""

from __future__ import annotations

from validators.results import Report


def render(report: Report) -> str:
    # pydantic-core's serializer: the same document as json.dumps(model_dump(mode="json")), 5x faster,
    # which is seconds at 10,000 nodes (150,000 check results)
    return report.model_dump_json(indent=2) + "\n"
