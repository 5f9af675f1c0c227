"""Unit tests of agenta.fleet.upgrade_route and agenta.fleet.upgrade_outcome: where an upgrade takes a host and what
its plan says, with the first reason to refuse either, as the upgrade playbook's pre-checks use them."""

from __future__ import annotations

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible.errors import AnsibleFilterError

from ansible_collections.agenta.fleet.plugins.filter import upgrade_outcome as oc
from ansible_collections.agenta.fleet.plugins.filter import upgrade_route as rt

upgrade_route, upgrade_outcome = rt.upgrade_route, oc.upgrade_outcome

HOST = "staging-1"
OSS = "ghcr.io/agenta-ai/agenta-api"
EE = "ghcr.io/agenta-ai/agenta-api-ee"
MAP = {"v0.44.4": {"required_stop": True, "reason": "it moves the evaluations"},
       "v0.104.0": {"edition_stop": "ee", "destructive": True}}
PREFLIGHT = {"containers": {"api": {"image": OSS + ":v0.43.0"}},
             "api_image": {"problem": None, "env_tag": "v0.43.0", "put_back": ""},
             "run_lock": {"held": False}}
ROUTE_SETTINGS = {"host": HOST, "target_tag": "v0.44.3", "target_image": "", "release_map": MAP, "db_owner": HOST,
                  "through_stops": False, "release_dir": "", "rehearse": False}


# ------------------------------------------------------------------------------------------------- upgrade_route
def test_a_route_without_stops_names_both_images_and_the_path():
    route = upgrade_route(PREFLIGHT, ROUTE_SETTINGS)
    assert route["problem"] == "" and route["step"] == ""
    assert route["from_image"] == OSS + ":v0.43.0" and route["to_image"] == OSS + ":v0.44.3"
    assert route["from_repo"] == route["repo"] == OSS
    assert route["path"]["hops"] == ["v0.44.3"] and route["stops"] == []


READ_PLAN = {"read": True, "error": None, "image": OSS + ":v0.44.3", "image_present": True, "pulled": False,
             "layout": "g1", "revisions": {"oss": "1a0000000002"}, "pending_total": 4, "chains": [], "split": []}


def test_the_pre_flight_reads_chains_are_the_plan_when_they_were_read_with_the_target_image():
    assert upgrade_route(PREFLIGHT, ROUTE_SETTINGS)["plan"] is None
    route = upgrade_route(dict(PREFLIGHT, chains=READ_PLAN), ROUTE_SETTINGS)
    assert route["plan"] == READ_PLAN and route["problem"] == ""


@pytest.mark.parametrize("chains", [
    dict(READ_PLAN, image=OSS + ":v0.43.0"),  # read by the running image, not the target
    dict(READ_PLAN, error="Could not connect"),  # the driver failed: the playbook's own plan says why
    {"read": False, "error": None, "reason": "the image is not on this host"},
    None,
])
def test_chains_read_otherwise_are_not_the_plan(chains):
    assert upgrade_route(dict(PREFLIGHT, chains=chains), ROUTE_SETTINGS)["plan"] is None


def test_chains_of_the_running_repository_are_not_the_plan_of_another_repository():
    settings = dict(ROUTE_SETTINGS, target_tag="v0.104.0", target_image=EE)
    route = upgrade_route(dict(PREFLIGHT, chains=dict(READ_PLAN, image=OSS + ":v0.104.0")), settings)
    assert route["to_image"] == EE + ":v0.104.0" and route["plan"] is None


def test_a_refused_route_has_no_plan():
    pre = dict(PREFLIGHT, chains=READ_PLAN, containers={"api": {"image": "other.registry/x/agenta-api:v0.43.0"}})
    route = upgrade_route(pre, dict(ROUTE_SETTINGS, target_image=EE))
    assert route["problem"] and route["plan"] is None


def test_without_a_tag_the_run_stays_on_the_running_image():
    route = upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, target_tag=None))
    assert route["to_image"] == OSS + ":v0.43.0" and route["problem"] == ""


def test_an_image_with_a_registry_port_keeps_its_port():
    pre = dict(PREFLIGHT, containers={"api": {"image": "registry.lab:5000/agenta/agenta-api:v0.43.0"}})
    route = upgrade_route(pre, ROUTE_SETTINGS)
    assert route["from_repo"] == "registry.lab:5000/agenta/agenta-api"
    assert route["to_image"] == "registry.lab:5000/agenta/agenta-api:v0.44.3"


def test_an_api_on_another_image_than_the_env_file_names_is_refused():
    pre = dict(PREFLIGHT, api_image={"problem": "the env file names v0.44.3 and the api runs v0.43.0",
                                     "env_tag": "v0.44.3", "put_back": "AGENTA_API_IMAGE_TAG=v0.43.0 back"})
    route = upgrade_route(pre, dict(ROUTE_SETTINGS, target_tag="v0.44.4"))
    assert route["step"] == "Require that the API runs the image the env file names"
    assert route["problem"] == ("On staging-1, the env file names v0.44.3 and the api runs v0.43.0; apply it (docker "
                                "compose up -d) or put AGENTA_API_IMAGE_TAG=v0.43.0 back, then run again. Nothing was "
                                "changed.")


def test_a_dead_run_that_wrote_the_target_tag_is_taken_over():
    pre = dict(PREFLIGHT, api_image={"problem": "p", "env_tag": "v0.44.3", "put_back": "x"}, run_lock={"held": True})
    assert upgrade_route(pre, ROUTE_SETTINGS)["problem"] == ""
    assert upgrade_route(pre, dict(ROUTE_SETTINGS, target_tag="v0.44.2"))["problem"] != ""


def test_a_target_image_in_another_registry_folder_is_refused():
    route = upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, target_image="docker.io/other/agenta-api-ee"))
    assert route["step"] == "Refuse a target image the compose file cannot name"
    assert route["problem"] == (
        "agenta_target_image (docker.io/other/agenta-api-ee) must be in the registry folder of the image staging-1 "
        "runs (ghcr.io/agenta-ai/), since the compose file names the image by AGENTA_API_IMAGE_NAME only; give "
        "ghcr.io/agenta-ai/<name>. Nothing was changed.")
    same_folder = upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, target_image=EE))
    assert same_folder["problem"] == "" and same_folder["to_image"] == EE + ":v0.44.3"


def test_a_target_that_skips_a_required_stop_is_refused_unless_the_run_goes_through_it():
    route = upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, target_tag="v0.44.5"))
    assert route["step"] == "Refuse a target that skips a required stop"
    assert route["problem"].startswith("The upgrade from v0.43.0 to v0.44.5 skips v0.44.4, a required stop (it moves "
                                       "the evaluations); upgrade to v0.44.4 first")
    assert route["problem"].endswith("(-e agenta_upgrade_through_stops=true). Nothing was changed.")
    through = upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, target_tag="v0.44.5", through_stops="true"))
    assert through["problem"] == "" and through["stops"] == ["v0.44.4"]
    assert through["path"]["hops"] == ["v0.44.4", "v0.44.5"]


def test_only_the_database_owner_goes_through_the_stops():
    route = upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, target_tag="v0.44.5", through_stops=True, db_owner="other"))
    assert route["problem"] == "" and route["stops"] == []


@pytest.mark.parametrize("extra", [{"release_dir": "/srv/release"}, {"rehearse": True}, {"target_image": EE}])
def test_stops_with_a_release_folder_a_rehearsal_or_another_image_are_refused(extra):
    route = upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, target_tag="v0.44.5", through_stops=True, **extra))
    assert route["step"] == "Refuse stops together with a release folder or a rehearsal"
    assert route["problem"] == (
        "agenta_upgrade_through_stops cannot be combined with agenta_release_dir (the release folder holds the compose "
        "file of v0.44.5 only), agenta_rehearse (the rehearsal runs one image) or agenta_target_image (the switch to EE "
        "is one hop, from a release at or after v0.104.0). Upgrade to each stop (v0.44.4) on its own, then to "
        "v0.44.5. Nothing was changed.")


def test_a_tag_that_is_not_a_version_gives_a_note_and_no_refusal():
    route = upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, target_tag="latest"))
    assert route["problem"] == "" and "cannot be checked against the release map" in route["path"]["note"]


def test_the_route_needs_dictionaries():
    with pytest.raises(AnsibleFilterError):
        upgrade_route("not a record", ROUTE_SETTINGS)


# ----------------------------------------------------------------------------------------------- upgrade_outcome
PLAN = {"image_present": True, "pull_error": None, "layout": "g1", "revisions": {"oss": "a1"},
        "chains": [{"name": "oss", "pending": ["b2", "c3"]}], "pending_total": 2, "leftover": None,
        "destructive": [], "split": [], "edition": "oss", "summary": "2 pending"}
OUTCOME_SETTINGS = {"host": HOST, "group": "staging", "target_tag": "v0.44.3", "check_mode": False, "db_owner": HOST,
                    "sharers": [], "api_down": "", "accept_data_loss": False, "release_map": MAP, "release_dir": "",
                    "rehearse": False}


def route_to(tag="v0.44.3", image=""):
    """A route the run may take (the plans below are judged on their own, so no required stop is in the way)."""
    no_stop = {k: v for k, v in MAP.items() if not v.get("required_stop")}
    route = upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, target_tag=tag, target_image=image, release_map=no_stop))
    assert route["problem"] == "", route["problem"]
    return route


def test_the_outcome_is_the_hosts_report_entry():
    verdict = upgrade_outcome(PLAN, route_to(), OUTCOME_SETTINGS)
    assert verdict["problem"] == "" and verdict["step"] == ""
    assert verdict["outcome"] == {
        "host": HOST, "group": "staging", "from_image": "v0.43.0", "to_image": "v0.44.3", "layout": "g1",
        "before": {"oss": "a1"}, "pending": {"oss": ["b2", "c3"]}, "pending_total": 2, "deletes": "-",
        "path": ["v0.44.3"], "path_note": "", "data_loss": [], "outcome": "not reached", "db_owner": HOST,
        "split": [], "edition": "oss", "message": ""}
    assert verdict["switch"]["switch"] == ""


def test_check_mode_plans_and_an_image_not_pulled_leaves_the_pending_revisions_unknown():
    plan = dict(PLAN, image_present=False, pending_total=None, chains=[], layout=None)
    out = upgrade_outcome(plan, route_to(), dict(OUTCOME_SETTINGS, check_mode=True))
    assert out["problem"] == ""
    assert out["outcome"]["outcome"] == "planned" and out["outcome"]["layout"] == "?"
    assert out["outcome"]["pending_total"] == "unknown (image not pulled)"


def test_the_message_says_why_the_api_is_down_and_whose_database_it_is():
    out = upgrade_outcome(PLAN, route_to(), dict(OUTCOME_SETTINGS, db_owner="staging-2", api_down=" The api waits. "))
    assert out["outcome"]["message"] == ("The api waits. Shares its database with staging-2, which backs it up and "
                                         "migrates it.")


def test_rows_the_release_deletes_are_named_until_the_operator_accepts_them():
    plan = dict(PLAN, destructive=[{"database": "agenta_oss", "table": "testsets", "rows": 3, "action": "drop",
                                    "revision": "b2", "chain": "oss"}])
    out = upgrade_outcome(plan, route_to(), OUTCOME_SETTINGS)
    assert out["outcome"]["deletes"] == "1 table, 3 rows"
    assert out["outcome"]["message"] == (
        " v0.44.3 deletes 1 table, 3 rows on staging-1 (agenta_oss.testsets: 3 rows, dropped by b2 (chain oss)); they "
        "are gone for good unless the backup is restored, so the run needs -e agenta_accept_data_loss=true (or "
        "agenta_accept_data_loss in the inventory).")
    # Refused last, with the message (which names them) as its sentence.
    assert out["step"] == "Refuse an upgrade that deletes rows unless the operator accepted it"
    assert out["problem"] == out["outcome"]["message"].strip()
    accepted = upgrade_outcome(plan, route_to(), dict(OUTCOME_SETTINGS, accept_data_loss=True))
    assert accepted["outcome"]["message"] == "" and accepted["outcome"]["deletes"] == "1 table, 3 rows"
    assert accepted["problem"] == "" and accepted["step"] == ""
    # Check mode plans it and names them, refusing nothing.
    planned = upgrade_outcome(plan, route_to(), dict(OUTCOME_SETTINGS, check_mode=True))
    assert planned["problem"] == "" and planned["outcome"]["deletes"] == "1 table, 3 rows"


def test_a_route_the_run_may_not_take_is_refused_first_with_its_own_step():
    route = upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, target_tag="v0.44.5"))
    assert route["problem"]
    # No plan was made for it (the playbook skips the plan): its step and sentence, as the route said them.
    out = upgrade_outcome({"changed": False, "skipped": True}, route, OUTCOME_SETTINGS)
    assert (out["step"], out["problem"]) == (route["step"], route["problem"])
    assert out["outcome"]["pending_total"] == out["outcome"]["deletes"] == "-"


def test_a_release_folder_is_refused_for_a_host_that_shares_another_hosts_database():
    route = upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, db_owner="staging-2", release_dir="/srv/release"))
    assert route["step"] == "Refuse a release folder for a host that shares another host's database"
    assert route["problem"] == (
        "staging-1 uses the database of staging-2, and agenta_release_dir is not supported for such hosts yet (only the "
        "owner's backup would keep the old compose file); leave agenta_release_dir out and update their compose files "
        "by hand. Nothing was changed.")
    assert upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, release_dir="/srv/release"))["problem"] == ""
    assert upgrade_route(PREFLIGHT, dict(ROUTE_SETTINGS, db_owner="staging-2"))["problem"] == ""


def test_an_image_that_could_not_be_pulled_is_refused():
    out = upgrade_outcome(dict(PLAN, image_present=False, pull_error="manifest unknown"), route_to("v9.9.9"),
                          dict(OUTCOME_SETTINGS, target_tag="v9.9.9"))
    assert out["step"] == "Require the new image on the host"
    assert out["problem"] == ("The image ghcr.io/agenta-ai/agenta-api:v9.9.9 could not be pulled on staging-1 (manifest "
                              "unknown); check agenta_target_tag (v9.9.9) and the host's registry login, then run "
                              "again. Nothing was changed.")
    assert out["outcome"]["host"] == HOST


def test_another_image_that_is_not_an_ee_image_is_refused():
    route = route_to("v0.104.0", OSS + "-other")
    out = upgrade_outcome(PLAN, route, dict(OUTCOME_SETTINGS, target_tag="v0.104.0"))
    assert out["step"] == "Refuse an image change that is not the switch to EE"
    assert out["problem"].startswith("staging-1: agenta_target_image (ghcr.io/agenta-ai/agenta-api-other) changes the "
                                     "image of the deployment")
    assert out["problem"].endswith(" Nothing was changed.")


EE_PLAN = dict(PLAN, edition="ee", revisions={"oss": "a1", "core_ee": None, "tracing_ee": None},
               chains=[{"name": "core_ee", "pending": ["e1"]}, {"name": "tracing_ee", "pending": ["t1"]}])


def test_the_switch_to_ee_before_its_release_is_refused():
    out = upgrade_outcome(EE_PLAN, route_to("v0.104.0", EE), dict(OUTCOME_SETTINGS, target_tag="v0.104.0"))
    assert out["step"] == "Refuse a switch to EE before the release it needs"
    assert out["problem"].startswith("staging-1: The switch of the deployment to EE needs it to stand at v0.104.0 first")


def test_the_switch_to_ee_from_its_release_is_told_in_the_message():
    pre = dict(PREFLIGHT, containers={"api": {"image": OSS + ":v0.104.0"}})
    route = upgrade_route(pre, dict(ROUTE_SETTINGS, target_tag="v0.104.0", target_image=EE))
    out = upgrade_outcome(EE_PLAN, route, dict(OUTCOME_SETTINGS, target_tag="v0.104.0"))
    assert out["problem"] == "" and out["outcome"]["switch"] == "oss -> ee"
    assert out["outcome"]["message"] == (
        "Switches from OSS (ghcr.io/agenta-ai/agenta-api) to EE (ghcr.io/agenta-ai/agenta-api-ee:v0.104.0): the EE "
        "chains (core_ee, tracing_ee) run on the deployment's databases for the first time, and the env file's "
        "AGENTA_API_IMAGE_NAME becomes agenta-api-ee.")


@pytest.mark.parametrize("plan, said", [
    (dict(PLAN, leftover="the database is at x9, which the image does not know."), "the database is at x9, which the image does not know."),
    (dict(PLAN, pending_total=None, summary="2 heads in oss"), "2 heads in oss"),
])
def test_a_plan_the_new_image_cannot_make_is_refused(plan, said):
    out = upgrade_outcome(plan, route_to(), OUTCOME_SETTINGS)
    assert out["step"] == "Refuse a plan the new image cannot make"
    assert out["problem"] == "ghcr.io/agenta-ai/agenta-api:v0.44.3 cannot upgrade staging-1: %s Nothing was changed." % said


SPLIT = dict(PLAN, split=[{"database": "agenta_oss_core", "from": "agenta_oss"}])


def test_the_v045_rename_needs_the_release_folder():
    out = upgrade_outcome(SPLIT, route_to("v0.45.0"), dict(OUTCOME_SETTINGS, target_tag="v0.45.0"))
    assert out["step"] == "Refuse the v0.45 rename without the release's compose file"
    assert out["problem"] == (
        "v0.45.0 reads the databases Agenta v0.45 renamed, and staging-1 still has the names of v0.44 and older; the "
        "release changed its compose file with them, so set agenta_release_dir to the folder that holds "
        "docker-compose.gh.yml and env.oss.gh.example of that release and run again. Nothing was changed.")
    ok = upgrade_outcome(SPLIT, route_to("v0.45.0"), dict(OUTCOME_SETTINGS, release_dir="/srv/r"))
    assert ok["problem"] == ""


def test_the_v045_rename_is_not_rehearsed_nor_made_on_a_shared_database():
    settings = dict(OUTCOME_SETTINGS, release_dir="/srv/r")
    rehearsed = upgrade_outcome(SPLIT, route_to(), dict(settings, rehearse=True))
    assert rehearsed["step"] == "Refuse the v0.45 rename with a rehearsal"
    assert rehearsed["problem"] == ("The upgrade of staging-1 renames its databases as Agenta v0.45 does, which a "
                                    "rehearsal on copies cannot do; run without agenta_rehearse. Nothing was changed.")
    shared = upgrade_outcome(SPLIT, route_to(), dict(settings, sharers=["staging-2", "staging-3"]))
    assert shared["step"] == "Refuse the v0.45 rename of a shared database"
    assert shared["problem"] == (
        "The database of staging-1 is shared with staging-2, staging-3, whose release keeps agenta_oss open, and the "
        "upgrade does not rename a shared database: stop the app containers of every host that shares it, rename with "
        "agenta.fleet.database_rename on staging-1 (after backup-agenta.yml), then upgrade. Nothing was changed.")


def test_a_split_without_a_rename_is_not_refused():
    plan = dict(PLAN, split=[{"database": "agenta_oss_tracing", "from": None}])
    assert upgrade_outcome(plan, route_to(), OUTCOME_SETTINGS)["problem"] == ""


def test_the_outcome_needs_dictionaries():
    with pytest.raises(AnsibleFilterError):
        upgrade_outcome([], route_to(), OUTCOME_SETTINGS)
