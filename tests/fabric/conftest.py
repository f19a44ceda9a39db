"""Fixtures of the fabric tests: the tool modules (real, or stand-ins until they are in the tree)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator

import pytest

import validators.fabric as fabric_pkg
from tests.fabric.standins import STANDINS


@pytest.fixture
def fabric_tools(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bool]]:
    """validators.fabric.{nccl,dcgm,rdma}: the real modules where they import, else stand-ins.
    Yields {name: True when the real module is used}."""
    real = {}
    for name, make in STANDINS.items():
        try:
            importlib.import_module(f"validators.fabric.{name}")
            real[name] = True
        except ImportError:
            mod = make()
            monkeypatch.setitem(sys.modules, f"validators.fabric.{name}", mod)
            monkeypatch.setattr(fabric_pkg, name, mod, raising=False)
            real[name] = False
    yield real
