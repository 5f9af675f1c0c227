"""Unit tests of agenta.fleet.release_path: the upgrade's path through the release map, and skipped stops."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.filter.release_path import FilterModule, release_path, version

MAP = {"v0.44.4": {"required_stop": True, "reason": "it moves the evaluations"},
       "v0.104.0": {"destructive": True, "reason": "multi-org"},
       "v0.110.0": {"required_stop": True}}


def test_registered():
    assert FilterModule().filters() == {"release_path": release_path}


def test_versions_compare_as_numbers():
    assert version("v0.44.4") < version("v0.104.0") and version("0.45.0") == (0, 45, 0)
    assert version("latest") is None and version("v0.44") is None and version(None) is None


def test_one_hop_when_nothing_is_in_between():
    assert release_path("v0.43.0", "v0.44.4", MAP) == {"hops": ["v0.44.4"], "skipped": [], "destructive": [],
                                                       "problem": "", "note": ""}


def test_a_skipped_required_stop_is_refused_naming_it():
    out = release_path("v0.43.0", "v0.104.0", MAP)
    assert out["skipped"] == ["v0.44.4"] and out["hops"] == ["v0.44.4", "v0.104.0"]
    assert out["destructive"] == ["v0.104.0"]
    assert out["problem"] == ("The upgrade from v0.43.0 to v0.104.0 skips v0.44.4, a required stop (it moves the "
                              "evaluations); upgrade to v0.44.4 first (-e agenta_target_tag=v0.44.4), then on to "
                              "v0.104.0, or let one run go through every stop (-e agenta_upgrade_through_stops=true).")


def test_the_first_of_several_stops_is_named_and_a_stop_without_reason_says_so():
    out = release_path("v0.45.0", "v0.113.0", MAP)
    assert out["skipped"] == ["v0.110.0"] and "(the release map says so)" in out["problem"]
    assert release_path("v0.43.0", "v0.113.0", MAP)["skipped"] == ["v0.44.4", "v0.110.0"]


def test_the_stop_itself_and_beyond_it_are_fine():
    assert release_path("v0.43.0", "v0.44.4", MAP)["problem"] == ""
    assert release_path("v0.44.4", "v0.104.0", MAP)["problem"] == ""


def test_a_tag_that_is_not_a_version_leaves_the_path_unknown():
    out = release_path("latest", "v0.104.0", MAP)
    assert out["problem"] == "" and out["hops"] == []
    assert out["note"] == ("The upgrade path from latest to v0.104.0 cannot be checked against the release map: "
                           "latest is not a release version.")


@pytest.mark.parametrize("bad", [["v0.44.4"], {"v0.44.4": True}, {"next": {"required_stop": True}}])
def test_a_bad_map_raises_a_filter_error(bad):
    with pytest.raises(AnsibleFilterError):
        release_path("v0.43.0", "v0.113.0", bad)


def test_the_shipped_release_map_is_valid():
    from pathlib import Path
    shipped = Path(__file__).resolve().parents[4] / "playbooks" / "vars" / "release_map.yml"
    data = yaml.safe_load(shipped.read_text())["agenta_release_map_default"]
    out = release_path("v0.103.5", "v0.113.0", data)
    assert out["problem"] == "" and out["destructive"] == ["v0.104.0"]


def test_a_switch_to_ee_before_the_edition_stop_is_refused_naming_it():
    release_map = {"v0.104.0": {"destructive": True, "edition_stop": "ee", "reason": "multi-org"}}
    out = release_path("v0.103.0", "v0.104.0", release_map, switch_to="ee")
    assert out["problem"] == (
        "The switch of the deployment to EE needs it to stand at v0.104.0 first (the EE migrations build on that "
        "release's schema and fail partway otherwise), and it is at v0.103.0: upgrade it as it is to v0.104.0 "
        "(-e agenta_target_tag=v0.104.0, without agenta_target_image), then switch.")
    for current in ("v0.104.0", "v0.110.2"):
        assert release_path(current, "v0.113.0", release_map, switch_to="ee")["problem"] == ""
    # Without a switch the edition stop is no stop.
    assert release_path("v0.103.0", "v0.113.0", release_map)["problem"] == ""


def test_a_switch_from_a_tag_that_is_not_a_version_is_refused():
    out = release_path("latest", "v0.113.0", {"v0.104.0": {"edition_stop": "ee"}}, switch_to="ee")
    assert out["problem"].startswith("The switch of the deployment to EE needs it to stand at a known release, and "
                                     "it runs latest, which is not a release version: pin the env file's tag"), out
    out = release_path("v0.104.0", "latest", {"v0.104.0": {"edition_stop": "ee"}}, switch_to="ee")
    assert out["problem"] == ("The switch of the deployment to EE needs a release tag as agenta_target_tag, and latest "
                              "is not a release version: name the release to switch at (-e agenta_target_tag=v0.104.0 "
                              "or later)."), out
