"""Unit tests of agenta.fleet.deployment_restore's pure parts: the manifest's entries, the comparison after the
restore, and the files kept, put back and put back again, on real files in tmp_path. The restore itself runs on the
lab (tests/integration/backup_restore_cases.py, test_faults.py)."""

from __future__ import annotations

import os
import re
import stat

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access, run_journal
from ansible_collections.agenta.fleet.plugins.modules import deployment_restore as dr
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import DeploymentError

MANIFEST_DBS = [
    {"name": "agenta_oss_core", "file": "agenta_oss_core.dump", "format": "custom", "sha256": "x", "size": 10,
     "tables": {"public.apps": 3, "public.alembic_version": 1}, "versions": {"public.alembic_version": "abc"}},
    {"name": "agenta_oss_tracing", "file": "agenta_oss_tracing.dir", "format": "directory",
     "tables": {"public.spans": 7}, "versions": {"public.alembic_version_tracing": "t1"}},
]


def test_the_manifests_entries_become_restores_into_the_same_databases(tmp_path):
    items = dr.restore_items(MANIFEST_DBS, str(tmp_path))
    assert [(i["name"], i["into"], i["format"], i["file"]) for i in items] == [
        ("agenta_oss_core", "agenta_oss_core", "custom", "agenta_oss_core.dump"),
        ("agenta_oss_tracing", "agenta_oss_tracing", "directory", "agenta_oss_tracing.dir")]
    assert items[0]["path"] == str(tmp_path / "agenta_oss_core.dump")


@pytest.mark.parametrize("entry, words", [
    ({"name": "a; DROP", "file": "a.dump"}, "database"),
    ({"name": "agenta_oss_core", "file": "x.dump", "format": "tar"}, "a file and a format custom or directory"),
    ({"name": "agenta_oss_core"}, "a file and a format custom or directory"),
    ({"name": "agenta_oss_core", "file": "../../etc/passwd"}, "lies outside the backup"),
])
def test_an_entry_that_is_not_a_dump_of_the_backup_is_refused(tmp_path, entry, words):
    with pytest.raises(DeploymentError) as err:
        dr.restore_items([entry], str(tmp_path))
    assert words in str(err.value)


def measured(**override):
    got = {e["name"]: {"tables": dict(e["tables"]), "versions": dict(e["versions"])} for e in MANIFEST_DBS}
    got.update(override)
    return got


def test_a_restore_that_holds_what_the_manifest_says_passes():
    assert dr.check_restored(MANIFEST_DBS, measured(), {"oss": "abc", "tracing": "t1", "ee": "base"}) == ""


def test_a_table_with_other_rows_is_named():
    got = measured(agenta_oss_core={"tables": {"public.apps": 2, "public.alembic_version": 1},
                                    "versions": {"public.alembic_version": "abc"}})
    assert dr.check_restored(MANIFEST_DBS, got, {}) == (
        "The restored data differs from the manifest: table agenta_oss_core.public.apps has 2 rows where the "
        "manifest says 3 rows.")


def test_a_database_that_was_not_read_is_named():
    got = measured()
    del got["agenta_oss_tracing"]
    assert "database agenta_oss_tracing was not found" in dr.check_restored(MANIFEST_DBS, got, {})


def test_a_revision_of_the_manifest_in_no_version_table_is_named():
    assert dr.lost_revisions({"oss": "abc", "tracing": "t1", "ee": "base", "x": None}, measured()) == []
    assert dr.lost_revisions({"oss": "abc", "ee": "e9", "other": "z1"}, measured()) == ["e9", "z1"]
    # A version table may hold several heads, comma-separated.
    got = measured(agenta_oss_tracing={"tables": {"public.spans": 7},
                                       "versions": {"public.alembic_version_tracing": "t1,e9"}})
    assert dr.lost_revisions({"ee": "e9"}, got) == []
    assert dr.check_restored(MANIFEST_DBS, measured(), {"ee": "e9"}) == (
        "The restored data differs from the manifest: revision(s) e9 of the manifest are in no version table.")


def test_a_file_is_kept_with_its_mode_and_put_back_over_the_deployments_keeping_the_deployments_mode(tmp_path):
    env = tmp_path / ".env.oss.gh"
    env.write_text("AGENTA_API_IMAGE_TAG=v0.44.4\nPOSTGRES_PASSWORD=new\n")
    env.chmod(0o640)
    kept = dr.keep(str(env))
    assert kept == str(env) + ".before-restore"
    assert (tmp_path / ".env.oss.gh.before-restore").read_text() == env.read_text()
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o640
    # An older kept copy is replaced, not appended to.
    env.write_text("AGENTA_API_IMAGE_TAG=v0.44.4\n")
    dr.keep(str(env))
    assert (tmp_path / ".env.oss.gh.before-restore").read_text() == "AGENTA_API_IMAGE_TAG=v0.44.4\n"
    backup = tmp_path / "env_file"
    backup.write_text("AGENTA_API_IMAGE_TAG=v0.43.0\n")
    backup.chmod(0o600)
    dr.put(str(backup), str(env))
    assert env.read_text() == "AGENTA_API_IMAGE_TAG=v0.43.0\n"
    assert stat.S_IMODE(os.stat(env).st_mode) == 0o640
    # A file the deployment lacks is written 0600.
    dr.put(str(backup), str(tmp_path / "new"))
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o600


class FakeModule(object):
    def __init__(self, params):
        self.params = params
        self.failed = None

    def fail_json(self, **result):
        self.failed = result
        raise SystemExit(1)


def a_restore(tmp_path, put_back_compose_file=True):
    deploy = tmp_path / "oss"
    deploy.mkdir()
    source = tmp_path / "20261206T070000Z"
    source.mkdir()
    (deploy / ".env.oss.gh").write_text("AGENTA_API_IMAGE_TAG=v0.44.4\n")
    (deploy / "docker-compose.gh.yml").write_text("services: {api: {}, web: {}, postgres: {}}\n")
    (source / "env_file").write_text("AGENTA_API_IMAGE_TAG=v0.43.0\n")
    (source / "compose_file").write_text("services: {api: {}, postgres: {}}\n")
    params = {"source": str(source), "env_file": str(deploy / ".env.oss.gh"),
              "compose_file": str(deploy / "docker-compose.gh.yml"), "put_back_compose_file": put_back_compose_file,
              "revert": True, "run_journal": None, "run_id": ""}
    return dr.Restore(FakeModule(params)), deploy


def test_the_backups_files_replace_the_deployments_and_a_failure_before_a_database_changed_puts_them_back(tmp_path):
    run, deploy = a_restore(tmp_path)
    before = {f: (deploy / f).read_text() for f in (".env.oss.gh", "docker-compose.gh.yml")}
    run.replace_files([])
    assert (deploy / ".env.oss.gh").read_text() == "AGENTA_API_IMAGE_TAG=v0.43.0\n"
    assert (deploy / "docker-compose.gh.yml").read_text() == "services: {api: {}, postgres: {}}\n"
    assert (deploy / ".env.oss.gh.before-restore").read_text() == before[".env.oss.gh"]
    assert run.out["changed"] and not run.out["databases_changed"]
    with pytest.raises(SystemExit):
        run.fail(DeploymentError("The dump of database agenta_oss_core in /b cannot be read (x); no database was "
                                 "changed. Point the restore at a complete backup folder."))
    assert {f: (deploy / f).read_text() for f in before} == before
    assert sorted(os.listdir(deploy)) == [".env.oss.gh", "docker-compose.gh.yml"]
    assert run.module.failed["reverted"] is True and run.module.failed["databases_changed"] is False
    assert run.module.failed["msg"].endswith("Point the restore at a complete backup folder.")


def test_after_a_database_changed_a_failure_leaves_the_backups_files(tmp_path):
    run, deploy = a_restore(tmp_path, put_back_compose_file=False)
    run.replace_files([])
    run.out["databases_changed"] = True
    with pytest.raises(SystemExit):
        run.fail(DeploymentError("pg_restore of database agenta_oss_core failed: disk full"))
    assert (deploy / ".env.oss.gh").read_text() == "AGENTA_API_IMAGE_TAG=v0.43.0\n"
    # The compose file was not the restore's to replace.
    assert (deploy / "docker-compose.gh.yml").read_text() == "services: {api: {}, web: {}, postgres: {}}\n"
    assert run.module.failed["reverted"] is False
    assert run.module.failed["msg"] == "pg_restore of database agenta_oss_core failed: disk full."


def test_a_failed_restore_notes_how_it_ended_in_the_run_journal(tmp_path):
    run, deploy = a_restore(tmp_path, put_back_compose_file=False)
    path = str(tmp_path / "state" / "run.json")
    run_journal.write(path, dict(run_id="R1", phase="restoring databases", steps=[], progress={"step": "x"}))
    run.p.update(run_journal=path, run_id="R1")
    run.replace_files([])
    run.out["databases_changed"] = True
    with pytest.raises(SystemExit):
        run.fail(DeploymentError("pg_restore of database agenta_oss_core failed: disk full"))
    left = run_journal.read(path)
    assert left["phase"] == "restore failed" and left["progress"] is None, left
    assert left["restore_error"] == "pg_restore of database agenta_oss_core failed: disk full."
    assert left["databases_changed"] is True and [s["phase"] for s in left["steps"]] == ["restore failed"]


@pytest.mark.parametrize("problem", ["", "The restored data differs from the manifest: table x has 2 rows."])
def test_the_journal_says_restored_only_after_the_comparison_and_started_after_up_d(tmp_path, monkeypatch, problem):
    run, deploy = a_restore(tmp_path, put_back_compose_file=False)
    path = str(tmp_path / "state" / "run.json")
    run_journal.write(path, dict(run_id="R1", phase="rolling back", steps=[]))
    run.p.update(run_journal=path, run_id="R1", jobs=1, timeout=60, restore=MANIFEST_DBS, revisions={}, start=True)
    calls = []

    class Compose(object):
        def run(self, *args):
            calls.append(("compose",) + args + (run_journal.read(path)["phase"],))

    run.compose = Compose()
    monkeypatch.setattr(dr, "restore_all", lambda *a, **k: [])
    monkeypatch.setattr(dr, "existing_databases", lambda server, names: [])
    monkeypatch.setattr(dr, "measure", lambda server, names: {n: {"tables": {}, "versions": {}} for n in names})
    monkeypatch.setattr(dr, "check_restored", lambda *a: calls.append(("compare", run_journal.read(path)["phase"]))
                        or problem)
    items = [dict(name="agenta_oss_core", into="agenta_oss_core", file="a.dump", format="custom")]
    if problem:
        with pytest.raises(DeploymentError):
            run.replace_databases(items, [])
        assert run_journal.read(path)["phase"] == "restoring databases"
        return
    run.replace_databases(items, [])
    run.finish()
    # Compared while still "restoring databases"; "databases restored" before up -d; "services started" after it.
    assert calls == [("compare", "restoring databases"), ("compose", "up", "-d", "databases restored")]
    phases = [s["phase"] for s in run_journal.read(path)["steps"]]
    assert phases == ["restoring databases", "databases restored", "services started"]


@pytest.mark.parametrize("started,changed", [(False, False), (None, True)])
def test_a_restore_container_that_never_started_changed_no_database(tmp_path, monkeypatch, started, changed):
    run, deploy = a_restore(tmp_path)
    run.p.update(jobs=1, timeout=60)
    run.replace_files([])

    def restore_all(*args, **kwargs):
        exc = docker_access.DockerAccessError("Could not find network agenta-oss-gh_default.")
        exc.started = started
        if started is False:
            exc.unchanged = True  # as postgres_access.restore_all marks it
        raise exc
    monkeypatch.setattr(dr, "restore_all", restore_all)
    with pytest.raises(docker_access.DockerAccessError):
        run.replace_databases([dict(name="a", into="a", file="a.dump", format="custom")], [])
    assert run.out["databases_changed"] is changed
    # The failure puts the deployment's files back only when no database changed.
    with pytest.raises(SystemExit):
        run.fail(docker_access.DockerAccessError("Could not find network agenta-oss-gh_default."))
    assert run.module.failed["reverted"] is not changed
    assert (deploy / ".env.oss.gh").read_text() == "AGENTA_API_IMAGE_TAG=%s\n" % ("v0.43.0" if changed else "v0.44.4")


def test_a_backup_without_its_env_file_is_refused_before_anything_changes(tmp_path):
    run, deploy = a_restore(tmp_path)
    os.unlink(run.p["source"] + "/env_file")
    run.p.update(restore=[], drop=[])
    with pytest.raises(DeploymentError) as err:
        run.prepare()
    assert str(err.value) == ("The backup %s holds no env_file; no database was changed. Point the restore at the "
                              "backup's own folder." % run.p["source"])
    assert (deploy / ".env.oss.gh").read_text() == "AGENTA_API_IMAGE_TAG=v0.44.4\n"


def test_no_module_that_may_run_as_a_job_returns_a_key_of_the_async_protocol():
    """The action plugins of these modules run them as asynchronous jobs (plugin_utils/progress_action.py): a result
    key `started` or `finished` would make async_status take the finished job's result for a running job, and the
    controller would poll it forever."""
    from ansible_collections.agenta.fleet.plugins.modules import (alembic_migration, database_backup,
                                                                  database_restore, deployment_restore)
    from ansible_collections.agenta.fleet.plugins.module_utils.progress import ASYNC_KEYS
    for module in (alembic_migration, database_backup, database_restore, deployment_restore):
        keys = set(re.findall(r"(?m)^([A-Za-z_]+):", module.RETURN))
        assert keys, module.__name__
        assert not keys & set(ASYNC_KEYS), (module.__name__, keys & set(ASYNC_KEYS))


def test_files_that_cannot_be_put_back_are_named_with_their_kept_copy(tmp_path):
    run, deploy = a_restore(tmp_path, put_back_compose_file=False)
    run.replace_files([])
    kept = deploy / ".env.oss.gh.before-restore"
    kept.unlink()
    kept.mkdir()  # the kept copy can no longer be read (even by root)
    with pytest.raises(SystemExit):
        run.fail(DeploymentError("The dump of database agenta_oss_core in /b cannot be read (x); no database was "
                                 "changed"))
    msg = run.module.failed["msg"]
    assert run.module.failed["reverted"] is False, msg
    assert msg.startswith("The dump of database agenta_oss_core in /b cannot be read (x); no database was changed. "
                          "Putting everything back failed as well: %s could not be put back from %s (" % (
                              deploy / ".env.oss.gh", kept)), msg
    assert msg.endswith("); copy it back by hand and start the services (docker compose up -d)."), msg
