# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The program that runs inside an Agenta API container (or a one-shot container of its image).

``DRIVER`` is shipped as the argument of ``python3 -c``; its instructions arrive as JSON in the
environment variable ``AGENTA_FLEET_ALEMBIC_SPEC``. It prints one line starting with ``MARKER``
followed by a JSON result, and nothing else on stdout (Alembic's output is captured and returned
inside the result, with passwords masked).

The driver is plain Python 3 with no dependency beyond what an Agenta API image has (alembic,
and psycopg2 or asyncpg). It is kept as a string so that Ansible ships it inside the module.
"""

from __future__ import annotations

MARKER = "AGENTA_FLEET_ALEMBIC_RESULT:"
SPEC_ENV = "AGENTA_FLEET_ALEMBIC_SPEC"

DRIVER = r'''
import ast
import io
import json
import logging
import os
import re
import socket
import sys
import time

MARKER = "AGENTA_FLEET_ALEMBIC_RESULT:"
SPEC_ENV = "AGENTA_FLEET_ALEMBIC_SPEC"
OSS_DIR = "/app/oss/databases/postgres/migrations"
EE_DIR = "/app/ee/databases/postgres/migrations"
PARK = "park00000000"
# Order Agenta's runner uses (G3 and EE); G2 is the subset core, tracing.
ORDER = ["oss", "core", "core_oss", "core_ee", "tracing", "tracing_oss", "tracing_ee"]
LEGACY = {"core_oss": "core", "core_ee": "core", "tracing_oss": "tracing", "tracing_ee": "tracing"}
VERSION_TABLE = {
    "oss": "alembic_version", "core": "alembic_version", "tracing": "alembic_version",
    "core_oss": "alembic_version_oss", "tracing_oss": "alembic_version_oss",
    "core_ee": "alembic_version_ee", "tracing_ee": "alembic_version_ee",
}
LOCK_KEY = 0x41474674  # 'AGFt': the advisory lock key every agenta.fleet migration run takes
URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")


class Refusal(Exception):
    """One clear sentence; nothing was changed."""


def mask(text, env=None):
    if not text:
        return text
    text = URL_PASSWORD.sub(r"\1********\3", text)
    env = os.environ if env is None else env
    for key, value in env.items():
        if "PASSWORD" in key.upper() and value and len(value) >= 3:
            text = text.replace(value, "********")
    return text


def chain_ini(name, root=""):
    if name == "oss":
        return root + OSS_DIR + "/alembic.oss.ini"
    if name.endswith("_ee"):
        return root + EE_DIR + "/" + name + "/alembic.ini"
    return root + OSS_DIR + "/" + name + "/alembic.ini"


def detect_layout(root=""):
    """Return (layout, edition, chains present in run order)."""
    present = [c for c in ORDER if os.path.isfile(chain_ini(c, root))]
    edition = "ee" if any(c.endswith("_ee") for c in present) else "oss"
    split = [c for c in present if c != "oss"]
    if any(c in split for c in ("core_oss", "tracing_oss", "core_ee", "tracing_ee")):
        return "g3", edition, split
    if split:
        return "g2", edition, split
    if "oss" in present:
        return "g1", edition, ["oss"]
    return None, edition, []


def order_chains(names):
    return [c for c in ORDER if c in names]


def database_of(name):
    if name.startswith("core"):
        return "core"
    if name.startswith("tracing"):
        return "tracing"
    return "oss"


def plain_url(url):
    return re.sub(r"^postgres(ql)?(\+[A-Za-z0-9_]+)?://", "postgresql://", url)


def chain_url(name, env, edition="oss"):
    db = database_of(name)
    var = "POSTGRES_URI" if db == "oss" else "POSTGRES_URI_" + db.upper()
    url = env.get(var)
    if not url:
        from urllib.parse import quote
        user = env.get("POSTGRES_USER") or "username"
        password = env.get("POSTGRES_PASSWORD") or "password"
        prefix = env.get("POSTGRES_DB_PREFIX") or ("agenta_" + edition)
        dbname = prefix if db == "oss" else prefix + "_" + db
        url = "postgresql://%s:%s@postgres:5432/%s" % (quote(user, safe=""), quote(password, safe=""), dbname)
    return plain_url(url)


def _literal(node):
    try:
        return ast.literal_eval(node)
    except Exception:
        return None


def scan_revision_file(path):
    """Return (revision, down_revisions tuple) read from a revision file without importing it."""
    with open(path, "rb") as handle:
        tree = ast.parse(handle.read(), filename=path)
    revision, down = None, ()
    for node in tree.body:
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name) and target.id == "revision":
                revision = _literal(value)
            elif isinstance(target, ast.Name) and target.id == "down_revision":
                found = _literal(value)
                if isinstance(found, str):
                    down = (found,)
                elif isinstance(found, (list, tuple)):
                    down = tuple(found)
    return revision, down


def _is_noop_body(body):
    for stmt in body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstring or '...'
        return False
    return True


def _raises_not_implemented(func):
    for node in ast.walk(func):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = exc.id if isinstance(exc, ast.Name) else getattr(exc, "attr", None)
            if name == "NotImplementedError":
                return True
    return False


def downgrade_kind(source):
    """'raises' when downgrade() raises NotImplementedError, 'empty' when it does nothing while
    upgrade() does something, else None."""
    tree = ast.parse(source)
    funcs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    down = funcs.get("downgrade")
    if down is None:
        return None
    if _raises_not_implemented(down):
        return "raises"
    up = funcs.get("upgrade")
    if _is_noop_body(down.body) and not (up is not None and _is_noop_body(up.body)):
        return "empty"
    return None


class Graph(object):
    """A chain's revisions: id -> down revision ids."""

    def __init__(self, down):
        self.down = dict(down)
        self._depth = {}

    def heads(self):
        referenced = set()
        for downs in self.down.values():
            referenced.update(downs)
        return sorted(r for r in self.down if r not in referenced)

    def ancestors(self, revs):
        seen, todo = set(), [r for r in revs if r]
        while todo:
            rev = todo.pop()
            if rev in seen or rev not in self.down:
                continue
            seen.add(rev)
            todo.extend(self.down[rev])
        return seen

    def depth(self, rev):
        if rev not in self._depth:
            stack = [rev]
            while stack:
                top = stack[-1]
                missing = [d for d in self.down.get(top, ()) if d in self.down and d not in self._depth]
                if missing:
                    stack.extend(missing)
                    continue
                stack.pop()
                self._depth[top] = 1 + max([self._depth[d] for d in self.down.get(top, ()) if d in self.down] or [0])
        return self._depth[rev]

    def upgrade_path(self, current, target):
        revs = self.ancestors([target]) - self.ancestors(current)
        return sorted(revs, key=lambda r: (self.depth(r), r))

    def downgrade_path(self, current, target):
        below = set() if target == "base" else self.ancestors([target])
        revs = self.ancestors(current) - below
        return sorted(revs, key=lambda r: (-self.depth(r), r))


def fmt(revs):
    if not revs:
        return None
    return ", ".join(revs)


class Database(object):
    """One connection per database: reads version tables and holds the advisory lock."""

    def __init__(self, url, appname, timeout=10):
        self.url = url
        try:
            import psycopg2
        except ImportError:
            psycopg2 = None
        if psycopg2 is not None:
            self.kind = "psycopg2"
            self.conn = psycopg2.connect(url, application_name=appname, connect_timeout=timeout)
            self.conn.autocommit = True
        else:
            import asyncio
            import asyncpg
            self.kind = "asyncpg"
            self.loop = asyncio.new_event_loop()
            self.conn = self.loop.run_until_complete(asyncpg.connect(
                url, timeout=timeout, server_settings={"application_name": appname}))

    def query(self, sql, args=()):
        if self.kind == "psycopg2":
            cur = self.conn.cursor()
            try:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else []
            finally:
                cur.close()
        count = [0]

        def number(_match):
            count[0] += 1
            return "$%d" % count[0]
        sql = re.sub(r"%s", number, sql)
        rows = self.loop.run_until_complete(self.conn.fetch(sql, *args))
        return [tuple(r) for r in rows]

    def current(self, table):
        if not self.query("SELECT to_regclass(%s) IS NOT NULL", (table,))[0][0]:
            return []
        return sorted(r[0] for r in self.query('SELECT version_num FROM "%s"' % table))

    def try_lock(self):
        return bool(self.query("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))[0][0])

    def holder(self):
        rows = self.query(
            "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'), "
            "to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS') FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = 0 AND l.objid = %s AND l.objsubid = 1 AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())", (LOCK_KEY,))
        if not rows:
            return None
        pid, app, addr, since = rows[0]
        return "%s (backend pid %s from %s, connected since %s)" % (app or "an unnamed session", pid, addr, since)

    def name(self):
        return self.query("SELECT current_database()")[0][0]

    def close(self):
        try:
            if self.kind == "psycopg2":
                self.conn.close()
            else:
                self.loop.run_until_complete(self.conn.close())
                self.loop.close()
        except Exception:
            pass


class Chain(object):
    def __init__(self, name, root=""):
        self.name = name
        self.ini = chain_ini(name, root)
        self.folder = os.path.dirname(self.ini)
        self.table = VERSION_TABLE[name]
        self.db = database_of(name)
        self.before = []
        self.after = None
        self.pending = []
        self.applied = []
        self.output = ""
        self.duration = 0.0
        self.target = None
        self.ran = False
        self.note = None
        self.heads = []

    def load(self):
        from alembic.config import Config
        from alembic.script import ScriptDirectory
        os.chdir(self.folder)
        self.config = Config(os.path.basename(self.ini), stdout=io.StringIO())
        script = ScriptDirectory.from_config(self.config)
        self.script = script
        # Read every revision file ourselves first: Alembic's own errors for a self-referencing
        # down_revision are not clear, and we want to refuse before anything runs.
        locations = self.config.get_main_option("version_locations")
        if locations:
            folders = [f for f in re.split(r"[\s,%s]+" % re.escape(os.pathsep), locations) if f]
        else:
            folders = [os.path.join(script.dir, "versions")]
        down = {}
        files = {}
        for folder in folders:
            for base, dirs, names in os.walk(folder):
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                for fname in sorted(names):
                    if not fname.endswith(".py") or fname.startswith("__"):
                        continue
                    path = os.path.join(base, fname)
                    rev, downs = scan_revision_file(path)
                    if not rev:
                        continue
                    if rev in downs:
                        raise Refusal("Revision %s of chain %s names itself as its down_revision; "
                                      "Alembic cannot place it in the chain." % (rev, self.name))
                    down[rev] = tuple(d for d in downs if d)
                    files[rev] = path
        self.files = files
        self.graph = Graph(down)
        self.heads = self.graph.heads()

    def describe(self):
        return {
            "name": self.name,
            "config": self.ini,
            "version_table": self.table,
            "heads": self.heads,
            "before": fmt(self.before),
            "after": fmt(self.after if self.after is not None else self.before),
            "target": self.target,
            "pending": self.pending,
            "applied": self.applied,
            "duration": round(self.duration, 3),
            "output": mask(self.output),
            "note": self.note,
        }


class Run(object):
    def __init__(self, spec, root=""):
        self.spec = spec
        self.root = root
        self.action = spec.get("action", "info")
        self.check = bool(spec.get("check"))
        self.layout, self.edition, self.available = detect_layout(root)
        self.chains = []
        self.dbs = {}
        self.locked = []
        self.notes = []
        self.failed = None
        self.lock_wait = None

    # -- planning ---------------------------------------------------------------------------
    def select(self):
        if self.layout is None:
            raise Refusal("This image has no Alembic configuration at %s (alembic.oss.ini, core/, "
                          "tracing/, core_oss/ or tracing_oss/)." % OSS_DIR)
        wanted = self.spec.get("chains") or []
        targets = self.spec.get("targets") or {}
        for name in list(wanted) + list(targets):
            if name not in self.available:
                raise Refusal("Chain %s is not in this image (layout %s has %s)."
                              % (name, self.layout, ", ".join(self.available)))
        if self.action == "downgrade":
            names = order_chains(targets)
            names.reverse()  # newer chains go back first
        else:
            names = order_chains(wanted) if wanted else list(self.available)
            for name in targets:
                if name not in names:
                    raise Refusal("A target is given for chain %s, which is not among the chains to run (%s)."
                                  % (name, ", ".join(names)))
        self.chains = [Chain(n, self.root) for n in names]

    def connect(self):
        appname = (self.spec.get("holder") or "agenta.fleet.alembic_migration")[:40]
        appname = "%s pid %d on %s" % (appname, os.getpid(), socket.gethostname()[:12])
        for chain in self.chains:
            if chain.db not in self.dbs:
                url = chain_url(chain.name, os.environ, self.edition)
                try:
                    self.dbs[chain.db] = Database(url, appname[:63])
                except Exception as exc:
                    raise Refusal("Could not connect to the %s database (%s): %s."
                                  % (chain.db, mask(url), first_line(exc)))

    def read_current(self):
        for chain in self.chains:
            chain.before = self.dbs[chain.db].current(chain.table)

    def plan(self):
        targets = self.spec.get("targets") or {}
        for chain in self.chains:
            chain.load()
            graph = chain.graph
            unknown = [r for r in chain.before if r not in graph.down]
            if unknown and self.action == "info":
                chain.pending = None
                chain.note = ("the database is at %s, which this image does not know" % fmt(unknown))
                continue
            if unknown:
                raise Refusal("Chain %s is at %s, which this image does not know; migrate with the image "
                              "of the release that wrote it, or a newer one." % (chain.name, fmt(unknown)))
            target = targets.get(chain.name)
            if target is not None and target not in ("head", "base") and target not in graph.down:
                raise Refusal("Revision %s is not in chain %s." % (target, chain.name))
            if self.action in ("upgrade", "info"):
                if target in (None, "head"):
                    if len(chain.heads) > 1:
                        if self.action == "info":
                            chain.target = None
                            chain.pending = []
                            continue
                        raise Refusal("Chain %s has %d heads (%s); Alembic would fail with 'Multiple head "
                                      "revisions'." % (chain.name, len(chain.heads), ", ".join(chain.heads)))
                    target = chain.heads[0] if chain.heads else None
                if target == "base":
                    raise Refusal("Refusing to upgrade chain %s to base; use state: downgraded." % chain.name)
                chain.target = target
                if target is None:
                    chain.pending = []
                    continue
                if chain.before and target in graph.ancestors(chain.before) and target not in chain.before:
                    raise Refusal("Chain %s is at %s, already past %s; use state: downgraded to go back."
                                  % (chain.name, fmt(chain.before), target))
                chain.pending = graph.upgrade_path(chain.before, target)
            else:
                if target == "head":
                    raise Refusal("Refusing to downgrade to head: 'alembic downgrade head' is a silent no-op; "
                                  "name the revision to return to.")
                chain.target = target
                if target != "base" and target not in chain.before and target not in graph.ancestors(chain.before):
                    raise Refusal("Cannot downgrade chain %s to %s: the chain is at %s, below it."
                                  % (chain.name, target, fmt(chain.before) or "base"))
                chain.pending = graph.downgrade_path(chain.before, target)
                if not self.spec.get("allow_irreversible"):
                    for rev in chain.pending:
                        if rev == PARK:
                            continue  # the parking revision is empty both ways by design
                        with open(chain.files[rev], "rb") as handle:
                            kind = downgrade_kind(handle.read())
                        if kind == "raises":
                            raise Refusal("Refusing to downgrade chain %s through %s: its downgrade raises "
                                          "NotImplementedError; restore from a backup or set "
                                          "allow_irreversible: true." % (chain.name, rev))
                        if kind == "empty":
                            raise Refusal("Refusing to downgrade chain %s through %s: its downgrade does "
                                          "nothing, so its changes would stay; restore from a backup or set "
                                          "allow_irreversible: true." % (chain.name, rev))
        if self.action == "upgrade":
            self.check_parking()

    def check_parking(self):
        by_name = dict((c.name, c) for c in self.chains)
        for chain in self.chains:
            legacy_name = LEGACY.get(chain.name)
            if not legacy_name or not chain.pending:
                continue
            legacy = by_name.get(legacy_name)
            if legacy is None:
                if legacy_name not in self.available:
                    continue
                # Not in this run: read where it stands.
                legacy = Chain(legacy_name, self.root)
                legacy.before = self.dbs[chain.db].current(legacy.table)
                will_park = False
            else:
                will_park = bool(legacy.target) and PARK in legacy.graph.ancestors([legacy.target])
            if PARK in legacy.before or will_park:
                continue
            raise Refusal("Refusing to upgrade chain %s: its legacy chain %s is at %s, not parked at %s; "
                          "run %s first (or include it in the same run)."
                          % (chain.name, legacy_name, fmt(legacy.before) or "base", PARK, legacy_name))

    # -- locking ----------------------------------------------------------------------------
    def lock(self, timeout):
        started = time.monotonic()
        deadline = started + timeout
        for key in sorted(self.dbs):
            db = self.dbs[key]
            while not db.try_lock():
                if time.monotonic() >= deadline:
                    holder = db.holder() or "another session"
                    raise Refusal("Timed out after %g s waiting for the migration lock on database %s, held by %s."
                                  % (timeout, db.name(), holder))
                time.sleep(0.5)
            self.locked.append(db)
        self.lock_wait = time.monotonic() - started

    def unlock(self):
        for db in self.locked:
            try:
                db.query("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
            except Exception:
                pass
        self.locked = []

    # -- running ----------------------------------------------------------------------------
    def execute(self):
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        applied_steps = []

        def on_apply(ctx=None, step=None, heads=None, run_args=None, **_kw):
            applied_steps.append(step.up_revision_id if step is not None else None)

        original_init = MigrationContext.__init__

        def patched_init(ctx, *args, **kwargs):
            original_init(ctx, *args, **kwargs)
            ctx.on_version_apply_callbacks = tuple(ctx.on_version_apply_callbacks or ()) + (on_apply,)

        MigrationContext.__init__ = patched_init
        try:
            for chain in self.chains:
                if not chain.pending:
                    continue
                del applied_steps[:]
                buf = io.StringIO()
                chain.config.stdout = buf
                handler = logging.StreamHandler(buf)
                handler.setFormatter(logging.Formatter("%(levelname)-5.5s [%(name)s] %(message)s"))
                root_logger = logging.getLogger()
                root_logger.addHandler(handler)
                root_logger.setLevel(logging.INFO)
                saved = sys.stdout, sys.stderr
                sys.stdout = sys.stderr = buf
                os.chdir(chain.folder)
                start = time.monotonic()
                error = None
                try:
                    chain.ran = True
                    if self.action == "upgrade":
                        command.upgrade(chain.config, chain.target)
                    else:
                        command.downgrade(chain.config, chain.target)
                except BaseException as exc:  # SystemExit from env.py too
                    error = exc
                finally:
                    chain.duration = time.monotonic() - start
                    sys.stdout, sys.stderr = saved
                    root_logger.removeHandler(handler)
                    chain.output = buf.getvalue()
                    if error is not None:
                        chain.output += "%s: %s\n" % (type(error).__name__, error)
                chain.after = self.dbs[chain.db].current(chain.table)
                chain.applied = self.applied_between(chain)
                if error is not None:
                    done = set(applied_steps)
                    failing = next((r for r in chain.pending if r not in done), None)
                    if failing is None:
                        failing = chain.pending[-1]
                    self.failed = ("Revision %s of chain %s failed: %s; chain %s stands at %s."
                                   % (failing, chain.name, mask(last_error_line(error)), chain.name,
                                      fmt(chain.after) or "base"))
                    break
        finally:
            MigrationContext.__init__ = original_init

    def applied_between(self, chain):
        graph = chain.graph
        if self.action == "upgrade":
            return graph.upgrade_path(chain.before, chain.after[0]) if len(chain.after) == 1 else \
                sorted(graph.ancestors(chain.after) - graph.ancestors(chain.before))
        target = chain.after[0] if len(chain.after) == 1 else "base"
        if not chain.after:
            target = "base"
        return graph.downgrade_path(chain.before, target)

    def result(self):
        return {
            "layout": self.layout,
            "edition": self.edition,
            "available": self.available,
            "chains": [c.describe() for c in self.chains],
            "lock_wait": None if self.lock_wait is None else round(self.lock_wait, 3),
        }


def first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def last_error_line(exc):
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    name = type(exc).__name__
    return "%s: %s" % (name, line) if line else name


def main(spec, root=""):
    # The seed runs the alembic console script: its sys.path does not hold the working folder.
    sys.path[:] = [p for p in sys.path if p not in ("", ".", os.getcwd())]
    if "/app" not in sys.path and os.path.isdir(root + "/app"):
        sys.path.insert(0, root + "/app")
    run = Run(spec, root)
    out = {"ok": False}
    try:
        run.select()
        run.connect()
        run.read_current()
        run.plan()
        if run.action != "info" and not run.check and any(c.pending for c in run.chains):
            run.lock(float(spec.get("lock_timeout", 300)))
            # Another run may have moved the chains while we waited: plan again under the lock.
            run.read_current()
            run.plan()
            run.execute()
        if run.failed:
            out["error"] = run.failed
        else:
            out["ok"] = True
    except Refusal as exc:
        out["error"] = mask(str(exc))
        out["refused"] = True
    except BaseException as exc:
        out["error"] = mask("The migration driver failed: %s." % last_error_line(exc).rstrip("."))
    finally:
        run.unlock()
        for db in run.dbs.values():
            db.close()
    for chain in run.chains:
        if chain.after is None:
            chain.after = chain.before
    out.update(run.result())
    out["changed"] = any(c.after != c.before for c in run.chains)
    return out


if __name__ == "__main__":
    _spec = json.loads(os.environ.get(SPEC_ENV) or "{}")
    _result = main(_spec, _spec.get("root", ""))
    sys.__stdout__.write("\n" + MARKER + json.dumps(_result) + "\n")
    sys.__stdout__.flush()
'''
