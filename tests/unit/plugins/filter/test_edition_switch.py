"""Unit tests of agenta.fleet.edition_switch: the one place that decides whether an upgrade switches to EE."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.filter.edition_switch import FilterModule, edition_switch

OSS, EE = "ghcr.io/agenta-ai/agenta-api", "ghcr.io/agenta-ai/agenta-api-ee"
OSS_AT_104 = {"core": "park00000000", "core_oss": "c05500000001", "tracing": "park00000000",
              "tracing_oss": "7a5500000001"}


def plan(edition="ee", **ee):
    revisions = dict(OSS_AT_104)
    if edition == "ee":
        revisions.update(core_ee=ee.get("core_ee", "base"), tracing_ee=ee.get("tracing_ee", "base"))
    return {"edition": edition, "revisions": revisions, "skipped": False}


def test_registered():
    assert FilterModule().filters() == {"edition_switch": edition_switch}


def test_the_same_repository_is_no_switch_whatever_the_databases_hold():
    """An EE deployment from before v0.104 upgraded on its own image: its EE chains are new, and it is no switch."""
    assert edition_switch(plan(), EE, EE) == {"switch": "", "chains": [], "problem": "", "note": ""}


def test_an_oss_deployment_given_the_ee_image_switches():
    assert edition_switch(plan(), OSS, EE) == {"switch": "ee", "chains": ["core_ee", "tracing_ee"], "problem": "",
                                               "note": ""}


def test_check_mode_without_the_image_presumes_the_switch_and_says_so():
    out = edition_switch({"skipped": True}, OSS, EE)
    assert out["switch"] == "ee" and out["problem"] == "" and out["note"].startswith("presumed: the chains of ")


@pytest.mark.parametrize("the_plan,words", [
    (plan("oss"), "it is not an EE image with the EE chains (core_ee, tracing_ee)"),
    (plan(core_ee="ce0000000001"), "the databases hold EE revisions already (core_ee at ce0000000001): either the "
                                   "deployment is EE already"),
    ({"edition": None, "revisions": OSS_AT_104}, "its plan does not say which edition it is"),
    ({"edition": "ee", "revisions": {"core": "base", "core_oss": "base", "core_ee": "base"}},
     "the databases it reads hold no OSS revision"),
], ids=["oss-image", "ee-already", "no-edition", "no-oss-data"])
def test_any_other_image_change_is_refused_naming_agenta_target_image(the_plan, words):
    out = edition_switch(the_plan, OSS, EE)
    assert out["switch"] == "" and out["problem"].startswith(
        "agenta_target_image (ghcr.io/agenta-ai/agenta-api-ee) changes the image of the deployment "
        "(ghcr.io/agenta-ai/agenta-api), which an upgrade does only to switch an OSS deployment to EE, and ")
    assert words in out["problem"], out["problem"]


def test_a_plan_that_is_not_a_dictionary_is_an_error():
    with pytest.raises(AnsibleFilterError, match="the plan must be a dictionary"):
        edition_switch("nope", OSS, EE)
