"""Headless Chromium (Debian's ``chromium``) for tests that must see a report as a browser does:
a screenshot to look at, and the DOM after parsing to check that escaping held.

Run as root, so ``--no-sandbox``; every background service that would phone home is off, and each
run gets a fresh ``--user-data-dir`` that is removed afterwards."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

BINARY = "chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--hide-scrollbars", "--force-device-scale-factor=1",
)


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    profile = tempfile.mkdtemp(prefix="plinth-chromium-")
    try:
        return subprocess.run([BINARY, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page: Path, out: Path, width: int = 1200, height: int = 1400, timeout: float = 60) -> bytes:
    """PNG bytes of ``page`` rendered in a ``width`` x ``height`` window."""
    proc = _run([f"--screenshot={out}", f"--window-size={width},{height}", page.resolve().as_uri()], timeout)
    if not out.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-800:]}")
    return out.read_bytes()


def dump_dom(page: Path, timeout: float = 60) -> str:
    """The DOM as Chromium serialises it after parsing ``page`` (``--dump-dom``)."""
    proc = _run(["--dump-dom", page.resolve().as_uri()], timeout)
    if proc.returncode != 0 or "<html" not in proc.stdout:
        raise RuntimeError(f"chromium --dump-dom failed (exit {proc.returncode}): {proc.stderr[-800:]}")
    return proc.stdout
