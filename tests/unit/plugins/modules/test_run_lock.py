"""Unit tests of agenta.fleet.run_lock and module_utils/run_journal.py on real files (tmp_path): take, refuse,
take over a stale or broken lock, release into last-run.json, notes of other modules, check mode."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest
import yaml

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible.module_utils.testing import patch_module_args

from ansible_collections.agenta.fleet.plugins.module_utils import run_journal
from ansible_collections.agenta.fleet.plugins.modules import run_lock


def call(capsys, check=False, **args):
    if check:
        args["_ansible_check_mode"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            run_lock.main()
    out = json.loads(capsys.readouterr().out)
    out["_rc"] = info.value.code
    return out


def test_docs_name_every_option(monkeypatch):
    doc = yaml.safe_load(run_lock.DOCUMENTATION)
    yaml.safe_load(run_lock.EXAMPLES)
    yaml.safe_load(run_lock.RETURN)
    assert set(doc["options"]) == {"path", "state", "run_id", "playbook", "owner", "phase", "details", "stale_after",
                                   "break_lock"}


def test_take_refuse_release(tmp_path, capsys):
    path = str(tmp_path / "state" / "run.json")
    first = call(capsys, path=path, run_id="R1", owner="alice@ctl", phase="upgrading", details={"to": "v2"})
    assert first["_rc"] == 0 and first["changed"] and first["previous"] is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    # A module of the same run adds its backup; another run's note changes nothing.
    assert run_journal.note(path, "R1", phase="backed up", backup="/b/m.json")
    assert not run_journal.note(path, "R2", phase="x")
    # A module's progress callback: bound to its run, or None when the module has no journal.
    assert run_journal.noter(path, "R1")(progress={"step": "dumping"})
    assert not run_journal.noter(path, "R2")(progress={"step": "x"})
    assert run_journal.noter("", "R1") is None and run_journal.noter(path, "") is None
    assert run_journal.note(path, "R1", progress=None)
    second = call(capsys, path=path, run_id="R2", owner="bob@ctl")
    assert second["_rc"] == 1 and second["failed"]
    assert second["msg"].startswith(f"The run lock {path} is held by run R1 (upgrade by alice@ctl, started ")
    assert "last at phase 'backed up' at " in second["msg"] and "backup /b/m.json" in second["msg"]
    assert second["msg"].endswith("wait for that run to end or, if it is dead (its controller was stopped), run "
                                  "again with -e agenta_break_lock=true.")
    # Releasing as another run does nothing; the owner's release moves the journal to last-run.json.
    assert call(capsys, path=path, run_id="R2", state="released")["changed"] is False
    assert os.path.exists(path)
    done = call(capsys, path=path, run_id="R1", state="released", details={"outcome": "upgraded"})
    assert done["changed"] and not os.path.exists(path)
    last = json.loads((tmp_path / "state" / "last-run.json").read_text())
    assert last["outcome"] == "upgraded" and last["backup"] == "/b/m.json" and last["finished"]
    assert [s["phase"] for s in last["steps"]] == ["upgrading", "backed up"]
    assert call(capsys, path=path, run_id="R2")["last_run"]["run_id"] == "R1"


def test_the_same_run_updates_its_phase(tmp_path, capsys):
    path = str(tmp_path / "run.json")
    call(capsys, path=path, run_id="R1", phase="pre-checks")
    again = call(capsys, path=path, run_id="R1", phase="upgrading")
    assert again["_rc"] == 0 and again["journal"]["phase"] == "upgrading"
    assert [s["phase"] for s in again["journal"]["steps"]] == ["pre-checks", "upgrading"]


def test_stale_and_broken_locks_are_taken_over_and_named(tmp_path, capsys):
    path = str(tmp_path / "run.json")
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200))
    run_journal.write(path, {"run_id": "DEAD", "playbook": "upgrade", "owner": "carol@ctl", "started": old,
                             "updated": old, "phase": "migrating", "migration": "upgrade with api:v2"})
    refused = call(capsys, path=path, run_id="R3", stale_after=10800)
    assert refused["_rc"] == 1 and refused["held_by"]["run_id"] == "DEAD"
    taken = call(capsys, path=path, run_id="R3", stale_after=3600)
    assert taken["_rc"] == 0 and taken["previous"]["run_id"] == "DEAD"
    assert taken["took_over"].startswith("Took over the run lock of run DEAD (upgrade by carol@ctl, started ")
    assert "migration upgrade with api:v2" in taken["took_over"]
    assert "(its journal was last written 120 minutes ago)" in taken["took_over"]
    assert run_journal.read(path)["took_over_from"]["run_id"] == "DEAD"
    broken = call(capsys, path=path, run_id="R4", break_lock=True)
    assert broken["_rc"] == 0 and "(agenta_break_lock is set)" in broken["took_over"]
    (tmp_path / "run.json").write_text("not json")
    assert "a run whose journal cannot be read" in call(capsys, path=path, run_id="R5")["took_over"]


def test_check_mode_writes_nothing_but_still_refuses(tmp_path, capsys):
    path = str(tmp_path / "run.json")
    assert call(capsys, check=True, path=path, run_id="R1")["_rc"] == 0
    assert not os.path.exists(path)
    call(capsys, path=path, run_id="R1")
    assert call(capsys, check=True, path=path, run_id="R2")["_rc"] == 1
    assert call(capsys, check=True, path=path, run_id="R1", state="released")["_rc"] == 0
    assert os.path.exists(path)


@pytest.mark.parametrize("args,msg", [({"run_id": " "}, "run_id must name the run; it is empty."),
                                      ({"run_id": "R", "stale_after": 5},
                                       "stale_after must be at least 60 seconds, not 5.")])
def test_bad_input(tmp_path, capsys, args, msg):
    out = call(capsys, path=str(tmp_path / "run.json"), **args)
    assert out["_rc"] == 1 and out["msg"] == msg and not os.path.exists(tmp_path / "run.json")


def test_describe_and_age():
    j = {"run_id": "R", "playbook": "rollback", "owner": "o", "started": "2026-12-03T08:00:00Z",
         "updated": "2026-12-03T08:10:00Z"}
    assert run_journal.describe(j) == "run R (rollback by o, started 2026-12-03T08:00:00Z)"
    assert run_journal.age_seconds(j, at=run_journal.parse_time("2026-12-03T09:10:00Z")) == 3600
    assert run_journal.age_seconds({}) is None
