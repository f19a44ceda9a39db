"""The pytest plugin (--plinth-inventory) running user tests through testinfra on real sshd."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.sshd import SshdHandle

pytest_plugins = ["pytester"]

USER_TESTS = '''
def test_login_user(plinth_host, plinth_node):
    assert plinth_host.user().name == "plinthtest"
    assert plinth_node.name in ("n1", "n2")

def test_files(plinth_host):
    assert plinth_host.file("/etc/passwd").exists
    assert plinth_host.run("printf %s '$(id)'").stdout == "$(id)"
'''


def inventory(tmp: Path, h: SshdHandle, known_hosts: Path) -> Path:
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump({
        "defaults": {"user": h.user, "port": h.port, "identity_file": str(h.client_key_path), "known_hosts": str(known_hosts)},
        "nodes": [{"name": "n1", "host": h.host}, {"name": "n2", "host": h.host}],
    }))
    return path


def test_each_test_runs_once_per_node(pytester: pytest.Pytester, sshd_server: SshdHandle) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    inv = inventory(pytester.path, sshd_server, sshd_server.known_hosts)
    result = pytester.runpytest_subprocess("--plinth-inventory", str(inv), "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_login_user?n1? PASSED*", "*test_login_user?n2? PASSED*"])


def test_unknown_host_key_errors_the_tests_with_the_reason(pytester: pytest.Pytester, sshd_server: SshdHandle) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    inv = inventory(pytester.path, sshd_server, pytester.path / "empty_known_hosts")
    result = pytester.runpytest_subprocess("--plinth-inventory", str(inv), "-p", "no:cacheprovider")
    result.assert_outcomes(errors=4)  # the fixture failed: pytest reports setup errors
    result.stdout.fnmatch_lines(["*n1: unknown host key*--plinth-accept-new-host-keys*"])
    assert "During handling" not in result.stdout.str()


def test_without_an_inventory_the_tests_skip(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*no --plinth-inventory given*"])
