"""Unit tests of agenta.fleet.run_targets: a run names its hosts, and they exist."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.filter.run_targets import FilterModule, run_targets, targets

FLEET = ["staging-1", "staging-2", "production-1"]


def run(**over):
    base = {"pattern": "all", "pattern_set": False, "matched": FLEET, "limit": "", "limited": None,
            "whole_inventory": False}
    return {**base, **over}


def test_registered():
    assert FilterModule().filters() == {"run_targets": run_targets}


@pytest.mark.parametrize("over", [
    {"limit": "staging", "limited": ["staging-1", "staging-2"]},
    {"pattern": "staging", "pattern_set": True, "matched": ["staging-1", "staging-2"]},
    {"whole_inventory": True},
    {"whole_inventory": "true"},
    {"limit": "@retry.txt", "limited": None},
], ids=["limit", "agenta_hosts", "whole-inventory", "whole-inventory-string", "limit-file"])
def test_a_run_that_names_its_hosts_goes_on(over):
    assert run_targets(run(**over)) == ""


@pytest.mark.parametrize("whole", [False, "no", None, "false"])
def test_no_limit_no_pattern_is_refused(whole):
    msg = run_targets(run(whole_inventory=whole))
    assert msg.startswith("This run names no hosts, so it would act on the whole inventory")
    assert "-e agenta_whole_inventory=true" in msg and msg.endswith("Nothing was changed.")


def test_a_pattern_that_matches_nothing_is_refused():
    msg = run_targets(run(pattern="nosuch", pattern_set=True, matched=[]))
    assert msg == ("agenta_hosts=nosuch matches no host of the inventory; check the group or host names "
                   "(ansible-inventory --graph lists them). Nothing was changed.")


def test_a_pattern_outside_the_limit_is_refused():
    msg = run_targets(run(pattern="production", pattern_set=True, matched=["production-1"], limit="staging",
                          limited=["staging-1", "staging-2"]))
    assert msg.startswith("agenta_hosts=production with -l staging matches no host of the inventory;")


def test_targets_are_the_pattern_narrowed_by_the_limit():
    assert targets(run(limit="staging-2,production-1", limited=["production-1", "staging-2"])) == \
        ["staging-2", "production-1"]
    assert targets(run()) == FLEET


@pytest.mark.parametrize("bad", ["not a mapping", {"matched": "staging-1", "whole_inventory": True},
                                 {"matched": [1], "whole_inventory": True}])
def test_bad_shapes_raise_a_filter_error(bad):
    with pytest.raises(AnsibleFilterError):
        run_targets(bad)


def test_a_play_that_runs_on_hosts_outside_the_targets_is_refused():
    # agenta_hosts from the inventory: the play's hosts line fell back to every host.
    r = run(pattern="staging", pattern_set=True, matched=["staging-1", "staging-2"], play_hosts=FLEET)
    assert run_targets(r) == ("This run would act on production-1, which agenta_hosts=staging does not name; give "
                              "agenta_hosts with -e (a value in the inventory is not seen by the play's hosts line) "
                              "and -l as a host pattern, not a file. Nothing was changed.")
    # -l @file narrows the play to hosts the check cannot resolve.
    r = run(pattern="staging", pattern_set=True, matched=["staging-1"], limit="@hosts.txt", limited=None,
            play_hosts=["production-1"])
    assert run_targets(r).startswith("This run would act on production-1, which agenta_hosts=staging with -l "
                                     "@hosts.txt does not name;")
    assert run_targets(run(limit="staging", limited=["staging-1", "staging-2"],
                           play_hosts=["staging-1", "staging-2"])) == ""


@pytest.mark.parametrize("version", ["2.19.4", "2.19.10", "2.20.0", "3.0.0", "2.19.4rc1"])
def test_an_ansible_core_at_or_above_the_floor_goes_on(version):
    assert run_targets(run(limit="staging", limited=["staging-1"], ansible_version=version)) == ""


@pytest.mark.parametrize("version", ["2.19.3", "2.18.9", "2.16.14", "2.9.27"])
def test_an_ansible_core_below_the_floor_is_refused_before_anything_else(version):
    # Checked first: even a run that names no hosts hears about the controller.
    assert run_targets(run(ansible_version=version)) == (
        "agenta.fleet needs ansible-core 2.19.4 or later on the controller, and this is ansible-core %s; install a "
        "newer one (pip install 'ansible-core>=2.19.4') and run again. Nothing was changed." % version)
