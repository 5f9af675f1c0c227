"""Unit tests of agenta.fleet.upgrade_input: an upgrade run's input, checked per host before any host is read."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.filter.upgrade_input import FilterModule, upgrade_input

GOOD = {"host": "staging-1", "target_tag": "v0.44.4", "canary": 1, "lock_timeout": 300, "timeout": 1800,
        "target_image": None, "release_dir": "", "release_compose": "/docker-compose.gh.yml",
        "compose_name": "docker-compose.gh.yml"}


def check(**over):
    return upgrade_input({**GOOD, **over})


def test_registered():
    assert FilterModule().filters() == {"upgrade_input": upgrade_input}


@pytest.mark.parametrize("over", [
    {}, {"canary": "25%"}, {"canary": "3"}, {"lock_timeout": 0}, {"lock_timeout": "10", "timeout": "11"},
    {"target_image": "ghcr.io/agenta-ai/agenta-api-ee"}, {"target_image": "registry.example.com:5000/a/agenta-api"},
    {"target_tag": "latest"}, {"target_tag": "v0.113.0-rc_1"},
], ids=["defaults", "canary-percent", "canary-string", "lock-0", "strings", "ee", "registry-port", "latest", "rc"])
def test_good_input_goes_on(over):
    assert check(**over) == ""


@pytest.mark.parametrize("tag", [None, "", "  "])
def test_a_missing_tag_is_named_for_the_host(tag):
    assert check(target_tag=tag) == (
        "agenta_target_tag is not set for staging-1; name the release to upgrade to (-e agenta_target_tag=v0.44.4, or "
        "in the inventory), since without it the run would only apply the running image's pending revisions. "
        "Nothing was changed.")


@pytest.mark.parametrize("over,got", [
    ({"target_tag": "v0.44.4;rm"}, "v0.44.4;rm, 1, 300 and 1800"),
    ({"target_tag": "-v1"}, "-v1, 1, 300 and 1800"),
    ({"canary": 0}, "v0.44.4, 0, 300 and 1800"),
    ({"canary": "10%%"}, "v0.44.4, 10%%, 300 and 1800"),
    ({"lock_timeout": -5}, "v0.44.4, 1, -5 and 1800"),
    ({"timeout": 0, "lock_timeout": 0}, "v0.44.4, 1, 0 and 0"),
    ({"lock_timeout": 1800}, "v0.44.4, 1, 1800 and 1800"),
    ({"timeout": "ten"}, "v0.44.4, 1, 300 and ten"),
], ids=["tag-shell", "tag-dash", "canary-0", "canary-two-percent", "lock-negative", "timeout-0", "lock-not-below",
        "timeout-word"])
def test_bad_numbers_or_tag_are_one_sentence_with_what_was_given(over, got):
    assert check(**over) == (
        "agenta_target_tag must be a Docker image tag such as v0.44.4, agenta_upgrade_canary a positive number or "
        "percentage, migrate_lock_timeout whole seconds from 0 below migrate_timeout; got %s. Nothing was changed." % got)


@pytest.mark.parametrize("image", ["ghcr.io/agenta-ai/agenta-api-ee:v0.44.4", "", "agenta-api", "GHCR.io/a/b"])
def test_a_target_image_must_be_a_repository_without_a_tag(image):
    assert check(target_image=image) == (
        "agenta_target_image must be an image repository without a tag, such as ghcr.io/agenta-ai/agenta-api-ee (the "
        "tag is agenta_target_tag); got %s. Nothing was changed." % image)


def test_a_release_folder_must_hold_the_compose_file(tmp_path):
    compose = tmp_path / "docker-compose.gh.yml"
    assert check(release_dir=str(tmp_path), release_compose=str(compose)) == (
        "agenta_release_dir (%s) must be a folder on the controller that holds the target release's "
        "docker-compose.gh.yml (Agenta's hosting/docker-compose/oss at v0.44.4); %s is not a file. Nothing was "
        "changed." % (tmp_path, compose))
    compose.write_text("services: {}\n")
    assert check(release_dir=str(tmp_path), release_compose=str(compose)) == ""


def test_the_first_problem_is_the_one_said():
    assert check(target_tag=None, canary=0).startswith("agenta_target_tag is not set")
    assert check(canary=0, target_image="x:1").startswith("agenta_target_tag must be")


def test_the_input_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError):
        upgrade_input("v0.44.4")
