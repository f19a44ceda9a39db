"""Prometheus textfile-collector format (node_exporter ``--collector.textfile.directory``).

Metrics (all gauges):

- ``plinth_check_status{node, check, pillar, status}``: a state set: 1 for the status the check
  has, 0 for the four others. Alert with ``plinth_check_status{status=~"fail|error"} == 1``; a
  check that recovers flips its series instead of leaving a stale one behind.
- ``plinth_check_measured{node, check, unit}``: the measured value of numeric checks.
- ``plinth_node_reachable{node}``: 1 reached, 0 not.
- ``plinth_readiness_score{profile}``: 0-100.
- ``plinth_checks{status}``: result counts of the run.
- ``plinth_last_run_timestamp_seconds``: when this file was produced (staleness alerts).

Cross-node (fleet) results use ``node="fleet"``, the worst result standing for a check that named
several nodes (:func:`one_per_series`). Label values are made inert first
(:func:`~validators.reports.common.clean`, at most :data:`LABEL_LIMIT` characters: a collector
must never choke on a lone surrogate or a 10 MB label) and then escaped per the exposition format
(backslash, double quote, newline).
"""

from __future__ import annotations

import math
import time

from validators.reports.common import clean
from validators.results import STATUSES, CheckResult, Report, Status

LABEL_LIMIT = 200


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{escape(clean(v, LABEL_LIMIT))}"' for k, v in labels.items()) + "}"


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


_WORST_FIRST: dict[Status, int] = {"fail": 0, "error": 1, "warn": 2, "skip": 3, "pass": 4}


def one_per_series(rows: list[tuple[str, CheckResult]]) -> list[tuple[str, CheckResult]]:
    """One result per (node, check), the worst. A fleet check gives one result per outlier node,
    all with ``node="fleet"``: written as they are, they would be the same series twice, which
    node_exporter's textfile collector reports as an error on every scrape ("was collected before
    with the same name and label values") and Prometheus drops as duplicates. The JSON and HTML
    reports keep every result; ``plinth_checks`` still counts them all."""
    kept: dict[tuple[str, str], tuple[str, CheckResult]] = {}
    for node, c in rows:
        held = kept.get((node, c.id))
        if held is None or _WORST_FIRST[c.status] < _WORST_FIRST[held[1].status]:
            kept[(node, c.id)] = (node, c)
    return list(kept.values())


def render(report: Report, now: float | None = None) -> str:
    out: list[str] = []

    def family(name: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} gauge")

    rows = [(n.name, c) for n in report.nodes for c in n.checks] + [("fleet", c) for c in report.fleet]
    series = one_per_series(rows)
    family("plinth_check_status", "Outcome of a plinth check: 1 for the status it has, 0 for the others.")
    for node, c in series:
        for status in STATUSES:
            out.append(f"plinth_check_status{_labels(node=node, check=c.id, pillar=c.pillar, status=status)} "
                       f"{1 if c.status == status else 0}")
    family("plinth_check_measured", "Measured value of a numeric plinth check, in the unit label.")
    for node, c in series:
        if isinstance(c.measured, (int, float)):
            out.append(f"plinth_check_measured{_labels(node=node, check=c.id, unit=c.unit or '')} {_value(float(c.measured))}")
    family("plinth_node_reachable", "1 when plinth reached the node, 0 when it could not.")
    for n in report.nodes:
        out.append(f"plinth_node_reachable{_labels(node=n.name)} {1 if n.reachable else 0}")
    family("plinth_readiness_score", "Readiness score 0-100 of the last plinth run (see docs/validators.md).")
    out.append(f"plinth_readiness_score{_labels(profile=report.profile)} {_value(report.summary.score)}")
    family("plinth_checks", "Number of check results of the last plinth run, by status.")
    for status in STATUSES:
        out.append(f"plinth_checks{_labels(status=status)} {sum(1 for _n, c in rows if c.status == status)}")
    family("plinth_last_run_timestamp_seconds", "Unix time the last plinth run finished.")
    out.append(f"plinth_last_run_timestamp_seconds {_value(round(now if now is not None else time.time(), 3))}")
    return "\n".join(out) + "\n"
