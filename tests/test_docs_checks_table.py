"""docs/validators.md, "plinth beside the tools operators trust": the comparison table cannot rot.

The plinth column must name exactly the registered checks (a check added without a row, or a row
naming a check that was renamed, fails here); each tool's column must name exactly the checks its
Sources line lists (so a tool check is neither dropped from the table nor invented in it); and the
coverage figures printed under the table must be the ones the table itself gives.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from validators.checks.base import load_all

DOC = Path(__file__).resolve().parents[1] / "docs" / "validators.md"
HEADING = "## plinth beside the tools operators trust"
TOOLS = ("AzHC", "DCGM", "GCM", "ADT", "HyperPod", "NHC")
CHECK_ID = re.compile(r"`((?:gpu|network|storage|system)\.[a-z_]+)`")
FOOTNOTE_MARKS = str.maketrans("", "", "⁰¹²³⁴⁵⁶⁷⁸⁹")
SOURCE_LINE = re.compile(r"^- \*\*(\w+)\*\* — .*? (\d+) checks: (.+)$")


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(HEADING)
    end = text.find("\n## ", start + len(HEADING))
    return text[start:] if end < 0 else text[start:end]


def _tables(section: str) -> list[list[list[str]]]:
    """Every Markdown table of the section as rows of cells, header and separator dropped."""
    tables: list[list[list[str]]] = []
    block: list[str] = []
    for line in section.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            tables.append([[c.strip() for c in row.strip("|").split(" | ")] for row in block[2:]])
            block = []
    return tables


def _names(cell: str) -> list[str]:
    """A cell's check names: footnote marks dropped, "—" is none; "health: MEM, PCIE" is
    "health: MEM" and "health: PCIE" (a prefix holds until the next one)."""
    cell = cell.translate(FOOTNOTE_MARKS).strip()
    if cell == "—":
        return []
    names, prefix = [], ""
    for token in cell.split(", "):
        if ": " in token:
            prefix = token.split(": ", 1)[0] + ": "
            names.append(token)
        else:
            names.append(prefix + token)
    return names


def _matrix() -> list[list[str]]:
    rows = _tables(_section())[0]
    assert all(len(row) == 2 + len(TOOLS) for row in rows), [row[0] for row in rows if len(row) != 2 + len(TOOLS)]
    return rows


def _listed() -> dict[str, list[str]]:
    listed = {}
    for line in _section().splitlines():
        match = SOURCE_LINE.match(line)
        if match:
            tool, count, names = match.group(1), int(match.group(2)), _names(match.group(3))
            assert count == len(names) == len(set(names)), f"{tool}: says {count} checks, lists {len(names)}"
            listed[tool] = names
    assert set(listed) == set(TOOLS)
    return listed


def _expand(token: str, names: list[str]) -> list[str]:
    return fnmatch.filter(names, token) if "*" in token else [token]


def _registered() -> set[str]:
    # checks defined by plinth's own modules; a test may register a throwaway check for a moment
    return {cid for cid, reg in load_all().items() if reg.fn.__module__.startswith("validators.checks.")}


def test_the_plinth_column_names_every_registered_check_and_nothing_else() -> None:
    in_column = {cid for row in _matrix() for cid in CHECK_ID.findall(row[1])}
    registered = _registered()
    assert sorted(registered - in_column) == [], "registered checks missing from the table"
    assert sorted(in_column - registered) == [], "the table names checks plinth does not have"
    named_anywhere = set(CHECK_ID.findall(_section()))
    assert sorted(named_anywhere - registered) == [], "the section's text names checks plinth does not have"


def test_a_via_cell_only_runs_dcgm() -> None:
    for row in _matrix():
        if row[1].startswith("via"):
            assert CHECK_ID.findall(row[1]) == ["gpu.dcgm_diag"], row[0]


@pytest.mark.parametrize("column", range(len(TOOLS)), ids=TOOLS)
def test_a_tool_column_names_exactly_the_checks_its_source_lists(column: int) -> None:
    tool, listed = TOOLS[column], _listed()[TOOLS[column]]
    seen: set[str] = set()
    for row in _matrix():
        for token in _names(row[2 + column]):
            expanded = _expand(token, listed)
            assert expanded and set(expanded) <= set(listed), f"{tool}: {token!r} ({row[0]}) is not in its Sources line"
            seen.update(expanded)
    assert sorted(set(listed) - seen) == [], f"{tool}: listed checks in no row"


def _coverage(tool: str, listed: list[str]) -> tuple[int, int]:
    """(covered, covered only by running DCGM): a check is covered when every row it is in has
    a plinth check; only by DCGM when gpu.dcgm_diag is the only plinth check of those rows."""
    rows = _matrix()
    column = 2 + TOOLS.index(tool)
    covered = by_dcgm = 0
    for name in listed:
        ids = [set(CHECK_ID.findall(row[1])) for row in rows
               if any(name in _expand(t, listed) for t in _names(row[column]))]
        if ids and all(ids):
            covered += 1
            by_dcgm += all(i == {"gpu.dcgm_diag"} for i in ids)
    return covered, by_dcgm


def test_the_coverage_figures_are_the_tables_own() -> None:
    listed = _listed()
    stated = {row[0].strip("*"): tuple(int(c) for c in row[1:]) for row in _tables(_section())[1]}
    computed = {tool: (len(listed[tool]), *_coverage(tool, listed[tool])) for tool in TOOLS}
    assert stated == computed
