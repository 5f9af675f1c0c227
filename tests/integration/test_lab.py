"""The lab fleet itself: real DinD hosts with Agenta's compose stack at an old release, seeded, reachable by
Ansible; bad input refused in one sentence with nothing left behind; the seed's manual upgrade command."""
from __future__ import annotations

import json
import socket
import subprocess
import urllib.request

import pytest
import yaml

from conftest import labmod, run_lab

G1_OLD, G1_NEW = "v0.43.0", "v0.44.4"
G3_OLD = "v0.104.0"
SEED_CMD = ["docker", "exec", "-e", "PYTHONPATH=/app", "-w", "/app/oss/databases/postgres/migrations",
            "agenta-oss-gh-api-1", "alembic", "-c", "alembic.oss.ini"]


def lab_containers(name: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-a", "--filter", f"label=agenta-lab.name={name}", "--format",
                          "{{.Names}}"], capture_output=True, text=True, check=True).stdout
    return out.split()


def health(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


@pytest.fixture(scope="module")
def g1(lab_factory):
    return lab_factory(G1_OLD, staging=1, production=1)


@pytest.fixture(scope="module")
def g3(lab_factory):
    return lab_factory(G3_OLD, staging=1, production=1)


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("args,sentence", [
    (["--staging", "0"], "STAGING must be a whole number from 1 to 10, not '0'."),
    (["--staging", "-1"], "STAGING must be a whole number from 1 to 10, not '-1'."),
    (["--production", "x"], "PRODUCTION must be a whole number from 0 to 10, not 'x'."),
    (["--release", "v9.9.9"], "Unknown release 'v9.9.9'"),
])
def test_bad_input_is_one_sentence_and_makes_nothing(args, sentence):
    proc = run_lab("up", "--release", G1_OLD, *args, lab="tbad", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("lab: " + sentence)
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert lab_containers("tbad") == []


def test_port_taken_is_refused_and_leaves_no_hosts():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        # staging-1 gets port_base + 1, which is taken.
        proc = run_lab("up", "--release", G1_OLD, "--staging", "1", "--production", "1",
                       "--port-base", str(port - 1), lab="tbad", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"lab: Port {port} on 127.0.0.1 is taken, so staging-1 cannot publish its API; "
                                   "choose another port base (LAB_PORT_BASE).")
    assert lab_containers("tbad") == []


def test_unreachable_engine_is_one_sentence():
    proc = run_lab("status", lab="tbad", check=False, env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert proc.returncode == 1
    assert proc.stderr.strip() == "lab: No Docker engine answers; run 'make engine' (lab/engine.sh) first."


def test_failed_host_start_removes_the_hosts_already_made():
    """A host that fails late (its seed hits a real psql error) must not leave half-made hosts behind."""
    proc = run_lab("up", "--release", G1_OLD, "--staging", "1", "--production", "1", "--port-base", "18900",
                   lab="tbad", check=False, env={"AGENTA_LAB_BREAK_SEED": "1"})
    assert proc.returncode == 1, proc.stdout
    assert "The lab was removed again." in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert lab_containers("tbad") == []


# ------------------------------------------------------------------------------------------- G1 lab
def test_g1_hosts_are_at_the_old_release_with_seeded_rows(g1):
    assert set(g1.hosts) == {"staging-1", "production-1"}
    for host in g1.hosts.values():
        assert g1.revisions(host) == {"oss": "1a0000000002"}
        counts = g1.row_counts(host)
        assert counts["agenta_oss.apps"] >= 300 and counts["agenta_oss.testsets"] >= 300, counts
        assert all(n > 0 for n in counts.values()), counts
        # Tables of later revisions are not there yet.
        assert g1.psql(host, "agenta_oss", "SELECT to_regclass('spans') IS NULL") == "t"
        image = g1.sh(host, "docker", "inspect", "-f", "{{.Config.Image}}", "agenta-oss-gh-api-1").stdout.strip()
        assert image == f"ghcr.io/agenta-ai/agenta-api:{G1_OLD}"
        for path in ("/health", "/api/health"):
            assert health(host.api_url + path) == (200, {"status": "ok"})


def test_g1_compose_contract(g1):
    host = g1.hosts["staging-1"]
    names = g1.sh(host, "docker", "ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert {"agenta-oss-gh-api-1", "agenta-oss-gh-alembic-1", "agenta-oss-gh-postgres-1"} <= set(names)
    state = g1.sh(host, "docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}",
                  "agenta-oss-gh-alembic-1").stdout.split()
    assert state == ["exited", "0"]
    mode = g1.sh(host, "stat", "-c", "%a", labmod.ENV_FILE).stdout.strip()
    assert mode == "600"


def test_inventory_has_groups_and_ansible_reaches_every_host(g1):
    inv = yaml.safe_load(g1.inventory.read_text())
    assert set(inv["all"]["children"]) == {"staging", "production"}
    res = g1.playbook("""
- name: Reach the lab
  hosts: all
  gather_facts: false
  tasks:
    - name: Ask the host's engine
      ansible.builtin.command: docker info --format '{{ "{{" }}.ServerVersion{{ "}}" }}'
      changed_when: false
""")
    assert res.rc == 0, res.stdout + res.stderr
    assert set(res.stats) == {"staging-1", "production-1"}
    results = res.results("Ask the host's engine")
    assert all(r["stdout"].startswith("20.10") for r in results.values()), results


def test_g1_seed_command_upgrades_to_head_with_the_new_image(g1):
    """The documented manual path: new image up (auto-migration is off in G1), then the seed's command."""
    host = g1.hosts["staging-1"]
    rows_before = g1.row_counts(host)
    g1.set_env(host, AGENTA_API_IMAGE_TAG=G1_NEW)
    g1.compose(host, "up", "-d")
    # G1 ignores AGENTA_AUTO_MIGRATION (the docs' name): the alembic service did not migrate.
    assert g1.revisions(host) == {"oss": "1a0000000002"}
    assert "skip" in g1.compose(host, "logs", "alembic").stdout.lower()
    proc = g1.sh(host, *SEED_CMD, "upgrade", "head")
    assert "Running upgrade 1a0000000005 -> 1a0000000006" in proc.stderr + proc.stdout
    assert g1.revisions(host) == {"oss": "1a0000000006"}
    heads = g1.sh(host, *SEED_CMD, "heads").stdout
    assert "1a0000000006 (head)" in heads
    assert g1.row_counts(host) == rows_before
    # The data migration rewrote rows: every app now has its slug.
    assert g1.psql(host, "agenta_oss", "SELECT count(*) FROM apps WHERE app_slug IS NULL") == "0"
    # production was not touched.
    assert g1.revisions(g1.hosts["production-1"]) == {"oss": "1a0000000002"}


def test_seed_command_without_its_folder_fails_as_documented(g1):
    host = g1.hosts["production-1"]
    cmd = [c for c in SEED_CMD if c not in ("-w", "/app/oss/databases/postgres/migrations")]
    proc = g1.sh(host, *cmd, "current", check=False)
    assert proc.returncode != 0
    # Older Alembic says "No 'script_location' key found"; the 1.13 in our images names the missing file.
    text = proc.stderr + proc.stdout
    assert "No 'script_location' key found" in text or "No config file 'alembic.oss.ini' found" in text, text


# ------------------------------------------------------------------------------------------- G3 lab
def test_g3_hosts_are_parked_with_oss_chains_and_seeded_rows(g3):
    for host in g3.hosts.values():
        assert g3.revisions(host) == {"core": "park00000000", "core_oss": "c05500000001",
                                      "tracing": "park00000000", "tracing_oss": "7a5500000001"}
        counts = g3.row_counts(host)
        assert counts["agenta_oss_core.apps"] >= 300 and counts["agenta_oss_tracing.spans"] >= 300, counts
        assert health(host.api_url + "/api/health") == (200, {"status": "ok"})


def test_g3_status_table_shows_every_chain(g3):
    proc = run_lab("status", lab=g3.name)
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:5] == ["HOST", "GROUP", "STATE", "IMAGE", "TAG"]
    for name in ("staging-1", "production-1"):
        row = next(line for line in lines if line.startswith(name))
        assert G3_OLD in row and "core_oss=c05500000001" in row and "tracing_oss=7a5500000001" in row


def test_lab_down_removes_only_what_the_lab_made(lab_factory):
    bystander = subprocess.run(["docker", "create", "--name", "agenta-lab-bystander", "--label", "keep=1",
                                labmod.build_images()["base"], "true"], capture_output=True, text=True, check=True)
    try:
        lab = lab_factory(G3_OLD, staging=1, production=1)
        assert len(lab_containers(lab.name)) == 2
        proc = run_lab("down", lab=lab.name)
        assert "removed 2 host(s)" in proc.stdout
        assert lab_containers(lab.name) == []
        assert not lab.inventory.exists()
        nets = subprocess.run(["docker", "network", "ls", "--format", "{{.Name}}"], capture_output=True,
                              text=True, check=True).stdout.split()
        assert labmod.network_name(lab.name) not in nets
        still = subprocess.run(["docker", "inspect", "agenta-lab-bystander"], capture_output=True)
        assert still.returncode == 0
    finally:
        subprocess.run(["docker", "rm", "-f", bystander.stdout.strip()], capture_output=True)
