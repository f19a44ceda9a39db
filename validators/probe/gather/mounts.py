"""Mounted filesystems with their size and free space (pseudo filesystems skipped; a hung network
mount cannot hang the probe)."""

from __future__ import annotations

import os
import re
import threading
from typing import Any, Dict, List, Optional

from ._util import GIB, read_file

SECTION = "mounts"
DEFAULT: List[Dict[str, Any]] = []


PSEUDO_FS = {
    "proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "ramfs", "cgroup", "cgroup2", "securityfs", "pstore",
    "bpf", "debugfs", "tracefs", "configfs", "fusectl", "mqueue", "hugetlbfs", "autofs", "binfmt_misc",
    "rpc_pipefs", "nsfs", "efivarfs", "squashfs", "fuse.lxcfs", "selinuxfs", "devfs", "overlay_tmp",
}
NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "lustre", "ceph", "glusterfs", "fuse.")


def _unescape_mount(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def _statvfs(path: str, timeout: float) -> Optional[os.statvfs_result]:
    """statvfs in a daemon thread: a hung network mount must not hang the probe."""
    box: List[Any] = []

    def target() -> None:
        try:
            box.append(os.statvfs(path))
        except OSError as exc:
            box.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if not box or isinstance(box[0], OSError):
        return None
    return box[0]


def gather(opts: Dict[str, Any]) -> List[Dict[str, Any]]:
    out = []
    seen = set()
    for line in (read_file("/proc/mounts") or "").splitlines():
        f = line.split()
        if len(f) < 3 or f[2] in PSEUDO_FS:
            continue
        device, path, fs = f[0], _unescape_mount(f[1]), f[2]
        remote = fs.startswith(NETWORK_FS)
        st = _statvfs(path, 2.0) if remote else _statvfs(path, float(opts["step_timeout_s"]))
        if st is None or st.f_blocks == 0:
            continue
        key = (device, st.f_blocks)  # bind mounts of one filesystem appear once
        if key in seen:
            continue
        seen.add(key)
        out.append({
            "path": path, "fs": fs, "device": device, "remote": remote,
            "total_gib": round(st.f_blocks * st.f_frsize / GIB, 2),
            "free_gib": round(st.f_bavail * st.f_frsize / GIB, 2),
            "read_only": bool(st.f_flag & os.ST_RDONLY),
        })
        if len(out) >= 64:
            break
    return out
