# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment's PostgreSQL, reached through the Docker SDK: its container, image and network, the login of the
env file, and the deployment's own clients (psql in the container, pg_dump / pg_restore in one-shot containers of
its image). The password goes only into the environment of an exec or a one-shot container, set through the Docker
API: never into an argument, never into a result."""

from __future__ import annotations

import os

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access, progress
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import EnvFileError, mask, parse_env_file
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import (
    MARK, DeploymentError, counts_commands, counts_sql, db_login, first_line, literal, parse_answers, plain_name,
    psql_argv)

# One-shot client containers are named and labelled apart from the migration's (preflight looks for those).
CLIENT_PREFIX = "agenta-fleet-pg"
CLIENT_LABEL = "agenta.fleet.postgres_client"


def connection_argument_spec():
    return dict(
        compose_project=dict(type="str", default="agenta-oss-gh"),
        postgres_service=dict(type="str", default="postgres"),
        env_file=dict(type="path", required=True),
        db_user=dict(type="str", default=""),
        db_password=dict(type="str", default="", no_log=True),
        docker_host=dict(type="str", default=docker_access.DEFAULT_DOCKER_HOST),
        timeout=dict(type="int", default=3600),
    )


def restore_job_argument_spec():
    """jobs, run_journal and run_id of agenta.fleet.database_restore and agenta.fleet.deployment_restore (doc
    fragment agenta.fleet.restore_job)."""
    return dict(jobs=dict(type="int", default=2), run_journal=dict(type="path"), run_id=dict(type="str", default=""))


class Server(object):
    """The running postgres container of a compose project and the login to use."""

    def __init__(self, client, container, user, password, env):
        self.client = client
        self.container = container
        self.name = container.name
        self.image = (container.image.tags or [container.image.id])[0]
        self.network = docker_access.network_of(container)
        self.user = plain_name(user, "database user")
        self.password = password
        self.secrets = dict(env, DB_PASSWORD=password)

    def hide(self, text):
        return mask(text, self.secrets)

    def psql(self, commands, database="postgres"):
        """The deployment's psql in its container; raises DeploymentError with psql's first line on failure."""
        code, out, err = docker_access.exec_argv(self.client, self.container, psql_argv(self.user, commands, database),
                                                 environment={"PGPASSWORD": self.password}, purpose="psql")
        if code != 0:
            raise DeploymentError(self.hide(first_line(err.decode("utf-8", "replace"))))
        return out.decode("utf-8", "replace")

    def client_run(self, argv, volumes=None, network=None, timeout=3600, purpose="pg_dump", watch=None):
        """argv in a one-shot container of the postgres image on the deployment's network (or `network`), with the
        login in its environment. Returns (exit code, stdout text, stderr text). watch: see run_oneshot."""
        env = {"PGPASSWORD": self.password, "PGHOST": self.name, "PGUSER": self.user, "PGCONNECT_TIMEOUT": "10"}
        code, out, err = docker_access.run_oneshot(
            self.client, self.image, argv, environment=env, network=network or self.network, timeout=timeout,
            volumes=volumes, purpose=purpose, name_prefix=CLIENT_PREFIX, labels={CLIENT_LABEL: "oneshot"},
            watch=watch)
        return code, self.hide(out.decode("utf-8", "replace")), self.hide(err.decode("utf-8", "replace"))


def open_server(params):
    """params of connection_argument_spec() -> Server. Raises DeploymentError or DockerAccessError (one sentence)."""
    path = params["env_file"]
    try:
        with open(path, "rb") as handle:
            env = parse_env_file(handle.read().decode("utf-8", "replace"), path)
    except (IOError, OSError) as exc:
        raise DeploymentError("Could not read the env file %s: %s." % (path, exc.strerror or exc))
    except EnvFileError as exc:
        raise DeploymentError(mask(str(exc)))
    login = db_login(env)
    user = params["db_user"] or login["user"]
    password = params["db_password"] or login["password"]
    if not password:
        raise DeploymentError("Found no POSTGRES_PASSWORD (nor a POSTGRES_URI with a password) in %s; set "
                              "agenta_db_password." % path)
    client = docker_access.connect(params["docker_host"], params["timeout"])
    container = docker_access.find_container(client, project=params["compose_project"],
                                             service=params["postgres_service"])
    return Server(client, container, user, password, env)


def ident(name):
    """A database name as a quoted SQL identifier (after the plain-name check)."""
    return '"%s"' % plain_name(name, "database")


def existing_databases(server, names):
    """Which of names (plain names) exist on the server, in the order given."""
    if not names:
        return []
    found = server.psql(["SELECT datname FROM pg_database WHERE datname IN (%s)"
                         % ", ".join(literal(plain_name(n, "database")) for n in names)]).split()
    return [n for n in names if n in found]


def measure(server, names):
    """The rows of every table and the Alembic version tables of each database of names, in one psql exec:
    {name: {tables, versions}}, None for a database psql gave no answer of."""
    answers = parse_answers(server.psql(counts_commands(names)))
    return dict((n, answers.get("db:" + n)) for n in names)


def dump_file(name, fmt):
    return "%s.%s" % (name, "dump" if fmt == "custom" else "dir")


def within(folder, relative):
    """folder/relative, refusing a relative path that leaves folder."""
    path = os.path.normpath(os.path.join(folder, relative))
    if relative.startswith("/") or not (path == folder or path.startswith(folder.rstrip("/") + "/")):
        raise DeploymentError("The dump %s lies outside the backup %s." % (relative, folder))
    return path


# One one-shot container counts the rows of every database, dumps it and lists the dump back (pg_restore --list): one
# container start instead of two per database. The rows are counted in the snapshot pg_dump dumps: one psql session per
# database opens a repeatable-read transaction, exports its snapshot, counts (into a file) and runs pg_dump --snapshot
# from inside the transaction (psql's \!), so the manifest's counts are those of the dump even while the API writes.
# Arguments: format, jobs, the counts query (deployment.counts_sql(None)), then the databases. On stdout per database:
# its counts (deployment.parse_answers), then "agenta.fleet:dump:<db>:<entries>:<seconds>"; a failure exits 3
# (pg_dump), 4 (the list) or 5 (the count) after a line "agenta.fleet:fail:<db>:<step>", with the tool's own message
# on stderr.
DUMP_SCRIPT = r"""umask 077
fmt=$1; jobs=$2; counts=$3; shift 3
cat > /tmp/agenta-fleet-dump <<'EOF'
if [ "$AGENTA_FLEET_FORMAT" = custom ]; then
  pg_dump -Fc --snapshot="$AGENTA_FLEET_SNAPSHOT" -f "$AGENTA_FLEET_FILE" "$AGENTA_FLEET_DB"
else
  pg_dump -Fd -j "$AGENTA_FLEET_JOBS" --snapshot="$AGENTA_FLEET_SNAPSHOT" -f "$AGENTA_FLEET_FILE" "$AGENTA_FLEET_DB"
fi || : > /tmp/agenta-fleet-dump-failed
EOF
export AGENTA_FLEET_FORMAT="$fmt" AGENTA_FLEET_JOBS="$jobs"
for db in "$@"; do
  t0=$(date +%s)
  if [ "$fmt" = custom ]; then f="/backup/$db.dump"; else f="/backup/$db.dir"; fi
  export AGENTA_FLEET_DB="$db" AGENTA_FLEET_FILE="$f"
  rm -f /tmp/agenta-fleet-dump-failed /tmp/agenta-fleet-counts
  printf '%s\n' "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;" \
    "SELECT pg_export_snapshot() AS agenta_fleet_snapshot \gset" \
    "\setenv AGENTA_FLEET_SNAPSHOT :agenta_fleet_snapshot" \
    "SET lock_timeout = '15s';" "\o /tmp/agenta-fleet-counts" "$counts;" "\o" \
    "\! sh /tmp/agenta-fleet-dump" "COMMIT;" | psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db"
  rc=$?
  [ -e /tmp/agenta-fleet-dump-failed ] && { echo "agenta.fleet:fail:$db:pg_dump"; exit 3; }
  { [ "$rc" = 0 ] && [ -s /tmp/agenta-fleet-counts ]; } || { echo "agenta.fleet:fail:$db:count"; exit 5; }
  cat /tmp/agenta-fleet-counts
  pg_restore --list "$f" > /tmp/agenta-fleet.list || { echo "agenta.fleet:fail:$db:list"; exit 4; }
  [ -s /tmp/agenta-fleet.list ] || { echo "agenta.fleet:fail:$db:list" ; echo "it lists nothing" >&2; exit 4; }
  n=$(grep -c -v -e '^;' -e '^[[:space:]]*$' /tmp/agenta-fleet.list || true)
  echo "agenta.fleet:dump:$db:$n:$(( $(date +%s) - t0 ))"
done
"""

# One one-shot container recreates each target database and restores its dump into it. Arguments: jobs, then
# quadruples of (database, target, file relative to /backup, format). Every dump is listed (pg_restore --list)
# before the first database is dropped: a missing or unreadable dump exits 4 with nothing changed. A line per
# restore on stdout: "agenta.fleet:restored:<db>:<target>:<seconds>"; a failure exits 3 (or 4, the list) after
# "agenta.fleet:fail:<db>:<step>".
RESTORE_SCRIPT = r"""jobs=$1; shift
readable() {
  while [ $# -ge 4 ]; do
    pg_restore --list "/backup/$3" >/dev/null || { echo "agenta.fleet:fail:$1:list"; exit 4; }
    shift 4
  done
}
readable "$@"
while [ $# -ge 4 ]; do
  db=$1; into=$2; file=$3; fmt=$4; shift 4
  t0=$(date +%s)
  echo "agenta.fleet:restoring:$db:$into"
  psql -d postgres -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$into\" WITH (FORCE)" \
    -c "CREATE DATABASE \"$into\"" || { echo "agenta.fleet:fail:$db:create"; exit 3; }
  if [ "$fmt" = directory ]; then j="-j $jobs"; else j=""; fi
  pg_restore -d "$into" --exit-on-error $j "/backup/$file" || { echo "agenta.fleet:fail:$db:pg_restore"; exit 3; }
  echo "agenta.fleet:restored:$db:$into:$(( $(date +%s) - t0 ))"
done
"""


def _marks(text, kind):
    return [line.split(":")[2:] for line in (text or "").splitlines() if line.startswith("agenta.fleet:%s:" % kind)]


def dump_all(server, dest, names, fmt, jobs, timeout):
    """The rows of every database counted and pg_dump of it into dest, in one snapshot, each dump listed back;
    -> ([{name, file, format, entries, seconds}], {name: {tables, versions}}). Raises DeploymentError naming the
    database and the tool's first line."""
    argv = (["sh", "-c", DUMP_SCRIPT, "agenta-backup", fmt, str(jobs), counts_sql(None)]
            + [plain_name(n, "database") for n in names])
    code, out, err = server.client_run(argv, volumes={dest: {"bind": "/backup", "mode": "rw"}}, timeout=timeout,
                                       purpose="pg_dump")
    done = dict((m[0], m) for m in _marks(out, "dump"))
    if code != 0:
        failed = (_marks(out, "fail") or [["?", "pg_dump"]])[0]
        if failed[1] == "list":
            raise DeploymentError("pg_restore --list cannot read the dump of database %s: %s."
                                  % (failed[0], first_line(err)))
        if failed[1] == "count":
            raise DeploymentError("Counting the rows of database %s failed: %s." % (failed[0], first_line(err or out)))
        raise DeploymentError("pg_dump of database %s failed: %s." % (failed[0], first_line(err or out)))
    answers = parse_answers("\n".join(line for line in out.splitlines() if line.startswith(MARK + "db:")))
    dumps, measured = [], {}
    for name in names:
        mark = done.get(name)
        if mark is None:
            raise DeploymentError("pg_dump gave no account of database %s." % name)
        if answers.get("db:" + name) is None:
            raise DeploymentError("psql gave no row counts of database %s." % name)
        measured[name] = answers["db:" + name]
        dumps.append(dict(name=name, file=dump_file(name, fmt), format=fmt, entries=int(mark[1]),
                          seconds=float(mark[2])))
    return dumps, measured


def restore_progress(stdout, total):
    """The restore script's output so far -> {step, restored, of, database} (the database it is on, or None)."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode("utf-8", "replace")
    restored = _marks(stdout, "restored")
    started = _marks(stdout, "restoring")
    current = started[-1][0] if len(started) > len(restored) else None
    return dict(step="restoring", restored=len(restored), of=total, database=current)


def unchanged(exc):
    """Mark a DeploymentError raised before anything was changed (the module then reports changed=false)."""
    exc.unchanged = True
    return exc


def missing_dump(source, items):
    """The first item whose dump is not in the backup folder source (a file, or a folder for the directory format),
    as a DeploymentError marked unchanged; None when every dump is there. Read on the module's host."""
    for item in items:
        where = os.path.join(source, item["file"].lstrip("/"))
        if not (os.path.isdir(where) if item["format"] == "directory" else os.path.isfile(where)):
            return unchanged(DeploymentError(
                "The dump %s of database %s is not in the backup folder %s; no database was changed. Point the restore "
                "at the backup's own folder." % (item["file"], item["name"], source)))
    return None


def restore_all(server, source, items, jobs, timeout, note=None):
    """items = [{name, into, file, format}] restored from the backup folder source; -> [{name, into, seconds}].
    Raises DeploymentError naming the database and the tool's first line. note(**fields), when given, notes
    how many databases are restored so far in the run journal while it runs."""
    argv = ["sh", "-c", RESTORE_SCRIPT, "agenta-restore", str(jobs)]
    problem = missing_dump(source, items)
    if problem:
        raise problem
    for item in items:
        argv += [plain_name(item["name"], "database"), plain_name(item["into"], "database"),
                 item["file"].lstrip("/"), item["format"]]
    watch = None
    if note is not None:
        watch = progress.changes_watch(
            note, lambda container: restore_progress(container.logs(stdout=True, stderr=False), len(items)))
    try:
        code, out, err = server.client_run(argv, volumes={source: {"bind": "/backup", "mode": "ro"}},
                                           timeout=timeout, purpose="pg_restore", watch=watch)
    except docker_access.DockerAccessError as exc:
        if exc.started is False:  # its container never started: no database was touched
            exc.unchanged = True
        raise
    if code != 0:
        failed = (_marks(out, "fail") or [["?", "pg_restore"]])[0]
        said = err or "\n".join(x for x in (out or "").splitlines() if not x.startswith("agenta.fleet:"))
        if failed[1] == "create":
            raise DeploymentError("Recreating database %s failed: %s." % (failed[0], first_line(said)))
        if failed[1] == "list":
            raise unchanged(DeploymentError(
                "The dump of database %s in %s cannot be read (%s); no database was changed. Point the restore at a "
                "complete backup folder." % (failed[0], source, first_line(said))))
        raise DeploymentError("pg_restore of database %s failed: %s." % (failed[0], first_line(said)))
    return [dict(name=m[0], into=m[1], seconds=float(m[2])) for m in _marks(out, "restored")]
