"""plinth's exit codes: one table, read by the commands, their --help and the docs.

A CI script that treats any non-zero exit as failure keeps working: every code but 0 means "not
proven ready". A script that wants to react differently can tell them apart:

- 1 is a verdict: something that was checked failed (or could not run on a node that answered).
- 3 is "not checked": every node plinth reached passed, but some could not be reached (connection
  refused, timed out, authentication, host key; with ``validate --facts``, no usable facts from the
  node's agent). Retrying later, or fixing access, is the remedy; draining a node is not. Ansible keeps the same distinction (``RUN_UNREACHABLE_HOSTS`` = 4 apart
  from ``RUN_FAILED_HOSTS`` = 2); plinth gives a verdict precedence: a run where one node failed and
  another was unreachable exits 1, because the fleet is known not to be ready.
- 2 is bad input, before any node is contacted; 128 + N is a run cut short by signal N (the shells'
  convention: 130 Ctrl-C, 143 SIGTERM), its reports partial.

3 collides with nothing plinth's users see: typer/click use 2 for usage errors, Python exits 1 on
an uncaught exception, shells 126/127 for "cannot execute"/"not found".
"""

from __future__ import annotations

OK = 0
FAILED = 1
BAD_INPUT = 2
UNREACHABLE = 3
SIGNAL_BASE = 128

# (code, meaning) for --help and the docs; the validate/audit view of them
TABLE: tuple[tuple[str, str], ...] = (
    ("0", "nothing failed (warnings allowed)"),
    ("1", "a check failed or could not run on a node that answered (or a report could not be written)"),
    ("2", "bad input: usage, an unreadable or invalid inventory, profile or report path; nothing contacted"),
    ("3", "some nodes could not be checked (unreachable; with --facts, no facts from their agent) and every node checked passed"),
    ("130/143", "interrupted (Ctrl-C / SIGTERM): the reports written are partial"),
)

PREVIEW_TABLE: tuple[tuple[str, str], ...] = (
    ("0", "no mandatory policy violated (advisory ones allowed)"),
    ("1", "a mandatory policy was violated"),
    ("2", "bad input: usage, an unreadable or invalid stack file or policy config"),
)

STRATEGY_TABLE: tuple[tuple[str, str], ...] = (
    ("0", "a strategy was chosen (and its stack file written with --write-stack)"),
    ("2", "bad input: an unknown value, or a stack file that exists (without --force)"),
)


def help_text(table: tuple[tuple[str, str], ...] = TABLE) -> str:
    """The exit-code table as --help paragraphs (typer joins lines of one paragraph)."""
    return "Exit codes:\n\n" + "\n\n".join(f"{code}  {meaning}" for code, meaning in table)


__all__ = ["BAD_INPUT", "FAILED", "OK", "PREVIEW_TABLE", "SIGNAL_BASE", "STRATEGY_TABLE", "TABLE", "UNREACHABLE", "help_text"]
