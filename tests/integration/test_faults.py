"""The fault suite: faults injected into real upgrades on a real lab (G1, v0.43.0 -> v0.44.4, staging-1 changed,
production-1 outside the run). Each case ends with the data checks: revisions, key-table rows, the host outside
the run unchanged.

- A run that names no hosts, hosts that match nothing, an upgrade without a target tag: refused in one sentence.
- A release whose tree has two heads, one revision id twice, or no longer knows the database's revision: refused
  in the plan in one sentence, reported, nothing changed.
- A target that skips a required stop of the release map: refused in one sentence naming the stop.
- A host that cannot be reached (SSH refused, its container gone): refused in one sentence, and reported.
- Two runs of one host at once: the second refuses in one sentence naming the first (the host's run lock).
- The controller dies (SIGKILL of ansible-playbook's whole process group) during the migration: the migration
  finishes alone on the host, the run journal names the dead run, its phase and its backup; the next run refuses
  naming it; with agenta_break_lock it takes over, says what the dead run had done, and completes the upgrade.
- The API runs another image than the env file names (a changed tag never applied): refused in one sentence.
- PostgreSQL killed (stays down) or crash-restarted during the migration: the host is restored from the run's
  backup, the database service started first; revisions, rows and the key tables' contents are as before.
- The controller dies during a rollback's restore: the journal says how far the restore got, the next rollback
  refuses naming it, and with agenta_break_lock restores the same backup again completely.
- Signs of life: a migration waiting on a lock, a backup and a restore of ~150 MB print a line every
  agenta_progress_interval seconds with the time so far and how far the step got.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import DB_PASSWORD, REPO
from role_support import start_lab
from test_module_support import make_broken_image, revision_file

HOST, OTHER = "staging-1", "production-1"
PG = "agenta-oss-gh-postgres-1"
API = "agenta-oss-gh-api-1"
STATE = "/var/lib/agenta-fleet"
NEW = "v0.44.4"
NEW_REVS = {"oss": "1a0000000006"}


@pytest.fixture(scope="module")
def lab(lab_factory):
    return start_lab(lab_factory, "v0.43.0")


def journal(lab, name="run.json") -> dict:
    text = lab.sh(HOST, "sh", "-c", f"cat {STATE}/{name} 2>/dev/null || true").stdout
    return json.loads(text) if text.strip() else {}


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def upgrade_argv(lab, **extra) -> list[str]:
    return [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory),
            str(REPO / "playbooks" / "upgrade-agenta.yml"), "-l", HOST,
            "-e", json.dumps({"agenta_target_tag": NEW, **extra})]


def failures(run) -> list[str]:
    return [r.get("msg", "") for play in run.json["plays"] for task in play["tasks"]
            for r in task["hosts"].values() if r.get("failed") and not r.get("ignore_errors")]


def hold_apps_table(lab):
    """A real session that holds SHARE on apps: pg_dump and row counts read on, the migration's ALTER TABLE waits."""
    names = ["-e", "PGPASSWORD", "-e", "PGAPPNAME"]
    sql = "BEGIN; LOCK TABLE apps IN SHARE MODE; SELECT pg_sleep(300);"
    proc = subprocess.Popen(["docker", "exec", *names, lab.hosts[HOST].container, "docker", "exec", *names, PG,
                             "psql", "-h", "127.0.0.1", "-U", "username", "-d", "agenta_oss", "-c", sql],
                            env={**os.environ, "PGPASSWORD": DB_PASSWORD, "PGAPPNAME": "fault-holder"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = {}
    wait_for(lambda: found.update(pid=lab.psql(HOST, "postgres", "SELECT pid FROM pg_stat_activity WHERE "
                                               "application_name = 'fault-holder' AND state = 'active'")) or found["pid"],
             30, "the session that holds apps")
    return proc, int(found["pid"])


def backups(lab) -> str:
    return lab.sh(HOST, "sh", "-c", "ls /var/backups/agenta 2>/dev/null || true").stdout


@pytest.mark.parametrize("extra,sentence", [
    ({"agenta_target_tag": "v9.9.9"},
     "The image ghcr.io/agenta-ai/agenta-api:v9.9.9 could not be pulled on staging-1 ("),
    ({"agenta_target_tag": NEW, "migrate_lock_timeout": -5},
     "agenta_target_tag must be a Docker image tag such as v0.44.4, agenta_upgrade_canary a positive number or "
     "percentage, migrate_lock_timeout whole seconds from 0 below migrate_timeout; got v0.44.4, 1, -5 "
     "and 1800. Nothing was changed."),
    ({"agenta_target_tag": NEW, "agenta_target_image": "ghcr.io/agenta-ai/agenta-api-ee:v0.44.4"},
     "agenta_target_image must be an image repository without a tag, such as ghcr.io/agenta-ai/agenta-api-ee (the "
     "tag is agenta_target_tag); got ghcr.io/agenta-ai/agenta-api-ee:v0.44.4. Nothing was changed."),
    ({"agenta_target_tag": NEW, "agenta_target_image": "registry.example.com/agenta/agenta-api"},
     "agenta_target_image (registry.example.com/agenta/agenta-api) must be in the registry folder of the image "
     "staging-1 runs (ghcr.io/agenta-ai/), since the compose file names the image by AGENTA_API_IMAGE_NAME only; give "
     "ghcr.io/agenta-ai/<name>. Nothing was changed."),
    ({"agenta_target_tag": NEW, "agenta_target_image": "registry.example.com:5000/agenta/agenta-api-ee"},
     "agenta_target_image (registry.example.com:5000/agenta/agenta-api-ee) must be in the registry folder of the image "
     "staging-1 runs (ghcr.io/agenta-ai/)"),
], ids=["image-not-pullable", "negative-lock-timeout", "target-image-with-a-tag", "target-image-elsewhere",
        "target-image-registry-with-a-port"])
def test_bad_input_is_refused_in_one_sentence_and_changes_nothing(lab, extra, sentence, tmp_path):
    before = (lab.revisions(HOST), lab.row_counts(HOST), backups(lab))
    run = lab.playbook(REPO / "playbooks" / "upgrade-agenta.yml", limit=HOST,
                       extra_vars={**extra, "agenta_report_dir": str(tmp_path)})
    assert run.rc != 0
    msg = failures(run)[0]
    assert msg.startswith(sentence), msg
    if "v9.9.9" in sentence:
        assert msg.endswith("check agenta_target_tag (v9.9.9) and the host's registry login, then run again. "
                            "Nothing was changed."), msg
        # A refusal in the pre-checks still writes the report, naming the host, the outcome and why.
        report = json.loads(next(tmp_path.glob("upgrade-*.json")).read_text())
        entry = report["hosts"][0]
        assert entry["host"] == HOST and entry["outcome"] == "refused", entry
        assert entry["message"] == "Require the new image on the host: " + msg, entry
    assert (lab.revisions(HOST), lab.row_counts(HOST), backups(lab)) == before
    assert journal(lab) == {}


def test_a_rollback_manifest_that_is_not_json_relative_or_missing_is_refused_in_one_sentence(lab):
    lab.sh(HOST, "sh", "-c", "mkdir -p /srv/bad && echo 'not json' > /srv/bad/manifest.json")
    before = (lab.revisions(HOST), lab.row_counts(HOST))
    run = lab.playbook(REPO / "playbooks" / "rollback-agenta.yml", limit=HOST,
                       extra_vars={"agenta_rollback_manifest": "/srv/bad/manifest.json"})
    assert run.rc != 0
    msg = failures(run)[0]
    assert msg.startswith("/srv/bad/manifest.json is not a JSON backup manifest (") and msg.endswith(
        f"on {HOST}; give agenta_rollback_manifest the manifest.json of a backup agenta.fleet wrote "
        "(ls /var/backups/agenta)."), msg
    assert (lab.revisions(HOST), lab.row_counts(HOST)) == before
    lab.sh(HOST, "rm", "-rf", "/srv/bad")
    # The manifest is read by the pre-flight's own call: a relative path is refused before any host is read, and a
    # backup folder without a backup in it says there is nothing to roll back to.
    run = lab.playbook(REPO / "playbooks" / "rollback-agenta.yml", limit=HOST,
                       extra_vars={"agenta_rollback_manifest": "bad/manifest.json"})
    assert run.rc != 0
    assert failures(run) == ["agenta_rollback_manifest must be the absolute path of a manifest.json on the host, "
                             "not bad/manifest.json."]
    run = lab.playbook(REPO / "playbooks" / "rollback-agenta.yml", limit=HOST,
                       extra_vars={"agenta_backup_dir": "/srv/no-backups"})
    assert run.rc != 0
    assert failures(run) == [f"No backup manifest under /srv/no-backups on {HOST}; there is nothing to roll back to."]
    assert (lab.revisions(HOST), lab.row_counts(HOST)) == before
    assert lab.sh(HOST, "sh", "-c", "test -e /srv/no-backups && echo there || echo absent").stdout.strip() == "absent"


def state(lab) -> tuple:
    """What a refused run must leave as it was: both hosts' revisions and rows, the backups, the run journal."""
    return (lab.revisions(HOST), lab.row_counts(HOST), lab.revisions(OTHER), lab.row_counts(OTHER), backups(lab),
            journal(lab))


@pytest.mark.parametrize("playbook,limit,extra,sentence", [
    ("upgrade-agenta.yml", None, {"agenta_target_tag": NEW},
     "This run names no hosts, so it would act on the whole inventory (staging and production together); limit it "
     "(-l staging) or set agenta_hosts, or pass -e agenta_whole_inventory=true to mean every host. Nothing was changed."),
    ("rollback-agenta.yml", None, {}, "This run names no hosts, so it would act on the whole inventory"),
    ("upgrade-agenta.yml", HOST, {"agenta_target_tag": NEW, "agenta_hosts": "nosuch"},
     f"agenta_hosts=nosuch with -l {HOST} matches no host of the inventory; check the group or host names "
     "(ansible-inventory --graph lists them). Nothing was changed."),
    ("backup-agenta.yml", HOST, {"agenta_hosts": "production"},
     f"agenta_hosts=production with -l {HOST} matches no host of the inventory;"),
    ("upgrade-agenta.yml", HOST, {},
     f"agenta_target_tag is not set for {HOST}; name the release to upgrade to (-e agenta_target_tag=v0.44.4, or in "
     "the inventory), since without it the run would only apply the running image's pending revisions. "
     "Nothing was changed."),
], ids=["upgrade-no-limit", "rollback-no-limit", "hosts-match-nothing", "hosts-outside-the-limit", "no-target-tag"])
def test_a_run_must_name_its_hosts_and_its_release(lab, playbook, limit, extra, sentence):
    before = state(lab)
    run = lab.playbook(REPO / "playbooks" / playbook, limit=limit, extra_vars=extra)
    assert run.rc != 0
    msg = failures(run)[0]
    assert msg.startswith(sentence), msg
    assert state(lab) == before


@pytest.mark.parametrize("how", ["ssh-refused", "container-gone"])
def test_an_unreachable_host_is_refused_in_one_sentence_and_reported(lab, how, tmp_path):
    inv = yaml.safe_load(lab.inventory.read_text())
    host_vars = inv["all"]["children"]["staging"]["hosts"][HOST]
    if how == "ssh-refused":
        host_vars.update(ansible_connection="ssh", ansible_host="127.0.0.1", ansible_port=1)
        reason = "ssh: connect to host 127.0.0.1 port 1: Connection refused"
    else:
        host_vars["ansible_host"] = "agenta-fleet-no-such-container"
        reason = "No such container: agenta-fleet-no-such-container"
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(inv))
    before = state(lab)
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                           str(REPO / "playbooks" / "upgrade-agenta.yml"), "-l", HOST,
                           "-e", json.dumps({"agenta_target_tag": NEW, "agenta_report_dir": str(tmp_path)})],
                          capture_output=True, text=True, timeout=300, env=lab.ansible_env(), cwd=REPO)
    assert proc.returncode != 0
    report = json.loads(next(tmp_path.glob("upgrade-*.json")).read_text())
    entry = report["hosts"][0]
    assert entry["host"] == HOST and entry["outcome"] == "refused", entry
    assert entry["message"].startswith(f"Require that the host can be reached: {HOST} could not be reached ("), entry
    assert reason in entry["message"], entry
    assert entry["message"].endswith("check that it is up and that Ansible can log in to it and run Python there "
                                     "(ansible_host, ansible_user, the SSH key, become), or leave it out of the run "
                                     "with -l. Nothing was changed."), entry
    assert state(lab) == before


def test_a_target_that_skips_a_required_stop_is_refused_naming_it(lab, tmp_path):
    """The release map (data) says v0.44.4 is a required stop: v0.43.0 -> v0.44.5 is refused before the image is
    pulled, naming the stop; the check mode of the allowed hop shows the path."""
    stops = {"agenta_release_map": {"v0.44.4": {"required_stop": True, "reason": "the lab says so"}}}
    before = state(lab)
    run = lab.playbook(REPO / "playbooks" / "upgrade-agenta.yml", limit=HOST,
                       extra_vars={"agenta_target_tag": "v0.44.5", "agenta_report_dir": str(tmp_path), **stops})
    assert run.rc != 0
    msg = failures(run)[0]
    assert msg == ("The upgrade from v0.43.0 to v0.44.5 skips v0.44.4, a required stop (the lab says so); upgrade "
                   "to v0.44.4 first (-e agenta_target_tag=v0.44.4), then on to v0.44.5, or let one run go through "
                   "every stop (-e agenta_upgrade_through_stops=true). Nothing was changed."), msg
    assert state(lab) == before
    plan = lab.playbook(REPO / "playbooks" / "upgrade-agenta.yml", limit=HOST, check=True,
                        extra_vars={"agenta_target_tag": NEW, "agenta_report_dir": str(tmp_path / "plan"), **stops})
    assert plan.rc == 0, plan.stdout[-3000:]
    entry = json.loads(next((tmp_path / "plan").glob("upgrade-*.json")).read_text())["hosts"][0]
    assert entry["path"] == [NEW] and entry["outcome"] == "would upgrade", entry
    assert state(lab) == before


G1_VERSIONS = "/app/oss/databases/postgres/migrations/versions/"


@pytest.mark.parametrize("case,files,sentence", [
    ("heads", {"1a00000000f1_second_head.py": ("1a00000000f1", "1a0000000005")},
     "Chain oss has several heads in this image, so what is pending cannot be told; Alembic would fail with "
     "'Multiple head revisions', so use the image of another release. Nothing was changed."),
    ("twice", {"1a0000000006_copy.py": ("1a0000000006", "1a0000000005")},
     "Revision 1a0000000006 of chain oss is defined twice (versions/1a0000000006_copy.py and "
     "versions/1a0000000006_traces_and_spans.py); Alembic cannot tell which one to run, so use the image of "
     "another release."),
    # v0.43.0 leaves the database at 1a0000000002; this image calls that revision 1a00000000a2.
    ("renumbered", {"1a0000000002_evaluations.py": ("1a00000000a2", "1a0000000001"),
                    "1a0000000003_app_slugs_and_prompt_config.py": ("1a0000000003", "1a00000000a2")},
     "The database is at a revision this image does not know (chain oss at 1a0000000002): migrate with the image "
     "of the release that wrote it, or a newer one. Nothing was changed."),
], ids=["two-heads", "one-id-twice", "database-revision-unknown"])
def test_a_release_with_a_graph_defect_is_refused_in_the_plan(lab, case, files, sentence, tmp_path):
    """The new image's tree is broken: refused in play 1 in one sentence, reported, nothing changed."""
    tag = f"v0.44.9-{case}"
    make_broken_image(lab, HOST, f"ghcr.io/agenta-ai/agenta-api:{NEW}", f"ghcr.io/agenta-ai/agenta-api:{tag}",
                      {G1_VERSIONS + name: revision_file(*revs) for name, revs in files.items()})
    before = state(lab)
    run = lab.playbook(REPO / "playbooks" / "upgrade-agenta.yml", limit=HOST,
                       extra_vars={"agenta_target_tag": tag, "agenta_report_dir": str(tmp_path)})
    assert run.rc != 0
    msg = failures(run)[0]
    assert sentence in msg, msg
    entry = json.loads(next(tmp_path.glob("upgrade-*.json")).read_text())["hosts"][0]
    assert entry["outcome"] == "refused" and sentence in entry["message"], entry
    assert state(lab) == before


def test_a_second_run_refuses_and_a_dead_controller_leaves_a_way_back(lab, tmp_path):
    other_before = (lab.revisions(OTHER), lab.row_counts(OTHER))
    rows_before = lab.row_counts(HOST)
    holder, pid = hold_apps_table(lab)
    log = open(tmp_path / "first-run.log", "w")
    first = subprocess.Popen(upgrade_argv(lab, agenta_report_dir=str(tmp_path / "reports")), env=lab.ansible_env(),
                             cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: journal(lab).get("phase") == "migrating" or first.poll() is not None, 240,
                 "the first run's migration")
        assert first.poll() is None, (tmp_path / "first-run.log").read_text()[-3000:]
        held = journal(lab)
        run_id = held["run_id"]
        assert held["playbook"] == "upgrade" and held["backup"].endswith("/manifest.json")
        assert [s["phase"] for s in held["steps"]] == ["upgrading", "backed up", "migrating"]

        # A second run of the same host while the first migrates: refused in play 1, naming the first.
        second = lab.playbook(REPO / "playbooks" / "upgrade-agenta.yml", limit=HOST,
                              extra_vars={"agenta_target_tag": NEW})
        assert second.rc != 0
        msg = failures(second)[0]
        assert msg.startswith(f"{HOST} is being changed by run {run_id} (upgrade by "), msg
        assert f"last at phase 'migrating' at " in msg and f"backup {held['backup']}" in msg, msg
        assert msg.endswith("wait for that run to end or, if it is dead (its controller was stopped), run again "
                            "with -e agenta_break_lock=true."), msg

        # The controller dies; the migration, freed, finishes alone on the host.
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        lab.psql(HOST, "postgres", f"SELECT pg_terminate_backend({pid})")
        holder.kill()
        holder.wait()
        log.close()
    # The dead run's report was written before its batch changed anything: it names the host "in progress" and
    # points at the journal.
    dead = json.loads(next((tmp_path / "reports").glob("upgrade-*.json")).read_text())["hosts"]
    assert [(e["host"], e["outcome"]) for e in dead] == [(HOST, "in progress")], dead
    assert "the host's run journal (run.json under agenta_state_dir" in dead[0]["message"], dead
    wait_for(lambda: journal(lab).get("phase") in ("migrated", "migration failed"), 180, "the lone migration")
    left = journal(lab)
    assert left["run_id"] == run_id and left["phase"] == "migrated", left
    assert lab.revisions(HOST) == NEW_REVS
    assert lab.sh(HOST, "docker", "inspect", "-f", "{{.Config.Image}}", API).stdout.strip().endswith(":v0.43.0")
    assert lab.sh(HOST, "test", "-f", left["backup"], check=False).returncode == 0

    # The next run reads the journal first and refuses, naming the dead run, where it got to and its backup.
    again = lab.playbook(REPO / "playbooks" / "upgrade-agenta.yml", limit=HOST,
                         extra_vars={"agenta_target_tag": NEW})
    assert again.rc != 0
    msg = failures(again)[0]
    assert f"run {run_id} (" in msg and "last at phase 'migrated'" in msg and left["backup"] in msg, msg

    # Taking over: the run says whose lock it took and what that run had done, then completes the upgrade.
    done = lab.playbook(REPO / "playbooks" / "upgrade-agenta.yml", limit=HOST,
                        extra_vars={"agenta_target_tag": NEW, "agenta_break_lock": True})
    assert done.rc == 0, done.stdout[-3000:]
    outcome = done.results("Record the outcome")[HOST]["ansible_facts"]["agenta_upgrade_outcome"]
    assert outcome["outcome"] == "upgraded", outcome
    assert f"Took over the run lock of run {run_id} (" in outcome["message"], outcome
    assert left["backup"] in outcome["message"] and "(agenta_break_lock is set)" in outcome["message"], outcome
    assert lab.sh(HOST, "docker", "inspect", "-f", "{{.Config.Image}}", API).stdout.strip().endswith(":v0.44.4")
    last = journal(lab, "last-run.json")
    assert journal(lab) == {} and last["outcome"] == "upgraded" and last["took_over_from"]["run_id"] == run_id

    # The data: new revisions, every key table's rows, the host outside the run untouched.
    assert lab.revisions(HOST) == NEW_REVS
    assert lab.row_counts(HOST) == rows_before
    assert (lab.revisions(OTHER), lab.row_counts(OTHER)) == other_before


@pytest.mark.parametrize("how", ["killed", "crash-restarted"])
def test_postgresql_lost_during_the_migration_is_restored(lab, how, tmp_path):
    """PostgreSQL goes away while the migration runs (v0.44.4 -> v0.44.5, its ALTER TABLE waiting on a session
    that holds apps): `docker kill` (it stays down: a container stopped by hand is not restarted), or its server
    process SIGKILLed from the host (a crash: the restart policy brings it back through crash recovery). The
    migration fails; the host is restored from the run's backup, the database service started first; every
    revision, row and key table's content is as before, the old image runs, the other host is untouched."""
    assert lab.revisions(HOST) == NEW_REVS  # where the dead-controller case left it
    before = (lab.revisions(HOST), lab.row_counts(HOST), lab.table_digests(HOST))
    other_before = (lab.revisions(OTHER), lab.row_counts(OTHER), lab.table_digests(OTHER))
    holder, pid = hold_apps_table(lab)
    log = open(tmp_path / "run.log", "w")
    run = subprocess.Popen(upgrade_argv(lab, agenta_target_tag="v0.44.5", agenta_report_dir=str(tmp_path),
                                        agenta_progress_interval=1, agenta_progress_min_bytes=0),
                           env=lab.ansible_env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        wait_for(lambda: journal(lab).get("phase") == "migrating" or run.poll() is not None, 240, "the migration")
        assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
        # The migration's ALTER TABLE is in PostgreSQL, waiting on the holder's lock.
        wait_for(lambda: lab.psql(HOST, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                  f"'Lock' AND pid <> {pid}") != "0", 120, "the migration's ALTER TABLE")
        # Signs of life while it waits: the time so far and the chain's progress (the driver's line, noted in the
        # run journal by the module, shown by its action plugin every agenta_progress_interval seconds; the
        # database is tiny, so agenta_progress_min_bytes=0 asks for them).
        waiting = f"{HOST}: migrating, "
        wait_for(lambda: any(x.startswith(waiting) and x.endswith(" so far, chain oss: 0 of 1 revision applied")
                             for x in (tmp_path / "run.log").read_text().splitlines()), 60, "a sign of life")
        if how == "killed":
            lab.sh(HOST, "docker", "kill", PG)
        else:
            server = lab.sh(HOST, "docker", "inspect", "-f", "{{.State.Pid}}", PG).stdout.strip()
            lab.sh(HOST, "kill", "-KILL", server)
        rc = run.wait(timeout=900)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        holder.kill()
        holder.wait()
        log.close()
    out = (tmp_path / "run.log").read_text()
    assert rc != 0, out[-3000:]
    entry = json.loads(next(tmp_path.glob("upgrade-*.json")).read_text())["hosts"][0]
    assert entry["host"] == HOST and entry["outcome"] == "failed, restored", entry
    assert entry["backup"] and entry["backup"] != "-", entry
    # Everything as before the run, and the database service runs again.
    assert lab.sh(HOST, "docker", "inspect", "-f", "{{.State.Status}}", PG).stdout.strip() == "running"
    assert (lab.revisions(HOST), lab.row_counts(HOST), lab.table_digests(HOST)) == before
    assert lab.sh(HOST, "docker", "inspect", "-f", "{{.State.Status}} {{.Config.Image}}", API).stdout.strip() == (
        f"running ghcr.io/agenta-ai/agenta-api:{NEW}")
    assert journal(lab) == {}
    assert (lab.revisions(OTHER), lab.row_counts(OTHER), lab.table_digests(OTHER)) == other_before


def test_an_api_on_another_image_than_the_env_file_names_is_refused(lab, tmp_path):
    """The env file's tag was changed by hand and never applied: the API still runs v0.44.4 while the file says
    v0.44.5. A backup would keep a file that starts an image that never ran, so the upgrade refuses in one
    sentence naming both, before anything changes."""
    before = state(lab)
    lab.set_env(HOST, AGENTA_API_IMAGE_TAG="v0.44.5")
    try:
        run = lab.playbook(REPO / "playbooks" / "upgrade-agenta.yml", limit=HOST,
                           extra_vars={"agenta_target_tag": "v0.44.5", "agenta_report_dir": str(tmp_path)})
        assert run.rc != 0
        msg = failures(run)[0]
        assert msg == (f"On {HOST}, the api container {API} runs ghcr.io/agenta-ai/agenta-api:{NEW}, but the env file "
                       "sets AGENTA_API_IMAGE_TAG=v0.44.5, which was never applied (no `docker compose up -d` since), "
                       "so a backup would keep a file that starts another image than the one that ran; apply it "
                       f"(docker compose up -d) or put AGENTA_API_IMAGE_TAG back to {NEW}, then run again. Nothing "
                       "was changed."), msg
        entry = json.loads(next(tmp_path.glob("upgrade-*.json")).read_text())["hosts"][0]
        assert entry["outcome"] == "refused" and msg in entry["message"], entry
    finally:
        lab.set_env(HOST, AGENTA_API_IMAGE_TAG=NEW)
    assert state(lab) == before
    assert lab.sh(HOST, "docker", "inspect", "-f", "{{.Config.Image}}", API).stdout.strip().endswith(f":{NEW}")


def test_an_api_that_waits_on_a_failed_migration_is_upgraded_and_said_so(lab):
    # What an upgrade by hand leaves when a revision fails: the alembic service exited non-zero, the new api
    # container was created and waits on it. The fault is then fixed (the failing revision passes now).
    rows_before = lab.row_counts(HOST)
    lab.set_env(HOST, AGENTA_API_IMAGE_TAG="v0.44.5", AGENTA_LAB_FAIL_REVISION="1a0000000007",
                AGENTA_AUTO_MIGRATIONS="true")
    assert lab.compose(HOST, "up", "-d", check=False).returncode != 0
    api_state = lab.sh(HOST, "docker", "inspect", "-f", "{{.State.Status}}", API).stdout.strip()
    assert api_state in ("created", "exited"), api_state
    exit_code = lab.sh(HOST, "docker", "inspect", "-f", "{{.State.ExitCode}}", "agenta-oss-gh-alembic-1").stdout.strip()
    assert exit_code != "0"
    lab.set_env(HOST, AGENTA_LAB_FAIL_REVISION="")

    run = lab.playbook(REPO / "playbooks" / "upgrade-agenta.yml", limit=HOST,
                       extra_vars={"agenta_target_tag": "v0.44.5"})
    assert run.rc == 0, run.stdout[-3000:]
    outcome = run.results("Record the outcome")[HOST]["ansible_facts"]["agenta_upgrade_outcome"]
    assert outcome["outcome"] == "upgraded", outcome
    assert outcome["message"].startswith(
        f"The api container {API} was {api_state}, not running (the alembic service exited with {exit_code}); the "
        "upgrade went on without it."), outcome
    assert lab.revisions(HOST) == {"oss": "1a0000000007"}
    assert lab.sh(HOST, "docker", "inspect", "-f", "{{.State.Status}} {{.Config.Image}}", API).stdout.strip() == (
        "running ghcr.io/agenta-ai/agenta-api:v0.44.5")
    assert lab.row_counts(HOST) == rows_before


def test_a_controller_killed_during_a_restore_leaves_a_way_back(lab, tmp_path):
    """The rollback's controller dies while the databases are being replaced: the restore's module
    (agenta.fleet.deployment_restore) finishes alone on the host and says so in the journal, the next rollback refuses
    naming the dead run and how far it got; with agenta_break_lock (the API may be missing: a restore starts it) it
    restores the same backup again and everything is back."""
    # A backup of the host as it stands, without the auto-migration switch an earlier case turned on (the restore
    # would otherwise faithfully bring back a deployment that migrates itself at `up -d`).
    lab.set_env(HOST, AGENTA_AUTO_MIGRATIONS="false")
    taken = lab.playbook(REPO / "playbooks" / "backup-agenta.yml", limit=HOST)
    assert taken.rc == 0, taken.stdout[-3000:]
    latest = lab.sh(HOST, "readlink", "-f", "/var/backups/agenta/latest").stdout.strip()
    manifest = json.loads(lab.sh(HOST, "cat", f"{latest}/manifest.json").stdout)
    other_before = (lab.revisions(OTHER), lab.row_counts(OTHER))
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory),
            str(REPO / "playbooks" / "rollback-agenta.yml"), "-l", HOST]
    log = open(tmp_path / "first-run.log", "w")
    first = subprocess.Popen(argv, env=lab.ansible_env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        wait_for(lambda: journal(lab).get("phase") in ("restoring databases", "databases restored", "services started")
                 or first.poll() is not None, 240, "the rollback's restore")
        assert first.poll() is None, (tmp_path / "first-run.log").read_text()[-3000:]
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        log.close()
    wait_for(lambda: journal(lab).get("phase") in ("services started", "restore failed"), 120,
             "the restore to finish alone")
    left = journal(lab)
    assert left["playbook"] == "rollback" and left["restoring"] == latest, left
    # Restored and compared with the manifest, then the services started: the journal says how far it got.
    assert [s["phase"] for s in left["steps"]][-3:] == ["restoring databases", "databases restored",
                                                         "services started"], left

    # The next rollback reads the journal and refuses, naming the dead run and how far its restore got.
    again = lab.playbook(REPO / "playbooks" / "rollback-agenta.yml", limit=HOST)
    assert again.rc != 0
    msg = failures(again)[0]
    assert msg.startswith(f"{HOST} is being changed by run {left['run_id']} (rollback by "), msg
    assert "last at phase 'services started'" in msg, msg

    # Taking over: the same backup is restored again, completely, and the services run.
    done = lab.playbook(REPO / "playbooks" / "rollback-agenta.yml", limit=HOST, extra_vars={"agenta_break_lock": True})
    assert done.rc == 0, done.stdout[-3000:]
    assert lab.revisions(HOST) == manifest["revisions"]
    tables = {d["name"]: d["tables"] for d in manifest["databases"]}
    for key, rows in lab.row_counts(HOST).items():
        db, table = key.split(".", 1)
        assert rows == tables[db].get(table, tables[db].get("public." + table)), key
    image = lab.sh(HOST, "docker", "inspect", "-f", "{{.State.Status}} {{.Config.Image}}", API).stdout.strip()
    assert image == f"running ghcr.io/agenta-ai/agenta-api:{manifest['image_tag']}"
    assert journal(lab) == {} and journal(lab, "last-run.json")["took_over_from"]["run_id"] == left["run_id"]
    assert (lab.revisions(OTHER), lab.row_counts(OTHER)) == other_before


def test_a_long_backup_shows_signs_of_life(lab, tmp_path):
    """A backup that takes a while (about 150 MB of rows that do not compress) prints a line every
    agenta_progress_interval seconds with the time so far and the bytes written, and ends as a backup does
    (agenta_progress_min_bytes=0: below 256 MiB the step is a plain module call, with no lines)."""
    lab.psql(HOST, "agenta_oss", "CREATE TABLE fleet_progress_filler AS SELECT g, md5(random()::text) || "
             "md5(random()::text) || md5(random()::text) AS t FROM generate_series(1, 1200000) g")
    try:
        run = lab.playbook(REPO / "playbooks" / "backup-agenta.yml", limit=HOST,
                           extra_vars={"agenta_progress_interval": 1, "agenta_progress_min_bytes": 0,
                                       "agenta_report_dir": str(tmp_path)})
        assert run.rc == 0, run.stdout[-3000:]
        lines = [x for x in run.stdout.splitlines() if x.startswith(f"{HOST}: backing up the databases, ")]
        assert lines, run.stdout[:3000]
        assert any(" written (the databases are " in x for x in lines), lines
        # The module's own result came through the job unchanged: the manifest, the verified dumps.
        name = "Back up every database, check each dump and write the manifest"
        taken = next(t["hosts"][HOST] for play in run.json["plays"] for t in play["tasks"]
                     if t["task"]["name"].endswith(name) and HOST in t["hosts"])
        assert taken["changed"] is True and "ansible_job_id" not in taken, taken
        manifest = json.loads(lab.sh(HOST, "cat", taken["manifest"]).stdout)
        assert "agenta_oss" in [d["name"] for d in manifest["databases"]] and manifest["verified"]["list"] is True
        assert journal(lab) == {}  # the run's lock and its progress notes are gone

        # Its restore (a rollback to this very backup) shows the same signs of life, then every row is back.
        rows = lab.row_counts(HOST)
        # (Its pg_restore takes a second or two here: a line every half second.)
        back = lab.playbook(REPO / "playbooks" / "rollback-agenta.yml", limit=HOST,
                            extra_vars={"agenta_progress_interval": 0.5, "agenta_progress_min_bytes": 0,
                                        "agenta_report_dir": str(tmp_path)})
        assert back.rc == 0, back.stdout[-3000:]
        lines = [x for x in back.stdout.splitlines() if x.startswith(f"{HOST}: restoring the databases, ")]
        assert any(" databases restored, now agenta_oss" in x for x in lines), lines or back.stdout[:3000]
        assert lab.row_counts(HOST) == rows
        assert lab.psql(HOST, "agenta_oss", "SELECT count(*) FROM fleet_progress_filler") == "1200000"
        assert journal(lab) == {}
    finally:
        lab.psql(HOST, "agenta_oss", "DROP TABLE IF EXISTS fleet_progress_filler")
