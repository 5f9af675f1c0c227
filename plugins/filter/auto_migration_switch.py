# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: auto_migration_switch
short_description: The auto-migration switch an Agenta release actually reads, and its effect
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes the variables of a deployment's env file (from P(agenta.fleet.env_file#filter)), its migration layout
    and its release tag, and says whether Agenta's one-shot C(alembic) service migrates by itself at
    C(docker compose up), which variable decides it, and which switch lines are read by nothing.
  - "Releases up to v0.45 (layout V(g1) is v0.34 - v0.44, V(g2) starts at v0.45) read only
    C(AGENTA_AUTO_MIGRATIONS) and migrate only when it is exactly C(true); the default is off."
  - "v0.46 - v0.77 read only C(AGENTA_AUTO_MIGRATIONS); the default is on; on when the value, in lower case, is
    one of C(true), C(1), C(t), C(y), C(yes), C(on), C(enable), C(enabled), else off."
  - "v0.78 and later (layout V(g3) is v0.104 and later) read C(ALEMBIC_AUTO_MIGRATIONS) first and
    C(AGENTA_AUTO_MIGRATIONS) as a fallback, with the same true words; an empty value counts as unset; the
    default is on."
  - C(AGENTA_AUTO_MIGRATION) (singular, the name in Agenta's docs) is read by no release; the sentence says so
    when the file has it.
  - The release comes from O(release) when it is a version tag (C(v0.104.0), C(0.44.4), an image reference
    ending in one) that fits O(layout). Layout V(g2) with no usable tag (for example C(latest)) is taken as
    v0.78 or later, and the sentence says that this was assumed. With neither a layout nor a usable tag, the
    answer is the same for every release or RV(_value.state) is V(unknown).
  - A first install (version table missing) always migrates, whatever the switch says; this filter describes
    the switch only.
  - Only the switch's variables are looked at; the sentence never holds another value of the env file.
positional: layout, release
options:
  _input:
    description: Variable name -> value, as returned by P(agenta.fleet.env_file#filter).
    type: dictionary
    required: true
  layout:
    description:
      - The deployment's migration layout (V(g1), V(g2) or V(g3)), for example the C(layout) returned by
        M(agenta.fleet.alembic_migration_info).
      - Empty or null when it is not known.
    type: string
  release:
    description:
      - The release tag of the deployed API image (C(v0.104.0)), or the whole image reference.
      - Anything that is not a version tag (C(latest), empty, null) counts as unknown.
    type: string
seealso:
  - plugin: agenta.fleet.env_file
    plugin_type: filter
  - module: agenta.fleet.alembic_migration_info
"""

EXAMPLES = r"""
- name: Say what the deployment's auto-migration switch does
  ansible.builtin.debug:
    msg: "{{ (env_raw.content | b64decode | agenta.fleet.env_file(env_path)
              | agenta.fleet.auto_migration_switch(info.layout, 'v0.43.0')).sentence }}"

# {"AGENTA_AUTO_MIGRATION": "true"} with layout g1 gives
#   {"state": "off", "variable": null, "value": null, "rule": "v0.34-v0.45",
#    "sentence": "off: AGENTA_AUTO_MIGRATIONS unset; AGENTA_AUTO_MIGRATION=true is read by nothing"}
# {"ALEMBIC_AUTO_MIGRATIONS": "false", "AGENTA_AUTO_MIGRATIONS": "true"} with layout g3 gives
#   {"state": "off", "variable": "ALEMBIC_AUTO_MIGRATIONS", "value": "false", "rule": "v0.78+",
#    "sentence": "off: ALEMBIC_AUTO_MIGRATIONS=false; AGENTA_AUTO_MIGRATIONS=true is overridden by ALEMBIC_AUTO_MIGRATIONS"}
# {} with layout g3 gives {"state": "on", "variable": null, "value": null, "rule": "v0.78+",
#   "sentence": "on: default (nothing set)"}
"""

RETURN = r"""
_value:
  description: What the switch does on the deployed release.
  type: dictionary
  contains:
    state:
      description:
        - V(on) when the C(alembic) service migrates by itself at C(docker compose up), V(off) when it does not.
        - V(unknown) only when neither the layout nor the release is known and releases disagree.
      type: string
      sample: "off"
    variable:
      description: The variable that decides; null when the release's default decides.
      type: string
      sample: ALEMBIC_AUTO_MIGRATIONS
    value:
      description: Its value (possibly empty); null when the default decides.
      type: string
      sample: "false"
    rule:
      description: The releases whose rule was applied (V(v0.34-v0.45), V(v0.46-v0.77) or V(v0.78+)); null when unknown.
      type: string
      sample: v0.78+
    sentence:
      description: "One line for a report, for example C(off: AGENTA_AUTO_MIGRATIONS unset; AGENTA_AUTO_MIGRATION=true is
        read by nothing)."
      type: string
"""

import json
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

ALEMBIC = "ALEMBIC_AUTO_MIGRATIONS"
AGENTA = "AGENTA_AUTO_MIGRATIONS"
DOCS_NAME = "AGENTA_AUTO_MIGRATION"  # in Agenta's docs; read by no release
NAMES = (ALEMBIC, AGENTA, DOCS_NAME)

TRUE_WORDS = frozenset(("true", "1", "t", "y", "yes", "on", "enable", "enabled"))
FALSE_WORDS = frozenset(("false", "0", "f", "n", "no", "off", "disable", "disabled"))

# The three rules, oldest first.
EXACT_TRUE = "v0.34-v0.45"  # AGENTA_AUTO_MIGRATIONS == "true", default off
AGENTA_ONLY = "v0.46-v0.77"  # AGENTA_AUTO_MIGRATIONS, true words, default on
ALEMBIC_FIRST = "v0.78+"  # ALEMBIC_AUTO_MIGRATIONS, else AGENTA_AUTO_MIGRATIONS, true words, default on
RULES = (EXACT_TRUE, AGENTA_ONLY, ALEMBIC_FIRST)

# layout -> (releases it spans, printable; first release; first release after it, or None; rules it may follow)
LAYOUTS = {
    "g1": ("v0.34-v0.44", (0, 34), (0, 45), (EXACT_TRUE,)),
    "g2": ("v0.45-v0.103", (0, 45), (0, 104), RULES),
    "g3": ("v0.104+", (0, 104), None, (ALEMBIC_FIRST,)),
}

_TAG = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+._][0-9A-Za-z.+_-]*)?$")
_PLAIN = re.compile(r"^[A-Za-z0-9_.+:/@-]{1,40}$")


def parse_release(release):
    """A version tag (or an image reference ending in one) -> (major, minor, patch); anything else -> None."""
    if release is None:
        return None
    text = str(release).strip()
    tail = text.rsplit(":", 1)[-1] if ":" in text else text
    if "/" in tail:  # "registry:5000/agenta-api" has no tag
        return None
    match = _TAG.match(tail)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


# rule -> (first release, last release or None)
RULE_SPANS = {EXACT_TRUE: ("v0.34", "v0.45"), AGENTA_ONLY: ("v0.46", "v0.77"), ALEMBIC_FIRST: ("v0.78", None)}


def _span(first_rule, last_rule):
    """The releases of a run of rules: v0.34-v0.77, v0.46+."""
    start, end = RULE_SPANS[first_rule][0], RULE_SPANS[last_rule][1]
    return "%s-%s" % (start, end) if end else start + "+"


def rule_for(version):
    if version < (0, 46):
        return EXACT_TRUE
    if version < (0, 78):
        return AGENTA_ONLY
    return ALEMBIC_FIRST


def _text(value):
    """An env value as Compose hands it to the container: a string (None means unset)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def shown(name, value):
    """NAME=value for a sentence; an empty value is "NAME empty", an odd one is quoted and cut at 40 characters."""
    if value == "":
        return "%s empty" % name
    if _PLAIN.match(value):
        return "%s=%s" % (name, value)
    cut = value if len(value) <= 40 else value[:40] + "..."
    return "%s=%s" % (name, json.dumps(cut))


def _why_off(rule, value):
    """A note for a value that turns the switch off although it may have been meant as on."""
    if rule == EXACT_TRUE:
        if value != "true" and (value.strip().lower() in TRUE_WORDS):
            return " (releases up to v0.45 migrate only on exactly 'true')"
        return ""
    if value.lower() not in FALSE_WORDS:
        return " (not a true word)"
    return ""


def evaluate(env, rule):
    """(state, variable, value, main clause, notes) of the switch under one rule."""
    present = dict((n, _text(env[n])) for n in NAMES if n in env and _text(env[n]) is not None)
    notes = []
    if rule == EXACT_TRUE:
        if ALEMBIC in present:
            notes.append("%s is not read before v0.78" % shown(ALEMBIC, present[ALEMBIC]))
        if AGENTA in present:
            value = present[AGENTA]
            state = "on" if value == "true" else "off"
            main = shown(AGENTA, value) + ("" if state == "on" else _why_off(rule, value))
            variable = AGENTA
        else:
            state, variable, value, main = "off", None, None, "%s unset" % AGENTA
    else:
        readers = (AGENTA,) if rule == AGENTA_ONLY else (ALEMBIC, AGENTA)
        if rule == AGENTA_ONLY and ALEMBIC in present:
            notes.append("%s is not read before v0.78" % shown(ALEMBIC, present[ALEMBIC]))
        variable = next((n for n in readers if present.get(n)), None)
        for name in readers:
            if name == variable or name not in present:
                continue
            if variable is not None and readers.index(name) > readers.index(variable):
                if present[name]:
                    notes.append("%s is overridden by %s" % (shown(name, present[name]), variable))
                continue
            note = "%s counts as unset" % shown(name, "")
            if rule == AGENTA_ONLY:
                note += " (some releases before v0.78 read it as off)"
            notes.append(note)
        if variable is None:
            state, value, main = "on", None, "default (nothing set)"
        else:
            value = present[variable]
            state = "on" if value.lower() in TRUE_WORDS else "off"
            main = shown(variable, value) + ("" if state == "on" else _why_off(rule, value))
    if DOCS_NAME in present:
        notes.append("%s is read by nothing" % shown(DOCS_NAME, present[DOCS_NAME]))
    return state, variable, value, main, notes


def _settle_rule(layout, release):
    """(rule or None, note or None): the rule of the deployed release, from its layout and its tag."""
    version = parse_release(release)
    tag = str(release).strip() if release is not None else ""
    if layout is None:
        return (rule_for(version), None) if version else (None, None)
    span, first, after, rules = LAYOUTS[layout]
    if version and version >= first and (after is None or version < after):
        return rule_for(version), None
    if version:
        note = "tag %s does not fit layout %s (%s)" % (tag, layout, span)
    else:
        note = "release tag unknown" + (" (%s)" % tag if tag else "")
    if len(rules) == 1:
        return rules[0], (note + ": the layout's rule used") if version else None
    return ALEMBIC_FIRST, note + ": v0.78+ rule assumed"


def auto_migration_switch(env, layout=None, release=None):
    """The env file's variables, the layout (g1/g2/g3) and the release tag -> {state, variable, value, rule,
    sentence}."""
    if not isinstance(env, Mapping):
        raise AnsibleFilterError("agenta.fleet.auto_migration_switch expects the env file's variables (a dictionary "
                                 "from agenta.fleet.env_file), not %s." % type(env).__name__)
    if layout is not None and not isinstance(layout, str):
        raise AnsibleFilterError("agenta.fleet.auto_migration_switch: layout must be g1, g2, g3 or empty, not %s."
                                 % type(layout).__name__)
    layout = (layout or "").strip().lower() or None
    if layout is not None and layout not in LAYOUTS:
        raise AnsibleFilterError("agenta.fleet.auto_migration_switch: layout must be g1, g2, g3 or empty, not %r."
                                 % layout)

    rule, rule_note = _settle_rule(layout, release)
    if rule is not None:
        state, variable, value, main, notes = evaluate(env, rule)
        if rule_note:
            notes.append(rule_note)
        return dict(state=state, variable=variable, value=value, rule=rule,
                    sentence="; ".join(["%s: %s" % (state, main)] + notes))

    # Neither the layout nor the release is known: say what each rule gives (neighbouring rules that give the
    # same answer are told once).
    groups, notes = [], []
    for rule in RULES:
        state, variable, value, main, rule_notes = evaluate(env, rule)
        notes.extend(n for n in rule_notes if n not in notes)
        if groups and groups[-1]["answer"] == (state, variable, value, main):
            groups[-1]["last"] = rule
        else:
            groups.append(dict(first=rule, last=rule, answer=(state, variable, value, main)))
    if len(groups) == 1:
        state, variable, value, main = groups[0]["answer"]
        head = "%s: %s (release unknown; the same for every release)" % (state, main)
        return dict(state=state, variable=variable, value=value, rule=None, sentence="; ".join([head] + notes))
    per_rule = ", ".join("%s %s: %s" % (_span(g["first"], g["last"]), g["answer"][0], g["answer"][3])
                         for g in groups)
    states = set(g["answer"][0] for g in groups)
    state = states.pop() if len(states) == 1 else "unknown"
    head = "%s: release unknown (%s)" % (state, per_rule)
    return dict(state=state, variable=None, value=None, rule=None, sentence="; ".join([head] + notes))


class FilterModule(object):
    def filters(self):
        return {"auto_migration_switch": auto_migration_switch}
