"""The network pillar: a VPC laid out for GPU training and an optional site-to-site VPN.

Usage (from a strategy)::

    from components.network import AiNetwork, AiNetworkArgs

    net = AiNetwork("net", AiNetworkArgs(network=cfg.network, prefix=cfg.prefix,
                                        tags=cfg.resource_tags(), region=cfg.region))
    net.private_subnet_ids      # Output[list[str]], one per AZ: node groups go here
    net.efa_security_group_id   # attach to EFA-enabled nodes (all traffic to/from itself)
    net.placement_group_name    # cluster placement group for distributed training

What it builds and why:

- private subnets (large, one per AZ) for nodes, public subnets (small) for NAT and load balancers,
  tagged for EKS load-balancer discovery;
- NAT gateways: one per AZ by default (a GPU pool in one zone pulls images through its own zone's
  NAT: no cross-zone charge, no dependency on another zone), or one (cheaper) with ``singleNatGateway``;
- an S3 *gateway* endpoint on every private route table: training data streams from S3 without
  NAT charges or NAT bandwidth limits;
- an EFA security group that allows all traffic to and from itself: EFA's OS-bypass traffic is
  refused unless the group references itself in both directions;
- a ``cluster`` placement group, so EFA nodes land on the same network spine;
- hybrid (``network.vpn`` set): customer gateway, VPN gateway attached to the VPC, a VPN
  connection, a static route per ``onPremCidr`` block and route propagation into the private tables
  (the EKS control plane's network interfaces sit in those subnets, so its replies find the tunnel).
  The customer gateway address and BGP ASN are checked against what AWS accepts
  (:mod:`stacks.network_checks`) before anything is created.

The subnet layout is a pure function (:func:`subnet_layout`) with its own tests.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from policies.errors import ConfigError
from stacks.config import NetworkConfig, VpnConfig
from stacks.network_checks import bgp_asn_problem

# AWS subnets are /16../28. Private subnets are 1/8 of the VPC, public ones 1/64: with a /16 that is
# /19 (8190 addresses: EKS pods take VPC IPs) and /22 (1022 addresses: NATs and load balancers).
PRIVATE_BITS = 3
PUBLIC_BITS = 6
MAX_AZS = 6  # 6 private blocks + 1 reserved + 1 carved into public subnets = 8 blocks
_MAX_ASN_2BYTE_FIELD = 2147483647  # bgp_asn accepts up to this; above it AWS needs bgp_asn_extended


@dataclass(frozen=True)
class SubnetLayout:
    private: list[str]
    public: list[str]


def subnet_layout(vpc_cidr: str, az_count: int) -> SubnetLayout:
    """Carve ``az_count`` private and public subnets out of ``vpc_cidr``.

    The VPC is split in 8 equal blocks: blocks 0..az_count-1 are the private subnets, block 7 is
    split again in 8 and its first az_count pieces are the public subnets; block 6 (and any block
    unused by fewer AZs) stays free for later (e.g. intra/pod subnets). No two subnets overlap.
    """
    try:
        vpc = ipaddress.ip_network(vpc_cidr, strict=True)
    except ValueError as exc:
        raise ConfigError(f"plinth:network.cidr: not a network address ({exc})") from None
    if not isinstance(vpc, ipaddress.IPv4Network):
        raise ConfigError(f"plinth:network.cidr: must be an IPv4 block (got {vpc_cidr!r})")
    if not 16 <= vpc.prefixlen <= 28 - PUBLIC_BITS:
        raise ConfigError(
            f"plinth:network.cidr: prefix must be /16../{28 - PUBLIC_BITS} so that every subnet is at least /28 (got /{vpc.prefixlen})"
        )
    if not 1 <= az_count <= MAX_AZS:
        raise ConfigError(f"plinth:network.azCount: must be 1..{MAX_AZS} (got {az_count})")
    blocks = list(vpc.subnets(prefixlen_diff=PRIVATE_BITS))
    public_pool = list(blocks[-1].subnets(prefixlen_diff=PUBLIC_BITS - PRIVATE_BITS))
    return SubnetLayout(
        private=[str(b) for b in blocks[:az_count]],
        public=[str(b) for b in public_pool[:az_count]],
    )


def check_on_prem_cidr(vpc_cidr: str, on_prem_cidrs: list[str] | None) -> None:
    """An overlapping on-prem range makes the VPN route unreachable (the VPC's local route wins)."""
    for block in on_prem_cidrs or []:
        if ipaddress.ip_network(vpc_cidr).overlaps(ipaddress.ip_network(block)):
            raise ConfigError(f"plinth:network.onPremCidr: {block} overlaps the VPC block {vpc_cidr}")


def check_vpn(vpn: VpnConfig, region: str) -> None:
    """The BGP ASN against AWS's reserved numbers for this region (the address is checked by the
    config model: it needs no region)."""
    problem = bgp_asn_problem(vpn.bgp_asn, region, vpn.static_routes_only)
    if problem:
        raise ConfigError(f"plinth:network.vpn.bgpAsn: {problem}")


def nat_gateway_count(az_count: int, single_nat_gateway: bool) -> int:
    return 1 if single_nat_gateway else az_count


def customer_gateway_asn(vpn: VpnConfig) -> tuple[str | None, str | None]:
    """(bgp_asn, bgp_asn_extended): the provider takes ASNs up to 2147483647 in the first field and
    larger (4-byte) ones only in the second; setting both is an error."""
    if vpn.bgp_asn <= _MAX_ASN_2BYTE_FIELD:
        return str(vpn.bgp_asn), None
    return None, str(vpn.bgp_asn)


def pick_zones(available: list[str], az_count: int, named: list[str] | None = None) -> list[str]:
    """The zones to lay subnets in: the ones the config names (each must be available here), else the
    first ``az_count`` available ones."""
    if named:
        missing = [z for z in named if z not in available]
        if missing:
            raise ConfigError(f"plinth:network.availabilityZones: {missing[0]} is not an available zone of this region "
                              f"({', '.join(sorted(available))})")
        return list(named)
    if len(available) < az_count:
        raise ConfigError(
            f"plinth:network.azCount: {az_count} zones asked but the region has {len(available)} available ({', '.join(available)})"
        )
    return sorted(available)[:az_count]


@dataclass
class AiNetworkArgs:
    network: NetworkConfig
    prefix: str
    region: str
    tags: dict[str, str] = field(default_factory=dict)


class AiNetwork(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    private_route_table_ids: pulumi.Output[list[str]]
    efa_security_group_id: pulumi.Output[str]
    placement_group_name: pulumi.Output[str]
    s3_endpoint_id: pulumi.Output[str]
    vpn_connection_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: AiNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("plinth:network:AiNetwork", name, None, opts)
        cfg, region, p = args.network, args.region, args.prefix
        check_on_prem_cidr(cfg.cidr, cfg.on_prem_cidr)
        if cfg.vpn is not None:
            check_vpn(cfg.vpn, region)
            if cfg.vpn.static_routes_only and not cfg.on_prem_cidr:
                raise ConfigError("plinth:network.onPremCidr: required when network.vpn uses static routes")
        layout = subnet_layout(cfg.cidr, cfg.zone_count)
        child = pulumi.ResourceOptions(parent=self)

        def tags(name_tag: str, **extra: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{p}-{name_tag}", **extra}

        # Local/Wavelength zones need opt-in and lack GPU capacity and the S3 gateway endpoint: skip them.
        azs = aws.get_availability_zones(
            state="available", region=region,
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOptions(parent=self),
        )
        zones = pick_zones(list(azs.names), cfg.zone_count, cfg.availability_zones)

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=cfg.cidr, enable_dns_hostnames=True, enable_dns_support=True,
                          region=region, tags=tags("vpc"), opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, region=region, tags=tags("igw"), opts=child)

        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, region=region, tags=tags("public"), opts=child)
        aws.ec2.Route(f"{name}-public-default", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0",
                      gateway_id=igw.id, region=region, opts=child)

        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for i, (az, cidr) in enumerate(zip(zones, layout.public)):
            sn = aws.ec2.Subnet(f"{name}-public-{i}", vpc_id=vpc.id, cidr_block=cidr, availability_zone=az,
                                map_public_ip_on_launch=False, region=region,
                                tags=tags(f"public-{az}", **{"kubernetes.io/role/elb": "1", "plinth.dev/tier": "public"}),
                                opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=sn.id, route_table_id=public_rt.id,
                                          region=region, opts=child)
            public_subnets.append(sn)

        nats: list[aws.ec2.NatGateway] = []
        for i in range(nat_gateway_count(cfg.zone_count, cfg.single_nat_gateway)):
            eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", region=region, tags=tags(f"nat-{i}"), opts=child)
            nats.append(aws.ec2.NatGateway(f"{name}-nat-{i}", allocation_id=eip.id, subnet_id=public_subnets[i].id,
                                           region=region, tags=tags(f"nat-{i}"),
                                           opts=pulumi.ResourceOptions(parent=self, depends_on=[igw])))

        # One private route table per AZ even with a single NAT: the S3 endpoint and VPN propagation
        # attach per table, and switching to per-AZ NAT later only changes routes, not associations.
        private_rts: list[aws.ec2.RouteTable] = []
        for i, (az, cidr) in enumerate(zip(zones, layout.private)):
            sn = aws.ec2.Subnet(f"{name}-private-{i}", vpc_id=vpc.id, cidr_block=cidr, availability_zone=az, region=region,
                                tags=tags(f"private-{az}", **{"kubernetes.io/role/internal-elb": "1", "plinth.dev/tier": "private"}),
                                opts=child)
            rt = aws.ec2.RouteTable(f"{name}-private-rt-{i}", vpc_id=vpc.id, region=region, tags=tags(f"private-{az}"), opts=child)
            aws.ec2.Route(f"{name}-private-default-{i}", route_table_id=rt.id, destination_cidr_block="0.0.0.0/0",
                          nat_gateway_id=nats[i % len(nats)].id, region=region, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=sn.id, route_table_id=rt.id, region=region, opts=child)
            private_subnets.append(sn)
            private_rts.append(rt)

        s3_endpoint = aws.ec2.VpcEndpoint(f"{name}-s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{region}.s3",
                                          vpc_endpoint_type="Gateway", route_table_ids=[rt.id for rt in private_rts],
                                          region=region, tags=tags("s3-gateway"), opts=child)

        efa_sg = aws.ec2.SecurityGroup(f"{name}-efa", vpc_id=vpc.id, region=region,
                                       description="EFA: all traffic to and from members of this group",
                                       tags=tags("efa"), opts=child)
        # Separate rule resources (the v7 recommendation): inline rules and rule resources on one
        # group fight each other on every update.
        aws.vpc.SecurityGroupIngressRule(f"{name}-efa-in-self", security_group_id=efa_sg.id, ip_protocol="-1",
                                         referenced_security_group_id=efa_sg.id, description="EFA from self",
                                         region=region, tags=tags("efa-in-self"), opts=child)
        aws.vpc.SecurityGroupEgressRule(f"{name}-efa-out-self", security_group_id=efa_sg.id, ip_protocol="-1",
                                        referenced_security_group_id=efa_sg.id, description="EFA to self",
                                        region=region, tags=tags("efa-out-self"), opts=child)

        placement = aws.ec2.PlacementGroup(f"{name}-cluster-pg", strategy="cluster", region=region, tags=tags("cluster-pg"), opts=child)

        vpn_connection_id: pulumi.Output[str] | None = None
        if cfg.vpn is not None:
            vpn_connection_id = self._vpn(name, cfg, region, vpc, private_rts, tags, child)

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets])
        self.private_route_table_ids = pulumi.Output.all(*[rt.id for rt in private_rts])
        self.efa_security_group_id = efa_sg.id
        self.placement_group_name = placement.name
        self.s3_endpoint_id = s3_endpoint.id
        self.vpn_connection_id = vpn_connection_id
        self.availability_zones = zones
        self.register_outputs({
            "vpc_id": self.vpc_id,
            "private_subnet_ids": self.private_subnet_ids,
            "public_subnet_ids": self.public_subnet_ids,
            "private_route_table_ids": self.private_route_table_ids,
            "efa_security_group_id": self.efa_security_group_id,
            "placement_group_name": self.placement_group_name,
            "s3_endpoint_id": self.s3_endpoint_id,
            "vpn_connection_id": self.vpn_connection_id,
        })

    def _vpn(self, name: str, cfg: NetworkConfig, region: str, vpc: aws.ec2.Vpc,
             private_rts: list[aws.ec2.RouteTable], tags: Callable[..., dict[str, str]], child: pulumi.ResourceOptions) -> pulumi.Output[str]:
        vpn = cfg.vpn
        assert vpn is not None
        asn, asn_extended = customer_gateway_asn(vpn)
        cgw = aws.ec2.CustomerGateway(f"{name}-cgw", type="ipsec.1", ip_address=vpn.customer_gateway_ip,
                                      bgp_asn=asn, bgp_asn_extended=asn_extended,
                                      region=region, tags=tags("on-prem"), opts=child)
        # vpc_id on the gateway attaches it; a separate VpnGatewayAttachment would attach it twice.
        vgw = aws.ec2.VpnGateway(f"{name}-vgw", vpc_id=vpc.id, region=region, tags=tags("vgw"), opts=child)
        conn = aws.ec2.VpnConnection(f"{name}-vpn", customer_gateway_id=cgw.id, vpn_gateway_id=vgw.id, type="ipsec.1",
                                     static_routes_only=vpn.static_routes_only, region=region, tags=tags("vpn"),
                                     opts=child)
        if vpn.static_routes_only:
            for i, block in enumerate(cfg.on_prem_cidr or []):
                # the first keeps its original name so existing stacks don't replace their route
                suffix = "" if i == 0 else f"-{i}"
                aws.ec2.VpnConnectionRoute(f"{name}-vpn-on-prem{suffix}", vpn_connection_id=conn.id,
                                           destination_cidr_block=block, region=region, opts=child)
        for i, rt in enumerate(private_rts):
            aws.ec2.VpnGatewayRoutePropagation(f"{name}-vpn-propagation-{i}", vpn_gateway_id=vgw.id,
                                               route_table_id=rt.id, region=region, opts=child)
        return conn.id
