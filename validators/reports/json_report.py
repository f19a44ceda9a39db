"""JSON report: the contract in ARCHITECTURE.md §3, exactly ``Report.model_dump``.

Values are the raw ones (no clean(): a script reading the JSON gets what the node said), escaped by
json itself (``ensure_ascii``: control characters and lone surrogates become ``\\uXXXX``).
``allow_nan=False``: JSON has no NaN or Infinity (json.dumps would write invalid JSON); facts and
results are guarded against them, and this is the tripwire if one ever got through.
"""

from __future__ import annotations

import json

from validators.results import Report


def render(report: Report) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2, allow_nan=False) + "\n"
