"""Unit tests of module_utils/compose_release: what a release's compose file changes, and the pins it writes."""

from __future__ import annotations

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils import compose_release as cr

PREFIX = "ghcr.io/agenta-ai/"
API_RAW = "ghcr.io/agenta-ai/${AGENTA_API_IMAGE_NAME:-agenta-api}:${AGENTA_API_IMAGE_TAG:-latest}"
WEB_RAW = "ghcr.io/agenta-ai/agenta-web:${AGENTA_WEB_IMAGE_TAG:-latest}"


@pytest.mark.parametrize("image,tag,floating", [
    ("ghcr.io/agenta-ai/agenta-api:v0.113.0", "v0.113.0", False),
    ("ghcr.io/agenta-ai/agenta-api:latest", "latest", True),
    ("ghcr.io/agenta-ai/agenta-api", "", True),
    ("localhost:5000/agenta-api", "", True),  # the registry's port is not a tag
    ("localhost:5000/agenta-api:v1", "v1", False),
    ("postgres@sha256:abc", "@digest", False),
    ("redis:7", "7", False),
])
def test_image_tag_and_floating(image, tag, floating):
    assert cr.image_tag(image) == tag
    assert cr.floats(image) is floating


@pytest.mark.parametrize("raw,name", [
    (API_RAW, "AGENTA_API_IMAGE_TAG"),
    ("ghcr.io/agenta-ai/agenta-web:${AGENTA_WEB_IMAGE_TAG-latest}", "AGENTA_WEB_IMAGE_TAG"),
    ("ghcr.io/agenta-ai/agenta-web:${TAG}", "TAG"),
    ("ghcr.io/agenta-ai/agenta-web:latest", None),
    ("ghcr.io/agenta-ai/agenta-web:v-${TAG}", None),  # only a variable that is the whole tag can be pinned
    ("", None),
])
def test_tag_variable(raw, name):
    assert cr.tag_variable(raw) == name


def config(**services):
    return {"services": services}


def test_plan_of_the_v0113_worker_rename():
    old = ["postgres", "alembic", "api", "worker-evaluations", "worker-tracing"]
    new = config(postgres={"image": "postgres:16"},
                 alembic={"image": PREFIX + "agenta-api:v0.103.5"},
                 api={"image": PREFIX + "agenta-api:v0.103.5",
                      "depends_on": {"alembic": {"condition": "service_completed_successfully"}}},
                 **{"worker-streams": {"image": PREFIX + "agenta-api:v0.103.5"},
                    "web": {"image": PREFIX + "agenta-web:latest"},
                    "redis": {"image": "redis:latest"}})
    raw = config(postgres={"image": "postgres:16"}, alembic={"image": API_RAW}, api={"image": API_RAW},
                 **{"worker-streams": {"image": API_RAW}, "web": {"image": WEB_RAW}, "redis": {"image": "redis:latest"}})
    existing = {"postgres": ["p-1"], "api": ["a-1"], "alembic": ["al-1"], "worker-evaluations": ["we-1"],
                "worker-tracing": ["wt-1"], "sidecar": ["s-1"]}
    env = {"AGENTA_API_IMAGE_TAG": "v0.103.5", "POSTGRES_PASSWORD": "s3cret"}
    found = cr.plan(old, new, raw, existing, env, ["AGENTA_STORE_BUCKET", "POSTGRES_PASSWORD"], "v0.113.0", PREFIX)
    assert found["added"] == ["redis", "web", "worker-streams"]
    assert found["removed"] == ["worker-evaluations", "worker-tracing"]
    assert found["remove_containers"] == ["we-1", "wt-1"]
    assert found["other_orphans"] == ["sidecar"]  # not ours to remove
    assert found["oneshot"] == ["alembic"]
    assert found["pins"] == {"AGENTA_API_IMAGE_TAG": {"before": "v0.103.5", "after": "v0.113.0"},
                             "AGENTA_WEB_IMAGE_TAG": {"before": "", "after": "v0.113.0"}}
    assert found["floating"] == ["redis (redis:latest)"]
    assert found["env_missing"] == ["AGENTA_STORE_BUCKET"]
    assert "s3cret" not in repr(found)
    text = cr.summary(found, True, "v0.113.0")
    assert text.startswith("The release's compose file replaces the deployment's; adds service(s) redis, web, "
                           "worker-streams; removes service(s) worker-evaluations, worker-tracing (2 container(s)")
    assert "pins AGENTA_API_IMAGE_TAG (was v0.103.5), AGENTA_WEB_IMAGE_TAG (was unset, so latest) to v0.113.0" in text
    assert "leaves floating on latest: redis (redis:latest)" in text
    assert "leaves alone containers of service(s) sidecar" in text
    assert text.endswith("lacks (the release's own defaults apply; set them if they do not fit): AGENTA_STORE_BUCKET.")


def test_plan_of_the_same_file_changes_nothing():
    new = config(api={"image": PREFIX + "agenta-api:v0.113.0"})
    found = cr.plan(["api"], new, config(api={"image": API_RAW}), {"api": ["a-1"]},
                    {"AGENTA_API_IMAGE_TAG": "v0.113.0"}, [], "v0.113.0", PREFIX)
    assert not (found["added"] or found["removed"] or found["pins"] or found["floating"] or found["other_orphans"])
    assert cr.summary(found, False, "v0.113.0") == "The release's compose file changes nothing."


def test_without_a_tag_nothing_is_pinned_and_latest_is_named():
    new = config(api={"image": PREFIX + "agenta-api:latest"})
    found = cr.plan([], new, config(api={"image": API_RAW}), {}, {}, [], "", PREFIX)
    assert found["pins"] == {} and found["floating"] == ["api (ghcr.io/agenta-ai/agenta-api:latest)"]


@pytest.mark.parametrize("text,pins,want", [
    ("A=1\nAGENTA_API_IMAGE_TAG=v1\nB=2\n", {"AGENTA_API_IMAGE_TAG": "v2"}, "A=1\nAGENTA_API_IMAGE_TAG=v2\nB=2\n"),
    # every line of the key (Compose takes the last), with `export ` and spaces
    ("export T = v1\nT=v0\n", {"T": "v2"}, "T=v2\nT=v2\n"),
    # appended, after a last line without a newline
    ("A=1", {"T": "v2"}, "A=1\nT=v2\n"),
    ("", {"T": "v2"}, "T=v2\n"),
    # CRLF files stay CRLF
    ("A=1\r\nT=v1\r\n", {"T": "v2", "W": "v2"}, "A=1\r\nT=v2\r\nW=v2\r\n"),
    # a comment or a longer name is not the key
    ("# T=v1\nTT=v1\n", {"T": "v2"}, "# T=v1\nTT=v1\nT=v2\n"),
])
def test_write_pins(text, pins, want):
    assert cr.write_pins(text, pins) == want


def test_write_pins_refuses_a_bad_name():
    with pytest.raises(ValueError):
        cr.write_pins("A=1\n", {"A=B": "x"})


@pytest.mark.parametrize("text,major", [
    ("postgres (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)\n", 17),
    ("postgres (PostgreSQL) 9.6.24", 9),
    ("bash: postgres: command not found", None),
    ("", None),
])
def test_postgres_major(text, major):
    assert cr.postgres_major(text) == major


def test_data_mounts_and_holds():
    volumes = [{"type": "volume", "source": "postgres-data", "target": "/var/lib/postgresql/data"},
               {"type": "bind", "source": "./postgres-init", "target": "/docker-entrypoint-initdb.d", "read_only": True},
               "a short form compose never prints"]
    mounts = cr.data_mounts(volumes)
    assert mounts == ["/var/lib/postgresql/data"]
    assert cr.holds(mounts, "/var/lib/postgresql/data") and cr.holds(mounts, "/var/lib/postgresql/data/pgdata/")
    assert not cr.holds(mounts, "/var/lib/postgresql/18/docker") and not cr.holds(mounts, "/var/lib/postgresql/data2")


PG = {"image_before": "postgres:16", "image_after": "postgres:17", "data_major": 16, "image_major": 17,
      "image_present": True, "pgdata": "/var/lib/postgresql/data", "mounts": ["/var/lib/postgresql/data"],
      "volume": "agenta-oss-gh_postgres-data"}


@pytest.mark.parametrize("change,start", [
    ({}, "The release's compose file moves PostgreSQL from 16 to 17 (postgres:17), and PostgreSQL 17 cannot start "
         "on the 16 cluster in agenta-oss-gh_postgres-data; keep the postgres image at postgres:16"),
    # PostgreSQL 18 images keep their data under /var/lib/postgresql/18/docker: the old mount looks empty to them
    ({"image_after": "postgres:18", "image_major": 18, "pgdata": "/var/lib/postgresql/18/docker"},
     "The release's postgres (postgres:18) keeps its data at /var/lib/postgresql/18/docker, which none of its "
     "volumes holds (/var/lib/postgresql/data), so it would start on an empty database"),
    ({"image_present": False}, "The release's compose file changes the PostgreSQL image from postgres:16 to "
                               "postgres:17, which could not be pulled on this host; pull it (docker pull postgres:17)"),
    # a data volume whose PG_VERSION cannot be read (postgres stopped, another volume driver): not waved through
    ({"data_major": None}, "The release's compose file changes the PostgreSQL image from postgres:16 to postgres:17, "
                           "and the version of the cluster in agenta-oss-gh_postgres-data (PG_VERSION) could not be read"),
    ({"image_major": None}, "The PostgreSQL major version of postgres:17 could not be read"),
])
def test_postgres_problem_refuses(change, start):
    text = cr.postgres_problem(dict(PG, **change))
    assert text.startswith(start) and text.endswith("Nothing was changed.")


@pytest.mark.parametrize("change", [
    {"image_after": "postgres:16.4", "image_major": 16},  # a minor update of the same major
    {"image_before": "postgres:17", "data_major": 17},  # the cluster is 17 already
    {"data_major": None, "volume": ""},  # no local cluster (the database is on another host)
    {"data_major": None, "image_after": "postgres:16"},  # the image stays: nothing to check
    {"image_present": False, "check_mode": True},  # --check: the real run pulls it and checks it first
])
def test_postgres_problem_allows(change):
    assert cr.postgres_problem(dict(PG, **change)) == ""


def test_the_plan_says_when_the_postgres_image_is_pulled_first():
    found = cr.plan([], config(), config(), {}, {}, [], "", PREFIX)
    text = cr.summary(found, False, "", {"image_present": False, "image_after": "postgres:17"})
    assert text.startswith("The PostgreSQL image postgres:17 is not on the host yet: the run pulls it and checks its "
                           "major version against the data before anything changes")


def test_a_move_of_the_major_is_allowed_only_when_asked_and_the_plan_says_it():
    assert cr.postgres_problem(dict(PG), move=True) == ""
    assert "-e agenta_postgres_move=true" in cr.postgres_problem(dict(PG))
    assert cr.postgres_moves(PG) and not cr.postgres_moves(dict(PG, image_major=16)) and not cr.postgres_moves(None)
    # a bind mount is not a volume the module can copy: refused in the plan, before the backup
    assert cr.postgres_problem(dict(PG, volume="/srv/pgdata", volume_type="bind"), move=True).startswith(
        "The data of the deployment's postgres is the bind mount /srv/pgdata, not a Docker volume")
    # the data folder outside the volumes is refused whatever the operator allows
    assert cr.postgres_problem(dict(PG, pgdata="/var/lib/postgresql/18/docker"), move=True).startswith(
        "The release's postgres (postgres:17) keeps its data at")
    found = cr.plan([], config(), config(), {}, {}, [], "", PREFIX)
    assert "PostgreSQL moves from 16 to 17: every database is restored from the backup's dumps into an emptied " \
           "agenta-oss-gh_postgres-data, and the 16 cluster is kept in a volume of its own" in cr.summary(found, False, "", PG)


@pytest.mark.parametrize("text,values,expected,changed", [
    # the line is replaced in place, its line ending kept
    ("A=1\nAGENTA_API_IMAGE_TAG=v0.43.0\nB=2\n", {"AGENTA_API_IMAGE_TAG": "v0.44.4"},
     "A=1\nAGENTA_API_IMAGE_TAG=v0.44.4\nB=2\n", ["AGENTA_API_IMAGE_TAG"]),
    ("AGENTA_API_IMAGE_TAG=v0.43.0\r\n", {"AGENTA_API_IMAGE_TAG": "v0.44.4"},
     "AGENTA_API_IMAGE_TAG=v0.44.4\r\n", ["AGENTA_API_IMAGE_TAG"]),
    # already set: nothing changes
    ("AGENTA_API_IMAGE_TAG=v0.44.4\n", {"AGENTA_API_IMAGE_TAG": "v0.44.4"}, "AGENTA_API_IMAGE_TAG=v0.44.4\n", []),
    # Compose reads the last line that sets a variable: that one is written
    ("T=1\nX=0\n  T = 2\n", {"T": "3"}, "T=1\nX=0\nT=3\n", ["T"]),
    # a variable the file lacks is appended, after a newline the file lacked
    ("A=1", {"AGENTA_API_IMAGE_NAME": "agenta-api-ee"}, "A=1\nAGENTA_API_IMAGE_NAME=agenta-api-ee\n",
     ["AGENTA_API_IMAGE_NAME"]),
    ("", {"T": "v1"}, "T=v1\n", ["T"]),
    # a commented line and a longer name are not the variable
    ("# T=old\nTT=1\n", {"T": "v1"}, "# T=old\nTT=1\nT=v1\n", ["T"]),
    # two variables at once, in the order given
    ("T=a\n", {"T": "b", "N": "c"}, "T=b\nN=c\n", ["T", "N"]),
])
def test_set_env_values_writes_what_lineinfile_would(text, values, expected, changed):
    assert cr.set_env_values(text, values) == (expected, changed)


@pytest.mark.parametrize("values", [{"A B": "1"}, {"T": "v1\nEVIL=1"}, {"1T": "v"}])
def test_set_env_values_refuses_what_is_not_one_line(values):
    with pytest.raises(ValueError):
        cr.set_env_values("T=v0\n", values)
