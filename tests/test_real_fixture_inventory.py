"""Every real recorded output in ../shared/fixtures/real is judged by a test or out of scope for a
stated reason — in one place per folder, and no folder without an owner.

The GPU folders (checks/test_gpu_fixture_coverage.py) and the kernel-log / RDMA folders
(checks/test_real_capture_verdicts.py) keep their own tables of verdicts and reasons; the rest are
named by the test that judges them. A folder added to the fixtures must be given an owner here, and a
capture added to a folder without a table must be named by some test: a real capture nobody reads
is a verdict plinth never had to give.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.checks import test_gpu_fixture_coverage as gpu_table
from tests.checks import test_real_capture_verdicts as kernel_table

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS.parent / ".." / "shared" / "fixtures" / "real"

# folder -> where its verdicts live
OWNERS: dict[str, str] = {
    **dict.fromkeys(gpu_table.FOLDERS, "tests/checks/test_gpu_fixture_coverage.py (a table of verdicts and reasons)"),
    **dict.fromkeys(kernel_table.DIRS, "tests/checks/test_real_capture_verdicts.py (a table of verdicts and reasons)"),
    "nccl-tests": "tests/fabric/test_nccl_*.py (parser and judge, one test per capture)",
    "dcgmi": "tests/fabric/test_dcgm.py (parser and judge, one test per capture)",
    "iperf3": "tests/network/test_iperf3.py (parser, incl. the text-not-JSON negative case)",
    "fio": "tests/probe/test_parsers.py (fio JSON parser, incl. the interrupted run)",
}
TABLED = set(gpu_table.FOLDERS) | set(kernel_table.DIRS)


def _test_sources() -> str:
    return "\n".join(p.read_text(errors="replace") for p in TESTS.rglob("*.py") if p.name != Path(__file__).name)


@pytest.fixture(scope="module")
def real() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip("real fixtures not present (../shared/fixtures/real is beside the project in dev and CI)")
    return FIXTURES


def test_every_folder_has_an_owner(real: Path) -> None:
    folders = {p.name for p in real.iterdir() if p.is_dir()}
    assert folders - set(OWNERS) == set(), "a fixture folder nobody judges: give it an owner in OWNERS"
    assert set(OWNERS) - folders == set(), "an owner for a folder that is gone"


def test_every_capture_outside_the_tables_is_named_by_a_test(real: Path) -> None:
    sources = _test_sources()
    unread = sorted(f"{d.name}/{p.name}" for d in real.iterdir() if d.is_dir() and d.name not in TABLED
                    for p in d.iterdir() if p.is_file() and p.name not in sources)
    assert unread == [], f"real captures no test reads: {unread}"
