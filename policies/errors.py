"""The one error type for bad user input, and how pydantic errors become one line."""

from __future__ import annotations

from pydantic import ValidationError


class ConfigError(Exception):
    """Bad user input (config, inventory, profile, CLI value). The message is one line that names
    the file and the field; the CLI prints it and exits 2."""


def field_path(loc: tuple[int | str, ...]) -> str:
    """('nodes', 0, 'host') -> 'nodes[0].host'"""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = str(part)
            if not part.isprintable() or not part:  # a user's key with a newline must not break the one line
                part = repr(part)
            out += f".{part}" if out else part
    return out or "(top level)"


def first_error(exc: ValidationError) -> str:
    """One line for the first problem pydantic found, naming the field; '+N more' if there are others."""
    errors = exc.errors(include_url=False)
    err = errors[0]
    loc = field_path(tuple(err["loc"]))
    msg = err["msg"]
    if err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "extra_forbidden":
        msg = "unknown field"
    value = err.get("input")
    shown = "" if err["type"] in ("missing", "extra_forbidden") or isinstance(value, (dict, list)) else f" (got {value!r:.60})"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {msg}{shown}{more}"
