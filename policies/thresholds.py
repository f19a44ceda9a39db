"""Threshold models: the one place every number lives.

Workload profiles (``policies/profiles/*.yaml``) map a check id (``<pillar>.<check>``) to a
:class:`Threshold`. The same objects feed the post-deploy validator checks and the preview-time
CrossGuard rules, so "distributed training needs 100 Gbps" is written exactly once.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policies.errors import ConfigError
from policies.inputs import load_yaml, read_input_text, schema_error

PROFILES_DIR = Path(__file__).parent / "profiles"


class Threshold(BaseModel):
    """Bounds for one check. ``min``/``max`` are inclusive; ``expect`` is an exact expectation
    (a model name, a boolean); ``warn_margin`` is the fraction above a floor (or below a
    ceiling) that still passes but earns a warning; ``window_hours`` bounds event-counting checks."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # a bound of .nan compares false with everything

    min: float | None = None
    max: float | None = None
    expect: str | bool | int | float | None = None
    unit: str | None = None
    warn_margin: float = Field(default=0.05, ge=0, le=1)
    # checks that count events (kernel-log Xids, link flaps): only events this recent count; unset:
    # every event since the node booted
    window_hours: float | None = Field(default=None, gt=0)
    why: str | None = None
    # how an ACTIVE test behind this check runs (message size, DCGM level, time bound): read by the
    # gatherer that runs it (validators/fabric/phase.py), not by the judge's bounds
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)


class Profile(BaseModel):
    """A workload profile: which checks apply and with what bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    thresholds: dict[str, Threshold]

    def threshold(self, check_id: str) -> Threshold | None:
        return self.thresholds.get(check_id)


def load_profile_file(path: Path) -> Profile:
    raw, node = load_yaml(read_input_text(path, "profile"), str(path))
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        raise schema_error(str(path), exc, Profile, node) from None


@cache
def builtin_profiles() -> dict[str, Profile]:
    profiles = {}
    for path in sorted(PROFILES_DIR.glob("*.yaml")):
        profile = load_profile_file(path)
        profiles[profile.name] = profile
    return profiles


def get_profile(name_or_path: str) -> Profile:
    """A built-in profile by name, or a user's profile file by path."""
    profiles = builtin_profiles()
    if name_or_path in profiles:
        return profiles[name_or_path]
    path = Path(name_or_path).expanduser()
    if path.suffix in {".yaml", ".yml"} and ("/" in name_or_path or path.exists()):  # no stat() of a path on a hung mount
        return load_profile_file(path)
    raise ConfigError(
        f"profile: unknown profile {name_or_path!r} (built-in: {', '.join(sorted(profiles))}; or a path to a .yaml file)"
    )
