"""docs/variables.md is generated from the roles' argument specs; it must be current (make docs writes it)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_variables_reference_is_current():
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "variables_reference.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_every_role_and_every_option_is_in_it():
    import yaml
    text = (ROOT / "docs" / "variables.md").read_text()
    for spec in ROOT.glob("roles/*/meta/argument_specs.yml"):
        assert f"## agenta.fleet.{spec.parts[-3]}" in text
        for option in yaml.safe_load(spec.read_text())["argument_specs"]["main"]["options"]:
            assert f"| `{option}` |" in text, option
