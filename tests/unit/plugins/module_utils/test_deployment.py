"""Unit tests of module_utils/deployment.py: the login of an env file, what is hidden, database selection, the SQL
and psql argv built for the deployment's own client, and the parsing of psql's answers.

The SQL itself runs against real PostgreSQL in tests/integration/test_deployment_info.py."""

from __future__ import annotations

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils import deployment as d


@pytest.mark.parametrize("env,login", [
    ({}, {"user": "username", "password": ""}),
    ({"POSTGRES_PASSWORD": "s3cret"}, {"user": "username", "password": "s3cret"}),
    ({"POSTGRES_USER": "bob", "POSTGRES_PASSWORD": "x"}, {"user": "bob", "password": "x"}),
    ({"POSTGRES_URI_CORE": "postgresql+asyncpg://al%40ce:p%2Bw@postgres:5432/agenta_oss_core"},
     {"user": "al@ce", "password": "p+w"}),
    ({"POSTGRES_URI": "postgresql://u:@postgres/db", "POSTGRES_PASSWORD": "wins"}, {"user": "u", "password": "wins"}),
])
def test_db_login(env, login):
    assert d.db_login(env) == login


def test_public_settings_hide_every_secret_and_keep_the_rest():
    env = {"POSTGRES_PASSWORD": "pw", "POSTGRES_URI_CORE": "postgresql://u:pw@h/db", "AGENTA_AUTH_KEY": "k",
           "SUPERTOKENS_API_KEY": "k2", "AGENTA_CRYPT_KEY": "k3", "REDIS_URL": "redis://:pw@r", "SECRET_X": "s",
           "AGENTA_PORT": "8080", "AGENTA_API_IMAGE_TAG": "v0.113.0", "ALEMBIC_AUTO_MIGRATIONS": "false",
           "EMPTY_PASSWORD": "", "KEYCLOAK_REALM": "r"}
    out = d.public_settings(env)
    assert out["AGENTA_PORT"] == "8080" and out["AGENTA_API_IMAGE_TAG"] == "v0.113.0"
    assert out["ALEMBIC_AUTO_MIGRATIONS"] == "false" and out["KEYCLOAK_REALM"] == "r"
    assert out["EMPTY_PASSWORD"] == ""
    for key in ("POSTGRES_PASSWORD", "POSTGRES_URI_CORE", "AGENTA_AUTH_KEY", "SUPERTOKENS_API_KEY",
                "AGENTA_CRYPT_KEY", "REDIS_URL", "SECRET_X"):
        assert out[key] == d.HIDDEN, key
    assert "pw" not in repr(out)


@pytest.mark.parametrize("name,patterns,hit", [
    ("agenta_oss_core", ["agenta_%"], True),
    ("agentaXoss", ["agenta_%"], True),  # LIKE's _ is any one character, as PostgreSQL reads it
    ("agenta", ["agenta_%"], False),  # but there must be one
    ("agenta_", ["agenta_%"], True),
    ("supertokens_oss", ["agenta_%", "supertokens_%"], True),
    ("postgres", ["agenta_%", "supertokens_%"], False),
    ("a.b", ["a.b"], True),
    ("axb", ["a.b"], False),  # a dot is a dot, not any character
])
def test_like_patterns(name, patterns, hit):
    assert d.matches(name, patterns) is hit


def test_select_databases_leaves_out_the_collections_own():
    names = ("postgres", "agenta_oss_tracing", "agenta_oss_core", "agenta_fleet_trial_agenta_oss_core",
             "agenta_oss_core_rehearsal", "supertokens_oss", "username")
    found = [{"name": n, "size": 1} for n in names]
    assert [x["name"] for x in d.select_databases(found, ["agenta_%", "supertokens_%"])] == [
        "agenta_oss_core", "agenta_oss_tracing", "supertokens_oss"]


@pytest.mark.parametrize("bad", ["a b", "a'b", 'a"b', "a;b", "", "-x", "a\\b", None])
def test_names_that_are_not_plain_are_refused(bad):
    with pytest.raises(d.DeploymentError):
        d.plain_name(bad)


def test_counts_commands_connect_to_each_database_and_quote_table_names():
    commands = d.counts_commands(["agenta_oss_core", "agenta_oss_tracing"], {"agenta_oss_core": ["projects", "ee.x$y"]})
    assert commands[0] == '\\connect "agenta_oss_core"' and commands[3] == '\\connect "agenta_oss_tracing"'
    # After each connect, a count may wait 15 s for a table lock, not for ever (a migration's DDL waiting).
    assert commands[1] == commands[4] == "SET lock_timeout = '15s'"
    assert "k = ANY(ARRAY['projects', 'ee.x$y']::text[])" in commands[2]
    assert "ARRAY[NULL]" in commands[5]  # a database without listed tables counts none
    assert "'agenta.fleet:db:agenta_oss_core'" in commands[2]
    every = d.counts_commands(["agenta_oss_core"])
    assert "ANY(" not in every[2] and "FROM counted" in every[2]
    with pytest.raises(d.DeploymentError):
        d.counts_commands(["x'; DROP DATABASE y; --"])
    with pytest.raises(d.DeploymentError):
        d.counts_commands(["agenta_oss_core"], {"agenta_oss_core": ["t'"]})


def test_psql_argv_has_no_password_and_one_c_per_command():
    argv = d.psql_argv("username", ["SELECT 1", "\\connect \"x\""])
    assert argv[:7] == ["psql", "-h", "127.0.0.1", "-U", "username", "-d", "postgres"]
    assert argv[-4:] == ["-c", "SELECT 1", "-c", "\\connect \"x\""]
    assert "ON_ERROR_STOP=1" in argv
    with pytest.raises(d.DeploymentError):
        d.psql_argv("user; rm", ["SELECT 1"])


def test_server_sql_marks_its_answer_and_reads_sessions():
    sql = d.server_sql()
    assert sql.startswith("SELECT 'agenta.fleet:server' || json_build_object(")
    assert "pg_locks" in sql and "LIKE 'agenta.fleet%'" in sql
    assert "pg_locks" not in d.server_sql(sessions=False)


def test_parse_answers_takes_only_marked_lines():
    out = ("noise\nagenta.fleet:server{\"version\": \"15.4\", \"databases\": []}\n"
           "agenta.fleet:db:agenta_oss_core{\"tables\": {\"projects\": 2}, \"versions\": {}}\n")
    assert d.parse_answers(out) == {"server": {"version": "15.4", "databases": []},
                                    "db:agenta_oss_core": {"tables": {"projects": 2}, "versions": {}}}
    with pytest.raises(d.DeploymentError):
        d.parse_answers("agenta.fleet:server{not json\n")


def test_nearest_existing_dir():
    present = {"/var", "/var/backups"}
    assert d.nearest_existing_dir("/var/backups/agenta/x/", present.__contains__) == "/var/backups"
    assert d.nearest_existing_dir("/var/backups", present.__contains__) == "/var/backups"
    assert d.nearest_existing_dir("/nowhere/at/all", present.__contains__) == "/"


def test_index_containers_prefers_the_running_one():
    items = [{"service": "api", "name": "p-api-2", "state": "exited"},
             {"service": "api", "name": "p-api-1", "state": "exited"},
             {"service": "api", "name": "p-api-3", "state": "running"},
             {"service": None, "name": "stray", "state": "running"}]
    assert d.index_containers(items) == {"api": {"service": "api", "name": "p-api-3", "state": "running"}}
    assert d.index_containers(items[:2])["api"]["name"] == "p-api-1"


def test_flatten():
    rows, versions = d.flatten({"b": {"tables": {"t": 1}, "versions": {}},
                                "a": {"tables": {"alembic_version": 1, "x": 0}, "versions": {"alembic_version": "r1"}}})
    assert rows == {"a.alembic_version": 1, "a.x": 0, "b.t": 1}
    assert versions == {"a.alembic_version": "r1"}


@pytest.mark.parametrize("image,tag", [
    ("ghcr.io/agenta-ai/agenta-api:v0.44.4", "v0.44.4"),
    ("registry.corp:5000/mirror/agenta-api:v0.44.4", "v0.44.4"),
    ("registry.corp:5000/mirror/agenta-api", ""),
    ("agenta-api@sha256:" + "a" * 64, ""),
    ("", ""),
])
def test_image_tag_of(image, tag):
    assert d.image_tag_of(image) == tag


@pytest.mark.parametrize("image,repo", [
    ("ghcr.io/agenta-ai/agenta-api:v0.44.4", "ghcr.io/agenta-ai/agenta-api"),
    ("registry.corp:5000/mirror/agenta-api:v0.44.4", "registry.corp:5000/mirror/agenta-api"),
    ("registry.corp:5000/mirror/agenta-api", "registry.corp:5000/mirror/agenta-api"),
    ("agenta-api:v1@sha256:" + "a" * 64, "agenta-api"),
    ("agenta-api", "agenta-api"),
])
def test_image_repo_of(image, repo):
    """The repository a one-shot of another tag of the API's image is made from (agenta.fleet.deployment_info's
    chains_tag): a registry's port is not a tag."""
    assert d.image_repo_of(image) == repo


API = {"api": {"name": "agenta-oss-gh-api-1", "image": "ghcr.io/agenta-ai/agenta-api:v0.43.0", "state": "running"}}


def test_api_image_agrees_with_the_env_file():
    got = d.api_image(API, "api", {"AGENTA_API_IMAGE_TAG": "v0.43.0"}, "AGENTA_API_IMAGE_TAG")
    assert got == {"image": "ghcr.io/agenta-ai/agenta-api:v0.43.0", "tag": "v0.43.0",
                   "variable": "AGENTA_API_IMAGE_TAG", "env_tag": "v0.43.0", "problem": None, "put_back": None}


def test_a_tag_that_was_never_applied_is_a_problem_naming_both():
    got = d.api_image(API, "api", {"AGENTA_API_IMAGE_TAG": "v0.44.4"}, "AGENTA_API_IMAGE_TAG")
    assert got["problem"] == (
        "the api container agenta-oss-gh-api-1 runs ghcr.io/agenta-ai/agenta-api:v0.43.0, but the env file sets "
        "AGENTA_API_IMAGE_TAG=v0.44.4, which was never applied (no `docker compose up -d` since), so a backup "
        "would keep a file that starts another image than the one that ran")
    assert got["put_back"] == "AGENTA_API_IMAGE_TAG back to v0.43.0"


def test_an_image_name_that_was_never_applied_is_a_problem_naming_both():
    """A switch to EE writes AGENTA_API_IMAGE_NAME with the tag; one that was never applied is said as the tag is."""
    settings = {"AGENTA_API_IMAGE_TAG": "v0.43.0", "AGENTA_API_IMAGE_NAME": "agenta-api-ee"}
    got = d.api_image(API, "api", settings, "AGENTA_API_IMAGE_TAG")
    assert "but the env file sets AGENTA_API_IMAGE_NAME=agenta-api-ee, which was never applied" in got["problem"]
    assert got["put_back"] == "AGENTA_API_IMAGE_NAME back to agenta-api"
    settings["AGENTA_API_IMAGE_TAG"] = "v0.104.0"  # both changed: both said at once
    got = d.api_image(API, "api", settings, "AGENTA_API_IMAGE_TAG")
    assert "sets AGENTA_API_IMAGE_TAG=v0.104.0 and AGENTA_API_IMAGE_NAME=agenta-api-ee, which" in got["problem"]
    assert got["put_back"] == "AGENTA_API_IMAGE_TAG back to v0.43.0 and AGENTA_API_IMAGE_NAME back to agenta-api"
    settings.update(AGENTA_API_IMAGE_NAME="agenta-api", AGENTA_API_IMAGE_TAG="v0.43.0")
    assert d.api_image(API, "api", settings, "AGENTA_API_IMAGE_TAG")["problem"] is None


@pytest.mark.parametrize("containers,settings", [
    ({}, {"AGENTA_API_IMAGE_TAG": "v0.44.4"}),  # no api container
    (API, {}),  # the variable is not set: the compose file names the image some other way
    ({"api": {"name": "x", "image": "agenta-api"}}, {"AGENTA_API_IMAGE_TAG": "v0.44.4"}),  # no tag
])
def test_api_image_is_not_a_problem_when_either_side_is_unknown(containers, settings):
    assert d.api_image(containers, "api", settings, "AGENTA_API_IMAGE_TAG")["problem"] is None


@pytest.mark.parametrize("retries,delay,waits", [
    (0, 3, []),
    (1, 1, [0.25, 0.25, 0.5]),
    (2, 3, [0.25, 0.25, 0.5, 0.5, 1.0, 3, 0.5]),
    (10, 3, [0.25, 0.25, 0.5, 0.5, 1.0] + [3] * 9 + [0.5]),
    (3, 0, [0, 0, 0]),
    (4, 0.2, [0.2, 0.2, 0.2, 0.2]),
    (-1, 3, []),
])
def test_health_waits_come_soon_first_then_every_delay_and_add_up_to_retries_times_delay(retries, delay, waits):
    got = d.health_waits(retries, delay)
    assert got == pytest.approx(waits)
    assert max(got, default=0) <= max(delay, 0)
    if delay > 0:
        assert sum(got) == pytest.approx(max(retries, 0) * delay)
