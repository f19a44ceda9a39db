"""Reading a user's input file: the one way plinth does it.

Inventories, stack files, stack outputs, profiles, policy configs, SSH keys and known_hosts files
all go through :func:`read_input`, which refuses what is not a regular file of bounded size before
reading a byte of it:

- the file is opened with ``O_NONBLOCK`` and judged with ``fstat`` on that descriptor: a FIFO
  (``mkfifo``, ``<(cmd)``) opens at once instead of blocking until a writer comes, a device
  (``/dev/zero``, ``/dev/urandom``, a tty) is refused instead of read until memory runs out, and
  what is judged is what is read (no race between a ``stat`` and an ``open``);
- at most ``limit`` bytes are read, even where ``st_size`` lies (``/proc`` files say 0);
- the whole read runs under a deadline (:data:`READ_TIMEOUT_S`): on a hung network or FUSE mount
  even ``open`` never returns, and waiting for it is the hang this module exists to prevent.

Every refusal is a :class:`ConfigError` that starts with the path (exit 2 at the CLI).

:func:`load_yaml` then parses the text keeping each node's position, so that every later error,
YAML's own or the schema's, can say ``file:line:column`` (:func:`yaml_locator`).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from policies.errors import ConfigError, Loc, Locator, at, describe, field_path

MAX_INPUT_BYTES = 16 * 1024 * 1024  # a 10,000-node inventory is ~1 MiB; a big known_hosts a few MiB
READ_TIMEOUT_S = 10.0


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _mib(n: int) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.3g} GiB"
    return f"{n / 1024**2:.3g} MiB" if n >= 1024**2 else f"{n:,} bytes"


def _read(path: Path, what: str, limit: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path}: {what} is {_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise ConfigError(f"{path}: {what} is {_mib(st.st_size)}; plinth reads at most {_mib(limit)}")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ConfigError(f"{path}: {what} is larger than {_mib(limit)}; plinth reads at most that")
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_input(path: Path | str, what: str, limit: int = MAX_INPUT_BYTES, timeout: float | None = None) -> bytes:
    """The bytes of an input file, or ConfigError ``<path>: <what> …`` naming why not. ``what``
    says what the file is for (``inventory``, ``SSH identity file``); ``timeout`` defaults to
    :data:`READ_TIMEOUT_S`."""
    path = Path(path).expanduser()
    timeout = READ_TIMEOUT_S if timeout is None else timeout
    data: list[bytes] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            data.append(_read(path, what, limit))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            error.append(exc)

    # a daemon thread: one stuck in a hung mount's open() must not keep the process alive
    worker = threading.Thread(target=run, name="plinth-read-input", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise ConfigError(f"{path}: cannot read {what}: no answer within {timeout:g} s (a hung network or FUSE mount?)")
    if error:
        raise error[0]
    return data[0]


def read_input_text(path: Path | str, what: str, limit: int = MAX_INPUT_BYTES) -> str:
    """:func:`read_input` decoded as UTF-8 (a BOM is dropped); undecodable bytes are a ConfigError
    naming the byte offset."""
    data = read_input(path, what, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{Path(path).expanduser()}: {what} is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})") from None


def check_input(path: Path | str, what: str, limit: int = MAX_INPUT_BYTES) -> None:
    """Refuse now (ConfigError) what :func:`read_input` would refuse later; a missing file is
    left to the caller (an absent known_hosts is normal)."""
    try:
        read_input(path, what, limit)
    except ConfigError as exc:
        if str(exc).endswith(f"{what} not found"):
            return
        raise


# -- YAML with positions -------------------------------------------------------------------------

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: ~10x faster


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """yaml's safe loader, except that a value its constructors reject (2001-13-45, a bad
    !!binary) is a YAMLError at that node's position instead of a bare ValueError, and a key given
    twice in one mapping is an error (YAML 1.2 says keys are unique; PyYAML keeps the last one
    silently, so the first ``maxSize:`` a user reads would not be the one plinth used)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key.value!r} (first given on line {seen[key.value]})", key.start_mark)
                    seen[key.value] = key.start_mark.line + 1
        return super().construct_mapping(node, deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(None, None, " ".join(str(exc).split()) or exc.__class__.__name__,
                                                    node.start_mark) from None


class YamlError(ConfigError):
    """Text that is not YAML plinth can read; ``cause`` is yaml's own exception (a caller that knows
    another format, like an Ansible inventory with ``!vault`` values, looks at it)."""

    def __init__(self, message: str, cause: Exception | None = None) -> None:
        super().__init__(message)
        self.cause = cause


def _yaml_reason(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem:
        return " ".join(f"{f'{context}, ' if context else ''}{problem}".split())
    return " ".join(str(exc).split())


def _line_col(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def load_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The document's data and its node tree (for :func:`yaml_locator`); ConfigError
    ``source:line:column: not valid YAML: <reason>`` otherwise."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else None
        raise YamlError(f"{at(source, where)}: not valid YAML: {_yaml_reason(exc)}", exc) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, other C0 controls)
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        raise YamlError(f"{at(source, _line_col(text, exc.position))}: not valid YAML: character {char!r} is not allowed", exc) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{source}: not valid YAML: {_yaml_reason(exc)}", exc) from None
    except RecursionError:
        raise YamlError(f"{source}: not valid YAML: nested too deep") from None
    finally:
        loader.dispose()


def yaml_locator(root: yaml.Node | None, to_yaml: Callable[[Loc], Loc] = lambda loc: loc) -> Locator:
    """A function giving the (line, column) of an error's location in the document: the key itself
    (``what="key"``), the mapping that lacks it (``"parent"``) or the value (``"value"``).
    ``to_yaml`` maps a model location to the document's keys (a stack file nests its keys under
    ``config:`` and prefixes them ``plinth:``). Where the document stops matching, the deepest node
    found is named."""

    def locate(loc: Loc, what: str) -> tuple[int, int] | None:
        if root is None:
            return None
        path = to_yaml(loc)
        node: yaml.Node = root
        key_node: yaml.Node | None = None
        steps = path[:-1] if what == "parent" else path
        for part in steps:
            nxt: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        key_node, nxt = k, v
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                key_node, nxt = None, node.value[part]
            if nxt is None:
                break
            node = nxt
        chosen = key_node if what == "key" and key_node is not None else node
        mark = chosen.start_mark
        return mark.line + 1, mark.column + 1

    return locate


def schema_error(source: str, exc: ValidationError, model: type[BaseModel], node: yaml.Node | None = None, *,
                 to_yaml: Callable[[Loc], Loc] = lambda loc: loc, display: Callable[[Loc], str] = field_path) -> ConfigError:
    """The ConfigError for a document ``model`` rejected: ``source[:line:col]: where: what``."""
    what, where = describe(exc, model, locate=yaml_locator(node, to_yaml) if node is not None else None, display=display)
    return ConfigError(f"{at(source, where)}: {what}")


__all__ = ["MAX_INPUT_BYTES", "READ_TIMEOUT_S", "YamlError", "check_input", "load_yaml", "read_input", "read_input_text", "schema_error", "yaml_locator"]
