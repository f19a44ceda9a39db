"""pyright over every package against the real SDK types: it catches wrong argument names and
types that the Pulumi mocks would happily accept. pyright itself starts in the background when the
session's collection finishes (tests/support/typecheck.py); this test reads its verdict."""

from __future__ import annotations

import json

import pytest

from tests.support.typecheck import pyright_run


def test_pyright_reports_no_errors() -> None:
    run = pyright_run()
    if run is None:
        pytest.skip("pyright is not installed (pip install -e '.[dev]')")
    report = json.loads(run.result())
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    shown = "\n".join(f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}" for d in errors[:20])
    assert report["summary"]["filesAnalyzed"] > 20, "pyright analysed suspiciously few files"
    assert not errors, f"{len(errors)} pyright errors:\n{shown}"
