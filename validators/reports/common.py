"""What every reporter shares: verdict words, status glyphs, how a value and a bound are shown, and
:func:`clean`, which every renderer applies to text that came from a node or a file."""

from __future__ import annotations

import functools
import re

from validators.results import CheckResult, Status
from validators.score import band, score_node

EMOJI: dict[Status, str] = {"pass": "✅", "warn": "⚠️", "fail": "❌", "error": "🛑", "skip": "⏭️"}
COLOUR: dict[Status, str] = {"pass": "green", "warn": "yellow", "fail": "red", "error": "bold magenta", "skip": "dim"}


# Terminal escape sequences (ECMA-48): CSI ``ESC [ … final`` (colours, cursor moves, screen clears),
# OSC ``ESC ] … BEL|ST`` (window titles, hyperlinks, clipboard writes), DCS/SOS/PM/APC strings, the
# two-byte ``ESC x`` forms, and the 8-bit C1 forms of CSI and OSC. Removed whole, so no parameter
# bytes are left behind to read as text.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
# Left after the sequences: C0 and C1 controls and DEL (a BEL, a backspace that hides what came
# before it), the bidirectional overrides and isolates that make a terminal or a browser show text
# in another order than it is ("Trojan Source", CVE-2021-42574), a BOM, the noncharacters
# U+FFFE/U+FFFF (outside XML 1.0's Char range), and lone surrogates (json decodes "\\ud800" into
# one; no UTF-8 writer accepts it). Each becomes U+FFFD: visible evidence that the node sent
# something odd, harmless everywhere.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff\ud800-\udfff]")
_LINE_BREAKS = re.compile("\r\n|[\r\n\u2028\u2029\x85]")
REPLACEMENT = "\ufffd"


def clean(text: object, limit: int = 300, *, multiline: bool = False) -> str:
    """Untrusted text (anything a node sent, a name from an inventory) made safe to show in a
    report: escape sequences removed, other control and direction characters replaced by U+FFFD,
    tabs made spaces, line breaks made spaces (or kept as ``\\n`` when ``multiline``), and at most
    ``limit`` characters (the last one an ellipsis when cut).

    Renderers call this, judges never do: the JSON report keeps the raw values. It makes text
    *inert*, not *escaped*: each renderer still applies its own format's escaping afterwards
    (rich ``Text``/``escape()``, XML, HTML entities in Markdown, Prometheus label quoting)."""
    s = "" if text is None else text if isinstance(text, str) else str(text)
    if len(s) <= limit and s.isprintable():
        # nothing to remove, replace or cut: every character the steps below touch is a control, a
        # format character, a separator or a noncharacter, none of which Python calls printable
        # (tests/reports pin this for every code point). Most text, one scan in C.
        return s
    cut = len(s) > 4 * limit + 64
    if cut:  # a 10 MB message costs no more than a short one
        s = s[: 4 * limit + 64]
    return (_remembered if len(s) <= _MEMO_TEXT else _cleaned)(s, limit, multiline, cut)


def _cleaned(s: str, limit: int, multiline: bool, cut: bool) -> str:
    s = _ESCAPE_SEQUENCE.sub("", s)
    s = _LINE_BREAKS.sub("\n" if multiline else " ", s).replace("\t", " ")
    s = _UNSAFE.sub(REPLACEMENT, s)
    if cut or len(s) > limit:
        s = s[: max(0, limit - 1)] + "…"
    return s


# a report repeats the same messages on thousands of nodes; only short text is remembered, so the
# memo never holds more than a few MB whatever the nodes send
_MEMO_TEXT = 1024
_remembered = functools.lru_cache(maxsize=4096)(_cleaned)


def verdict(score: float) -> str:
    """The seed's words for the 0-100 readiness score (bands owned by validators/score.py)."""
    return band(score)


def gaps(checks: list[CheckResult]) -> list[str]:
    """The seed's named gaps (NO_GPU_DETECTED, INADEQUATE_NETWORK, ...) of one node's results."""
    return list(score_node(checks).gaps)


def _num(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def measured_text(c: CheckResult) -> str:
    if c.measured is None:
        return "—"
    return f"{_num(c.measured)} {c.unit}" if c.unit and not isinstance(c.measured, (bool, str)) else _num(c.measured)


def threshold_text(c: CheckResult) -> str:
    if c.threshold is None:
        return "—"
    return f"{_num(c.threshold)} {c.unit}" if c.unit and not isinstance(c.threshold, (bool, str)) else _num(c.threshold)
