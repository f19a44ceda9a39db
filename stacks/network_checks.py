"""What AWS Site-to-Site VPN accepts for the on-prem end of the tunnel (pure: strings in, reasons out).

A customer gateway behind a virtual private gateway (what :class:`components.network.AiNetwork` builds)
needs the *static, internet-routable IPv4 address* of the on-prem router's outside interface (AWS
"Customer gateway options for your Site-to-Site VPN connection"). An address from a documentation
range, a private or loopback address … is accepted by the API but the tunnel never comes up: plinth
refuses it before anything is created. Private-IP VPNs exist only over Direct Connect with a transit
gateway, and IPv6 customer gateways only on transit gateways / Cloud WAN: neither is what plinth builds.

BGP ASNs follow the same page: 1–4,294,967,295, except 7224 (reserved by AWS in every Region) and
9059 / 10124 / 17943 (reserved in eu-west-1 / ap-northeast-1 / ap-southeast-1). plinth also refuses
the ASNs IANA reserves (RFC 7300, RFC 6793 AS_TRANS, RFC 5398 documentation) and, for BGP, the
virtual private gateway's own default Amazon-side ASN 64512: the session between two peers in one AS
would not be the eBGP session AWS speaks.
"""

from __future__ import annotations

import ipaddress

# (network, why) — checked in order, the first match names the reason. Python's is_global would say
# "not global" for all of these but not which rule the address broke.
_NOT_ROUTABLE: list[tuple[ipaddress.IPv4Network, str]] = [
    (ipaddress.IPv4Network(net), why)
    for net, why in [
        ("0.0.0.0/8", "'this network' (RFC 1122)"),
        ("10.0.0.0/8", "a private address (RFC 1918)"),
        ("100.64.0.0/10", "carrier-grade NAT shared space (RFC 6598)"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address (RFC 1918)"),
        ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
        ("192.0.2.0/24", "a documentation address, TEST-NET-1 (RFC 5737)"),
        ("192.88.99.0/24", "the deprecated 6to4 relay anycast range (RFC 7526)"),
        ("192.168.0.0/16", "a private address (RFC 1918)"),
        ("198.18.0.0/15", "a benchmarking address (RFC 2544)"),
        ("198.51.100.0/24", "a documentation address, TEST-NET-2 (RFC 5737)"),
        ("203.0.113.0/24", "a documentation address, TEST-NET-3 (RFC 5737)"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address (RFC 1112), including broadcast"),
    ]
]

AWS_RESERVED_ASNS = {7224: None, 9059: "eu-west-1", 10124: "ap-northeast-1", 17943: "ap-southeast-1"}
VGW_DEFAULT_AMAZON_ASN = 64512
MAX_ASN = 4_294_967_294  # 4,294,967,295 is reserved (RFC 7300)


def customer_gateway_ip_problem(value: str) -> str | None:
    """Why ``value`` cannot be a customer gateway's outside address, or None when it can."""
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return f"not an IP address: {value!r}"
    if isinstance(addr, ipaddress.IPv6Address):
        return (f"{value} is IPv6: a virtual private gateway VPN needs the router's public IPv4 address "
                "(IPv6 customer gateways work only with transit gateways)")
    for net, why in _NOT_ROUTABLE:
        if addr in net:
            return (f"{value} is {why}, not the public IPv4 address of your router: "
                    "AWS would create the gateway but the tunnel never comes up")
    return None


def bgp_asn_problem(asn: int, region: str, static_routes_only: bool) -> str | None:
    """Why ``asn`` cannot be the customer gateway's BGP ASN in ``region``, or None when it can."""
    if not 1 <= asn <= MAX_ASN:
        return f"{asn} is outside 1..{MAX_ASN}"
    if asn in AWS_RESERVED_ASNS and AWS_RESERVED_ASNS[asn] in (None, region):
        where = "in every Region" if AWS_RESERVED_ASNS[asn] is None else f"in {region}"
        return f"{asn} is reserved by AWS {where}"
    if asn == 23456:
        return "23456 is AS_TRANS (RFC 6793), not a real AS"
    if asn == 65535:
        return "65535 is reserved (RFC 7300)"
    if 64496 <= asn <= 64511 or 65536 <= asn <= 65551:
        return f"{asn} is a documentation ASN (RFC 5398)"
    if not static_routes_only and asn == VGW_DEFAULT_AMAZON_ASN:
        return (f"{asn} is the virtual private gateway's default Amazon-side ASN: BGP peers must be in "
                "different ASes (use another private ASN, e.g. 65000)")
    return None
