# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of agenta.fleet.alembic_rehearsal: scratch database names, the URLs that point the migration at
them, and the shell scripts that copy and drop them. No Docker, no Ansible imports; no secret in any script (the
password travels in the one-shot container's environment, set through the Docker API)."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

SUFFIX = "_rehearsal"
# Database names the scripts accept (they are written into SQL and shell words; anything else is refused).
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$")
URI_VARIABLES = ("POSTGRES_URI", "POSTGRES_URI_CORE", "POSTGRES_URI_TRACING")
# When the env file has no URI, Agenta builds it from POSTGRES_USER/PASSWORD/DB_PREFIX (see the driver).
DEFAULT_SUFFIXES = {"POSTGRES_URI": "", "POSTGRES_URI_CORE": "_core", "POSTGRES_URI_TRACING": "_tracing"}


class RehearsalError(ValueError):
    """One sentence for the operator."""


def scratch_name(database):
    """The scratch copy of a database: a fixed name, so that a copy left by a killed run is found and dropped."""
    return (database[:63 - len(SUFFIX)] + SUFFIX) if database else database


def _split(url):
    parts = urlsplit(url)
    if not parts.hostname or not parts.path.strip("/"):
        raise RehearsalError("A database URL in the env file has no host or no database name.")
    return parts


def database_of(url):
    return unquote(_split(url).path.strip("/"))


def with_database(url, database):
    parts = _split(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database, safe=""), parts.query, parts.fragment))


def server_of(url):
    """(host, port, user, password) of a URL."""
    parts = _split(url)
    return (parts.hostname, parts.port or 5432, unquote(parts.username or ""), unquote(parts.password or ""))


def urls_of(env, edition="oss"):
    """The migration URLs a deployment uses, variable -> URL: those the env file sets, else Agenta's defaults."""
    found = dict((name, env[name]) for name in URI_VARIABLES if env.get(name))
    if found:
        return found
    user = quote(env.get("POSTGRES_USER") or "username", safe="")
    password = quote(env.get("POSTGRES_PASSWORD") or "password", safe="")
    prefix = env.get("POSTGRES_DB_PREFIX") or ("agenta_" + edition)
    return dict((name, "postgresql://%s:%s@postgres:5432/%s%s" % (user, password, prefix, suffix))
                for name, suffix in DEFAULT_SUFFIXES.items())


def plan(env, edition="oss"):
    """What to copy and how to point the migration at the copies.

    Returns (server, copies, overrides): server (host, port, user, password) that every URL names; copies, a list of
    (database, scratch) without repeats; overrides, variable -> URL of the scratch copy (for the one-shot's env).
    """
    urls = urls_of(env, edition)
    servers = set((h, p) for h, p, _u, _pw in (server_of(u) for u in urls.values()))
    if len(servers) != 1:
        raise RehearsalError("The env file points the databases at more than one server (%s); the rehearsal copies "
                             "them on one server, so it cannot run here."
                             % ", ".join("%s:%s" % s for s in sorted(servers)))
    server = server_of(sorted(urls.values())[0])
    copies, overrides = [], {}
    for name in sorted(urls):
        database = database_of(urls[name])
        if not SAFE_NAME.match(database):
            raise RehearsalError("The database name in %s is not a plain name (letters, digits, _ and -); the "
                                 "rehearsal does not copy it." % name)
        if database not in [c[0] for c in copies]:
            copies.append((database, scratch_name(database)))
        overrides[name] = with_database(urls[name], scratch_name(database))
    return server, copies, overrides


def _ident(name):
    return '"%s"' % name.replace('"', '""')


def copy_script(copies):
    """bash script that (re)creates each scratch database and fills it with pg_dump | pg_restore of the original.
    Databases that do not exist on the server are skipped (their chains are not in this layout). Connection
    settings come from PGHOST, PGPORT, PGUSER, PGPASSWORD in the environment."""
    lines = ["set -euo pipefail"]
    for database, scratch in copies:
        lines += [
            "if [ \"$(psql -X -A -t -d postgres -v ON_ERROR_STOP=1 -c \"SELECT 1 FROM pg_database WHERE datname = '%s'\")\" = 1 ]; then"
            % database.replace("'", "''"),
            "  psql -X -q -d postgres -v ON_ERROR_STOP=1 -c 'DROP DATABASE IF EXISTS %s WITH (FORCE)' -c 'CREATE DATABASE %s'"
            % (_ident(scratch), _ident(scratch)),
            "  pg_dump -Fc -d %s | pg_restore --no-owner --no-privileges --exit-on-error -d %s"
            % (_sh(database), _sh(scratch)),
            "  echo \"copied %s\"" % database,
            "fi",
        ]
    return "\n".join(lines) + "\n"


def drop_script(copies):
    lines = ["set -uo pipefail", "status=0"]
    for _database, scratch in copies:
        lines.append("psql -X -q -d postgres -v ON_ERROR_STOP=1 -c 'DROP DATABASE IF EXISTS %s WITH (FORCE)' || status=1"
                     % _ident(scratch))
    lines.append("exit $status")
    return "\n".join(lines) + "\n"


def _sh(word):
    return "'" + word.replace("'", "'\\''") + "'"


def copied(output):
    """Databases the copy script says it copied."""
    return [line[len("copied "):].strip() for line in (output or "").splitlines() if line.startswith("copied ")]


def unscratch(result, copies):
    """Name the real databases in a driver result that ran on the copies (tables_changed, destructive)."""
    back = dict((scratch, database) for database, scratch in copies)
    for key in ("tables_changed", "destructive"):
        for item in result.get(key) or []:
            if item.get("database") in back:
                item["database"] = back[item["database"]]
    return result
