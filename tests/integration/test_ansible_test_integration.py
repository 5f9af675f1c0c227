"""The collection as it ships, on a lab host: `ansible-doc` of every module and role and an upgrade in check mode by
its FQCN, from the installed tarball; and `ansible-test integration` on the installed copy: the targets of tests/integration/targets/ (one per
module, in community.postgresql's style: call, assert, re-query with psql, repeat in check mode) run from the
installed tarball against a real lab host (G1, v0.43.0, the next release's image on the host).

The lab host becomes ansible-test's `testhost` through tests/integration/integration_config.yml (its connection
variables are play variables there, so they win over ansible-test's local inventory); this file writes it from
integration_config.yml.example. The targets look for the deployment's password in every result, so the host gets
a login with a distinctive password first (the lab's own is the word "password").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from role_support import start_lab
from test_module_support import ENV_FILE

HOST = "staging-1"
COMPOSE_FILE = "/opt/agenta/hosting/docker-compose/oss/docker-compose.gh.yml"
SECRET = "Zq7-target-0815"
BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
TARGETS = sorted(p.name for p in (REPO / "tests" / "integration" / "targets").iterdir()
                 if p.is_dir() and not p.name.startswith("setup_"))


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = start_lab(lab_factory, "v0.43.0", production=0)
    lab.psql(HOST, "postgres", f"CREATE ROLE fleet_probe LOGIN SUPERUSER PASSWORD '{SECRET}'")
    lab.set_env(HOST, POSTGRES_USER="fleet_probe", POSTGRES_PASSWORD=SECRET,
                POSTGRES_URI=f"postgresql+asyncpg://fleet_probe:{SECRET}@postgres:5432/agenta_oss")
    return lab


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The tarball ansible-galaxy builds, installed into an empty collections path; -> the collection's folder."""
    out = tmp_path_factory.mktemp("it-build")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(REPO), "--output-path", str(out)],
                   check=True, capture_output=True, text=True)
    root = tmp_path_factory.mktemp("it-collections")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--force", "--no-deps",
                    str(next(out.glob("agenta-fleet-*.tar.gz"))), "-p", str(root)],
                   check=True, capture_output=True, text=True)
    return root / "ansible_collections" / "agenta" / "fleet"


def test_the_targets_ship_and_the_lab_suites_do_not(installed):
    shipped = installed / "tests" / "integration"
    assert sorted(p.name for p in (shipped / "targets").iterdir()) == sorted(TARGETS + ["setup_agenta"])
    assert (shipped / "integration_config.yml.example").is_file()
    assert not list(shipped.glob("*.py"))
    assert {"deployment_info", "alembic_migration_info", "alembic_migration", "database_backup",
            "database_restore", "run_lock"} <= set(TARGETS)


def test_every_target_passes_on_a_lab_host_and_leaves_it_as_it_was(lab, installed):
    config = yaml.safe_load((installed / "tests" / "integration" / "integration_config.yml.example").read_text())
    config.update(ansible_host=lab.hosts[HOST].container, agenta_it_env_file=ENV_FILE,
                  agenta_it_fault_switch=True)  # the lab's stand-in image fails a revision on request
    (installed / "tests" / "integration" / "integration_config.yml").write_text(yaml.safe_dump(config))
    revisions, rows, digests = lab.revisions(HOST), lab.row_counts(HOST), lab.table_digests(HOST)
    files = lab.sh(HOST, "sha256sum", ENV_FILE, COMPOSE_FILE).stdout
    volumes = lab.sh(HOST, "docker", "volume", "ls", "-q").stdout
    home = installed.parents[2] / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(home), "LANG": "C.UTF-8", "ANSIBLE_NOCOLOR": "1"}
    run = subprocess.run([str(BIN / "ansible-test"), "integration", "--local", "--python",
                          f"{sys.version_info.major}.{sys.version_info.minor}", "--color", "no",
                          "--allow-destructive"],
                         cwd=installed, env=env, capture_output=True, text=True, timeout=1200)
    said = run.stdout + run.stderr
    assert run.returncode == 0, said[-6000:]
    ran = re.findall(r"^Running (\S+) integration test role$", said, re.M)
    assert sorted(ran) == TARGETS, said[-3000:]
    assert len(re.findall(r"^testhost\s+: ok=\d+ .*failed=0 ", said, re.M)) == len(TARGETS), said[-3000:]
    assert SECRET not in said
    # Every target put back what it changed.
    assert lab.revisions(HOST) == revisions
    assert lab.row_counts(HOST) == rows and lab.table_digests(HOST) == digests
    assert lab.sh(HOST, "ls", "-A", "/var/tmp/agenta-fleet-it", check=False).stdout.strip() == ""
    assert lab.psql(HOST, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'agenta\\_fleet\\_%'") == "0"
    assert lab.sh(HOST, "sha256sum", ENV_FILE, COMPOSE_FILE).stdout == files
    assert lab.sh(HOST, "docker", "volume", "ls", "-q").stdout == volumes  # postgres_move's kept volume is gone


def installed_env(installed: Path) -> dict:
    return {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(installed.parents[2]), "ANSIBLE_NOCOLOR": "1",
            "PATH": f"{BIN}:{os.environ['PATH']}"}


def test_every_module_and_role_has_its_documentation_in_the_installed_copy(installed):
    env = installed_env(installed)
    for kind, names in (("module", MODULES), ("role", ROLES)):
        for name in names:
            doc = subprocess.run([str(BIN / "ansible-doc"), "-t", kind, f"agenta.fleet.{name}"], env=env,
                                 capture_output=True, text=True, timeout=120)
            assert doc.returncode == 0 and f"agenta.fleet.{name}" in doc.stdout, (kind, name, doc.stderr[-1000:])
            assert "OPTIONS" in doc.stdout or "ENTRY POINT" in doc.stdout, (kind, name, doc.stdout[:500])


def test_the_installed_upgrade_plans_a_lab_host_by_its_fqcn_and_changes_nothing(lab, installed, tmp_path):
    before = lab.revisions(HOST), lab.sh(HOST, "sha256sum", ENV_FILE).stdout
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(lab.inventory), "agenta.fleet.upgrade_agenta",
                          "--check", "-l", HOST, "-e", "agenta_target_tag=v0.44.4",
                          "-e", f"agenta_report_dir={tmp_path}"],
                         env=installed_env(installed), capture_output=True, text=True, timeout=900,
                         cwd=installed.parents[2])
    said = run.stdout + run.stderr
    assert run.returncode == 0, said[-4000:]
    assert re.search(rf"^{HOST}\s+: ok=\d+ .*failed=0 ", said, re.M), said[-2000:]
    assert SECRET not in said
    (report,) = tmp_path.glob("upgrade-*.json")
    assert json.loads(report.read_text())["check_mode"] is True
    (entry,) = json.loads(report.read_text())["hosts"]
    assert entry["outcome"] == "would upgrade" and entry["pending"]["oss"][-1] == "1a0000000006", entry
    assert (lab.revisions(HOST), lab.sh(HOST, "sha256sum", ENV_FILE).stdout) == before
