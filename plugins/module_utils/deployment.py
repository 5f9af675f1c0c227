# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of agenta.fleet.deployment_info: the database login of an env file, the SQL it sends through the
deployment's own psql, the parsing of psql's answer, the index of a compose project's containers. No Docker, no
Ansible imports."""

from __future__ import annotations

import json
import os
import re
from urllib.parse import unquote

# The variables whose URI may carry the login, in the order they are asked.
URI_NAMES = ("POSTGRES_URI", "POSTGRES_URI_CORE")
DEFAULT_USER = "username"
_URI_LOGIN = re.compile(r"^[A-Za-z0-9+.-]+://([^:/@]+):([^@]*)@")

# psql prints one line per query; each of ours starts with this, so that nothing else is taken for an answer.
MARK = "agenta.fleet:"
# Names we put into SQL or a psql meta-command: checked, then quoted.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.$-]*$")
# Env file keys whose values are secrets (never returned).
_SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)|CREDENTIAL|PRIVATE|_URI|_URL|_DSN", re.I)
HIDDEN = "********"
# Databases the collection itself creates (trial restores, rehearsal copies): never an Agenta database.
OWN_DATABASES = ("agenta_fleet_%", "%_rehearsal")


class DeploymentError(Exception):
    """One sentence that says what is wrong."""


def uri_login(env):
    """(user, password) of the first URI_NAMES value that carries both, percent-decoded; or None."""
    for name in URI_NAMES:
        match = _URI_LOGIN.match(str(env.get(name) or ""))
        if match:
            return unquote(match.group(1)), unquote(match.group(2))
    return None


def db_login(env):
    """The env file's variables -> {user, password}: POSTGRES_USER / POSTGRES_PASSWORD, else the URI's."""
    from_uri = uri_login(env)
    user = env.get("POSTGRES_USER") or (from_uri[0] if from_uri else DEFAULT_USER)
    password = env.get("POSTGRES_PASSWORD") or (from_uri[1] if from_uri else "")
    return {"user": str(user), "password": str(password)}


def public_settings(env):
    """The env file's variables without their secrets: a secret-looking name keeps its key, its value is hidden."""
    out = {}
    for key, value in env.items():
        out[key] = HIDDEN if (_SECRET_KEY.search(key) and value) else value
    return out


def scrub(text, env):
    """A compose error line without any secret value of the env file in it."""
    shown = public_settings(env)
    for key, value in env.items():
        if shown.get(key) == HIDDEN and value and len(value) >= 3:
            text = text.replace(value, HIDDEN)
    return " ".join(text.split())[:400]


def like_regex(pattern):
    """An SQL LIKE pattern (% and _) -> an anchored regular expression."""
    parts = []
    for char in pattern:
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    return re.compile("^" + "".join(parts) + "$", re.S)


def matches(name, patterns):
    return any(like_regex(p).match(name) for p in patterns)


def select_databases(found, patterns, exclude=OWN_DATABASES):
    """The server's databases ([{name, size}]) that match a pattern and none of exclude, in name order."""
    return sorted((d for d in found if matches(d["name"], patterns) and not matches(d["name"], exclude)),
                  key=lambda d: d["name"])


def plain_name(name, what="name"):
    if not isinstance(name, str) or not _PLAIN_NAME.match(name):
        raise DeploymentError("The %s %r is not a plain PostgreSQL name (letters, digits, _ . $ -)." % (what, name))
    return name


def literal(text):
    return "'" + str(text).replace("'", "''") + "'"


def server_sql(sessions=True):
    """One query on database postgres: the server's version, every database and its size, and (sessions) the
    sessions that hold an advisory lock or belong to a migration of this collection."""
    session_part = "'[]'::json"
    if sessions:
        session_part = (
            "COALESCE((SELECT json_agg(json_build_object('pid', s.pid, 'application_name', s.app, "
            "'database', s.db, 'what', s.what) ORDER BY s.pid, s.what) FROM ("
            "SELECT l.pid, coalesce(a.application_name, '') AS app, coalesce(a.datname, '') AS db, "
            "'holds an advisory lock' AS what FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid() "
            "UNION ALL SELECT pid, application_name, coalesce(datname, ''), 'is connected' FROM pg_stat_activity "
            "WHERE application_name LIKE 'agenta.fleet%' AND pid <> pg_backend_pid()) s), '[]'::json)")
    return ("SELECT %s || json_build_object('version', current_setting('server_version'), "
            "'server_version_num', current_setting('server_version_num')::int, "
            "'databases', COALESCE((SELECT json_agg(json_build_object('name', datname, 'size', "
            "pg_database_size(datname)) ORDER BY datname) FROM pg_database WHERE NOT datistemplate "
            "AND datallowconn), '[]'::json), 'sessions', %s)::text" % (literal(MARK + "server"), session_part))


def counts_sql(database, tables=None):
    """One query in a database: the exact row count of every ordinary table (or of the listed ones that exist)
    and the content of every Alembic version table. A table outside schema public is named schema.table. Its
    answer is tagged db:<database>; database None tags it with the database the session is connected to."""
    only = ""
    if tables is not None:
        names = [plain_name(t, "table") for t in tables]
        only = " AND k = ANY(ARRAY[%s]::text[])" % (", ".join(literal(n) for n in names) or "NULL")
    return (
        "WITH t AS (SELECT n.nspname AS s, c.relname AS r, CASE WHEN n.nspname = 'public' THEN c.relname "
        "ELSE n.nspname || '.' || c.relname END AS k FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'), "
        "counted AS (SELECT * FROM t WHERE true%s), "
        "v AS (SELECT t.* FROM t WHERE t.r ~ '^alembic_version' AND EXISTS (SELECT 1 FROM information_schema.columns col "
        "WHERE col.table_schema = t.s AND col.table_name = t.r AND col.column_name = 'version_num')) "
        "SELECT %s || json_build_object("
        "'tables', COALESCE((SELECT json_object_agg(k, (xpath('/row/n/text()', query_to_xml(format("
        "'SELECT count(*) AS n FROM %%I.%%I', s, r), false, true, '')))[1]::text::bigint ORDER BY k) FROM counted), "
        "'{}'::json), "
        "'versions', COALESCE((SELECT json_object_agg(k, (xpath('/row/v/text()', query_to_xml(format("
        "'SELECT string_agg(version_num::text, '','' ORDER BY version_num) AS v FROM %%I.%%I', s, r), false, true, "
        "'')))[1]::text ORDER BY k) FROM v), '{}'::json))::text"
        % (only, literal(MARK + "db:" + database) if database is not None
           else "%s || current_database()" % literal(MARK + "db:")))


def psql_argv(user, commands, database="postgres"):
    """The deployment's own psql in its postgres container, over TCP to itself (the password comes from the exec's
    environment, never from here), one -c per command."""
    argv = ["psql", "-h", "127.0.0.1", "-U", plain_name(user, "database user"), "-d", database,
            "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
    for command in commands:
        argv += ["-c", command]
    return argv


COUNT_LOCK_TIMEOUT = 15  # seconds a row count may wait for a table lock


def counts_commands(databases, tables_by_db=None):
    """psql -c commands that connect to each database in turn and count its rows."""
    commands = []
    for name in databases:
        plain_name(name, "database")
        commands.append('\\connect "%s"' % name)
        # A count must not queue behind another session's waiting DDL (a migration at work) for ever.
        commands.append("SET lock_timeout = '%ds'" % COUNT_LOCK_TIMEOUT)
        commands.append(counts_sql(name, None if tables_by_db is None else tables_by_db.get(name, [])))
    return commands


def parse_answers(stdout):
    """psql's output -> {tag: decoded JSON} of every line that carries MARK."""
    answers = {}
    for line in (stdout or "").splitlines():
        if line.startswith(MARK):
            tag, brace, body = line[len(MARK):].partition("{")
            try:
                answers[tag] = json.loads(brace + body)
            except ValueError:
                raise DeploymentError("psql gave an answer that is not JSON for %s." % tag)
    return answers


def first_line(text):
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line.rstrip(".")
    return "no output"


def nearest_existing_dir(path, isdir=os.path.isdir):
    """The folder itself when it exists, else its nearest existing parent ('/' at worst)."""
    path = "/" + path.strip("/") if path else "/"
    while path != "/" and not isdir(path):
        path = os.path.dirname(path)
    return path


def index_containers(containers):
    """[{service, name, state, exit_code, image}] -> {service: container}; a running container wins, then the
    first by name."""
    found = {}
    for item in sorted(containers, key=lambda c: c["name"]):
        service = item.get("service")
        if not service:
            continue
        if service not in found or (item["state"] == "running" and found[service]["state"] != "running"):
            found[service] = item
    return found


def image_repo_of(image):
    """'registry:5000/repo/name:tag' -> 'registry:5000/repo/name' (a digest reference loses its digest)."""
    ref = (image or "").split("@", 1)[0]
    head, _sep, last = ref.rpartition("/")
    name = last.rsplit(":", 1)[0]
    return "%s/%s" % (head, name) if head else name


def image_tag_of(image):
    """'registry:5000/repo/name:tag' -> 'tag' ('' without a tag or for a digest reference)."""
    last = (image or "").split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


NAME_VARIABLE = "AGENTA_API_IMAGE_NAME"


def api_image(containers, service, settings, variable):
    """What the API container runs against what the env file names. The collection moves the API by the env
    file's tag variable; a tag that was changed and never applied (no `up -d`) means the files describe another
    deployment than the one that runs, and a backup of them would bring back an image that never ran. The image's
    name (AGENTA_API_IMAGE_NAME, which the switch to EE changes) is compared too when the env file sets it. Returns
    {image, tag, variable, env_tag, problem, put_back}: problem is a sentence and put_back what to put back, or None
    when they agree or either is unknown (no container, no tag in its image, the variable unset)."""
    container = containers.get(service) or {}
    image = container.get("image") or ""
    tag = image_tag_of(image)
    env_tag = (settings or {}).get(variable)
    env_tag = env_tag.strip() if isinstance(env_tag, str) else ""
    # The image's name (Agenta's compose file: ghcr.io/agenta-ai/${AGENTA_API_IMAGE_NAME}), which the switch to EE
    # changes; compared when the env file sets it.
    name = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    env_name = (settings or {}).get(NAME_VARIABLE)
    env_name = env_name.strip() if isinstance(env_name, str) else ""
    changed, back = [], []
    if tag and env_tag and tag != env_tag:
        changed.append("%s=%s" % (variable, env_tag))
        back.append("%s back to %s" % (variable, tag))
    if name and env_name and name != env_name:
        changed.append("%s=%s" % (NAME_VARIABLE, env_name))
        back.append("%s back to %s" % (NAME_VARIABLE, name))
    problem = put_back = None
    if changed:
        problem = ("the %s container %s runs %s, but the env file sets %s, which was never applied (no `docker "
                   "compose up -d` since), so a backup would keep a file that starts another image than the one that "
                   "ran" % (service, container.get("name") or service, image, " and ".join(changed)))
        put_back = " and ".join(back)
    return dict(image=image, tag=tag, variable=variable, env_tag=env_tag, problem=problem, put_back=put_back)


def flatten(measured):
    """{database: {tables: {t: n}, versions: {t: rev}}} -> ({"db.t": n}, {"db.t": rev})."""
    rows, versions = {}, {}
    for database in sorted(measured):
        for table, count in sorted((measured[database].get("tables") or {}).items()):
            rows["%s.%s" % (database, table)] = count
        for table, rev in sorted((measured[database].get("versions") or {}).items()):
            versions["%s.%s" % (database, table)] = rev
    return rows, versions


# The waits before the first further asks: an API that is starting answers within a second or two, and an ask every
# health_delay seconds from the start would keep the run waiting up to that long after it does.
HEALTH_FIRST_WAITS = (0.25, 0.25, 0.5, 0.5, 1.0)


def health_waits(retries, delay):
    """The seconds to wait before each further ask: the short first waits, then delay, never more than delay, and
    retries * delay in all (delay 0: retries asks at once)."""
    if delay <= 0:
        return [0] * max(retries, 0)
    left = float(max(retries, 0) * delay)
    waits = []
    while left > 1e-9:
        wait = min(HEALTH_FIRST_WAITS[len(waits)] if len(waits) < len(HEALTH_FIRST_WAITS) else delay, delay, left)
        waits.append(wait)
        left -= wait
    return waits
