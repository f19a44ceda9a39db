"""One bounded run of a fabric tool on a node, and the fact entry it leaves (I/O kept tiny).

Every fabric test leaves one entry (facts["fabric"][<test>] on a node, or the controller's for a
fleet test)::

    {"status": "ok" | "skipped" | "error",
     "reason": str | None,      # why skipped / why it could not run (tool absent, hung, garbage)
     "seconds": float | None,   # wall time of the run
     "command": [str] | None,   # what ran (argv as sent)
     "result": {...} | None}    # the parser's result (validators/fabric: nccl, dcgm, rdma)

A tool that is absent is ``skipped``; a tool that hangs past its bound, or whose output its parser
cannot read, is ``error`` with the reason. Never ``ok`` without a parsed result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from validators.fabric import toolout
from validators.fabric.toolout import KILL_AFTER_S
from validators.transport.base import CommandResult, Transport, TransportError

MARGIN_S = 10.0  # the transport's own bound past the tool's


def entry(status: str, reason: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"status": status, "reason": reason, "seconds": kw.pop("seconds", None), "command": kw.pop("command", None),
            "result": kw.pop("result", None), **kw}


def skipped(reason: str) -> dict[str, Any]:
    return entry("skipped", reason)


def bounded(argv: Sequence[str], timeout_s: float) -> list[str]:
    """``argv`` under coreutils ``timeout`` (toolout.bounded) unless it already is: the tool stops
    on the node even when the controller is gone."""
    if argv and argv[0] == "timeout":
        return list(argv)
    return toolout.bounded(argv, timeout_s)


def last_json(data: bytes, key: str) -> dict[str, Any] | None:
    """The last line of ``data`` that is a JSON object with ``key`` (a node tool's answer); None when
    there is none. Other lines -- a banner, a warning, garbage -- are data, never an error."""
    for line in reversed(data.decode("utf-8", "replace").splitlines()):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and key in doc:
            return doc
    return None


def output_text(res: CommandResult) -> str:
    return (res.stdout + b"\n" + res.stderr).decode("utf-8", "replace")


def run_tool(transport: Transport, argv: Sequence[str], timeout_s: float, what: str,
             parse: Callable[[str, int | None], dict[str, Any]]) -> dict[str, Any]:
    """Run ``argv`` bounded by ``timeout_s`` and parse its output into an entry.

    ``parse(text, exit_code)`` returns the tool parser's dict with ``ok`` and ``error``."""
    argv = bounded(argv, timeout_s)
    t0 = time.monotonic()
    try:
        res = transport.run(argv, timeout=timeout_s + KILL_AFTER_S + MARGIN_S)
    except TransportError as exc:
        return entry("error", f"{what}: could not run: {exc}", command=argv)
    seconds = round(time.monotonic() - t0, 3)
    parsed = parse(output_text(res), res.exit_code)
    # 124: coreutils timeout stopped it (137 after the KILL); None: the transport killed it
    if res.timed_out or res.exit_code in (124, 137):
        # a run hangs for a reason it usually printed first (an NCCL WARN from the net plugin, a
        # launcher line): the parser finds it and the reason names it. No result is kept: a run
        # stopped at its bound is never judged on what it measured before (the judges read "result")
        why = parsed.get("error") if isinstance(parsed, dict) else None
        cause = f": {why}" if isinstance(why, str) and why and "time bound" not in why else ""
        return entry("error", f"{what} did not finish within its {timeout_s:.0f} s bound (stopped){cause}",
                     seconds=seconds, command=argv, exit=res.exit_code)
    return parsed_entry(what, parsed, seconds=seconds, command=argv, exit=res.exit_code)


def parsed_entry(what: str, parsed: dict[str, Any] | None, **kw: Any) -> dict[str, Any]:
    """``ok`` with the parsed result when the parser read a result, else ``error`` with its reason.
    The result is kept either way: the judges' tools explain a failed run from it."""
    if not isinstance(parsed, dict):
        return entry("error", f"{what}: the parser returned nothing", **kw)
    if parsed.get("ok"):
        return entry("ok", None, result=parsed, **kw)
    return entry("error", f"{what}: {parsed.get('error') or 'output not understood'}", result=parsed, **kw)


__all__ = ["bounded", "entry", "last_json", "output_text", "parsed_entry", "run_tool", "skipped"]
