"""What the user's OpenSSH client config (``~/.ssh/config``) says about a node, through paramiko's
``SSHConfig`` (the same Host/Match matching, first-obtained-value-wins and ``%h``-style tokens as
``ssh``; ssh_config(5)).

plinth reads HostName, User, Port, IdentityFile and ProxyJump. The inventory decides first: a field
the inventory sets (on the node or in its ``defaults:``) wins, then the SSH config, then plinth's
own defaults. What plinth cannot honour is refused with one line rather than half-applied:

* ``Match exec`` (it would run a command while plinth reads a file);
* a ProxyCommand for a node with no jump host (plinth would connect around it);
* a ProxyJump chain of several hops (plinth jumps through one host).

``Include`` is expanded the way ssh does (globs, relative to ``~/.ssh``, sorted, at most 16 deep),
since paramiko would silently skip it and every Host in an included file would be missed.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from policies.errors import ConfigError
from validators.inventory_formats.files import read_text

MAX_INCLUDE_DEPTH = 16  # OpenSSH's READCONF_MAX_DEPTH
_INCLUDE = re.compile(r"^\s*include\s*(?:=\s*|\s)(.+?)\s*$", re.IGNORECASE)
_BLOCK = re.compile(r"^\s*(host|match)\b", re.IGNORECASE)
_MATCH_EXEC = re.compile(r"^\s*match\b.*\bexec\b", re.IGNORECASE)
_JUMP = re.compile(r"^(?:ssh://)?(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]\s]+\]|[^:@\s\[\]]+)(?::(?P<port>\d{1,5}))?$")


def parse_jump(spec: str, where: str) -> dict[str, Any] | None:
    """A ProxyJump value (``[user@]host[:port]``, ``ssh://…``; ``none``) as JumpHost fields, or None.
    ``where`` prefixes the one-line error (file, line, field)."""
    spec = spec.strip()
    if spec.lower() == "none":
        return None
    if "," in spec:
        raise ConfigError(f"{where}: ProxyJump {spec!r} has several hops; plinth jumps through one host")
    m = _JUMP.match(spec)
    if not m:
        raise ConfigError(f"{where}: expected ProxyJump [user@]host[:port], got {spec!r}")
    out: dict[str, Any] = {"host": m["host"].strip("[]")}
    if m["user"]:
        out["user"] = m["user"]
    if m["port"]:
        out["port"] = int(m["port"])
    return out


@dataclass(frozen=True)
class SshHost:
    """The SSH config's answer for one host name (None: the config does not say)."""

    hostname: str | None = None
    user: str | None = None
    port: int | None = None
    identity_file: Path | None = None
    proxy_jump: str | None = None
    proxy_command: str | None = None


def _expand(path: Path, text: str, depth: int, seen: list[Path]) -> list[str]:
    """The config's lines with every Include replaced by the included files' lines. After an
    included file the enclosing Host/Match line is repeated, so what follows the Include stays in
    the block it was written in (ssh parses an included file in its own context)."""
    out: list[str] = []
    block = "Host *"
    for n, line in enumerate(text.splitlines(), 1):
        if _MATCH_EXEC.match(line):
            raise ConfigError(f"{path}:{n}: SSH config: `Match exec` is not supported (plinth runs no command from a "
                              "config file); set `ssh_config:` in the inventory to another file, or to null")
        if _BLOCK.match(line):
            block = line.strip()
        m = _INCLUDE.match(line)
        if not m:
            out.append(line)
            continue
        if depth >= MAX_INCLUDE_DEPTH:
            raise ConfigError(f"{path}:{n}: SSH config: Include nested deeper than {MAX_INCLUDE_DEPTH}")
        for pattern in m.group(1).split():
            full = Path(pattern).expanduser()
            if not full.is_absolute():
                full = Path("~/.ssh").expanduser() / full  # ssh_config(5): relative to ~/.ssh for a user config
            for name in sorted(glob.glob(str(full))):
                included = Path(name)
                if len(seen) >= 64:
                    raise ConfigError(f"{path}:{n}: SSH config: more than 64 included files")
                seen.append(included)
                out += _expand(included, read_text(included, "SSH config"), depth + 1, seen)
        out.append(block)
    return out


class SshConfigFile:
    """One parsed SSH client config file (Includes expanded)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lines = _expand(path, read_text(path, "SSH config"), 0, [path])
        try:
            self._config = paramiko.SSHConfig.from_text("\n".join(lines))
        except (paramiko.ConfigParseError, ValueError) as exc:
            raise ConfigError(f"{path}: SSH config: {' '.join(str(exc).split())}") from None

    def lookup(self, host: str) -> SshHost:
        try:
            found = self._config.lookup(host)
        except (paramiko.ConfigParseError, paramiko.CouldNotCanonicalize, ValueError, KeyError) as exc:
            raise ConfigError(f"{self.path}: SSH config for {host}: {' '.join(str(exc).split())}") from None
        port = found.get("port")
        if port is not None and not (str(port).isdigit() and 1 <= int(port) <= 65535):
            raise ConfigError(f"{self.path}: SSH config for {host}: Port: expected 1-65535, got {port!r}")
        files = [Path(p) for p in found.get("identityfile", [])]
        hostname = found.get("hostname")
        return SshHost(
            hostname=hostname if hostname and hostname != host else None,
            user=found.get("user"),
            port=int(port) if port is not None else None,
            # ssh tries each IdentityFile in turn; plinth takes one: the first that exists
            identity_file=next((p for p in files if p.exists()), None),
            proxy_jump=found.get("proxyjump"),
            proxy_command=found.get("proxycommand"),
        )


def default_path() -> Path:
    return Path("~/.ssh/config").expanduser()


__all__ = ["SshConfigFile", "SshHost", "default_path", "parse_jump"]
