"""facts["system"]["platform"]: which cloud (or bare metal) a node runs on, from DMI strings and
the CPU's hypervisor flag, without any network call. The DMI values are the ones cloud-init's
ds-identify and systemd's virt.c match on."""

from __future__ import annotations

from pathlib import Path

import pytest

from validators.probe.gather._platform import classify_platform, hypervisor_flag, read_platform

X86_VM = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor lahf_lm\n"
X86_METAL = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr lahf_lm\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n"


def dmi(**values: str) -> dict[str, str | None]:
    keys = ("sys_vendor", "product_name", "board_vendor", "bios_vendor", "bios_version", "chassis_asset_tag")
    return {k: values.get(k) for k in keys}


@pytest.mark.parametrize("values,cpuinfo,kind,instance_type", [
    # Nitro: the product name is the instance type (metal instances have no hypervisor flag)
    ({"sys_vendor": "Amazon EC2", "product_name": "p5.48xlarge", "bios_vendor": "Amazon EC2"}, X86_VM, "aws", "p5.48xlarge"),
    ({"sys_vendor": "Amazon EC2", "product_name": "g4dn.metal"}, X86_METAL, "aws", "g4dn.metal"),
    ({"sys_vendor": "Amazon EC2", "product_name": "c7g.16xlarge"}, ARM, "aws", "c7g.16xlarge"),
    # Xen-era instance: vendor Xen, the BIOS version names Amazon; no instance type without IMDS
    ({"sys_vendor": "Xen", "product_name": "HVM domU", "bios_version": "4.11.amazon"}, X86_VM, "aws", None),
    ({"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine",
      "chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77"}, X86_VM, "azure", None),
    ({"sys_vendor": "Google", "product_name": "Google Compute Engine"}, X86_VM, "gcp", None),
    ({"sys_vendor": "QEMU", "product_name": "Standard PC (i440FX + PIIX, 1996)", "chassis_asset_tag": "OracleCloud.com"},
     X86_VM, "oci", None),
    ({"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}, X86_VM, "cloud-other", None),
    ({"sys_vendor": "Dell Inc.", "product_name": "PowerEdge XE9680", "board_vendor": "Dell Inc."}, X86_METAL, "bare-metal", None),
    ({"sys_vendor": "NVIDIA", "product_name": "DGXH100"}, X86_METAL, "bare-metal", None),
    ({}, X86_VM, "cloud-other", None),  # a VM without DMI (Firecracker)
    ({}, X86_METAL, "unknown", None),  # nothing says bare metal: no DMI at all
    ({"sys_vendor": "Ampere", "product_name": "Mt.Jade"}, ARM, "unknown", None),  # ARM: no hypervisor flag to tell
])
def test_classify(values: dict[str, str], cpuinfo: str, kind: str, instance_type: str | None) -> None:
    platform = classify_platform(dmi(**values), hypervisor_flag(cpuinfo))
    assert (platform["kind"], platform["instance_type"]) == (kind, instance_type)
    assert platform["sys_vendor"] == values.get("sys_vendor")


def test_an_aws_product_name_that_is_not_an_instance_type_is_not_reported_as_one() -> None:
    platform = classify_platform(dmi(sys_vendor="Amazon EC2", product_name="<script>"), True)
    assert platform["kind"] == "aws" and platform["instance_type"] is None


def test_this_machine() -> None:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    platform = read_platform(cpuinfo)
    assert platform["hypervisor"] is hypervisor_flag(cpuinfo)
    if not Path("/sys/class/dmi/id").exists() and platform["hypervisor"]:  # this build machine: a VM without DMI
        assert platform["kind"] == "cloud-other"
    assert platform["kind"] in ("aws", "azure", "gcp", "oci", "cloud-other", "bare-metal", "unknown")
