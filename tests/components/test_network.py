"""AiNetwork: the subnet layout (pure) and the resources a `pulumi up` would create (SDK mocks)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.network import (
    AiNetwork,
    AiNetworkArgs,
    check_on_prem_cidr,
    check_vpn,
    customer_gateway_asn,
    nat_gateway_count,
    pick_zones,
    subnet_layout,
)
from policies.errors import ConfigError
from stacks.config import NetworkConfig, VpnConfig
from stacks.network_checks import bgp_asn_problem, customer_gateway_ip_problem
from tests.components.mocks import Run, run_program

SUBNET = "aws:ec2/subnet:Subnet"
RT = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
NAT = "aws:ec2/natGateway:NatGateway"
EIP = "aws:ec2/eip:Eip"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
VPN_TYPES = {
    "aws:ec2/customerGateway:CustomerGateway", "aws:ec2/vpnGateway:VpnGateway", "aws:ec2/vpnConnection:VpnConnection",
    "aws:ec2/vpnConnectionRoute:VpnConnectionRoute", "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation",
}
TAGS = {"team": "ml", "cost-centre": "42"}
CGW = "12.1.2.3"  # the customer gateway address AWS's own CLI example uses (a public IPv4 address)


def build(network: dict[str, Any], region: str = "us-east-1") -> Run[AiNetwork]:
    cfg = NetworkConfig.model_validate(network)
    return run_program(lambda: AiNetwork("net", AiNetworkArgs(network=cfg, prefix="acme", region=region, tags=TAGS)))


@pytest.fixture(scope="module")
def cloud() -> Run[AiNetwork]:
    return build({"cidr": "10.20.0.0/16", "azCount": 3, "singleNatGateway": True})


@pytest.fixture(scope="module")
def hybrid() -> Run[AiNetwork]:
    return build({"cidr": "10.20.0.0/16", "azCount": 2, "singleNatGateway": False, "onPremCidr": "192.168.0.0/16",
                  "vpn": {"customerGatewayIp": CGW, "bgpAsn": 65010}})


# ---- pure layout ----------------------------------------------------------------------------

def test_default_layout_is_private_19s_and_public_22s() -> None:
    layout = subnet_layout("10.0.0.0/16", 3)
    assert layout.private == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert layout.public == ["10.0.224.0/22", "10.0.228.0/22", "10.0.232.0/22"]


@settings(max_examples=80, deadline=None)
@given(prefixlen=st.integers(16, 22), azs=st.integers(1, 6), octet=st.integers(0, 255))
def test_subnets_never_overlap_and_stay_inside_the_vpc(prefixlen: int, azs: int, octet: int) -> None:
    vpc = ipaddress.ip_network(f"10.{octet}.0.0/{prefixlen}", strict=False)
    layout = subnet_layout(str(vpc), azs)
    nets = [ipaddress.ip_network(c) for c in layout.private + layout.public]
    assert len(layout.private) == len(layout.public) == azs
    assert all(n.subnet_of(vpc) for n in nets)  # type: ignore[arg-type]
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert all(n.prefixlen <= 28 for n in nets)


@pytest.mark.parametrize(("cidr", "azs", "field"), [
    ("10.0.0.0/24", 2, "network.cidr"),        # too small for /28 public subnets
    ("10.0.0.0/12", 2, "network.cidr"),        # larger than AWS allows
    ("10.0.0.1/16", 2, "network.cidr"),        # host bits set
    ("fd00::/56", 2, "network.cidr"),          # IPv6 primary block
    ("10.0.0.0/16", 7, "network.azCount"),
])
def test_bad_layout_inputs_are_config_errors_naming_the_field(cidr: str, azs: int, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"^plinth:{field}: "):
        subnet_layout(cidr, azs)


def test_overlapping_on_prem_cidr_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^plinth:network\.onPremCidr: 10\.0\.128\.0/17 overlaps"):
        check_on_prem_cidr("10.0.0.0/16", ["192.168.0.0/16", "10.0.128.0/17"])
    check_on_prem_cidr("10.0.0.0/16", ["192.168.0.0/16"])


def test_helpers_nat_count_zone_pick_and_asn_field() -> None:
    assert nat_gateway_count(3, True) == 1 and nat_gateway_count(3, False) == 3
    assert pick_zones(["b", "a", "c"], 2) == ["a", "b"]
    with pytest.raises(ConfigError, match=r"^plinth:network\.azCount: 4 zones asked"):
        pick_zones(["a", "b"], 4)
    assert customer_gateway_asn(VpnConfig(customer_gateway_ip=CGW, bgp_asn=65000)) == ("65000", None)
    assert customer_gateway_asn(VpnConfig(customer_gateway_ip=CGW, bgp_asn=4200000000)) == (None, "4200000000")


# ---- component under mocks --------------------------------------------------------------------

def test_component_type_and_every_child_parented_to_it(cloud: Run[AiNetwork]) -> None:
    comp = cloud.one("plinth:network:AiNetwork")
    children = [r for r in cloud.resources if r is not comp]
    assert children and all(r.parent == comp.urn for r in children)


def test_vpc_has_dns_and_every_taggable_resource_carries_the_stack_tags(cloud: Run[AiNetwork]) -> None:
    vpc = cloud.one("aws:ec2/vpc:Vpc").inputs
    assert vpc["enableDnsHostnames"] is True and vpc["enableDnsSupport"] is True
    assert vpc["cidrBlock"] == "10.20.0.0/16"
    for r in cloud.resources:
        if r.custom and r.type not in (ROUTE, "aws:ec2/routeTableAssociation:RouteTableAssociation"):
            assert TAGS.items() <= r.inputs.get("tags", {}).items(), f"{r.type} {r.name} lacks the stack tags"
        if r.custom:
            assert r.inputs.get("region") == "us-east-1", f"{r.type} {r.name} not pinned to the region"


def test_subnets_spread_across_azs_and_are_tagged_for_eks(cloud: Run[AiNetwork]) -> None:
    subnets = cloud.of_type(SUBNET)
    private = [s.inputs for s in subnets if s.inputs["tags"].get("plinth.dev/tier") == "private"]
    public = [s.inputs for s in subnets if s.inputs["tags"].get("plinth.dev/tier") == "public"]
    assert sorted(s["availabilityZone"] for s in private) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert sorted(s["availabilityZone"] for s in public) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert all(s["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in private)
    assert all(s["tags"]["kubernetes.io/role/elb"] == "1" and s["mapPublicIpOnLaunch"] is False for s in public)
    # registration order is async: compare by zone, not by position
    layout = subnet_layout("10.20.0.0/16", 3)
    zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert {s["availabilityZone"]: s["cidrBlock"] for s in private} == dict(zip(zones, layout.private))
    assert {s["availabilityZone"]: s["cidrBlock"] for s in public} == dict(zip(zones, layout.public))


def test_single_nat_serves_every_private_route_table(cloud: Run[AiNetwork]) -> None:
    [nat] = cloud.of_type(NAT)
    assert len(cloud.of_type(EIP)) == 1 and cloud.one(EIP).inputs["domain"] == "vpc"
    nat_routes = [r.inputs for r in cloud.of_type(ROUTE) if "natGatewayId" in r.inputs]
    assert len(nat_routes) == 3
    assert {r["natGatewayId"] for r in nat_routes} == {f"{nat.name}-id"}
    igw_routes = [r.inputs for r in cloud.of_type(ROUTE) if "gatewayId" in r.inputs]
    assert [r["destinationCidrBlock"] for r in igw_routes] == ["0.0.0.0/0"]


def test_s3_gateway_endpoint_is_on_every_private_route_table(cloud: Run[AiNetwork]) -> None:
    ep = cloud.one(ENDPOINT).inputs
    assert ep["vpcEndpointType"] == "Gateway"
    assert ep["serviceName"] == "com.amazonaws.us-east-1.s3"
    private_rts = {f"{r.name}-id" for r in cloud.of_type(RT) if "private" in r.name}
    assert len(private_rts) == 3
    assert set(ep["routeTableIds"]) == private_rts
    assert Run.value(cloud.result.private_route_table_ids) == sorted(private_rts)


def test_efa_security_group_allows_all_traffic_to_and_from_itself_only(cloud: Run[AiNetwork]) -> None:
    sg = cloud.one(SG)
    sg_id = f"{sg.name}-id"
    assert "ingress" not in sg.inputs and "egress" not in sg.inputs  # no inline rules to fight the rule resources
    for typ in (INGRESS, EGRESS):
        [rule] = cloud.of_type(typ)
        assert rule.inputs["securityGroupId"] == sg_id
        assert rule.inputs["referencedSecurityGroupId"] == sg_id
        assert rule.inputs["ipProtocol"] == "-1"
        assert "cidrIpv4" not in rule.inputs
    assert Run.value(cloud.result.efa_security_group_id) == sg_id


def test_cluster_placement_group_and_outputs(cloud: Run[AiNetwork]) -> None:
    pg = cloud.one("aws:ec2/placementGroup:PlacementGroup")
    assert pg.inputs["strategy"] == "cluster"
    assert Run.value(cloud.result.placement_group_name)
    assert len(Run.value(cloud.result.private_subnet_ids)) == 3
    assert len(Run.value(cloud.result.public_subnet_ids)) == 3
    assert Run.value(cloud.result.s3_endpoint_id) == "net-s3-id"
    assert cloud.result.vpn_connection_id is None


def test_no_vpn_resources_without_vpn_config(cloud: Run[AiNetwork]) -> None:
    assert not VPN_TYPES & set(cloud.types())


def test_hybrid_builds_vpn_with_static_route_and_propagation_to_private_tables(hybrid: Run[AiNetwork]) -> None:
    assert VPN_TYPES <= set(hybrid.types())
    cgw = hybrid.one("aws:ec2/customerGateway:CustomerGateway").inputs
    assert (cgw["ipAddress"], cgw["bgpAsn"], cgw["type"]) == (CGW, "65010", "ipsec.1")
    vgw = hybrid.one("aws:ec2/vpnGateway:VpnGateway")
    assert vgw.inputs["vpcId"] == "net-vpc-id"  # attached to the VPC
    conn = hybrid.one("aws:ec2/vpnConnection:VpnConnection")
    assert conn.inputs["staticRoutesOnly"] is True
    assert conn.inputs["vpnGatewayId"] == f"{vgw.name}-id"
    route = hybrid.one("aws:ec2/vpnConnectionRoute:VpnConnectionRoute").inputs
    assert route == {"destinationCidrBlock": "192.168.0.0/16", "vpnConnectionId": f"{conn.name}-id", "region": "us-east-1"}
    props = hybrid.of_type("aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation")
    private_rts = {f"{r.name}-id" for r in hybrid.of_type(RT) if "private" in r.name}
    assert {p.inputs["routeTableId"] for p in props} == private_rts and len(props) == 2
    assert Run.value(hybrid.result.vpn_connection_id) == f"{conn.name}-id"


def test_nat_per_az_when_single_nat_is_off(hybrid: Run[AiNetwork]) -> None:
    nats = hybrid.of_type(NAT)
    assert len(nats) == 2 and len(hybrid.of_type(EIP)) == 2
    nat_routes = [r.inputs["natGatewayId"] for r in hybrid.of_type(ROUTE) if "natGatewayId" in r.inputs]
    assert sorted(nat_routes) == sorted(f"{n.name}-id" for n in nats)


def test_bgp_vpn_needs_no_static_route_and_static_vpn_needs_on_prem_cidr() -> None:
    bgp = build({"azCount": 1, "vpn": {"customerGatewayIp": CGW, "staticRoutesOnly": False}})
    assert not bgp.of_type("aws:ec2/vpnConnectionRoute:VpnConnectionRoute")
    assert bgp.one("aws:ec2/vpnConnection:VpnConnection").inputs["staticRoutesOnly"] is False
    with pytest.raises(ConfigError, match=r"^plinth:network\.onPremCidr: required"):
        build({"azCount": 1, "vpn": {"customerGatewayIp": CGW}})


def test_more_azs_than_the_region_has_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^plinth:network\.azCount: 5 zones asked but the region has 3"):
        build({"azCount": 5})


def test_named_zones_are_used_in_order_and_must_exist() -> None:
    available = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
    assert pick_zones(available, 3, ["us-east-1d", "us-east-1b"]) == ["us-east-1d", "us-east-1b"]
    with pytest.raises(ConfigError, match=r"^plinth:network\.availabilityZones: us-east-1z is not an available zone"):
        pick_zones(available, 2, ["us-east-1a", "us-east-1z"])


def test_default_network_has_a_nat_per_zone() -> None:
    """The GPU pool lives in one zone: with a single NAT elsewhere every image pull crosses zones."""
    run = build({"cidr": "10.20.0.0/16", "azCount": 2})
    assert NetworkConfig().single_nat_gateway is False and len(run.of_type(NAT)) == 2
    named = build({"cidr": "10.20.0.0/16", "availabilityZones": ["us-east-1c", "us-east-1a"]})
    private = {s.inputs["availabilityZone"] for s in named.of_type("aws:ec2/subnet:Subnet") if "private" in s.name}
    assert private == {"us-east-1c", "us-east-1a"} and named.result.availability_zones == ["us-east-1c", "us-east-1a"]


# ---- the on-prem end of the VPN: what AWS accepts ----------------------------------------------

@pytest.mark.parametrize(("ip", "why"), [
    ("192.0.2.10", "TEST-NET-1"), ("198.51.100.7", "TEST-NET-2"), ("203.0.113.10", "TEST-NET-3"),
    ("10.1.2.3", "private"), ("172.20.0.1", "private"), ("192.168.1.1", "private"),
    ("100.64.0.1", "carrier-grade NAT"), ("127.0.0.1", "loopback"), ("169.254.169.254", "link-local"),
    ("224.0.0.5", "multicast"), ("239.255.255.250", "multicast"), ("255.255.255.255", "reserved"),
    ("240.0.0.1", "reserved"), ("0.0.0.0", "'this network'"), ("198.18.0.1", "benchmarking"),
    ("192.0.0.8", "IETF protocol"), ("2001:db8::1", "IPv6"), ("2600:1f18::1", "IPv6"), ("router", "not an IP address"),
])
def test_customer_gateway_addresses_the_tunnel_could_never_use_are_refused(ip: str, why: str) -> None:
    problem = customer_gateway_ip_problem(ip)
    assert problem is not None and why in problem
    with pytest.raises(ValueError, match=why):
        VpnConfig.model_validate({"customerGatewayIp": ip})


@pytest.mark.parametrize("ip", [CGW, "8.8.8.8", "52.94.1.1", "100.128.0.1", "172.32.0.1", "192.169.0.1", "223.255.255.254"])
def test_public_ipv4_addresses_pass_including_neighbours_of_the_reserved_blocks(ip: str) -> None:
    assert customer_gateway_ip_problem(ip) is None


@pytest.mark.parametrize(("asn", "region", "static", "why"), [
    (7224, "us-east-1", True, "reserved by AWS in every Region"),
    (9059, "eu-west-1", True, "reserved by AWS in eu-west-1"),
    (10124, "ap-northeast-1", False, "reserved by AWS in ap-northeast-1"),
    (17943, "ap-southeast-1", True, "reserved by AWS in ap-southeast-1"),
    (23456, "us-east-1", True, "AS_TRANS"),
    (64500, "us-east-1", True, "documentation ASN"),
    (65540, "us-east-1", True, "documentation ASN"),
    (65535, "us-east-1", True, "reserved (RFC 7300)"),
    (64512, "us-east-1", False, "Amazon-side ASN"),
    (0, "us-east-1", True, "outside"),
])
def test_bgp_asns_aws_or_iana_reserve_are_refused(asn: int, region: str, static: bool, why: str) -> None:
    problem = bgp_asn_problem(asn, region, static)
    assert problem is not None and why in problem


@pytest.mark.parametrize(("asn", "region", "static"), [
    (9059, "us-east-1", True),  # reserved only in eu-west-1
    (64512, "us-east-1", True),  # the VGW's ASN matters only for BGP
    (65010, "eu-central-1", False), (4_200_000_000, "us-east-1", False), (16509, "us-east-1", False),
])
def test_usable_asns_pass(asn: int, region: str, static: bool) -> None:
    assert bgp_asn_problem(asn, region, static) is None


def test_reserved_asn_fails_the_network_before_any_resource() -> None:
    with pytest.raises(ConfigError, match=r"^plinth:network\.vpn\.bgpAsn: 9059 is reserved by AWS in eu-west-1"):
        check_vpn(VpnConfig.model_validate({"customerGatewayIp": CGW, "bgpAsn": 9059}), "eu-west-1")
    with pytest.raises(ConfigError, match=r"^plinth:network\.vpn\.bgpAsn: 7224"):
        build({"azCount": 1, "onPremCidr": "10.9.0.0/16", "vpn": {"customerGatewayIp": CGW, "bgpAsn": 7224}})


def test_one_static_route_per_on_prem_block() -> None:
    run = build({"azCount": 1, "onPremCidr": ["10.100.0.0/16", "10.200.0.0/14"], "vpn": {"customerGatewayIp": CGW}})
    routes = run.of_type("aws:ec2/vpnConnectionRoute:VpnConnectionRoute")
    # the first keeps the name a single block always had: an existing stack's route is not replaced
    assert {r.name: r.inputs["destinationCidrBlock"] for r in routes} == {
        "net-vpn-on-prem": "10.100.0.0/16", "net-vpn-on-prem-1": "10.200.0.0/14"}


@pytest.mark.parametrize(("blocks", "message"), [
    (["10.100.0.0/16", "10.100.128.0/17"], "overlaps another on-prem block"),
    (["fd00::/8"], "IPv4"),
    ([], "non-empty list"),
    ("10.1.2.3/33", "not a CIDR block"),
])
def test_bad_on_prem_blocks_are_refused(blocks: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NetworkConfig.model_validate({"onPremCidr": blocks})
