#!/usr/bin/env python3
"""Write docs/variables.md, the variables reference of every role, from roles/*/meta/argument_specs.yml.

    python3 tools/variables_reference.py          # write docs/variables.md
    python3 tools/variables_reference.py --check  # exit 1 when docs/variables.md is not current (make test)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "variables.md"
MARKUP = re.compile(r"\b([CIVOB]|RV)\(([^()]*)\)")


def text(value) -> str:
    """Ansible doc markup (C(x), V(x), O(x), I(x), B(x), RV(x)) to Markdown, on one line."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)

    def repl(match):
        kind, inner = match.groups()
        return f"**{inner}**" if kind == "B" else f"*{inner}*" if kind == "I" else f"`{inner}`"
    return MARKUP.sub(repl, str(value or "")).replace("|", "\\|").replace("\n", " ").strip()


def default_of(option: dict) -> str:
    if "default" not in option:
        return "(required)" if option.get("required") else ""
    value = option["default"]
    if isinstance(value, str):
        shown = value
    elif isinstance(value, (list, dict)):
        shown = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    else:
        shown = str(value).lower() if isinstance(value, bool) else str(value)
    return f"`{shown}`".replace("|", "\\|") if shown != "" else '`""`'


def render() -> str:
    lines = ["# Variables reference", "",
             "Generated from each role's `meta/argument_specs.yml` by `tools/variables_reference.py`",
             "(`make docs`); do not edit by hand. The playbooks' own variables (`agenta_target_tag`, `agenta_hosts`,",
             "...) are in the [operator guide](operator-guide.md#variables-of-the-playbooks).", ""]
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        role = spec_file.parts[-3]
        main = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]
        lines += [f"## agenta.fleet.{role}", "", text(main.get("short_description")), ""]
        lines += [f"- {text(d)}" for d in (main.get("description") or [])]
        lines += ["", "| variable | type | default | meaning |", "|---|---|---|---|"]
        for name, option in sorted((main.get("options") or {}).items()):
            kind = option.get("type", "str")
            if option.get("elements"):
                kind += f" of {option['elements']}"
            if option.get("choices"):
                kind += " (" + ", ".join(str(c) for c in option["choices"]) + ")"
            secret = " Secret: never logged." if option.get("no_log") else ""
            lines.append(f"| `{name}` | {kind} | {default_of(option)} | {text(option.get('description'))}{secret} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    content = render()
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text() != content:
            print(f"{OUT.relative_to(ROOT)} is not current: run make docs", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(content)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
