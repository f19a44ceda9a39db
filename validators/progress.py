"""Progress while nodes are probed, on stderr (stdout stays the report's when ``-o`` sends one there).

- stderr a terminal (and ``$CI`` unset): rich's transient bar -- it disappears when the run ends.
- otherwise (a CI log, a pipe, a file): plain lines, one per finished node::

      [2/3 1.4s] gpu-1: probed (0.9s)
      [3/3 10.2s] gpu-2: unreachable (10.0s): 10.0.1.12:22: timed out after 10s connecting

  Above :data:`LINE_PER_NODE_UP_TO` nodes, at most one line per :data:`INTERVAL_S` seconds, each
  summing up the nodes finished since the last (``[120/256 31.0s] +14 nodes: 13 probed, 1
  unreachable (gpu-117)``): a log of a 10,000-node run stays a few hundred lines.
- ``enabled=False`` (``--quiet``, tests): nothing.

Node text (a probe's last stderr line is in the reason) goes through ``clean``: it is data.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import Any, TextIO

from validators.reports.common import clean

LINE_PER_NODE_UP_TO = 16
INTERVAL_S = 2.0
NAMED = 3  # nodes named per summary line, problem nodes first


class Progress:
    """No progress at all; the interface the runner calls."""

    def __enter__(self) -> Progress:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def node_done(self, name: str, outcome: str, detail: str | None, seconds: float | None) -> None:
        """``outcome``: probed, unreachable, or not probed (``detail`` says why)."""

    def describe(self, description: str) -> None:
        """A phase after the probes (the pairwise network rounds)."""


class Bar(Progress):
    """rich progress bar on stderr, transient."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        self._p = RichProgress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                               TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self._task = self._p.add_task("probing nodes", total=total)

    def __enter__(self) -> Bar:  # noqa: PYI034
        self._p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._p.stop()

    def node_done(self, name: str, outcome: str, detail: str | None, seconds: float | None) -> None:
        self._p.update(self._task, advance=1, description=f"{clean(name, 80)}: {outcome}")

    def describe(self, description: str) -> None:
        self._p.update(self._task, description=description)


class Lines(Progress):
    """One plain line per finished node; above LINE_PER_NODE_UP_TO nodes, batched per INTERVAL_S."""

    def __init__(self, total: int, stream: TextIO | None = None, clock: Any = time.monotonic) -> None:
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._clock = clock
        self._t0 = clock()
        self._last = self._t0
        self._batch: list[tuple[str, str]] = []  # (name, outcome) since the last line
        self.every_node = total <= LINE_PER_NODE_UP_TO

    def _write(self, text: str) -> None:
        try:
            self._stream.write(f"[{self.done}/{self.total} {self._clock() - self._t0:.1f}s] {text}\n")
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must not stop the run
            pass

    def node_done(self, name: str, outcome: str, detail: str | None, seconds: float | None) -> None:
        self.done += 1
        if self.every_node:
            took = f" ({seconds:.1f}s)" if seconds is not None else ""
            self._write(f"{clean(name, 80)}: {outcome}{took}" + (f": {clean(detail, 200)}" if detail else ""))
            return
        self._batch.append((clean(name, 80), outcome))
        if self._clock() - self._last >= INTERVAL_S or self.done == self.total:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        count = Counter(outcome for _, outcome in self._batch)
        problems = [name for name, outcome in self._batch if outcome != "probed"]
        named = problems[:NAMED]
        text = f"+{len(self._batch)} nodes: " + ", ".join(f"{k} {o}" for o, k in count.most_common())
        if named:
            text += " (" + ", ".join(named) + (f" +{len(problems) - NAMED} more" if len(problems) > NAMED else "") + ")"
        self._batch = []
        self._last = self._clock()
        self._write(text)

    def describe(self, description: str) -> None:
        self.flush()
        self._write(description)

    def __exit__(self, *exc: object) -> None:
        self.flush()


def progress_for(enabled: bool | None, total: int) -> Progress:
    """``enabled`` None: on (a bar on a terminal outside CI, else lines); False: off."""
    if enabled is False:
        return Progress()
    if sys.stderr.isatty() and not os.environ.get("CI"):
        return Bar(total)
    return Lines(total)


__all__ = ["INTERVAL_S", "LINE_PER_NODE_UP_TO", "Bar", "Lines", "Progress", "progress_for"]
