"""pytest plugin (entry point ``plinth``): write your own checks with testinfra against the same
inventory ``plinth validate`` uses.

    pytest --plinth-inventory inventory.yaml tests_infra/

    def test_nvidia_driver_loaded(plinth_host):
        assert plinth_host.file("/proc/driver/nvidia/version").exists

    def test_fabric_manager_on_8_gpu_nodes(plinth_host, plinth_node):
        if plinth_node.expect.gpus == 8:
            assert plinth_host.service("nvidia-fabricmanager").is_running

Each test runs once per inventory node (test ids are node names). ``plinth_host`` is a testinfra
``Host``; ``plinth_node`` is the node's resolved inventory entry. The fixture names don't clash with
pytest-testinfra's own ``host`` fixture and ``--hosts`` option.

Why not just ``--hosts paramiko://...``: testinfra's paramiko backend accepts unknown host keys with
a warning and knows nothing of jump hosts. Here the SSH connection is plinth's own (known_hosts
verified, ``--plinth-accept-new-host-keys`` to opt in, jump hosts, timeouts) and is handed to
testinfra, one connection per node for the whole session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policies.errors import ConfigError
from validators.inventory import NodeSpec, load_inventory
from validators.transport import SshTransport, TransportError, make_transport


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("plinth", "plinth inventory for testinfra checks")
    group.addoption("--plinth-inventory", metavar="FILE", default=None,
                    help="Run tests using the plinth_host / plinth_node fixtures once per node of this inventory.")
    group.addoption("--plinth-accept-new-host-keys", action="store_true", default=False,
                    help="Trust (and record in known_hosts) host keys not seen before. Off by default.")
    group.addoption("--plinth-connect-timeout", type=float, default=10.0, metavar="S",
                    help="Seconds allowed for each node's SSH connection (default 10).")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "plinth_node" not in metafunc.fixturenames:
        return
    path = metafunc.config.getoption("plinth_inventory")
    if not path:
        metafunc.parametrize("plinth_node", [pytest.param(None, marks=pytest.mark.skip(reason="no --plinth-inventory given"))],
                             indirect=True)
        return
    try:
        inventory = load_inventory(Path(path))
    except ConfigError as exc:
        raise pytest.UsageError(f"--plinth-inventory: {exc}") from None
    metafunc.parametrize("plinth_node", inventory.nodes, ids=[n.name for n in inventory.nodes], indirect=True)


@pytest.fixture
def plinth_node(request: pytest.FixtureRequest) -> NodeSpec:
    """The inventory entry of the node this test instance runs against."""
    return request.param


def _testinfra_host(node: NodeSpec, transport: Any) -> Any:
    from testinfra.backend import get_backend
    from testinfra.host import Host

    if isinstance(transport, SshTransport):
        backend = get_backend(f"paramiko://{node.user}@{node.host}:{node.port}")
        # testinfra's backend keeps its paramiko client in a cached_property: give it ours, already
        # connected and host-key verified, instead of letting it connect with WarningPolicy
        # (cached_property is a non-data descriptor: an instance attribute shadows it)
        setattr(backend, "client", transport.client)  # noqa: B010  (BaseBackend does not declare it)
    else:
        backend = get_backend("local://")
    host = Host(backend)
    backend.set_host(host)
    return host


@pytest.fixture
def plinth_host(plinth_node: NodeSpec, request: pytest.FixtureRequest, _plinth_connections: dict[str, Any]) -> Any:
    """A testinfra Host for this node over plinth's verified SSH connection (reused per session).
    A node that cannot be reached fails the test with the transport's reason."""
    cached = _plinth_connections.get(plinth_node.name)
    if cached is None:
        transport = make_transport(plinth_node, bool(request.config.getoption("plinth_accept_new_host_keys")))
        reason = None
        try:
            transport.connect(float(request.config.getoption("plinth_connect_timeout") or 10.0))
        except TransportError as exc:
            reason = str(exc).replace("--accept-new-host-keys", "--plinth-accept-new-host-keys")
        if reason is not None:  # outside the except: no chained traceback in the test's output
            pytest.fail(f"{plinth_node.name}: {reason}", pytrace=False)
        cached = _plinth_connections[plinth_node.name] = (transport, _testinfra_host(plinth_node, transport))
    return cached[1]


@pytest.fixture(scope="session")
def _plinth_connections() -> Iterator[dict[str, Any]]:
    conns: dict[str, Any] = {}
    yield conns
    for transport, _host in conns.values():
        transport.close()
