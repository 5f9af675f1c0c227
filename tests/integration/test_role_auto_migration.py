"""agenta.fleet.auto_migration on real lab hosts, G1 (v0.43.0 -> v0.44.4) and G3 (v0.104.0 -> v0.113.0).

Per layout, in file order on staging-1: check mode writes nothing; switch off rewrites only the switch's lines
(comments, order, other lines, mode, owner kept; previous file saved) and the re-created containers show it; a
second run changes nothing; a new release brought up with the switch off migrates nothing; switch on (the role's
own `up -d`) lets Agenta's one-shot alembic service migrate by itself. Every assertion re-reads the host.
"""

from __future__ import annotations

import pytest

from role_support import (ENV_FILE, apply_role, changed_count, container_env, container_states, failure,
                          password_leaked, sh_out, sha256, start_lab, task_result)

HOST = "staging-1"
NAMES = ["ALEMBIC_AUTO_MIGRATIONS", "AGENTA_AUTO_MIGRATIONS", "AGENTA_AUTO_MIGRATION"]
LAYOUTS = {
    "g1": {"old": "v0.43.0", "new": "v0.44.4",
           "before": {"oss": "1a0000000002"}, "after": {"oss": "1a0000000006"}},
    "g3": {"old": "v0.104.0", "new": "v0.113.0",
           "before": {"core": "park00000000", "core_oss": "c05500000001",
                      "tracing": "park00000000", "tracing_oss": "7a5500000001"},
           "after": {"core": "park00000000", "core_oss": "c05500000003",
                     "tracing": "park00000000", "tracing_oss": "7a5500000002"}},
}
API, ALEMBIC = "agenta-oss-gh-api-1", "agenta-oss-gh-alembic-1"


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def case(request, lab_factory):
    layout = request.param
    return layout, start_lab(lab_factory, LAYOUTS[layout]["old"]), LAYOUTS[layout]


def env_lines(lab):
    return sh_out(lab, HOST, "cat", ENV_FILE).splitlines()


def backups(lab):
    out = lab.sh(HOST, "sh", "-c", f"ls -1 {ENV_FILE}.*.bak 2>/dev/null || true").stdout
    return out.split()


def test_check_mode_reports_the_change_and_writes_nothing(case):
    _, lab, _ = case
    digest, states = sha256(lab, HOST, ENV_FILE), container_states(lab, HOST)
    run = apply_role(lab, "auto_migration", HOST, {"auto_migration_enabled": False}, check=True, diff=True)
    assert run.rc == 0, run.stdout[-3000:]
    write = task_result(run, HOST, "Write the switch into the env file")
    assert write["changed"] is True
    diffs = [d.get("after", "") for r in write["results"] for d in (r.get("diff") or []) if r.get("changed")]
    assert any("AGENTA_AUTO_MIGRATIONS=false" in d for d in diffs), write["results"]
    assert sha256(lab, HOST, ENV_FILE) == digest
    assert backups(lab) == []
    assert container_states(lab, HOST) == states
    assert task_result(run, HOST, "Re-create the services with the new environment").get("skipped") is True


def test_switch_off_rewrites_only_the_switch_and_recreates(case):
    _, lab, _ = case
    lab.sh(HOST, "chown", "65534:65534", ENV_FILE)
    before = env_lines(lab)
    old_api_id = container_states(lab, HOST)[API][0]
    run = apply_role(lab, "auto_migration", HOST, {"auto_migration_enabled": False})
    assert run.rc == 0, run.stdout[-3000:]
    assert not password_leaked(run)
    after = env_lines(lab)
    # Every other line (comments included) is there, unchanged and in the same order.
    is_switch = lambda line: any(line.startswith(n + "=") for n in NAMES)  # noqa: E731
    assert [line for line in after if not is_switch(line)] == [line for line in before if not is_switch(line)]
    assert [line for line in after if line.startswith("#")] == [line for line in before if line.startswith("#")]
    assert len([line for line in before if line.startswith("#")]) >= 2
    # The docs' name was already there: rewritten in place; the others appended at the end.
    i = next(i for i, line in enumerate(before) if line.startswith("AGENTA_AUTO_MIGRATION="))
    assert after[i] == "AGENTA_AUTO_MIGRATION=false"
    for name in NAMES:
        assert [line for line in after if line.startswith(name + "=")] == [f"{name}=false"]
    assert sh_out(lab, HOST, "stat", "-c", "%a %u %g", ENV_FILE).split() == ["600", "65534", "65534"]
    # The previous file is saved next to it, with the same mode and owner.
    (backup,) = backups(lab)
    assert env_lines(lab) != before and sh_out(lab, HOST, "cat", backup).splitlines() == before
    assert sh_out(lab, HOST, "stat", "-c", "%a %u %g", backup).split() == ["600", "65534", "65534"]
    # The containers were re-created (not restarted) and show the new value.
    states = container_states(lab, HOST)
    assert states[API][0] != old_api_id and states[API][1] == "running"
    for container in (API, ALEMBIC):
        env = container_env(lab, HOST, container)
        assert {n: env.get(n) for n in NAMES} == {n: "false" for n in NAMES}, container
    assert task_result(run, HOST, "Re-create the services with the new environment")["changed"] is True


def test_second_run_changes_nothing(case):
    _, lab, _ = case
    digest, states = sha256(lab, HOST, ENV_FILE), container_states(lab, HOST)
    run = apply_role(lab, "auto_migration", HOST, {"auto_migration_enabled": False})
    assert run.rc == 0, run.stdout[-3000:]
    assert changed_count(run, HOST) == 0
    assert sha256(lab, HOST, ENV_FILE) == digest
    assert container_states(lab, HOST) == states
    assert len(backups(lab)) == 1


def test_new_release_with_the_switch_off_migrates_nothing(case):
    _, lab, data = case
    lab.set_env(HOST, AGENTA_API_IMAGE_TAG=data["new"])
    lab.compose(HOST, "up", "-d")
    image = sh_out(lab, HOST, "docker", "inspect", "-f", "{{.Config.Image}}", API).strip()
    assert image.endswith(":" + data["new"])
    assert lab.revisions(HOST) == data["before"]
    assert container_states(lab, HOST)[ALEMBIC][1:] == ("exited", 0)


def test_switch_on_lets_the_new_release_migrate_by_itself(case):
    _, lab, data = case
    rows = lab.row_counts(HOST)
    run = apply_role(lab, "auto_migration", HOST, {"auto_migration_enabled": True})
    assert run.rc == 0, run.stdout[-3000:]
    assert lab.revisions(HOST) == data["after"]
    assert lab.row_counts(HOST) == rows
    for name in NAMES:
        assert f"{name}=true" in env_lines(lab)
    for container in (API, ALEMBIC):
        env = container_env(lab, HOST, container)
        assert {n: env.get(n) for n in NAMES} == {n: "true" for n in NAMES}, container
    assert container_states(lab, HOST)[ALEMBIC][1:] == ("exited", 0)
    assert container_states(lab, HOST)[API][1] == "running"
    # production-1 was not touched.
    assert lab.revisions("production-1") == data["before"]


def test_containers_left_stale_by_restart_are_recreated(case):
    """The file already says false, but `docker compose restart` kept the old environment: the role re-creates."""
    _, lab, data = case
    lab.set_env(HOST, **{n: "false" for n in NAMES})
    lab.compose(HOST, "restart")
    assert container_env(lab, HOST, API)["AGENTA_AUTO_MIGRATIONS"] == "true"  # restart did not re-read the file
    saved = backups(lab)
    run = apply_role(lab, "auto_migration", HOST, {"auto_migration_enabled": False})
    assert run.rc == 0, run.stdout[-3000:]
    assert task_result(run, HOST, "Write the switch into the env file")["changed"] is False
    assert task_result(run, HOST, "Re-create the services with the new environment")["changed"] is True
    assert backups(lab) == saved
    for container in (API, ALEMBIC):
        env = container_env(lab, HOST, container)
        assert {n: env.get(n) for n in NAMES} == {n: "false" for n in NAMES}, container
    assert lab.revisions(HOST) == data["after"]


def test_missing_switch_value_or_env_file_is_one_sentence(case):
    _, lab, _ = case
    run = apply_role(lab, "auto_migration", HOST, {})
    assert run.rc != 0
    assert "auto_migration_enabled" in run.stdout
    run = apply_role(lab, "auto_migration", HOST, {"auto_migration_enabled": True,
                                                   "agenta_env_file": "/nonexistent/.env.oss.gh"})
    assert failure(run, HOST) == (f"The env file /nonexistent/.env.oss.gh does not exist on {HOST}; set "
                                  "auto_migration_env_file (or agenta_env_file) to the deployment's env file.")
