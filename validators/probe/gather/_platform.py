"""What the node runs on: which cloud (or bare metal), from DMI and the CPU's hypervisor flag.

No network call (no instance metadata service): the answer must come back in the probe's one round
trip and must not depend on IMDS hop limits or firewalls. The identification strings are the ones
cloud-init's ``ds-identify`` and systemd's ``virt.c`` match on:

* AWS: ``sys_vendor`` "Amazon EC2" (Nitro, metal included; its ``product_name`` is the instance
  type), or "amazon" in ``bios_version`` (Xen-era instances);
* Azure: ``chassis_asset_tag`` 7783-7084-3265-9085-8269-3286-77, or "Microsoft Corporation" /
  "Virtual Machine";
* Google Cloud: ``sys_vendor`` "Google" / ``product_name`` "Google Compute Engine";
* Oracle Cloud: ``chassis_asset_tag`` "OracleCloud.com" (VMs and bare metal);
* otherwise a virtual machine of another provider when the x86 ``hypervisor`` CPU flag is set,
  bare metal when DMI is readable and the flag is absent, else unknown (e.g. ARM without DMI).
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Mapping, Optional

from ._util import read_file

DMI_DIR = "/sys/class/dmi/id"
DMI_FIELDS = ("sys_vendor", "product_name", "board_vendor", "bios_vendor", "bios_version", "chassis_asset_tag")
AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
EC2_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")  # p5.48xlarge, g4dn.metal, u-6tb1.metal
MAX_FIELD = 128


def hypervisor_flag(cpuinfo: str) -> Optional[bool]:
    """The x86 ``hypervisor`` CPU flag: True in a VM, False on bare metal, None where the CPU
    has no such flag list (ARM: /proc/cpuinfo says "Features")."""
    m = re.search(r"^flags\s*:(.*)$", cpuinfo, re.MULTILINE)
    return None if m is None else "hypervisor" in m.group(1).split()


def classify_platform(dmi: Mapping[str, Optional[str]], hypervisor: Optional[bool]) -> Dict[str, Any]:
    """facts["system"]["platform"] from DMI strings (None: not readable) and the hypervisor flag."""
    def low(key: str) -> str:
        return (dmi.get(key) or "").strip().lower()

    vendor, product, tag = low("sys_vendor"), low("product_name"), low("chassis_asset_tag")
    if vendor == "amazon ec2" or "amazon" in low("bios_version"):
        kind = "aws"
    elif tag == AZURE_ASSET_TAG or (vendor == "microsoft corporation" and product == "virtual machine"):
        kind = "azure"
    elif vendor == "google" or product == "google compute engine":
        kind = "gcp"
    elif tag == "oraclecloud.com":
        kind = "oci"
    elif hypervisor:
        kind = "cloud-other"
    elif hypervisor is False and any(dmi.get(k) for k in DMI_FIELDS):
        kind = "bare-metal"
    else:
        kind = "unknown"
    product_name = (dmi.get("product_name") or "").strip()
    return {
        "kind": kind,
        "sys_vendor": dmi.get("sys_vendor"),
        "product_name": dmi.get("product_name"),
        "board_vendor": dmi.get("board_vendor"),
        "bios_vendor": dmi.get("bios_vendor"),
        "hypervisor": hypervisor,
        # on Nitro the DMI product name is the instance type; elsewhere it needs the metadata service
        "instance_type": product_name if kind == "aws" and EC2_TYPE.match(product_name) else None,
    }


def read_platform(cpuinfo: str) -> Dict[str, Any]:
    dmi: Dict[str, Optional[str]] = {}
    for key in DMI_FIELDS:  # world-readable; product_serial/uuid are root-only and not needed
        value = read_file(os.path.join(DMI_DIR, key))
        dmi[key] = value[:MAX_FIELD] if value else None
    return classify_platform(dmi, hypervisor_flag(cpuinfo))
