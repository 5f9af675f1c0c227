"""Unit tests of the filter agenta.fleet.auto_migration_switch (env file variables, layout, release -> what the
auto-migration switch does), which status.yml reports."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.filter import auto_migration_switch as plugin
from ansible_collections.agenta.fleet.plugins.filter.auto_migration_switch import FilterModule, auto_migration_switch
from ansible_collections.agenta.fleet.plugins.filter.env_file import env_file

ALEMBIC = "ALEMBIC_AUTO_MIGRATIONS"
AGENTA = "AGENTA_AUTO_MIGRATIONS"
DOCS = "AGENTA_AUTO_MIGRATION"
TRUE_WORDS = ["true", "1", "t", "y", "yes", "on", "enable", "enabled", "TRUE", "Yes", "Enabled"]
FALSE_WORDS = ["false", "0", "f", "n", "no", "off", "disable", "disabled", "False", "OFF"]


def switch(env, layout=None, release=None):
    return auto_migration_switch(env, layout, release)


def test_filter_is_registered_under_its_name():
    assert FilterModule().filters() == {"auto_migration_switch": auto_migration_switch}


def test_docs_are_yaml_with_the_options_and_return_keys():
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc["name"] == "auto_migration_switch"
    assert set(doc["options"]) == {"_input", "layout", "release"}
    assert doc["positional"] == "layout, release"
    yaml.safe_load(plugin.EXAMPLES)
    ret = yaml.safe_load(plugin.RETURN)
    assert set(ret["_value"]["contains"]) == {"state", "variable", "value", "rule", "sentence"}


# -- the four lines of the report (issue 9, item 9) -------------------------------------------------------------


def test_g1_with_only_the_docs_name_is_off():
    assert switch({DOCS: "true"}, "g1") == {
        "state": "off", "variable": None, "value": None, "rule": "v0.34-v0.45",
        "sentence": "off: AGENTA_AUTO_MIGRATIONS unset; AGENTA_AUTO_MIGRATION=true is read by nothing"}


def test_g1_with_the_plural_name_true_is_on():
    assert switch({AGENTA: "true"}, "g1", "v0.43.0") == {
        "state": "on", "variable": AGENTA, "value": "true", "rule": "v0.34-v0.45",
        "sentence": "on: AGENTA_AUTO_MIGRATIONS=true"}


def test_g3_with_nothing_set_is_on_by_default():
    assert switch({}, "g3") == {"state": "on", "variable": None, "value": None, "rule": "v0.78+",
                                "sentence": "on: default (nothing set)"}


def test_g3_alembic_name_comes_first():
    assert switch({ALEMBIC: "false", AGENTA: "true"}, "g3", "v0.113.0") == {
        "state": "off", "variable": ALEMBIC, "value": "false", "rule": "v0.78+",
        "sentence": "off: ALEMBIC_AUTO_MIGRATIONS=false; AGENTA_AUTO_MIGRATIONS=true is overridden by "
                    "ALEMBIC_AUTO_MIGRATIONS"}


# -- releases up to v0.45: AGENTA_AUTO_MIGRATIONS exactly "true", default off ------------------------------------


@pytest.mark.parametrize("word", [w for w in TRUE_WORDS if w != "true"] + [" true", "true "])
def test_g1_migrates_only_on_exactly_true(word):
    result = switch({AGENTA: word}, "g1")
    assert (result["state"], result["variable"], result["value"]) == ("off", AGENTA, word)
    assert result["sentence"].endswith("(releases up to v0.45 migrate only on exactly 'true')"), result["sentence"]


@pytest.mark.parametrize("word", FALSE_WORDS)
def test_g1_false_words_are_off_without_a_note(word):
    assert switch({AGENTA: word}, "g1")["sentence"] == "off: AGENTA_AUTO_MIGRATIONS=%s" % word


def test_g1_empty_value_is_off():
    assert switch({AGENTA: ""}, "g1") == {"state": "off", "variable": AGENTA, "value": "", "rule": "v0.34-v0.45",
                                          "sentence": "off: AGENTA_AUTO_MIGRATIONS empty"}


def test_g1_does_not_read_the_alembic_name():
    result = switch({ALEMBIC: "true", DOCS: "true"}, "g1")
    assert result["state"] == "off"
    assert result["sentence"] == ("off: AGENTA_AUTO_MIGRATIONS unset; ALEMBIC_AUTO_MIGRATIONS=true is not read "
                                  "before v0.78; AGENTA_AUTO_MIGRATION=true is read by nothing")


def test_v045_follows_the_g1_rule():
    # G2 layout starts at v0.45; the default turned on in v0.46.
    assert switch({}, "g2", "v0.45.2")["rule"] == "v0.34-v0.45"
    assert switch({}, "g2", "v0.45.2")["state"] == "off"
    assert switch({AGENTA: "yes"}, "g2", "v0.45.0")["state"] == "off"


# -- v0.46 - v0.77: AGENTA_AUTO_MIGRATIONS, true words, default on -----------------------------------------------


@pytest.mark.parametrize("word", TRUE_WORDS)
def test_v046_true_words(word):
    assert switch({AGENTA: word}, "g2", "v0.60.1")["state"] == "on"


@pytest.mark.parametrize("word", FALSE_WORDS)
def test_v046_false_words(word):
    result = switch({AGENTA: word}, "g2", "v0.46.0")
    assert (result["state"], result["rule"], result["sentence"]) == (
        "off", "v0.46-v0.77", "off: AGENTA_AUTO_MIGRATIONS=%s" % word)


def test_v046_ignores_the_alembic_name():
    result = switch({ALEMBIC: "false"}, "g2", "v0.77.9")
    assert (result["state"], result["variable"]) == ("on", None)
    assert result["sentence"] == "on: default (nothing set); ALEMBIC_AUTO_MIGRATIONS=false is not read before v0.78"


def test_v046_empty_value_counts_as_unset_and_says_so():
    result = switch({AGENTA: ""}, "g2", "v0.50.0")
    assert (result["state"], result["variable"]) == ("on", None)
    assert "AGENTA_AUTO_MIGRATIONS empty counts as unset" in result["sentence"]


# -- v0.78 and later: ALEMBIC_AUTO_MIGRATIONS, else AGENTA_AUTO_MIGRATIONS, true words, default on ---------------


@pytest.mark.parametrize("env, state, variable", [
    ({ALEMBIC: "yes", AGENTA: "false"}, "on", ALEMBIC),
    ({AGENTA: "false"}, "off", AGENTA),
    ({AGENTA: "Enabled"}, "on", AGENTA),
    ({ALEMBIC: "", AGENTA: "off"}, "off", AGENTA),
    ({ALEMBIC: "", AGENTA: ""}, "on", None),
    ({ALEMBIC: "nonsense"}, "off", ALEMBIC),
    ({DOCS: "false"}, "on", None),
])
def test_v078_precedence(env, state, variable):
    result = switch(env, "g3")
    assert (result["state"], result["variable"], result["rule"]) == (state, variable, "v0.78+")
    assert result["value"] == (env[variable] if variable else None)


def test_v078_empty_alembic_name_falls_back():
    assert switch({ALEMBIC: "", AGENTA: "off"}, "g3")["sentence"] == (
        "off: AGENTA_AUTO_MIGRATIONS=off; ALEMBIC_AUTO_MIGRATIONS empty counts as unset")


def test_v078_other_word_is_off_and_says_so():
    assert switch({ALEMBIC: "nonsense"}, "g3")["sentence"] == "off: ALEMBIC_AUTO_MIGRATIONS=nonsense (not a true word)"


def test_docs_name_is_read_by_nothing_even_when_false():
    assert switch({DOCS: "false"}, "g3")["sentence"] == (
        "on: default (nothing set); AGENTA_AUTO_MIGRATION=false is read by nothing")


# -- which rule: layout and release tag ---------------------------------------------------------------------------


@pytest.mark.parametrize("release, rule", [
    ("v0.34.0", "v0.34-v0.45"), ("v0.45.9", "v0.34-v0.45"), ("v0.46.0", "v0.46-v0.77"), ("0.77.3", "v0.46-v0.77"),
    ("v0.78.0", "v0.78+"), ("v0.103.5", "v0.78+"), ("v0.104.0", "v0.78+"), ("v0.113.0", "v0.78+"),
    ("ghcr.io/agenta-ai/agenta-api:v0.60.0", "v0.46-v0.77"), ("v0.50.1-rc1", "v0.46-v0.77"),
])
def test_release_tag_picks_the_rule_without_a_layout(release, rule):
    assert switch({}, None, release)["rule"] == rule


@pytest.mark.parametrize("release", [None, "", "latest", "no api container", "registry:5000/agenta-api",
                                     "sha256:0123abcd"])
def test_g2_without_a_usable_tag_assumes_v078_and_says_so(release):
    result = switch({}, "g2", release)
    assert result["rule"] == "v0.78+"
    assert result["sentence"].startswith("on: default (nothing set); release tag unknown")
    assert result["sentence"].endswith(": v0.78+ rule assumed")


def test_g2_latest_names_the_tag():
    assert switch({AGENTA: "false"}, "g2", "latest")["sentence"] == (
        "off: AGENTA_AUTO_MIGRATIONS=false; release tag unknown (latest): v0.78+ rule assumed")


@pytest.mark.parametrize("layout, rule", [("g1", "v0.34-v0.45"), ("g3", "v0.78+"), ("G3", "v0.78+")])
def test_g1_and_g3_need_no_tag(layout, rule):
    result = switch({}, layout, "latest")
    assert result["rule"] == rule
    assert "assumed" not in result["sentence"] and "tag" not in result["sentence"]


def test_tag_outside_the_layout_is_said_and_the_layout_wins():
    result = switch({AGENTA: "true"}, "g1", "v0.104.0")
    assert result["rule"] == "v0.34-v0.45"
    assert result["sentence"] == ("on: AGENTA_AUTO_MIGRATIONS=true; tag v0.104.0 does not fit layout g1 "
                                  "(v0.34-v0.44): the layout's rule used")
    result = switch({AGENTA: "true"}, "g2", "v0.40.0")
    assert result["rule"] == "v0.78+"
    assert result["sentence"].endswith("tag v0.40.0 does not fit layout g2 (v0.45-v0.103): v0.78+ rule assumed")


def test_unknown_release_with_the_same_answer_everywhere():
    result = switch({AGENTA: "false"}, None, "latest")
    assert result == {"state": "off", "variable": AGENTA, "value": "false", "rule": None,
                      "sentence": "off: AGENTA_AUTO_MIGRATIONS=false (release unknown; the same for every release)"}


def test_unknown_release_where_releases_disagree():
    result = switch({DOCS: "true"}, "", None)
    assert (result["state"], result["variable"], result["rule"]) == ("unknown", None, None)
    assert result["sentence"] == ("unknown: release unknown (v0.34-v0.45 off: AGENTA_AUTO_MIGRATIONS unset, "
                                  "v0.46+ on: default (nothing set)); AGENTA_AUTO_MIGRATION=true is read by nothing")


def test_unknown_release_same_state_through_different_variables():
    result = switch({ALEMBIC: "true", AGENTA: "true"})
    assert (result["state"], result["variable"]) == ("on", None)
    assert result["sentence"].startswith("on: release unknown (v0.34-v0.77 on: AGENTA_AUTO_MIGRATIONS=true, "
                                         "v0.78+ on: ALEMBIC_AUTO_MIGRATIONS=true)")


# -- values, secrets, input ---------------------------------------------------------------------------------------


def test_sentence_holds_no_other_value_of_the_env_file():
    text = ("POSTGRES_PASSWORD=s3cret-pw\n"
            "POSTGRES_URI_CORE=postgresql+asyncpg://username:s3cret-pw@postgres:5432/agenta_oss_core\n"
            "AGENTA_AUTH_KEY=auth-k3y\nAGENTA_AUTO_MIGRATION=true\nAGENTA_AUTO_MIGRATIONS=false\n")
    for layout in ("g1", "g2", "g3", None):
        result = switch(env_file(text), layout)
        flat = repr(result)
        assert "s3cret" not in flat and "auth-k3y" not in flat and "POSTGRES" not in flat, flat


def test_from_the_env_file_text():
    text = "# G1\nexport AGENTA_AUTO_MIGRATIONS = 'true'  \nAGENTA_AUTO_MIGRATION=false # docs\n"
    assert switch(env_file(text), "g1")["sentence"] == (
        "on: AGENTA_AUTO_MIGRATIONS=true; AGENTA_AUTO_MIGRATION=false is read by nothing")


def test_odd_values_are_quoted_and_cut():
    assert switch({ALEMBIC: "yes please"}, "g3")["sentence"] == (
        'off: ALEMBIC_AUTO_MIGRATIONS="yes please" (not a true word)')
    long_value = "x" * 60
    sentence = switch({ALEMBIC: long_value}, "g3")["sentence"]
    assert '"%s..."' % ("x" * 40) in sentence and long_value not in sentence


def test_yaml_booleans_read_as_compose_writes_them():
    assert switch({AGENTA: True}, "g1")["state"] == "on"
    assert switch({ALEMBIC: False}, "g3")["value"] == "false"


@pytest.mark.parametrize("env", [None, "AGENTA_AUTO_MIGRATIONS=true", ["AGENTA_AUTO_MIGRATIONS=true"]])
def test_not_a_mapping_is_one_sentence(env):
    with pytest.raises(AnsibleFilterError, match="expects the env file's variables"):
        auto_migration_switch(env)


@pytest.mark.parametrize("layout", ["g4", "oss", 3])
def test_unknown_layout_is_one_sentence(layout):
    with pytest.raises(AnsibleFilterError, match="layout must be g1, g2, g3 or empty"):
        auto_migration_switch({}, layout)
