"""Session fixtures for the report tests that need a real tool: Chromium (the HTML report) and
Prometheus (the textfile, the rules, the dashboard's queries). Installed from Debian when missing;
skipped with the reason only where that is impossible (not root, no apt)."""

from __future__ import annotations

import pytest

from tests.support.apt import ensure_packages


@pytest.fixture(scope="session")
def chromium_browser() -> str:
    why = ensure_packages({"chromium": "chromium"})
    if why:
        pytest.skip(f"headless Chromium unavailable: {why}")
    return "chromium"


@pytest.fixture(scope="session")
def prometheus_tools() -> None:
    """promtool and prometheus (Debian: prometheus) and node_exporter (prometheus-node-exporter)."""
    why = ensure_packages({"promtool": "prometheus", "prometheus": "prometheus",
                           "prometheus-node-exporter": "prometheus-node-exporter"})
    if why:
        pytest.skip(f"Prometheus tools unavailable: {why}")
