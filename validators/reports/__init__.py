"""Reporters: console (rich), JSON (the contract), JUnit XML, Markdown, Prometheus textfile, HTML.

Report targets are checked before any node is contacted (:func:`check_report_paths`: writable,
not an input, not a disk, not twice the same) and written by :func:`write_report`: atomically for
files, directly for stdout (``-``), devices and FIFOs (:mod:`validators.reports.targets` says
which and why).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TextIO

from validators.reports import html, json_report, junit, markdown, prometheus
from validators.reports.targets import STDOUT, Target, check_targets, resolve, write_stream, write_text
from validators.results import Report

RENDERERS: dict[str, Callable[[Report], str]] = {
    "json": json_report.render,
    "junit": junit.render,
    "markdown": markdown.render,
    "prometheus": prometheus.render,
    "html": html.render,
}
# reports written to a file piece by piece: their whole text is never in memory (JSON and JUnit are
# ~150 MB each at 10,000 nodes)
WRITERS: dict[str, Callable[[Report, TextIO], None]] = {"json": json_report.write, "junit": junit.write}
OPTION: dict[str, str] = {"json": "--json", "junit": "--junit", "markdown": "--markdown", "prometheus": "--prometheus", "html": "--html"}


def check_report_paths(paths: Mapping[str, str | Path | None], inputs: Mapping[str, Path | None] | None = None) -> None:
    """ConfigError (exit 2) now, rather than a lost report after a 10-minute run, or a report
    written over the inventory. ``paths``: report kind -> target (``-`` is stdout); ``inputs``:
    what each input file is -> its path (``{"inventory": Path("inv.yaml")}``)."""
    check_targets({OPTION[kind]: target for kind, target in paths.items()}, inputs)


def render(kind: str, report: Report, title: str = "plinth validate") -> str:
    return markdown.render(report, title) if kind == "markdown" else RENDERERS[kind](report)


def write_report(kind: str, report: Report, target: str | Path | Target, title: str = "plinth validate") -> None:
    """Render one report and write it to ``target``: a path, ``-`` for stdout, or a checked
    :class:`Target`. ConfigError for a target that must not be written (see targets.py);
    OSError (or ValueError from a renderer) when writing fails."""
    resolved = target if isinstance(target, Target) else resolve(OPTION.get(kind, kind), target)
    if kind in WRITERS:
        write_stream(resolved, partial(WRITERS[kind], report))
    else:
        write_text(resolved, render(kind, report, title))


def write_reports(report: Report, paths: Mapping[str, str | Path | None], title: str = "plinth validate") -> list[str]:
    """Write every requested report; a failure on one doesn't stop the others. Returns one line
    per report that could not be written."""
    problems = []
    for kind, path in paths.items():
        if path is None:
            continue
        try:
            write_report(kind, report, path, title)
        except OSError as exc:
            problems.append(f"{OPTION[kind]} {path}: cannot write: {exc.strerror or exc}")
        except ValueError as exc:  # a renderer's own guard (json: a NaN that got past every check)
            problems.append(f"{OPTION[kind]} {path}: cannot render: {exc}")
    return problems


__all__ = ["OPTION", "RENDERERS", "STDOUT", "WRITERS", "check_report_paths", "render", "write_report", "write_reports"]
