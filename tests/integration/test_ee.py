"""Agenta EE on real lab hosts, and the switch from OSS to EE. Nothing is mocked.

EE (`lab.py up --edition ee`): compose project agenta-ee-gh, env file .env.ee.gh, image
ghcr.io/agenta-ai/agenta-api-ee, databases agenta_ee_core / agenta_ee_tracing, six chains in EE order (core,
core_oss, core_ee, tracing, tracing_oss, tracing_ee; version tables alembic_version, alembic_version_oss,
alembic_version_ee) run by the EE runner (`python -m ee.databases.postgres.migrations.runner`). v0.104.0 is
upgraded to v0.113.0, planned, failed in an EE chain (restored), upgraded and rolled back like OSS.

The switch: an OSS deployment upgraded with the EE image (-e agenta_target_image=ghcr.io/agenta-ai/agenta-api-ee)
is refused before v0.104.0 (the release map's edition_stop), goes through at v0.104.0 (the EE chains run on the
deployment's databases, the env file's AGENTA_API_IMAGE_NAME changes) and is rolled back to OSS.
"""

from __future__ import annotations

import json

import pytest

from conftest import REPO
from role_support import start_lab

HOST, OTHER = "staging-1", "production-1"
PLAYBOOKS = REPO / "playbooks"
EE_IMAGE = "ghcr.io/agenta-ai/agenta-api-ee"
EE_AT = {"core": "park00000000", "core_oss": "c05500000003", "core_ee": "ce0000000002", "tracing": "park00000000",
         "tracing_oss": "7a5500000002", "tracing_ee": "7e0000000002"}


def report(folder, name="upgrade") -> dict:
    (only,) = folder.glob(f"{name}-*.json")
    return {e["host"]: e for e in json.loads(only.read_text())["hosts"]}[HOST]


def api_image(lab, project) -> str:
    return lab.sh(HOST, "docker", "inspect", "-f", "{{.Config.Image}}", f"{project}-api-1").stdout.strip()


def snapshot(lab, host=HOST):
    return lab.revisions(host), lab.table_digests(host)


@pytest.fixture(scope="module")
def ee(lab_factory):
    for attempt in range(8):
        try:
            lab = lab_factory("v0.104.0", edition="ee")
            break
        except AssertionError as exc:
            if "is taken" not in str(exc) or attempt == 7:
                raise
    lab.start, lab.other = snapshot(lab), snapshot(lab, OTHER)
    return lab


def ee_upgrade(lab, tmp_path, check=False, **extra):
    return lab.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit=HOST, check=check, timeout=1200, extra_vars={
        "agenta_target_tag": "v0.113.0", "agenta_report_dir": str(tmp_path), **extra})


def databases(lab) -> list[str]:
    return lab.psql(HOST, "postgres", "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database "
                                      "WHERE datname LIKE 'agenta%' OR datname LIKE 'supertokens%'").split()


def test_ee_plan_shows_the_six_chains_and_changes_nothing(ee, tmp_path):
    assert ee.start[0] == {"core": "park00000000", "core_oss": "c05500000001", "core_ee": "ce0000000001",
                           "tracing": "park00000000", "tracing_oss": "7a5500000001", "tracing_ee": "7e0000000001"}
    run = ee_upgrade(ee, tmp_path, check=True)
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    entry = report(tmp_path)
    assert entry["outcome"] == "would upgrade" and entry["edition"] == "ee", entry
    assert entry["pending"] == {"core": [], "core_oss": ["c05500000002", "c05500000003"], "core_ee": ["ce0000000002"],
                                "tracing": [], "tracing_oss": ["7a5500000002"], "tracing_ee": ["7e0000000002"]}, entry
    # An EE deployment on its own image is no switch, although it is an EE image.
    assert "switch" not in entry and "Switches from OSS" not in entry["message"], entry
    assert snapshot(ee) == ee.start


def test_ee_an_oss_image_for_an_ee_deployment_is_refused(ee, tmp_path):
    run = ee_upgrade(ee, tmp_path, agenta_target_image="ghcr.io/agenta-ai/agenta-api")
    assert run.rc != 0
    entry = report(tmp_path)
    assert entry["outcome"] == "refused", entry
    assert ("agenta_target_image (ghcr.io/agenta-ai/agenta-api) changes the image of the deployment "
            "(ghcr.io/agenta-ai/agenta-api-ee), which an upgrade does only to switch an OSS deployment to EE, and it "
            "is not an EE image with the EE chains (core_ee, tracing_ee)") in entry["message"], entry
    assert snapshot(ee) == ee.start and api_image(ee, "agenta-ee-gh") == f"{EE_IMAGE}:v0.104.0"


def test_ee_a_failed_ee_revision_is_restored(ee, tmp_path):
    """core_oss's two revisions commit before core_ee fails (one transaction per revision): only the backup of the
    agenta_ee_* databases brings the host back."""
    ee.set_env(HOST, AGENTA_LAB_FAIL_REVISION="ce0000000002")
    try:
        run = ee_upgrade(ee, tmp_path)
    finally:
        ee.set_env(HOST, AGENTA_LAB_FAIL_REVISION="")
    assert run.rc != 0
    entry = report(tmp_path)
    assert entry["outcome"] == "failed, restored" and "ce0000000002" in entry["message"], entry
    assert snapshot(ee) == ee.start
    assert api_image(ee, "agenta-ee-gh") == f"{EE_IMAGE}:v0.104.0"


def test_ee_upgrade_then_rollback_puts_every_row_back(ee, tmp_path):
    rows = ee.row_counts(HOST)
    run = ee_upgrade(ee, tmp_path)
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert report(tmp_path)["outcome"] == "upgraded"
    assert ee.revisions(HOST) == EE_AT
    assert ee.row_counts(HOST) == rows
    # core_ee's data migration filled every subscription's plan key.
    assert ee.psql(HOST, "agenta_ee_core", "SELECT count(*) FROM subscriptions WHERE plan_key IS NULL") == "0"
    assert api_image(ee, "agenta-ee-gh") == f"{EE_IMAGE}:v0.113.0"
    manifest = json.loads(ee.sh(HOST, "cat", "/var/backups/agenta/latest/manifest.json").stdout)
    assert sorted(d["name"] for d in manifest["databases"]) == ["agenta_ee_core", "agenta_ee_supertokens",
                                                                "agenta_ee_tracing"]
    assert manifest["compose_project"] == "agenta-ee-gh" and manifest["revisions"] == ee.start[0], manifest

    run = ee.playbook(PLAYBOOKS / "rollback-agenta.yml", limit=HOST, timeout=1200,
                      extra_vars={"agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert report(tmp_path, "rollback")["outcome"] == "rolled back"
    assert snapshot(ee) == ee.start
    assert api_image(ee, "agenta-ee-gh") == f"{EE_IMAGE}:v0.104.0"
    assert snapshot(ee, OTHER) == ee.other


# ------------------------------------------------------------------------------------------- OSS -> EE
@pytest.fixture(scope="module")
def oss(lab_factory):
    lab = start_lab(lab_factory, "v0.103.0")
    lab.start = snapshot(lab)
    return lab


def switch(lab, tmp_path, tag):
    return lab.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit=HOST, timeout=1200, extra_vars={
        "agenta_target_tag": tag, "agenta_target_image": EE_IMAGE, "agenta_report_dir": str(tmp_path)})


def test_switch_to_ee_before_v0104_is_refused_naming_the_release(oss, tmp_path):
    run = switch(oss, tmp_path, "v0.104.0")
    assert run.rc != 0
    entry = report(tmp_path)
    assert entry["outcome"] == "refused", entry
    assert ("The switch of the deployment to EE needs it to stand at v0.104.0 first (the EE migrations build on that "
            "release's schema and fail partway otherwise), and it is at v0.103.0: upgrade it as it is to v0.104.0 "
            "(-e agenta_target_tag=v0.104.0, without agenta_target_image), then switch.") in entry["message"], entry
    assert snapshot(oss) == oss.start
    assert api_image(oss, "agenta-oss-gh") == "ghcr.io/agenta-ai/agenta-api:v0.103.0"


def test_switch_at_v0104_runs_the_ee_chains_and_rolls_back_to_oss(oss, tmp_path):
    run = oss.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit=HOST, timeout=1200, extra_vars={
        "agenta_target_tag": "v0.104.0", "agenta_report_dir": str(tmp_path / "oss")})
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    at_v0104 = snapshot(oss)
    env_before = oss.sh(HOST, "cat", oss.hosts[HOST].env_file).stdout
    names = databases(oss)
    assert names == ["agenta_oss_core", "agenta_oss_supertokens", "agenta_oss_tracing"]
    said = ("Switches from OSS (ghcr.io/agenta-ai/agenta-api) to EE (ghcr.io/agenta-ai/agenta-api-ee:v0.104.0): the EE "
            "chains (core_ee, tracing_ee) run on the deployment's databases for the first time, and the env file's "
            "AGENTA_API_IMAGE_NAME becomes agenta-api-ee.")

    run = oss.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit=HOST, check=True, timeout=1200, extra_vars={
        "agenta_target_tag": "v0.104.0", "agenta_target_image": EE_IMAGE, "agenta_report_dir": str(tmp_path / "check")})
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    entry = report(tmp_path / "check")
    assert entry["outcome"] == "would upgrade" and entry["switch"] == "oss -> ee" and said in entry["message"], entry
    assert snapshot(oss) == at_v0104 and databases(oss) == names

    run = switch(oss, tmp_path, "v0.104.0")
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    entry = report(tmp_path)
    assert entry["outcome"] == "upgraded" and entry["switch"] == "oss -> ee" and said in entry["message"], entry
    assert entry["pending"]["core_ee"] == ["ce0000000001"] and entry["pending"]["tracing_ee"] == ["7e0000000001"]
    assert api_image(oss, "agenta-oss-gh") == f"{EE_IMAGE}:v0.104.0"
    # Agenta's EE runner made its own (empty) databases beside the deployment's, as its split step does.
    assert databases(oss) == sorted(names + ["agenta_ee_core", "agenta_ee_supertokens", "agenta_ee_tracing"])
    # The EE chains ran in the deployment's own databases (the env file's URIs), next to the OSS chains.
    assert oss.psql(HOST, "agenta_oss_core", "SELECT version_num FROM alembic_version_ee") == "ce0000000001"
    assert oss.psql(HOST, "agenta_oss_tracing", "SELECT version_num FROM alembic_version_ee") == "7e0000000001"
    assert oss.revisions(HOST) == at_v0104[0] and oss.table_digests(HOST) == at_v0104[1]
    assert "AGENTA_API_IMAGE_NAME=agenta-api-ee" in oss.sh(HOST, "cat", oss.hosts[HOST].env_file).stdout

    # A downgrade cannot take the EE chains' tables and databases away: refused, nothing changed.
    run = oss.playbook(PLAYBOOKS / "rollback-agenta.yml", limit=HOST, timeout=1200,
                       extra_vars={"agenta_report_dir": str(tmp_path / "downgrade"), "agenta_rollback_method": "downgrade"})
    assert run.rc != 0
    assert ("renamed or made databases on staging-1 (the v0.45 rename or the switch to EE, recorded in "
            "/var/backups/agenta/") in run.stdout and "roll back with the restore method" in run.stdout
    assert api_image(oss, "agenta-oss-gh") == f"{EE_IMAGE}:v0.104.0"

    run = oss.playbook(PLAYBOOKS / "rollback-agenta.yml", limit=HOST, timeout=1200,
                       extra_vars={"agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert report(tmp_path, "rollback")["outcome"] == "rolled back"
    assert snapshot(oss) == at_v0104
    assert oss.psql(HOST, "agenta_oss_core", "SELECT to_regclass('alembic_version_ee') IS NULL") == "t"
    assert databases(oss) == names  # the EE runner's databases were dropped with the rest of the switch
    assert api_image(oss, "agenta-oss-gh") == "ghcr.io/agenta-ai/agenta-api:v0.104.0"
    assert oss.sh(HOST, "cat", oss.hosts[HOST].env_file).stdout == env_before
