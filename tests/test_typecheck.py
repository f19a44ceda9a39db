"""pyright over every package against the real SDK types: it catches wrong argument names and
types that the Pulumi mocks would happily accept."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_pyright_reports_no_errors() -> None:
    pyright = Path(sys.executable).parent / "pyright"
    if not pyright.exists() and shutil.which("pyright") is None:
        pytest.skip("pyright is not installed (pip install -e '.[dev]')")
    proc = subprocess.run(
        [str(pyright) if pyright.exists() else "pyright", "--outputjson"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    report = json.loads(proc.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    shown = "\n".join(f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}" for d in errors[:20])
    assert report["summary"]["filesAnalyzed"] > 20, "pyright analysed suspiciously few files"
    assert not errors, f"{len(errors)} pyright errors:\n{shown}"
