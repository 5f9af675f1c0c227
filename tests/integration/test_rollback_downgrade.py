"""rollback-agenta.yml by downgrade where the way back is reversible: v0.44.4 -> v0.44.5 adds 1a0000000007
(a column and an index; its downgrade drops them). The module downgrades in the running new image, the env file
of the backup comes back (old image tag), the services are re-created on the old image and verified: revisions and
every table's rows equal the manifest's. (Where a step is irreversible the method is refused: test_playbooks.py.)"""
from __future__ import annotations

import json

import pytest

from conftest import REPO

PLAYBOOKS = REPO / "playbooks"
OLD, NEW = "v0.44.4", "v0.44.5"
HOST = "staging-1"


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory(OLD, staging=1, production=0)


def has_column(lab):
    return lab.psql(HOST, "agenta_oss", "SELECT count(*) FROM information_schema.columns "
                                        "WHERE table_name = 'apps' AND column_name = 'archived_at'") == "1"


def test_rollback_by_downgrade_returns_revisions_rows_and_image(lab, tmp_path):
    run = lab.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit=HOST,
                       extra_vars={"agenta_target_tag": NEW, "agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert lab.revisions(HOST) == {"oss": "1a0000000007"}
    assert has_column(lab)
    path = lab.sh(HOST, "readlink", "-f", "/var/backups/agenta/latest/manifest.json").stdout.strip()
    manifest = json.loads(lab.sh(HOST, "cat", path).stdout)
    assert manifest["revisions"] == {"oss": "1a0000000006"}

    check = lab.playbook(PLAYBOOKS / "rollback-agenta.yml", limit=HOST, check=True,
                         extra_vars={"agenta_rollback_method": "downgrade", "agenta_report_dir": str(tmp_path)})
    assert check.rc == 0, check.stdout[-3000:] + check.stderr
    assert lab.revisions(HOST) == {"oss": "1a0000000007"}  # --check changed nothing

    run = lab.playbook(PLAYBOOKS / "rollback-agenta.yml", limit=HOST,
                       extra_vars={"agenta_rollback_method": "downgrade", "agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert lab.revisions(HOST) == manifest["revisions"]
    assert not has_column(lab)
    for db in manifest["databases"]:
        for table, count in db["tables"].items():
            assert int(lab.psql(HOST, db["name"], f'SELECT count(*) FROM "{table}"')) == count, (db["name"], table)
    image = lab.sh(HOST, "docker", "inspect", "-f", "{{.Config.Image}}", "agenta-oss-gh-api-1").stdout.strip()
    assert image.endswith(":" + OLD)
    report = json.loads(sorted(tmp_path.glob("rollback-*.json"))[-1].read_text())
    assert [(e["host"], e["method"], e["outcome"]) for e in report["hosts"]] == [(HOST, "downgrade", "rolled back")]
