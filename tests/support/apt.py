"""Debian packages a test needs, installed when missing (CI runs as root with apt: there they must
install; elsewhere the caller skips with the reason returned)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping


def ensure_packages(binaries: Mapping[str, str], timeout_s: float = 600) -> str | None:
    """Make every ``binary -> Debian package`` available. None when they all are, else why not."""
    missing = sorted({pkg for binary, pkg in binaries.items() if shutil.which(binary) is None})
    if not missing:
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{', '.join(missing)} missing and cannot be installed here (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout_s, check=False)
        if proc.returncode != 0:
            return f"{' '.join(argv[:2])} failed for {', '.join(missing)}: {proc.stderr.strip()[-300:]}"
    still = sorted(binary for binary in binaries if shutil.which(binary) is None)
    return f"{', '.join(still)} still missing after apt-get install" if still else None
