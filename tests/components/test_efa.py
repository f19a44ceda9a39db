"""EFA interface layout (pure): counts come from the catalogue, layout from AWS's multi-card guidance."""

from __future__ import annotations

import pytest

from components.efa import EfaInterface, efa_interface_plan, efa_network_interfaces, efa_wanted
from policies.catalogue import InstanceType, catalogue, instance
from policies.errors import ConfigError


def _row(name: str) -> InstanceType:
    row = instance(name)
    assert row is not None, name
    return row


def test_p5_has_32_interfaces_first_efa_rest_efa_only() -> None:
    plan = efa_interface_plan(_row("p5.48xlarge"))
    assert len(plan) == 32
    assert plan[0] == EfaInterface(network_card_index=0, device_index=0, interface_type="efa")
    assert all(nic.interface_type == "efa-only" and nic.device_index == 1 for nic in plan[1:])
    assert [nic.network_card_index for nic in plan] == list(range(32))


@pytest.mark.parametrize(("name", "count"), [("p4d.24xlarge", 4), ("p5en.48xlarge", 16), ("g6e.12xlarge", 1)])
def test_counts_for_other_types(name: str, count: int) -> None:
    plan = efa_interface_plan(_row(name))
    assert len(plan) == count
    assert plan[0].interface_type == "efa"
    assert sum(nic.interface_type == "efa" for nic in plan) == 1


def test_no_efa_hardware_gets_no_interfaces() -> None:
    assert efa_interface_plan(_row("g6e.xlarge")) == []
    assert efa_network_interfaces(_row("g6e.xlarge"), ["sg-1"]) == []


@pytest.mark.parametrize("name", sorted(catalogue().instances))
def test_every_catalogue_row_matches_its_efa_count(name: str) -> None:
    row = _row(name)
    plan = efa_interface_plan(row)
    assert len(plan) == row.efa_interfaces
    # one interface per network card, never two on the same (card, device) slot
    assert len({(n.network_card_index, n.device_index) for n in plan}) == len(plan)


def test_launch_template_args_carry_type_indices_and_groups() -> None:
    nics = efa_network_interfaces(_row("p4d.24xlarge"), ["sg-efa", "sg-cluster"])
    assert [n.interface_type for n in nics] == ["efa", "efa-only", "efa-only", "efa-only"]
    assert [n.network_card_index for n in nics] == [0, 1, 2, 3]
    assert [n.device_index for n in nics] == [0, 1, 1, 1]
    assert all(n.security_groups == ["sg-efa", "sg-cluster"] for n in nics)
    assert all(n.subnet_id is None for n in nics)  # the node group chooses the subnet


@pytest.mark.parametrize(
    ("name", "requested", "distributed", "expected"),
    [
        ("p5.48xlarge", None, True, True),  # auto: EFA hardware + distributed training
        ("p5.48xlarge", None, False, False),  # auto: single-node work doesn't need it
        ("g6e.xlarge", None, True, False),  # auto: no EFA hardware
        ("p5.48xlarge", False, True, False),  # explicit off wins
        ("p4d.24xlarge", True, False, True),  # explicit on, hardware has it
    ],
)
def test_efa_wanted(name: str, requested: bool | None, distributed: bool, expected: bool) -> None:
    assert efa_wanted(_row(name), requested, distributed, "pool") is expected


def test_efa_requested_on_hardware_without_it_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^plinth:gpuPools\.small\.efa: instance type g6e\.xlarge has no EFA"):
        efa_wanted(_row("g6e.xlarge"), True, True, "small")
