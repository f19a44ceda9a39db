"""clean(): text from a node made inert before any renderer shows it (escape sequences, control and
direction characters, surrogates, endless strings)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validators.reports.common import REPLACEMENT, clean


@pytest.mark.parametrize(("raw", "want"), [
    ("NVIDIA \x1b[2J\x1b[HH100", "NVIDIA H100"),  # clear screen + cursor home: gone, not shown
    ("\x1b]0;pwned\x07H100", "H100"),  # window title (OSC, BEL-terminated)
    ("\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\", "click"),  # OSC 8 hyperlink, ST-terminated
    ("\x1bPq#0;2;0;0;0\x1b\\x", "x"),  # DCS (sixel) string
    ("\x9b31mred", "red"),  # 8-bit CSI
    ("a\x1bcb", "ab"),  # ESC c: full terminal reset
    ("ok\x08\x08no", f"ok{REPLACEMENT}{REPLACEMENT}no"),  # backspaces that would hide "ok" stay visible
    ("line1\nline2\r\nline3\u2028x", "line1 line2 line3 x"),
    ("a\tb", "a b"),
    ("admin\u202egnp.exe", f"admin{REPLACEMENT}gnp.exe"),  # right-to-left override (Trojan Source)
    ("\ud800lone", f"{REPLACEMENT}lone"),  # a lone surrogate, as json.loads('"\\ud800"') gives
    ("\x00\x07\x7f", REPLACEMENT * 3),
    ("[bold red]x[/] </details> <script>", "[bold red]x[/] </details> <script>"),  # markup is each renderer's job
    (None, ""),
    (3.5, "3.5"),
])
def test_clean_makes_node_text_inert(raw: object, want: str) -> None:
    assert clean(raw) == want


def test_multiline_keeps_line_breaks_as_newlines_only() -> None:
    assert clean("a\r\nb\rc\u2029d\x0be", multiline=True) == f"a\nb\nc\nd{REPLACEMENT}e"


def test_limit_cuts_with_an_ellipsis_and_a_huge_string_costs_no_more_than_a_short_one() -> None:
    assert clean("x" * 10, limit=5) == "xxxx…"
    assert clean("x" * 5, limit=5) == "xxxxx"
    huge = "\x1b[31m" * 2_000_000 + "tail"  # 10 MB of escape sequences
    out = clean(huge, limit=40)
    assert out.endswith("…") and len(out) <= 40  # cut before the sequences were even parsed
    assert clean("y" * 50_000_000, limit=10) == "y" * 9 + "…"


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(text=st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FFFF, exclude_categories=()), max_size=200),
       limit=st.integers(min_value=1, max_value=80), multiline=st.booleans())
def test_clean_output_never_carries_a_control_character_and_fits_the_limit(text: str, limit: int, multiline: bool) -> None:
    out = clean(text, limit, multiline=multiline)
    assert len(out) <= limit
    allowed = {"\n"} if multiline else set()
    for ch in out:
        code = ord(ch)
        assert not (code < 0x20 or 0x7F <= code <= 0x9F) or ch in allowed, repr(out)
        assert not 0xD800 <= code <= 0xDFFF and ch not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    out.encode("utf-8")  # always writable


def test_every_character_clean_would_change_is_one_python_calls_unprintable() -> None:
    """clean() returns printable text within its limit as it is, without its regular expressions:
    sound only while no printable character is one its steps remove or replace (every code point)."""
    from validators.reports.common import _ESCAPE_SEQUENCE, _LINE_BREAKS, _UNSAFE

    printable = "".join(ch for ch in map(chr, range(0x110000)) if ch.isprintable())
    assert _UNSAFE.search(printable) is None
    assert _LINE_BREAKS.search(printable) is None
    assert _ESCAPE_SEQUENCE.search(printable) is None  # every sequence starts with ESC, CSI or OSC
    assert "\t" not in printable


def test_repeated_text_cleans_the_same_every_time() -> None:
    hostile = "GPU\x1b[31m 0\tfailed\u202e"
    assert [clean(hostile, 20) for _ in range(3)] == ["GPU 0 failed" + REPLACEMENT] * 3
    assert clean(hostile, 8) == "GPU 0 f…"  # the same text at another limit is not the first answer
    assert clean("a\nb", multiline=True) == "a\nb" and clean("a\nb") == "a b"
