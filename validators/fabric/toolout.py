"""What the fabric tools' outputs have in common: bounded decoding, launcher prefixes, numbers.

Everything here is pure. A node's output is data: it is decoded with replacement, cut to a bound
(the tail is kept, because every tool prints its verdict last), and never evaluated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

# nccl-tests with NCCL_DEBUG=INFO on 16 ranks prints a few thousand lines; a runaway tool must not
# cost the controller its memory. The summary and the table are at the end: keep the tail.
MAX_CHARS = 4 * 1024 * 1024
KILL_AFTER_S = 5  # coreutils timeout's grace between SIGTERM and SIGKILL

# srun -l prefixes "0: ", mpirun --tag-output "[1,0]<stdout>:" (awsome-distributed-training's
# nccl-tests README shows both); neither belongs to the tool's own text.
_LAUNCHER_PREFIX = re.compile(r"^\s*(?:\[\d+,\d+\]<std(?:out|err)>:|\d{1,6}: )")
_SAFE_WORD = re.compile(r"^[A-Za-z0-9._:/@%+=-]+$")


def bounded_text(data: str | bytes | None, limit: int = MAX_CHARS) -> tuple[str, bool]:
    """The output as text (bytes decoded with replacement), at most ``limit`` characters from its
    end; the flag says whether anything was cut."""
    if data is None:
        return "", False
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    if len(text) > limit:
        return text[-limit:], True
    return text, False


def clean_lines(text: str) -> list[str]:
    """Lines without CRs and without the per-rank prefixes srun and mpirun add."""
    out = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        out.append(_LAUNCHER_PREFIX.sub("", raw, count=1).rstrip())
    return out


def number(token: str) -> float | None:
    """A finite number as the tools print them (``33148.5``, ``1.04858e+06``); None otherwise."""
    try:
        value = float(token)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def integer(token: str) -> int | None:
    """An integer the tool may have printed as a float (``1.04858e+06`` → 1048580)."""
    value = number(token)
    return None if value is None else round(value)


def snippet(line: str, limit: int = 240) -> str:
    """One line of tool output fit for a report: control characters dropped, length bounded."""
    text = "".join(ch if ch.isprintable() else " " for ch in line).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return snippet(line)
    return "(empty output)"


def first_match(lines: Sequence[str], patterns: Sequence[re.Pattern[str]]) -> str | None:
    """What the first pattern to match any line matched, fit for a report: the patterns are in order
    of how telling they are, so the order of the patterns wins over the order of the lines."""
    for pattern in patterns:
        for line in lines:
            if m := pattern.search(line):
                return snippet(m.group(0))
    return None


def bounded(argv: Sequence[str], timeout_s: float | None) -> list[str]:
    """``argv`` under coreutils ``timeout`` (SIGTERM at the bound, SIGKILL 5 s later) when a bound is
    given: nccl-tests before 2.17, fi_pingpong and ib_write_bw have no overall time limit of their own,
    and a listener whose peer never came must not outlive the round on the node."""
    if timeout_s is None:
        return list(argv)
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    return ["timeout", "-k", str(KILL_AFTER_S), str(max(1, math.ceil(timeout_s))), *argv]


def check_word(value: str, what: str) -> str:
    """A value that goes into a command line as one argument and must not be read as an option
    (a host called ``-oProxyCommand=…`` handed to ssh by mpirun) or split by a tool that splits
    on blanks (Open MPI's ``plm_rsh_args``)."""
    if not isinstance(value, str) or not value or value.startswith("-") or not _SAFE_WORD.match(value):
        raise ValueError(f"{what}: {value!r} is not a plain word (letters, digits and ._:/@%+=- only, not starting with '-')")
    return value


def first_remedy(text: str, table: Sequence[tuple[str, str]]) -> str | None:
    """The remedy of the first ``(needle, remedy)`` whose needle appears in ``text`` (any case)."""
    lowered = text.casefold()
    return next((remedy for needle, remedy in table if needle.casefold() in lowered), None)


def check_positive(value: int, what: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value
