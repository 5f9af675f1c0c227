"""The collection as an adopter gets it: built with ansible-galaxy, installed from the tarball into an empty
collections path, every playbook callable by its FQCN (agenta.fleet.upgrade_agenta, ...) and by the operator's
path (playbooks/upgrade-agenta.yml), and nothing of the lab or the stand-in trees shipped. No lab host needed:
ansible-playbook --syntax-check and --list-tasks resolve every play, role and task file."""
from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import REPO

BIN = Path(sys.executable).parent
PLAYBOOKS = ["upgrade_agenta", "rollback_agenta", "backup_agenta", "auto_migration", "status"]
OPERATOR_PATHS = ["upgrade-agenta", "rollback-agenta", "backup-agenta", "auto-migration", "status"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(REPO), "--output-path", str(out)],
                   check=True, capture_output=True, text=True)
    tarball = next(out.glob("agenta-fleet-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    for left_out in ("lab/", "migrations/", "molecule/", "bench/", "alembic.oss.ini", "Makefile", ".ci/"):
        assert not any(n == left_out.rstrip("/") or n.startswith(left_out) for n in names), left_out
    root = tmp_path_factory.mktemp("collections")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--force", str(tarball), "-p", str(root)],
                   check=True, capture_output=True, text=True)
    return root


def ansible_playbook(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"ANSIBLE_COLLECTIONS_PATH": str(root), "PATH": f"{BIN}:/usr/bin:/bin", "ANSIBLE_NOCOLOR": "1",
           "HOME": str(root)}
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", *args], capture_output=True,
                          text=True, env=env, cwd=str(root))


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_every_playbook_runs_by_its_fqcn_from_the_installed_tarball(installed, name):
    run = ansible_playbook(installed, f"agenta.fleet.{name}", "--list-tasks")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "playbook: agenta.fleet." + name in run.stdout or f"{name}.yml" in run.stdout, run.stdout[:500]


@pytest.mark.parametrize("path", OPERATOR_PATHS)
def test_the_operators_paths_still_run(installed, path):
    playbook = installed / "ansible_collections" / "agenta" / "fleet" / "playbooks" / f"{path}.yml"
    run = ansible_playbook(installed, str(playbook), "--syntax-check")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    listed = ansible_playbook(installed, str(playbook), "--list-tasks")
    by_fqcn = ansible_playbook(installed, f"agenta.fleet.{path.replace('-', '_')}", "--list-tasks")
    # The operator's path and the FQCN name the same plays and tasks.
    assert listed.stdout.split("\n", 2)[2] == by_fqcn.stdout.split("\n", 2)[2]
