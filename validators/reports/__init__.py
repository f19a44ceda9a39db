"""Reporters: console (rich), JSON (the contract), JUnit XML, Markdown, Prometheus textfile, HTML.

File reports are checked writable before any node is contacted (:func:`check_report_paths`) and
written atomically (:mod:`validators.reports.atomic`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TextIO

from validators.reports import html, json_report, junit, markdown, prometheus
from validators.reports.atomic import check_writable, write_atomic, write_text_atomic
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


def check_report_paths(paths: Mapping[str, Path | None]) -> None:
    """ConfigError (exit 2) now, rather than a lost report after a 10-minute run."""
    for kind, path in paths.items():
        if path is not None:
            check_writable(OPTION[kind], path)


def write_reports(report: Report, paths: Mapping[str, Path | None], title: str = "plinth validate") -> list[str]:
    """Write every requested report; a failure on one doesn't stop the others. Returns one line
    per report that could not be written."""
    problems = []
    for kind, path in paths.items():
        if path is None:
            continue
        try:
            if kind in WRITERS:
                write_atomic(path, partial(WRITERS[kind], report))
            else:
                text = markdown.render(report, title) if kind == "markdown" else RENDERERS[kind](report)
                write_text_atomic(path, text)
        except OSError as exc:
            problems.append(f"{OPTION[kind]} {path}: cannot write: {exc.strerror or exc}")
    return problems


__all__ = ["RENDERERS", "WRITERS", "check_report_paths", "write_reports"]
