"""The Pulumi program: stack config -> strategy -> components -> stack outputs.

``__main__.py`` (what `pulumi up` runs) calls :func:`main`. The offline preview and the tests run the
very same :func:`main` under the SDK's mocks, with the stack file handed over as Pulumi config the
way the CLI passes it (:func:`cli_config_values`), so both worlds share one code path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml

from policies.errors import ConfigError, did_you_mean, known_keys
from stacks import cloud_first, edge_centric, hybrid
from stacks.config import NAMESPACE, StackConfig, from_pulumi_config, stack_config_mapping, stack_file
from stacks.outputs import StackOutputs

PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"

# One table: strategy name (plinth:strategy) -> the module that decides which components to build.
STRATEGIES: dict[str, Callable[[StackConfig], StackOutputs]] = {
    "cloud-first": cloud_first.build,
    "hybrid": hybrid.build,
    "edge-centric": edge_centric.build,
}


def _one_line(exc: ConfigError) -> str:
    """Component errors name the field (``plinth:network.azCount: ...``); add the stack file."""
    msg = str(exc)
    if msg.startswith("plinth:"):
        return f"{stack_file(pulumi.get_stack())}: {msg}"
    return msg


def config_keys() -> set[str]:
    """Every config key the program was given. The language host passes the stack's config as the
    ``PULUMI_CONFIG`` JSON environment variable; tests and the offline preview use
    ``set_all_config``. pulumi.Config only answers for keys asked by name, so a misspelt key would
    otherwise be silently ignored."""
    from pulumi.runtime.config import CONFIG, get_config_env

    return set(CONFIG.get()) | set(get_config_env())


def check_unknown_keys(keys: set[str]) -> None:
    """``plinth:gpuPool`` (for gpuPools) must fail like any other bad field, not vanish."""
    # region is read from aws:region (the provider's own key), never plinth:region
    known = set(known_keys(StackConfig)) - {"region"}
    names = (k.split(":", 1)[1] for k in keys if k.startswith(f"{NAMESPACE}:"))
    unknown = sorted(n for n in names if n not in known)
    if unknown:
        hint = " (the region is aws:region)" if unknown[0] == "region" else \
            did_you_mean(f"{NAMESPACE}:{unknown[0]}", [f"{NAMESPACE}:{k}" for k in sorted(known)])
        more = f" (+{len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ConfigError(f"{stack_file(pulumi.get_stack())}: config: unknown key 'plinth:{unknown[0]}'{hint}{more}")


def build(cfg: StackConfig) -> StackOutputs:
    try:
        strategy = STRATEGIES[cfg.strategy]
    except KeyError:  # the config model's Literal makes this unreachable; keep the message anyway
        raise ConfigError(f"plinth:strategy: unknown strategy {cfg.strategy!r}") from None
    return strategy(cfg)


def main() -> None:
    """Read the config, build the strategy, export the outputs.

    Bad input raises ``pulumi.RunError``: the Python language host prints its message as one error
    line and exits without the traceback and source listing other exceptions get."""
    try:
        check_unknown_keys(config_keys())
        cfg = from_pulumi_config()
        outputs = build(cfg)
    except ConfigError as exc:
        raise pulumi.RunError(_one_line(exc)) from None
    outputs.export()


def cli_config_values(config: Mapping[str, Any]) -> dict[str, str]:
    """A stack file's ``config:`` mapping as the Pulumi CLI hands it to a program: every value a
    string; objects and lists JSON-encoded; booleans ``true``/``false``. Feed the result to
    ``pulumi.runtime.set_all_config`` (or the ``PULUMI_CONFIG`` env var) to run offline."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (int, float)):
            out[key] = json.dumps(value)
        else:
            out[key] = json.dumps(value, separators=(",", ":"))
    return out


def project_config_defaults(project_file: Path = PROJECT_FILE) -> dict[str, Any]:
    """``default:`` values of Pulumi.yaml's typed ``config:`` block, keyed ``plinth:<key>`` (the CLI
    applies them to every stack that doesn't set the key). {} where the file isn't there (an
    installed wheel carries no Pulumi.yaml; the model's defaults are the same values)."""
    try:
        raw = yaml.safe_load(project_file.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    block = raw.get("config") if isinstance(raw, dict) else None
    out: dict[str, Any] = {}
    for key, spec in (block or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            out[key if ":" in str(key) else f"{NAMESPACE}:{key}"] = spec["default"]
    return out


def cli_config_for_stack(path: Path, project_file: Path = PROJECT_FILE) -> dict[str, str]:
    """What `pulumi up` on this stack file would hand the program: project defaults overlaid by the
    stack's own values, encoded as the CLI encodes them."""
    return cli_config_values({**project_config_defaults(project_file), **stack_config_mapping(path)})
