"""Pairwise node-to-node network measurement.

``measure_pairs(transports, addresses, NetOptions(...))`` returns, per node name, the
``facts["pairwise"]`` the runner attaches to that node's facts::

    {"bandwidth_gbps": float|None,   # best pair the node took part in (see infer.py for why max)
     "latency_ms": float|None,       # best median TCP round trip of its pairs
     "tool": "iperf3"|"builtin"|None,
     "streams": int,                 # parallel TCP flows per pair (iperf3 -P / the builtin's threads)
     "peers": [{"peer", "role": "client"|"server", "bandwidth_gbps", "latency_ms", "error"}],
     "error": str|None,              # set when no pair of this node could be measured
     "partial_errors": [str]         # optional: a pair failed but another one stands
     "note": str}                    # optional: e.g. two-node fleets cannot isolate a slow node

Modules: schedule.py (ring rounds, pure), infer.py (pairs -> per-node facts, pure), iperf3.py
(argv + JSON parser, pure), node_net.py (the stdlib-only tool run on the node), pairwise.py (I/O).
Ports: chosen per run from ``NetOptions.port_range`` (validators/fabric/ports.py): candidates plus a
per-run token in the hello, so two runs on the same nodes never collide; a fixed ``NetOptions.port``
(listener there, iperf3 on ``port + 1``) remains for a proxy in front of the listener.
"""

from validators.network.infer import PairResult, node_facts
from validators.network.pairwise import NetOptions, measure_pair, measure_pairs
from validators.network.schedule import Pair, ring_rounds

__all__ = ["NetOptions", "Pair", "PairResult", "measure_pair", "measure_pairs", "node_facts", "ring_rounds"]
