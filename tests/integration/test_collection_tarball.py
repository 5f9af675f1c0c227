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


def test_an_execution_environment_gets_what_the_collection_declares(installed, tmp_path):
    """ansible-builder (3.x) reads meta/execution-environment.yml of the installed collection: the Docker SDK as a
    range (not the development pins) and the ssh client; ee/execution-environment.yml makes a build context."""
    fleet = installed / "ansible_collections" / "agenta" / "fleet"
    for shipped in ("meta/execution-environment.yml", "requirements.txt", "bindep.txt", "ee/execution-environment.yml"):
        assert (fleet / shipped).is_file(), shipped
    intro = subprocess.run([str(BIN / "ansible-builder"), "introspect", "--sanitize", str(installed)],
                           capture_output=True, text=True, timeout=120)
    assert intro.returncode == 0, intro.stdout + intro.stderr
    assert "docker>=5.0.3,<8  # from collection agenta.fleet" in intro.stdout, intro.stdout
    assert "openssh-client [platform:dpkg]  # from collection agenta.fleet" in intro.stdout, intro.stdout
    assert "==" not in intro.stdout, intro.stdout
    context = tmp_path / "context"
    create = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(fleet / "ee" / "execution-environment.yml"),
                             "-c", str(context)], capture_output=True, text=True, timeout=120)
    assert create.returncode == 0, create.stdout + create.stderr
    assert "agenta.fleet" in (context / "_build" / "requirements.yml").read_text()
    assert "python3.11" in (context / "Dockerfile").read_text()
