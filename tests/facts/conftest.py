"""Fixtures for the facts-store tests: this machine's real facts (probed once) and a moto S3."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def local_facts() -> dict[str, Any]:
    """The real probe's facts for this machine, through the runner's own gatherer (no disk test)."""
    from validators.inventory import NodeSpec
    from validators.probe import ProbeOptions
    from validators.runner import RunOptions, probe_facts
    from validators.transport.local import LocalTransport

    python = "python3" if shutil.which("python3") else sys.executable
    spec = NodeSpec(name="local", host="localhost", transport="local", python=python)
    opts = RunOptions(probe_options=ProbeOptions(disk_test_mb=0, disk_skip_reason="disk test disabled (--disk-test-mb 0)"))
    return probe_facts(LocalTransport(), spec, 60.0, opts)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto: str) -> dict[str, str]:
    """boto3's normal chain pointed at throwaway values and the moto endpoint (nothing real is used)."""
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL_S3": moto, "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
