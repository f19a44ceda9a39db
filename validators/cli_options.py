"""Options every report-writing command shares (`plinth audit`, `validate`, `preview`), defined once
so each command spells them the same and a new command gets them by adding parameters:

- ``--json FILE``, ``--junit FILE``, ``--markdown FILE``, ``--prometheus FILE``, ``--html FILE``: write that report;
  ``-`` is stdout.
- ``-o/--output FORMAT``: write that one report to stdout (the same as ``--FORMAT -``), like
  ``kubectl -o json``: stdout then carries the report and nothing else, so ``| jq`` works; the
  console view moves to stderr.
- ``-q/--quiet``: no console view and no progress (errors still go to stderr; the exit code and the
  reports say the rest). ``-v/--verbose``: every check in the console, passes and skips included.

:func:`outputs` checks the combination (exit 2 on a contradiction) and returns an :class:`Output`
that the command's code reads: which report goes where, and where the console view goes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from policies.errors import ConfigError

STDOUT = "-"
REPORT_KINDS: tuple[str, ...] = ("json", "junit", "markdown", "prometheus", "html")
TARGET = "FILE|-"


PANEL = "Reports and output"  # --help groups these apart from what to check and how


def _report_option(kind: str, what: str) -> typer.models.OptionInfo:
    return typer.Option(f"--{kind}", metavar=TARGET, rich_help_panel=PANEL, help=f"Write {what} to FILE (- for stdout).")


JsonOpt = Annotated[str | None, _report_option("json", "the JSON report (the contract CI scripts parse)")]
JunitOpt = Annotated[str | None, _report_option("junit", "a JUnit XML report (a testcase per node and check)")]
MarkdownOpt = Annotated[str | None, _report_option("markdown", "a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")]
PrometheusOpt = Annotated[str | None, _report_option("prometheus", "a Prometheus textfile-collector file")]
HtmlOpt = Annotated[str | None, _report_option("html", "a self-contained HTML report (heatmap, pair matrix, what to do first)")]
ReportFormat = Literal["json", "junit", "markdown", "prometheus", "html"]
OutputOpt = Annotated[ReportFormat | None, typer.Option(
    "--output", "-o", metavar="FORMAT", rich_help_panel=PANEL,
    help="Write one report to stdout (json, junit, markdown, prometheus, html) and nothing else there: "
         "the console view goes to stderr. Same as --FORMAT -.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", rich_help_panel=PANEL, help="No console view and no progress; errors only.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", rich_help_panel=PANEL,
                                          help="List every check in the console, passes and skips too.")]


@dataclass(frozen=True)
class Output:
    """Where a command's reports and console view go: ``files`` (kind -> path) and at most one
    report on ``stdout`` (its kind)."""

    files: Mapping[str, Path] = field(default_factory=dict)
    stdout: str | None = None
    quiet: bool = False
    verbose: bool = False

    def console(self) -> Console:
        """The console view's destination: stdout, or stderr when a report has stdout; silent when quiet."""
        return Console(stderr=self.stdout is not None, quiet=self.quiet)


def is_stdout(target: str | Path | None) -> bool:
    return target is not None and str(target) == STDOUT


def outputs(kinds: Sequence[str] = REPORT_KINDS, *, output: str | None = None, quiet: bool = False, verbose: bool = False,
            **targets: str | None) -> Output:
    """The command's :class:`Output` from its flags. ConfigError (exit 2) for ``--quiet --verbose``,
    a format the command does not write, or two reports sent to stdout (one stream, one document)."""
    unknown = sorted(set(targets) - set(kinds))
    if unknown:  # a programming error, not a user's: every command passes only the kinds it offers
        raise ValueError(f"report kinds {unknown} not offered by this command")
    if quiet and verbose:
        raise ConfigError("--quiet and --verbose: choose one")
    if output is not None and output not in kinds:
        raise ConfigError(f"-o {output}: this command writes {', '.join(kinds)}")
    for kind, t in targets.items():
        if t is not None and "\x00" in t:  # no file system accepts it; os calls would raise ValueError
            raise ConfigError(f"--{kind} {t!r}: a path cannot contain a NUL byte")
    to_stdout = [f"--{kind} -" for kind, t in targets.items() if is_stdout(t)] + ([f"-o {output}"] if output else [])
    if len(to_stdout) > 1:
        raise ConfigError(f"{' and '.join(to_stdout)}: stdout holds one report; write the others to files")
    stdout = output or next((kind for kind, t in targets.items() if is_stdout(t)), None)
    files = {kind: Path(t).expanduser() for kind, t in targets.items() if t is not None and not is_stdout(t)}
    return Output(files=files, stdout=stdout, quiet=quiet, verbose=verbose)


__all__ = [
    "PANEL",
    "REPORT_KINDS",
    "STDOUT",
    "HtmlOpt",
    "JsonOpt",
    "JunitOpt",
    "MarkdownOpt",
    "Output",
    "OutputOpt",
    "PrometheusOpt",
    "QuietOpt",
    "ReportFormat",
    "VerboseOpt",
    "is_stdout",
    "outputs",
]
