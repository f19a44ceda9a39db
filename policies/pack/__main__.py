"""plinth's CrossGuard policy pack. This file ONLY builds the PolicyPack (which starts the analyzer
server and blocks): the rules live in ``policies.rules`` and are tested there as plain callables.
Never import this module from tests or library code.

    pulumi preview --policy-pack policies/pack [--policy-pack-config pack-config.json]
"""

import sys
from pathlib import Path

# The pack's venv installs plinth (requirements.txt); putting this checkout first as well means the
# rules that run are always the ones beside this file, even if another plinth version is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.rules import ALL_POLICIES

PolicyPack(
    name="plinth",
    policies=list(ALL_POLICIES),
    # Each policy carries its own default (mandatory for security and data, advisory for cost and
    # performance); this is only the fallback for a policy that sets none.
    enforcement_level=EnforcementLevel.ADVISORY,
    description="plinth guardrails for AI-ready infrastructure (see docs/policies.md)",
)
