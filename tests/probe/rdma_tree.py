"""A host tree (``<root>/sys/class/infiniband``, ``/sys/module``, ``/proc/driver/nvidia``, ``/etc``)
for the rdma and software gatherers, laid out as the kernel lays it out
(Documentation/ABI/stable/sysfs-class-infiniband). ``ibstatus`` prints those sysfs files verbatim
(it is a shell script over /sys/class/infiniband), so a recorded ibstatus becomes the tree the
probe would have read on that node."""

from __future__ import annotations

import re
from pathlib import Path


def port(root: Path, dev: str, n: int, *, state: str, phys: str, rate: str, link_layer: str,
         counters: dict[str, int] | None = None, hw_counters: dict[str, int] | None = None) -> None:
    pdir = root / "sys/class/infiniband" / dev / "ports" / str(n)
    pdir.mkdir(parents=True, exist_ok=True)
    for name, value in (("state", state), ("phys_state", phys), ("rate", rate), ("link_layer", link_layer)):
        (pdir / name).write_text(value + "\n")
    for sub, values in (("counters", counters), ("hw_counters", hw_counters)):
        if values:
            (pdir / sub).mkdir(exist_ok=True)
            for name, value in values.items():
                (pdir / sub / name).write_text(f"{value}\n")


def device(root: Path, dev: str, *, driver: str, hca_type: str | None = None, netdevs: tuple[str, ...] = ()) -> None:
    ddir = root / "sys/class/infiniband" / dev
    (ddir / "device").mkdir(parents=True, exist_ok=True)
    drv = root / "sys/bus/pci/drivers" / driver
    drv.mkdir(parents=True, exist_ok=True)
    link = ddir / "device" / "driver"
    if not link.exists():
        link.symlink_to(drv)
    if hca_type:
        (ddir / "hca_type").write_text(hca_type + "\n")
    for name in netdevs:
        (ddir / "device" / "net" / name).mkdir(parents=True, exist_ok=True)


def verbs_nodes(root: Path, n: int) -> None:
    base = root / "sys/class/infiniband_verbs"
    base.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (base / f"uverbs{i}").mkdir(exist_ok=True)


def modules(root: Path, *names: str) -> None:
    for name in names:
        (root / "sys/module" / name).mkdir(parents=True, exist_ok=True)


def from_ibstatus(text: str, root: Path, *, driver: str = "mlx5_core") -> list[str]:
    """Write the sysfs files an ``ibstatus`` capture printed; returns the device names."""
    names = []
    for block in re.split(r"\n\s*\n", text.strip()):
        head = re.match(r"Infiniband device '([^']+)' port (\d+) status:", block.strip())
        if not head:
            continue
        fields = dict(re.findall(r"^\s*([a-z_ ]+):\s+(.*)$", block, re.MULTILINE))
        dev, n = head.group(1), int(head.group(2))
        device(root, dev, driver=driver, netdevs=(f"ib{len(names)}",) if fields["link_layer"] == "InfiniBand" else ("eth1",))
        port(root, dev, n, state=fields["state"], phys=fields["phys state"], rate=fields["rate"], link_layer=fields["link_layer"])
        names.append(dev)
    return names
