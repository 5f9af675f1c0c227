"""Unit tests of agenta.fleet.database_backup's lock option on real files (tmp_path): the run lock is taken as the
call's first step, before the backup reads anything (here the Docker engine is a socket that does not exist, so the
call fails right after it), refused when another live run holds it, taken over from a dead one, only checked in
check mode; the option needs run_journal and run_id."""

from __future__ import annotations

import json
import os

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible.module_utils.testing import patch_module_args

from ansible_collections.agenta.fleet.plugins.module_utils import run_journal
from ansible_collections.agenta.fleet.plugins.modules import database_backup

pytest.importorskip("docker")


def call(capsys, tmp_path, check=False, **args):
    env = tmp_path / ".env.oss.gh"
    env.write_text("POSTGRES_USER=agenta\nPOSTGRES_PASSWORD=secret\n")
    base = dict(env_file=str(env), backup_dir=str(tmp_path / "backups"),
                docker_host="unix://" + str(tmp_path / "no-docker.sock"), timeout=5)
    base.update(args)
    if check:
        base["_ansible_check_mode"] = True
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            database_backup.main()
    return json.loads(capsys.readouterr().out)


def test_the_lock_is_taken_before_the_backup_reads_anything(tmp_path, capsys):
    journal = str(tmp_path / "state" / "run.json")
    out = call(capsys, tmp_path, run_journal=journal, run_id="R1",
               lock=dict(playbook="upgrade", owner="alice@ctl", phase="upgrading", details={"to_image": "api:v2"}))
    # The engine is not there: the backup fails after the lock, which names the run and stays for its release.
    assert out["failed"] and "docker" in out["msg"].lower(), out
    held = run_journal.read(journal)
    assert held["run_id"] == "R1" and held["phase"] == "upgrading" and held["to_image"] == "api:v2", held
    assert [s["phase"] for s in held["steps"]] == ["upgrading"]
    assert out["lock"]["journal"]["run_id"] == "R1" and out["lock"]["took_over"] == ""
    assert not os.path.exists(tmp_path / "backups")
    # The same run calls again (a retry): the lock is its own, only updated.
    again = call(capsys, tmp_path, run_journal=journal, run_id="R1", lock=dict(phase="upgrading"))
    assert again["lock"]["journal"]["started"] == held["started"]


def test_another_live_run_is_refused_in_one_sentence_and_a_dead_one_taken_over(tmp_path, capsys):
    journal = str(tmp_path / "state" / "run.json")
    run_journal.write(journal, dict(run_id="R0", playbook="rollback", owner="bob@ctl", started=run_journal.now(),
                                    updated=run_journal.now(), phase="restoring databases", steps=[]))
    refused = call(capsys, tmp_path, run_journal=journal, run_id="R1", lock=dict(owner="alice@ctl"))
    assert refused["failed"]
    assert refused["msg"].startswith("The run lock %s is held by run R0 (rollback by bob@ctl, started " % journal)
    assert refused["msg"].endswith("run again with -e agenta_break_lock=true."), refused["msg"]
    assert refused["lock"]["held_by"]["run_id"] == "R0"
    assert run_journal.read(journal)["run_id"] == "R0"
    # Check mode refuses the same way and writes nothing.
    checked = call(capsys, tmp_path, check=True, run_journal=journal, run_id="R1", lock=dict(owner="alice@ctl"))
    assert checked["failed"] and "is held by run R0" in checked["msg"]
    # The operator knows R0's controller is dead: its lock is taken over, and the result says whose it was.
    taken = call(capsys, tmp_path, run_journal=journal, run_id="R1", lock=dict(owner="alice@ctl", break_lock=True))
    assert taken["lock"]["took_over"].startswith("Took over the run lock of run R0 (rollback by bob@ctl, ")
    assert "(agenta_break_lock is set)" in taken["lock"]["took_over"]
    assert run_journal.read(journal)["took_over_from"]["run_id"] == "R0"


def test_check_mode_writes_no_lock(tmp_path, capsys):
    journal = str(tmp_path / "state" / "run.json")
    out = call(capsys, tmp_path, check=True, run_journal=journal, run_id="R1", lock=dict(phase="upgrading"))
    assert out["lock"]["journal"]["run_id"] == "R1"
    assert not os.path.exists(journal)


@pytest.mark.parametrize("args, sentence", [
    (dict(lock=dict(phase="x")), "missing parameter(s) required by 'lock': run_journal"),
    (dict(run_id=" ", lock=dict()), "run_id must name the run; it is empty."),
    (dict(run_id="R1", lock=dict(stale_after=5)), "lock.stale_after must be at least 60 seconds, not 5."),
])
def test_bad_lock_options_are_refused_before_anything_is_written(tmp_path, capsys, args, sentence):
    journal = str(tmp_path / "state" / "run.json")
    if "run_id" in args:
        args["run_journal"] = journal
    out = call(capsys, tmp_path, **args)
    assert out["failed"] and out["msg"] == sentence, out
    assert not os.path.exists(journal) and not os.path.exists(tmp_path / "backups")
