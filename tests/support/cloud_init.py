"""What cloud-init prints to an instance's console for a set of SSH host keys, made by cloud-init's
own helper rather than by hand.

cloud-init's ``keys_to_console`` module runs ``/usr/lib/cloud-init/write-ssh-key-fingerprints`` and
copies its stdout to the console (cc_keys_to_console.py). Here that script comes from Debian's
``cloud-init`` package (``apt-get download`` + ``dpkg-deb -x``: nothing is installed, nothing runs
at boot) and runs in a private mount namespace where ``/etc/ssh`` holds the test's host keys and
``/dev/log`` is a datagram socket this module drains (the helper's ``logger -s`` needs a syslog
socket to print anything). The output is byte for byte what the helper writes on a real instance
with that logger; the keys are the test sshd's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

CACHE = Path(tempfile.gettempdir()) / "plinth-cloud-init-helper"
HELPER = "usr/lib/cloud-init/write-ssh-key-fingerprints"


class CloudInitUnavailable(RuntimeError):
    """The helper cannot be fetched or run here: tests skip with this reason."""


def helper_path() -> Path:
    """The helper script from Debian's cloud-init package (downloaded once, then cached)."""
    found = sorted(CACHE.glob(f"*/{HELPER}"))
    if found:
        return found[-1]
    if os.geteuid() != 0 or shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise CloudInitUnavailable("fetching cloud-init's helper needs root with apt-get and dpkg-deb")
    work = Path(tempfile.mkdtemp(prefix="plinth-cloud-init-"))
    try:
        proc = subprocess.run(["apt-get", "download", "-qq", "cloud-init"], cwd=work, capture_output=True, text=True,
                              timeout=300, check=False)
        debs = sorted(work.glob("cloud-init_*.deb"))
        if proc.returncode != 0 or not debs:
            raise CloudInitUnavailable(f"apt-get download cloud-init failed: {proc.stderr.strip()[-200:]}")
        target = CACHE / debs[0].stem
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(target)], check=True, capture_output=True, timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target / HELPER


def console_block(public_keys: list[Path]) -> str:
    """The helper's stdout for these host public keys (files named like ssh_host_<type>_key.pub)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        raise CloudInitUnavailable("running the helper against test keys needs root and unshare (a mount namespace)")
    helper = helper_path()
    work = Path(tempfile.mkdtemp(prefix="plinth-ci-keys-"))
    keys, log = work / "ssh", work / "log"
    keys.mkdir()
    for pub in public_keys:
        shutil.copy(pub, keys / pub.name)
    syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    syslog.bind(str(log))
    syslog.settimeout(0.2)
    done = threading.Event()

    def drain() -> None:  # a syslog daemon that keeps nothing
        while not done.is_set():
            try:
                syslog.recv(65536)
            except OSError:
                continue

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    # Only this namespace sees the mounts; the host's /etc/ssh and /dev are untouched.
    script = (f"mount --make-rprivate / && mount --bind {keys} /etc/ssh && mount -t tmpfs tmpfs /dev && "
              f"mknod -m 666 /dev/null c 1 3 && ln -s {log} /dev/log && exec {helper} '' 'ssh-dss'")
    try:
        proc = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=60,
                              check=False)
    finally:
        done.set()
        reader.join(2)
        syslog.close()
        shutil.rmtree(work, ignore_errors=True)
    if proc.returncode != 0 or "BEGIN SSH HOST KEY" not in proc.stdout:
        raise CloudInitUnavailable(f"the cloud-init helper did not run: {proc.stderr.strip()[-300:] or proc.stdout[-300:]}")
    return proc.stdout
