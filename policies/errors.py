"""The one error type for bad user input, and how a validation error becomes one line that names
the cause: the file (with line and column where the file is YAML), the key, and plinth's own words.

    inventory.yaml:7:7: nodes[1]: unknown key 'hots' (did you mean 'host'?)
    Pulumi.dev.yaml:9:9: plinth:gpuPools[0].maxSize: expected a whole number (got 'lots')
    profile.yaml:3:1: not valid YAML: mapping values are not allowed here

Unknown keys come first: a misspelt ``instanceTyp`` also leaves ``instanceType`` missing, and the
typo is the cause. Suggestions come from the model's own fields (:func:`known_keys`), so a field
added to a model is suggested without touching this module.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

Loc = tuple[int | str, ...]


class ConfigError(Exception):
    """Bad user input (config, inventory, profile, CLI value). The message is one line that names
    the file and the field; the CLI prints it and exits 2."""


def field_path(loc: Sequence[int | str]) -> str:
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


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'instanceType'?)``, or the choices when none is close (at most 12)."""
    # compared without case and separators: instance_type, INSTANCETYPE and budgetUSD find their key
    folded = {c.lower().replace("_", "").replace("-", ""): c for c in choices}
    close = difflib.get_close_matches(word.lower().replace("_", "").replace("-", ""), list(folded), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {folded[close[0]]!r}?)"
    if not choices:
        return ""
    shown = ", ".join(sorted(choices)[:12]) + (", …" if len(choices) > 12 else "")
    return f" (expected one of: {shown})"


# -- walking a model along an error's location ---------------------------------------------------

def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _members(t: Any) -> list[Any]:
    """The non-None members of a union (``X | None`` -> [X]); [t] for anything else."""
    origin = typing.get_origin(t)
    if origin is typing.Union or origin is types.UnionType:
        return [a for a in typing.get_args(t) if a is not type(None)]
    if origin is typing.Annotated:
        return _members(typing.get_args(t)[0])
    return [t]


def _keys(name: str, info: Any) -> set[str]:
    """Every key a field is given by: its name, its alias, the choices of AliasChoices."""
    keys = {name, info.alias}
    choices = getattr(info.validation_alias, "choices", None)
    if choices:
        keys |= {c for c in choices if isinstance(c, str)}
    elif isinstance(info.validation_alias, str):
        keys.add(info.validation_alias)
    return {k for k in keys if k}


def _field(model: type[BaseModel], key: str) -> Any | None:
    for name, info in model.model_fields.items():
        if key in _keys(name, info):
            return info.annotation
    return None


def known_keys(model: type[BaseModel]) -> list[str]:
    """The keys a user writes for ``model`` (aliases where the model has them)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def _step(t: Any, part: int | str) -> tuple[Any, bool]:
    """The type at ``part`` inside ``t``, and whether ``part`` was a real step of the user's
    document (False: a tag pydantic adds for a union member, e.g. 'str' in expect.str)."""
    members = _members(t)
    if len(members) > 1:
        for m in members:
            if _is_model(m) and isinstance(part, str) and _field(m, part) is not None:
                return _field(m, part), True
        for m in members:
            name = getattr(m, "__name__", None) or str(m)
            if isinstance(part, str) and (part == name or part.startswith(("function-", "literal[", "list[", "dict["))):
                return m, False
        for m in members:
            inner, real = _step(m, part)
            if inner is not None:
                return inner, real
        return None, True
    t = members[0]
    if _is_model(t):
        return (_field(t, part) if isinstance(part, str) else None), True
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (list, tuple, set, frozenset) and isinstance(part, int):
        return (args[0] if args else None), True
    if origin is dict:
        return (args[1] if len(args) == 2 else None), True
    return None, True


def _walk(model: type[BaseModel] | None, loc: Loc) -> tuple[Loc, Any]:
    """The location without pydantic's union tags, and the type found at its end."""
    t: Any = model
    kept: list[int | str] = []
    for part in loc:
        if t is None:
            kept.append(part)
            continue
        nxt, real = _step(t, part)
        if real:
            kept.append(part)
        t = nxt
    return tuple(kept), t


# -- plinth's words for pydantic's ------------------------------------------------------------

_WORDS: dict[str, str] = {
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "string_type": "text", "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "list_type": "a list", "tuple_type": "a list", "set_type": "a list",
}
_BOUNDS: dict[str, tuple[str, str]] = {
    "greater_than": ("gt", "must be greater than"), "greater_than_equal": ("ge", "must be at least"),
    "less_than": ("lt", "must be less than"), "less_than_equal": ("le", "must be at most"),
}


def _got(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f" (got a {'mapping' if isinstance(value, dict) else 'list'})"
    return f" (got {value!r:.60})"


def _words(err: Any) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind in _WORDS:
        return f"expected {_WORDS[kind]}{_got(value)}"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"{words} {ctx.get(key)}{_got(value)}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}{_got(value)}"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        return f"needs at {'least' if kind == 'too_short' else 'most'} {n} item{'s' if n != 1 else ''}"
    if kind in ("string_too_short", "string_too_long"):
        n = ctx.get("min_length" if kind == "string_too_short" else "max_length")
        return f"must be at {'least' if kind == 'string_too_short' else 'most'} {n} character{'s' if n != 1 else ''}{_got(value)}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error") or err["msg"])
    msg = str(err["msg"])
    return (msg[:1].lower() + msg[1:]) + ("" if isinstance(value, (dict, list)) else _got(value))


def _union_words(errs: list[Any]) -> str:
    """One line for the N errors pydantic gives for one value of a union type."""
    wanted: list[str] = list(dict.fromkeys(_WORDS.get(str(e["type"]), str(e["type"])) for e in errs))
    return "expected " + (", ".join(wanted[:-1]) + " or " + wanted[-1] if len(wanted) > 1 else wanted[0]) + _got(errs[0].get("input"))


Locator = Callable[[Loc, str], tuple[int, int] | None]
_NAMES_ITS_FIELD = re.compile(r"^[\w:.\[\]-]+: ")  # "plinth:gpuPools[0].availabilityZone: ..."


def describe(exc: ValidationError, model: type[BaseModel] | None = None, *, locate: Locator | None = None,
             display: Callable[[Loc], str] = field_path) -> tuple[str, tuple[int, int] | None]:
    """The first problem of ``exc`` in plinth's words (``where: what``), and its (line, column)
    when ``locate`` knows it. ``model`` (the class that was validated) gives unknown keys their
    did-you-mean; ``display`` writes a location the way the user writes it (``plinth:gpuPools[0]``)."""
    errors = exc.errors(include_url=False)
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")  # stable: otherwise pydantic's order
    first = errors[0]
    loc = _walk(model, tuple(first["loc"]))[0]
    count = len({tuple(_walk(model, tuple(e["loc"]))[0]) for e in errors})
    more = f" (+{count - 1} more)" if count > 1 else ""
    if first["type"] in ("extra_forbidden", "missing") and loc:
        parent, key = loc[:-1], loc[-1]
        owner = _walk(model, parent)[1]
        owners = [m for m in _members(owner) if _is_model(m)] if owner is not None else []
        # a top-level key is shown as the user writes it (display: plinth:gpuPools), a nested one as is
        name = display((key,)) if not parent else str(key)
        if first["type"] == "extra_forbidden":
            choices = [display((c,)) if not parent else c for c in (known_keys(owners[0]) if owners else [])]
            what = f"unknown key {name!r}{did_you_mean(name, choices)}"
        else:
            what = f"required key {name!r} is missing"
        where = locate(loc, "key" if first["type"] == "extra_forbidden" else "parent") if locate else None
        return f"{display(parent)}: {what}{more}", where
    same = [e for e in errors if _walk(model, tuple(e["loc"]))[0] == loc]
    scalar_union = len(same) > 1 and all(e["type"] in _WORDS for e in same)
    what = _union_words(same) if scalar_union else _words(first)
    where = locate(loc, "value") if locate else None
    if not loc and _NAMES_ITS_FIELD.match(what):  # a rule across fields that names the one at fault
        return f"{what}{more}", where
    return f"{display(loc)}: {what}{more}", where


def first_error(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """One line for the first problem pydantic found, naming the field; '+N more' if there are others."""
    return describe(exc, model)[0]


def at(source: str, where: tuple[int, int] | None) -> str:
    """``file`` or ``file:line:column`` (1-based), the form editors and CI annotations jump to."""
    return f"{source}:{where[0]}:{where[1]}" if where else source


__all__ = ["ConfigError", "at", "describe", "did_you_mean", "field_path", "first_error", "known_keys"]
