"""Open MPI over SSH: the launcher command line and what its failures mean.

Cross-node nccl-tests (and any other multi-node tool) is started the way AWS's EFA/NCCL guide and
awsome-distributed-training start it: ``mpirun`` on the first node reaches the others over SSH.

What plinth requires of the nodes for that (docs/validators.md, "Fabric tests"):

* the user plinth logs in as can ``ssh`` from the first node to every other node without a password
  (its key in every node's ``authorized_keys``; or ``ssh_identity`` here);
* every peer's host key is in that user's ``known_hosts`` on the first node (or in ``known_hosts``
  here), collected from a trusted source (provisioning, ``ssh-keyscan`` inside the VPC). AWS's guide
  turns ``StrictHostKeyChecking`` off; plinth does not: an unknown key fails the run with a reason;
* Open MPI (``mpirun``, ``orted``/``prted``) and the tool at the same paths on every node.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from validators.fabric.toolout import check_positive, check_word, first_match, first_remedy

# the launcher's own lines when the command never started on every rank (Open MPI 4 and 5, OpenSSH)
LAUNCH_FAILURES = (
    re.compile(r"No \S+ host key is known for \S+ and you have requested strict checking\."),
    re.compile(r"Host key verification failed\..*"),
    re.compile(r"Permission denied \(publickey.*"),
    re.compile(r"ssh: connect to host .*"),
    re.compile(r"ssh: Could not resolve hostname .*"),
    re.compile(r"(?:orted|prted): (?:command )?not found.*"),
    re.compile(r"mpirun has detected an attempt to run as root\..*"),
    re.compile(r"ORTE was unable to reliably start one or more daemons\."),
    re.compile(r"PRTE has lost communication with a remote daemon\..*"),
    re.compile(r"mpirun was unable to (?:launch|find) .*"),
)

_UNKNOWN_KEY = ("Node-to-node SSH: the first node does not know a peer's host key. Add every node's key to the user's "
                "known_hosts on the first node, collected from a trusted source (provisioning, ssh-keyscan inside the "
                "VPC); plinth never turns host-key checking off")
# a launcher failure line → what to do (first match wins)
LAUNCH_REMEDIES: tuple[tuple[str, str], ...] = (
    ("host key is known", _UNKNOWN_KEY),
    ("Host key verification failed", _UNKNOWN_KEY),
    ("Permission denied (publickey",
     "Node-to-node SSH: the first node's key is not authorized on its peers; add it to ~/.ssh/authorized_keys on every node"),
    ("ssh: connect to host", "Node-to-node SSH: a peer is unreachable on the SSH port from the first node"),
    ("Could not resolve hostname", "Node-to-node SSH: the first node cannot resolve a peer's name; use addresses"),
    ("orted", "Open MPI is missing on a peer, or not on its non-interactive PATH over SSH: install the same Open MPI on every node"),
    ("prted", "Open MPI is missing on a peer, or not on its non-interactive PATH over SSH: install the same Open MPI on every node"),
    ("run as root", "mpirun refuses to run as root: run as a user, or allow it explicitly (allow_run_as_root)"),
    ("ORTE was unable", ("Open MPI could not start on every node: check node-to-node SSH, Open MPI on every node and the "
                        "firewall between the nodes")),
    ("lost communication", "Open MPI lost a node: check node-to-node SSH and the firewall between the nodes"),
    ("mpirun was unable", "mpirun could not start the command on every node: is it installed at that path on all of them?"),
)


def launch_failure(lines: Sequence[str]) -> str | None:
    """The most telling launcher failure line in the output, else None."""
    return first_match(lines, LAUNCH_FAILURES)


def launch_remedy(error: str) -> str | None:
    return first_remedy(error, LAUNCH_REMEDIES)


def mpirun_prefix(hosts: Sequence[str], ranks_per_host: int, *, env: Mapping[str, str], ssh_port: int | None = None,
                  ssh_identity: str | None = None, known_hosts: str | None = None, allow_run_as_root: bool = False,
                  mpirun: str = "mpirun") -> list[str]:
    """``mpirun`` over SSH up to the command it starts ``ranks_per_host`` times on every host, with
    ``-x NAME=VALUE`` for each of ``env``. Host keys are verified (``StrictHostKeyChecking=yes``) and
    SSH never prompts (``BatchMode=yes``): a missing key or password fails fast with ssh's reason.

    Hosts, paths and names are checked to be plain words: a host called ``-oProxyCommand=…`` would be
    an ssh option, and Open MPI splits ``plm_rsh_args`` on blanks."""
    if not hosts:
        raise ValueError("mpirun needs at least one host")
    check_positive(ranks_per_host, "ranks_per_host")
    for host in hosts:
        check_word(host, "host")
        if ":" in host:
            raise ValueError(f"host {host!r}: Open MPI reads ':' as the slot count; use a name or an IPv4 address")
    rsh = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    if ssh_port is not None:
        rsh += ["-p", str(check_positive(ssh_port, "ssh_port"))]
    if ssh_identity is not None:
        rsh += ["-i", check_word(ssh_identity, "ssh_identity")]
    if known_hosts is not None:
        rsh += ["-o", f"UserKnownHostsFile={check_word(known_hosts, 'known_hosts')}"]
    argv = [check_word(mpirun, "mpirun"), "--host", ",".join(f"{h}:{ranks_per_host}" for h in hosts),
            "-np", str(len(hosts) * ranks_per_host), "--map-by", f"ppr:{ranks_per_host}:node", "--bind-to", "none"]
    if allow_run_as_root:
        argv.append("--allow-run-as-root")
    # MPI itself only bootstraps: ob1 over TCP keeps it off the fabric under test (AWS's guide:
    # "--mca pml ^cm --mca btl tcp,self --mca btl_tcp_if_exclude lo,docker0"; awsome: "pml ^ucx")
    argv += ["--mca", "plm_rsh_agent", "ssh", "--mca", "plm_rsh_args", " ".join(rsh),
             "--mca", "pml", "ob1", "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_exclude", "lo,docker0"]
    for name in sorted(env):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"environment variable name {name!r} is not a valid name")
        value = env[name]
        if not isinstance(value, str) or "\n" in value or "\0" in value:
            raise ValueError(f"environment variable {name}: the value must be one line of text")
        argv += ["-x", f"{name}={value}"]
    return argv
