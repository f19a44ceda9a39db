"""Reading resource properties the way the policy engine delivers them.

The engine hands a policy ``props`` as camelCase, nested mappings wrapped in pulumi_policy's
"unknown-checking proxy": touching a value that is unknown during preview (an output of a resource
not yet created) raises ``UnknownValueError``, which the analyzer turns into an advisory "can't run
during preview" note. :func:`plain` unwraps the proxy once, replacing unknowns with :data:`UNKNOWN`,
so rules can look at everything that *is* known and decide themselves when an unknown matters
(:func:`require_known` re-raises the engine's own error then). Numbers arrive as floats (protobuf).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    _DictProxy,
    _ListProxy,
)

_SENTINELS = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE,
    }
)


class _Unknown:
    """A value that can't be known until the resource exists."""

    _instance: _Unknown | None = None

    def __new__(cls):  # a singleton: `is UNKNOWN` is the test
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:  # never silently truthy or falsy in a rule: compare explicitly
        raise TypeError("an unknown preview value has no truth value; check `is UNKNOWN` first")


UNKNOWN: Any = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def plain(value: Any) -> Any:
    """Proxies (and raw dicts/lists holding the engine's sentinel strings) to plain Python values
    with :data:`UNKNOWN` where the engine sent an unknown."""
    if isinstance(value, (_DictProxy, _ListProxy)):
        value = value["__target"]
    if isinstance(value, str):
        return UNKNOWN if value in _SENTINELS else value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [plain(v) for v in value]
    return value


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """``obj[path0][path1]…`` on plain values; ``default`` where a key is missing or a value is None,
    :data:`UNKNOWN` where the walk meets an unknown."""
    cur = obj
    for key in path:
        if cur is UNKNOWN:
            return UNKNOWN
        if isinstance(key, int):
            if not isinstance(cur, list) or not -len(cur) <= key < len(cur):
                return default
            cur = cur[key]
        else:
            if not isinstance(cur, Mapping) or key not in cur:
                return default
            cur = cur[key]
        if cur is None:
            return default
    return cur


def require_known(value: Any, *path: str | int) -> Any:
    """Raise the engine's own ``UnknownValueError`` for an unknown value a verdict depends on."""
    if value is UNKNOWN:
        raise UnknownValueError(UNKNOWN_STRING_VALUE, [str(p) for p in path])
    return value


def as_list(value: Any) -> list[Any]:
    """IAM-style "string or list of strings" (and None) as a list."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def truthy(value: Any) -> bool:
    """Booleans as the engine may send them (True, "true"); unknown is not true."""
    if value is UNKNOWN:
        return False
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def parse_json_document(value: Any, *path: str) -> dict[str, Any] | None:
    """A JSON policy document input (string, or already a mapping). None when absent; raises the
    engine's unknown error when the document is still unknown; {} when it isn't valid JSON."""
    require_known(value, *path)
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            doc = json.loads(value)
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}
    return {}


def statements(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, dict)]
