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
PROGRESS = "AGENTA_FLEET_ALEMBIC_PROGRESS:"

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
PROGRESS = "AGENTA_FLEET_ALEMBIC_PROGRESS:"
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
LOCK_WAIT_FOR_COUNTS = 30  # seconds a row count may wait for a table lock before it gives up
LOCK_KEY = 0x41474674  # 'AGFt': the advisory lock key every agenta.fleet migration run takes
URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")


class Refusal(Exception):
    """One clear sentence; nothing was changed."""


def say_progress(chain, done, of):
    """One line on the real stderr while a chain runs (the watcher on the host reads it): a sign of life."""
    try:
        sys.__stderr__.write(PROGRESS + json.dumps({"chain": chain, "applied": done, "of": of}) + "\n")
        sys.__stderr__.flush()
    except Exception:
        pass


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


def g1_database_url(url):
    """The URL of the G1 database (agenta_oss, agenta_ee) on the same server when url names its split successor
    (agenta_oss_core or agenta_oss_tracing, from Agenta v0.45); else None."""
    found = re.match(r"^(.*/)(agenta_(?:oss|ee))_(?:core|tracing)(\?.*)?$", url)
    return found.group(1) + found.group(2) + (found.group(3) or "") if found else None


def db_name_of(url):
    """The database a URL names (without its query string)."""
    return url.rsplit("/", 1)[-1].split("?")[0]


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


# -- reading what a revision does, without importing it ----------------------------------------
#
# A revision's upgrade() and downgrade() are read as Python syntax trees. Calls are followed into
# the revision file's own functions and into functions it imports from Agenta's packages (oss.*,
# ee.*: the data migrations), so that a downgrade() that only calls a helper which raises
# NotImplementedError is seen as raising. SQL is read from string constants, f-strings over
# constant loops (for table in LEGACY_TABLES: op.execute(f'DROP TABLE "{table}"')) and names
# assigned from them; what cannot be read statically becomes UNKNOWN.

UNKNOWN = "\x00"  # stands for a part of a string that cannot be read statically
MAX_VALUES = 200
ACTIONS = ("drop", "truncate", "delete", "drop_column", "rewrite")
EFFECT_KEYS = {"drop": "drops", "truncate": "truncates", "delete": "deletes_from",
               "drop_column": "drops_columns", "rewrite": "rewrites"}


class SourceModule(object):
    """One parsed Python file: its functions, the names it imports from other modules, its string constants."""

    def __init__(self, source):
        self.tree = ast.parse(source)
        self.functions = dict((n.name, n) for n in self.tree.body
                              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
        self.imports = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (node.module, alias.name)
        self.env = _constants(self.tree)


def module_resolver(app_dir):
    """resolve(module name) -> SourceModule of a module of Agenta's own packages (oss, ee) under app_dir, or None."""
    cache = {}

    def resolve(name):
        if name.split(".")[0] not in ("oss", "ee"):
            return None
        if name not in cache:
            path = os.path.join(app_dir, *name.split(".")) + ".py"
            try:
                with open(path, "rb") as handle:
                    cache[name] = SourceModule(handle.read())
            except (IOError, OSError, SyntaxError, ValueError):
                cache[name] = None
        return cache[name]
    return resolve


def reachable(module, start, resolve=None, limit=100):
    """The (module, function) pairs that module.start runs: itself, the module's functions it calls and,
    through resolve, the functions it imports from Agenta's packages."""
    todo, seen, found = [(module, start)], set(), []
    while todo and len(found) < limit:
        mod, name = todo.pop(0)
        if (id(mod), name) in seen:
            continue
        seen.add((id(mod), name))
        if name not in mod.functions:
            if name in mod.imports and resolve is not None:
                other = resolve(mod.imports[name][0])
                if other is not None:
                    todo.append((other, mod.imports[name][1]))
            continue
        func = mod.functions[name]
        found.append((mod, func))
        for node in ast.walk(func):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                todo.append((mod, node.func.id))
    return found


def _product(parts):
    """Every concatenation of one choice per part (parts: lists of strings), at most MAX_VALUES."""
    out = [""]
    for choices in parts:
        out = [a + b for a in out for b in choices][:MAX_VALUES]
    return out


def _call_name(call):
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def string_values(node, env):
    """The strings an expression can take; UNKNOWN stands for what cannot be read statically."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name):
        return env.get(node.id, [UNKNOWN])
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [value for elt in node.elts for value in string_values(elt, env)]
    if isinstance(node, ast.JoinedStr):
        parts = [string_values(v.value if isinstance(v, ast.FormattedValue) else v, env) for v in node.values]
        return _product(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _product([string_values(node.left, env), string_values(node.right, env)])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return string_values(node.left, env)  # "... %s ..." % args: the template names the statement
    if isinstance(node, ast.Call) and node.args and _call_name(node) == "text":
        return string_values(node.args[0], env)
    if isinstance(node, ast.Call) and _call_name(node) == "format" and isinstance(node.func, ast.Attribute):
        return string_values(node.func.value, env)
    return [UNKNOWN]


def _constants(tree):
    """Module-level names bound to strings or to tuples/lists of strings."""
    env = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        values = string_values(value, env)
        if any(UNKNOWN in v for v in values):
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                env[target.id] = values
    return env


def _local_strings(func, env):
    """env plus the function's names bound to readable strings, and its loop variables over readable tuples."""
    env = dict(env)
    for _ in range(2):  # a second pass sees names bound from names bound later in the text
        for node in ast.walk(func):
            if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
                name, values = node.target.id, string_values(node.iter, env)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name, values = node.targets[0].id, string_values(node.value, env)
            else:
                continue
            if values and not any(UNKNOWN in v for v in values):
                env[name] = values
    return env


# SQL: short patterns over one statement text; names may be quoted or schema-qualified.
_IDENT = r'(?:"[^"]+"|[A-Za-z_\x00][\w$\x00]*)'
_NAME = r"%s(?:\s*\.\s*%s)?" % (_IDENT, _IDENT)
_NAMES = r"%s(?:\s*,\s*%s)*" % (_NAME, _NAME)
SQL_TABLE_STATEMENTS = (
    ("drop", re.compile(r"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(%s)" % _NAMES, re.I)),
    ("truncate", re.compile(r"\bTRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?(%s)" % _NAMES, re.I)),
    ("delete", re.compile(r"\bDELETE\s+FROM\s+(?:ONLY\s+)?(%s)" % _NAME, re.I)),
    ("create", re.compile(r"\bCREATE\s+(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(%s)"
                          % _NAME, re.I)),
)
SQL_UPDATE = re.compile(r"\bUPDATE\s+(?:ONLY\s+)?(%s)(?:\s+(?:AS\s+)?(?!SET\b)[A-Za-z_]\w*)?\s+SET\b" % _NAME, re.I)
SQL_ALTER = re.compile(r"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(%s)([^;]*)" % _NAME, re.I)
SQL_COLUMN_CHANGE = re.compile(r"\b(DROP|ADD)\s+COLUMN\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(%s)" % _IDENT, re.I)
SQL_KEYWORDS = {"set", "only", "table", "from", "if", "where", "select", "cascade"}


def _unquote(name):
    """'"public"."app_db"' -> 'app_db'; other schemas stay: 'audit.log'."""
    parts = [p.strip().strip('"') for p in name.split(".")]
    if len(parts) == 2 and parts[0] == "public":
        parts = parts[1:]
    return ".".join(parts)


def _flatten(sql):
    """sql with the insides of parentheses and '...' literals blanked, cut where an enclosing parenthesis
    closes: commas and keywords that are left are those of the statement itself."""
    out, depth, quoted = [], 0, False
    for char in sql:
        if char == "'":
            quoted = not quoted
            out.append(" ")
        elif quoted:
            out.append(" ")
        elif char == "(":
            depth += 1
            out.append(" ")
        elif char == ")":
            depth -= 1
            if depth < 0:
                break
            out.append(" ")
        else:
            out.append(char if depth == 0 else " ")
    return "".join(out)


def update_columns(set_clause):
    """Columns an UPDATE assigns, from the text after SET; None when the list is not plain 'col = ...'."""
    flat = _flatten(set_clause)
    end = re.search(r"\b(?:FROM|WHERE|RETURNING)\b|;", flat, re.I)
    columns = []
    for item in (flat[:end.start()] if end else flat).split(","):
        match = re.match(r"\s*(%s)\s*=" % _IDENT, item)
        if match is None:
            return None
        columns.append(_unquote(match.group(1)))
    return tuple(columns)


def sql_steps(sql):
    """(action, table, column) for what one SQL text does to tables: drop, truncate, delete, rewrite (column:
    the tuple of columns set, or None), drop_column, and create / add_column (to tell new data from old)."""
    sql = re.sub(r"--[^\n]*", "", sql)
    steps = []
    for action, pattern in SQL_TABLE_STATEMENTS:
        for match in pattern.finditer(sql):
            for name in match.group(1).split(","):
                if _unquote(name).lower() not in SQL_KEYWORDS:
                    steps.append((action, _unquote(name), None))
    for match in SQL_UPDATE.finditer(sql):
        steps.append(("rewrite", _unquote(match.group(1)), update_columns(sql[match.end():])))
    for match in SQL_ALTER.finditer(sql):
        for verb, column in SQL_COLUMN_CHANGE.findall(match.group(2)):
            action = "drop_column" if verb.upper() == "DROP" else "add_column"
            steps.append((action, _unquote(match.group(1)), _unquote(column)))
    return steps


def _argument(call, index, keyword):
    if len(call.args) > index:
        return call.args[index]
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return None


def _values(node, env):
    return [UNKNOWN] if node is None else string_values(node, env)


def _column_name(node, env):
    """The name of sa.Column("name", ...), as a list of possible values."""
    if isinstance(node, ast.Call) and _call_name(node) == "Column" and node.args:
        return string_values(node.args[0], env)
    return [UNKNOWN]


def _batch_tables(func, env):
    """Names bound by 'with op.batch_alter_table("t") as batch_op' -> the table names."""
    bound = {}
    for node in ast.walk(func):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                call = item.context_expr
                if (isinstance(call, ast.Call) and _call_name(call) == "batch_alter_table"
                        and isinstance(item.optional_vars, ast.Name)):
                    bound[item.optional_vars.id] = _values(_argument(call, 0, "table_name"), env)
    return bound


def call_steps(call, env, batch=None):
    """(action, table, column) for one call of Alembic's op (or a batch_op), or of execute()/text() with SQL."""
    name = _call_name(call)
    receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
    batched = isinstance(receiver, ast.Name) and receiver.id in (batch or {})
    if name in ("drop_table", "create_table"):
        action = "drop" if name == "drop_table" else "create"
        return [(action, t, None) for t in _values(_argument(call, 0, "table_name"), env)]
    if name in ("drop_column", "add_column"):
        if batched:
            tables, column = batch[receiver.id], _argument(call, 0, "column_name")
        else:
            tables, column = _values(_argument(call, 0, "table_name"), env), _argument(call, 1, "column_name")
        if name == "drop_column":
            return [("drop_column", t, c) for t in tables for c in _values(column, env)]
        return [("add_column", t, c) for t in tables for c in _column_name(column, env)]
    if name in ("execute", "exec_driver_sql", "text") and call.args:
        return [step for sql in string_values(call.args[0], env) for step in sql_steps(sql)]
    return []


def _is_unknown(step):
    return UNKNOWN in step[1] or (isinstance(step[2], str) and UNKNOWN in step[2])


def data_steps(module, function, resolve=None):
    """What module.function (and what it calls) does to existing data: (action, table, column) with action in
    ACTIONS; table or column may hold UNKNOWN. Tables it creates itself and columns it adds itself (a backfill
    UPDATE of a new column) are new data, not counted."""
    steps = []
    for mod, func in reachable(module, function, resolve):
        env = _local_strings(func, mod.env)
        batch = _batch_tables(func, env)
        for node in ast.walk(func):
            if isinstance(node, ast.Call):
                steps.extend(call_steps(node, env, batch))
    created = set(t for action, t, _ in steps if action == "create")
    added = set((t, c) for action, t, c in steps if action == "add_column")
    found = []
    for action, table, column in steps:
        if action not in ACTIONS or table in created or (action == "drop_column" and (table, column) in added):
            continue
        if action == "rewrite":
            if column and all((table, c) in added for c in column):
                continue  # a backfill of columns this revision adds
            column = None
        if (action, table, column) not in found:
            found.append((action, table, column))
    return found


def revision_effects(source, resolve=None):
    """What a revision's upgrade() does to existing data, by table name: drops, truncates, deletes_from,
    drops_columns ('table.column') and rewrites (tables UPDATEd). Statements whose table cannot be read
    statically are left out here (downgrade_kind still counts them)."""
    module = source if isinstance(source, SourceModule) else SourceModule(source)
    effects = dict((key, []) for key in EFFECT_KEYS.values())
    for step in data_steps(module, "upgrade", resolve):
        if _is_unknown(step):
            continue
        action, table, column = step
        entry = table if action != "drop_column" else "%s.%s" % (table, column)
        if entry not in effects[EFFECT_KEYS[action]]:
            effects[EFFECT_KEYS[action]].append(entry)
    return effects


def _raises_not_implemented(func):
    for node in ast.walk(func):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = exc.id if isinstance(exc, ast.Name) else getattr(exc, "attr", None)
            if name == "NotImplementedError":
                return True
    return False


def _does_nothing(module, func, resolve, depth=0):
    """True when every statement of func is a no-op, a get_bind() assignment, or a call of a function
    (of the module, or imported from Agenta's packages) that itself does nothing."""
    for stmt in func.body:
        if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            continue
        value = getattr(stmt, "value", None)
        if isinstance(stmt, ast.Assign) and isinstance(value, ast.Call) and _call_name(value) == "get_bind":
            continue
        if isinstance(stmt, ast.Expr) and isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
            callee = reachable(module, value.func.id, resolve, limit=1)
            if callee and depth < 5 and _does_nothing(callee[0][0], callee[0][1], resolve, depth + 1):
                continue
        return False
    return True


def downgrade_kind(source, resolve=None):
    """How a revision's downgrade() fails to undo its upgrade():
    'raises'  it raises NotImplementedError (itself or in a helper it calls);
    'empty'   it does nothing while upgrade() does something;
    'lossy'   upgrade() destroys or rewrites existing data (drops a table or column, truncates, deletes or
              updates rows) and the downgrade cannot bring that data back (at best it re-creates the table or
              column empty);
    None      otherwise."""
    module = source if isinstance(source, SourceModule) else SourceModule(source)
    if "downgrade" not in module.functions:
        return None
    if any(_raises_not_implemented(func) for _mod, func in reachable(module, "downgrade", resolve)):
        return "raises"
    up = module.functions.get("upgrade")
    upgrade_is_noop = up is not None and _is_noop_body(up.body)
    if not upgrade_is_noop and _does_nothing(module, module.functions["downgrade"], resolve):
        return "empty"
    if up is not None and data_steps(module, "upgrade", resolve):
        return "lossy"
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


# Ordinary tables outside the system schemas, without Alembic's version tables (the chains report those).
TABLE_FILTER = ("c.relkind = 'r' AND n.nspname <> 'information_schema' AND left(n.nspname, 3) <> 'pg_' "
                "AND left(c.relname, 15) <> 'alembic_version'")
LIST_TABLES_SQL = ("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE " + TABLE_FILTER)
COUNT_TABLES_SQL = ("SELECT n.nspname, c.relname, (xpath('/row/n/text()', query_to_xml(format("
                    "'SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " + TABLE_FILTER)


def table_key(schema, name):
    """How tables are named in results: 'app_db' in schema public, 'audit.log' elsewhere."""
    return name if schema == "public" else "%s.%s" % (schema, name)


def quote_ident(table):
    return ".".join('"%s"' % part.replace('"', '""') for part in table.split("."))


def list_tables(connection):
    """Table names seen through a SQLAlchemy connection (a migration's own, so inside its transaction)."""
    from sqlalchemy import text
    return set(table_key(schema, name) for schema, name in connection.execute(text(LIST_TABLES_SQL)).fetchall())


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
        # Row counts must not queue behind another session's DDL (Agenta's own alembic service, say).
        self.query("SET lock_timeout = '%ds'" % LOCK_WAIT_FOR_COUNTS)

    def query(self, sql, args=()):
        if self.kind == "psycopg2":
            cur = self.conn.cursor()
            try:
                cur.execute(sql, args or None)  # no args: a '%' in the SQL is literal
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

    def count_rows(self, table):
        """Exact row count of one table; None when it does not exist or cannot be read."""
        ident = quote_ident(table)
        try:
            if not self.query("SELECT to_regclass(%s) IS NOT NULL", (ident,))[0][0]:
                return None
            return int(self.query("SELECT count(*) FROM " + ident)[0][0])
        except Exception:
            return None

    def table_counts(self):
        """{table: exact row count} of every ordinary table outside the system schemas, in one query."""
        return dict((table_key(schema, name), int(rows)) for schema, name, rows in self.query(COUNT_TABLES_SQL))

    def close(self):
        try:
            if self.kind == "psycopg2":
                self.conn.close()
            else:
                self.loop.run_until_complete(self.conn.close())
                self.loop.close()
        except Exception:
            pass


class Absent(object):
    """A database Agenta's split will create (a plan on a G1 server): no version table, no rows."""

    def __init__(self, name):
        self.dbname = name

    def current(self, table):
        return []

    def name(self):
        return self.dbname

    def count_rows(self, table):
        return None

    def table_counts(self):
        return {}

    def close(self):
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
        self.unknown = []
        self._modules = {}
        self._effects = {}
        self._config = None

    @property
    def config(self):
        """Alembic's Config of the chain, made when a migration needs it (importing Alembic and SQLAlchemy is
        most of a plan's time), as it was made at load(): from the chain's folder, which stays the working
        folder it was."""
        if self._config is None:
            from alembic.config import Config
            cwd = os.getcwd()
            os.chdir(self.folder)
            try:
                self._config = Config(os.path.basename(self.ini), stdout=io.StringIO())
                self._config.file_config  # pylint: disable=pointless-statement  # %(here)s is this folder
            finally:
                os.chdir(cwd)
        return self._config

    def read_ini(self):
        """The [alembic] options the plan needs, read from the chain's ini as Alembic reads it (ConfigParser,
        %(here)s the ini's folder) without importing Alembic: (script folder, version_locations,
        recursive_version_locations), or None when only Alembic can tell (no script_location, a package:resource
        location, a folder that is not there, an ini it cannot parse): Alembic then reads it, or refuses it in
        its own words."""
        import configparser
        path = os.path.abspath(os.path.basename(self.ini))
        parser = configparser.ConfigParser({"here": os.path.dirname(path)})
        try:
            if not parser.read([path]) or not parser.has_option("alembic", "script_location"):
                return None
            options = [parser.get("alembic", key) if parser.has_option("alembic", key) else None
                       for key in ("script_location", "version_locations", "recursive_version_locations")]
        except configparser.Error:
            return None
        location = options[0]
        if not location or (":" in location and not os.path.isabs(location)):
            return None
        folder = os.path.abspath(location)
        return (folder, options[1], options[2]) if os.path.isdir(folder) else None

    def load(self):
        os.chdir(self.folder)
        read = self.read_ini()
        if read is None:
            from alembic.script import ScriptDirectory
            script_dir = ScriptDirectory.from_config(self.config).dir
            locations = self.config.get_main_option("version_locations")
            recursive_option = self.config.get_main_option("recursive_version_locations")
        else:
            script_dir, locations, recursive_option = read
        # Read every revision file ourselves first: Alembic's own errors for a self-referencing
        # down_revision are not clear, and we want to refuse before anything runs.
        if locations:
            folders = [f for f in re.split(r"[\s,%s]+" % re.escape(os.pathsep), locations) if f]
        else:
            folders = [os.path.join(script_dir, "versions")]
        # Like Alembic: sub-folders only with recursive_version_locations, and a folder named twice read once.
        recursive = str(recursive_option or "").lower() in ("true", "1", "yes", "on")
        down = {}
        files = {}
        seen = set()
        for folder in folders:
            for base, dirs, names in os.walk(folder):
                dirs[:] = [d for d in dirs if d != "__pycache__"] if recursive else []
                for fname in sorted(names):
                    if not fname.endswith(".py") or fname.startswith("__"):
                        continue
                    path = os.path.join(base, fname)
                    if os.path.realpath(path) in seen:
                        continue
                    seen.add(os.path.realpath(path))
                    rev, downs = scan_revision_file(path)
                    if not rev:
                        continue
                    if rev in downs:
                        raise Refusal("Revision %s of chain %s names itself as its down_revision; "
                                      "Alembic cannot place it in the chain." % (rev, self.name))
                    if rev in files:
                        raise Refusal("Revision %s of chain %s is defined twice (%s and %s); Alembic cannot "
                                      "tell which one to run, so use the image of another release."
                                      % (rev, self.name, os.path.relpath(files[rev], self.folder),
                                         os.path.relpath(path, self.folder)))
                    down[rev] = tuple(d for d in downs if d)
                    files[rev] = path
        self.files = files
        self.graph = Graph(down)
        self.heads = self.graph.heads()

    def module(self, rev):
        """The parsed file of one revision."""
        if rev not in self._modules:
            with open(self.files[rev], "rb") as handle:
                self._modules[rev] = SourceModule(handle.read())
        return self._modules[rev]

    def effects(self, rev, resolve=None):
        """revision_effects() of one revision; empty when its file cannot be read statically."""
        if rev not in self._effects:
            try:
                self._effects[rev] = revision_effects(self.module(rev), resolve)
            except (SyntaxError, ValueError, RecursionError):
                self._effects[rev] = revision_effects("")
        return self._effects[rev]

    def applied_range(self):
        """'chain core_oss (oss000000001..oss000000022)', or None when nothing was applied."""
        if not self.applied:
            return None
        if len(self.applied) == 1:
            return "chain %s (%s)" % (self.name, self.applied[0])
        return "chain %s (%s..%s)" % (self.name, self.applied[0], self.applied[-1])

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
            "unknown": self.unknown,
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
        self.started = time.monotonic()
        self.resolve = module_resolver(root + "/app")
        self.db_names = {}
        self.destructive = None
        self.tables_changed = None
        self.runner = None
        self.runner_module = None
        self.listings = {}
        self.split = []
        self.leftover = None

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
                    if chain.db == "core":
                        self.refuse_leftover(url, appname[:63])
                except Refusal:
                    raise
                except Exception as exc:
                    missing = "does not exist" in first_line(exc)
                    if missing and chain.db == "tracing" and "core" in self.dbs and not self.split \
                            and (self.action == "info" or self.check):
                        # Split already, but the tracing database the split creates is missing (a split cut short).
                        self.dbs[chain.db] = Absent(db_name_of(url))
                        self.split.append({"database": db_name_of(url), "from": None})
                        continue
                    older = g1_database_url(url) if missing else None
                    if older and self.answers(older, appname[:63]):
                        new_name, old_name = db_name_of(url), db_name_of(older)
                        if self.action == "info" or self.check:
                            self.plan_split(chain, older, new_name, old_name, appname[:63])
                            continue
                        raise Refusal(
                            "This image (layout %s) uses the database %s, which does not exist, while %s does: the "
                            "deployment still has the database names of Agenta v0.44 and older (G1). Rename them as "
                            "Agenta v0.45 does first (agenta.fleet.database_rename, which the upgrade playbook runs "
                            "after the backup), then migrate again." % (self.layout, new_name, old_name))
                    raise Refusal("Could not connect to the %s database (%s): %s."
                                  % (chain.db, mask(url), first_line(exc)))

    def refuse_leftover(self, url, appname):
        """The G1 database beside the core database holds a revision: one of them is left over (a rename that did
        not happen and a new database made by hand, a backup of v0.44 restored after the split, a copy). Planning on
        either could migrate the one the deployment does not use, or install a fresh schema next to the data."""
        older = g1_database_url(url)
        if not older:
            return
        try:
            old = Database(older, appname, timeout=5)
        except Exception:
            return
        try:
            revisions = old.current("alembic_version")
        finally:
            old.close()
        if not revisions:
            return
        core = self.dbs["core"].current("alembic_version")
        if not core:
            sentence = (
                "Both %s (at %s) and %s (no revision: empty or new) exist on this server: the data is in %s, and "
                "Agenta's runner would skip the v0.45 rename and install a fresh schema in %s; drop %s (after a "
                "backup, if it holds anything you need), then upgrade again."
                % (db_name_of(older), fmt(revisions), db_name_of(url), db_name_of(older), db_name_of(url),
                   db_name_of(url)))
        else:
            sentence = (
                "Both %s (at %s) and %s (at %s) exist on this server, so one of them is left over (a backup of v0.44 "
                "or older restored after the v0.45 rename, or a copy) and the upgrade could migrate the one the "
                "deployment does not use; drop the other one (after a backup), then upgrade again."
                % (db_name_of(older), fmt(revisions), db_name_of(url), fmt(core)))
        if self.action == "info":
            self.leftover = sentence  # said, not refused: status, verify and backups still read the host
        else:
            raise Refusal(sentence)

    def plan_split(self, chain, older, new_name, old_name, appname):
        """Plan on a G1 server (info, check mode) as if Agenta's split had run: the core chain reads the G1
        database that becomes its own, a tracing chain starts on the empty database the split creates."""
        if chain.db == "core":
            self.dbs[chain.db] = Database(older, appname)
            self.split.append({"database": new_name, "from": old_name})
        else:
            self.dbs[chain.db] = Absent(new_name)
            self.split.append({"database": new_name, "from": None})

    @staticmethod
    def answers(url, appname):
        """Whether a database answers at url (a probe: the connection is closed again)."""
        try:
            Database(url, appname, timeout=5).close()
        except Exception:
            return False
        return True

    def read_current(self):
        for chain in self.chains:
            chain.before = self.dbs[chain.db].current(chain.table)

    def plan(self):
        targets = self.spec.get("targets") or {}
        for chain in self.chains:
            chain.load()
            graph = chain.graph
            unknown = [r for r in chain.before if r not in graph.down]
            chain.unknown = unknown
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
                    self.refuse_irreversible(chain)
        if self.action == "upgrade":
            self.check_parking()

    def refuse_irreversible(self, chain):
        for rev in chain.pending:
            if rev == PARK:
                continue  # the parking revision is empty both ways by design
            kind = downgrade_kind(chain.module(rev), self.resolve)
            if kind == "raises":
                raise Refusal("Refusing to downgrade chain %s through %s: its downgrade raises "
                              "NotImplementedError; restore from a backup or set "
                              "allow_irreversible: true." % (chain.name, rev))
            if kind == "empty":
                raise Refusal("Refusing to downgrade chain %s through %s: its downgrade does "
                              "nothing, so its changes would stay; restore from a backup or set "
                              "allow_irreversible: true." % (chain.name, rev))
            if kind == "lossy":
                raise Refusal("Refusing to downgrade chain %s through %s: its upgrade destroyed or rewrote "
                              "data (%s) that its downgrade cannot bring back; restore from a backup or set "
                              "allow_irreversible: true."
                              % (chain.name, rev, effects_phrase(revision_effects(chain.module(rev), self.resolve))))

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

    def db_name(self, key):
        """The real name (current_database()) of one of the run's databases."""
        if key not in self.db_names:
            self.db_names[key] = self.dbs[key].name()
        return self.db_names[key]

    def assess(self):
        """destructive: what the pending revisions will destroy or rewrite, with the rows there now."""
        if self.action not in ("upgrade", "info"):
            return
        self.destructive, counted = [], {}
        for chain in self.chains:
            for rev in chain.pending or []:
                for action, table, column in effect_rows(chain.effects(rev, self.resolve)):
                    if (chain.db, table) not in counted:
                        counted[(chain.db, table)] = self.dbs[chain.db].count_rows(table)
                    self.destructive.append({
                        "chain": chain.name, "revision": rev, "database": self.db_name(chain.db), "table": table,
                        "action": action, "column": column, "rows": counted[(chain.db, table)]})

    def plan_runner(self):
        """For an upgrade, self.runner says whether the release's own runner runs after the chains, and why not."""
        if self.action != "upgrade":
            return
        module = release_runner_module(self.root, self.edition)
        command = "%s -m %s" % (sys.executable, module) if module else None
        everything = (set(c.name for c in self.chains) == set(self.available)
                      and all(t in (None, "head") for t in (self.spec.get("targets") or {}).values()))
        if not self.spec.get("release_runner", True):
            note = "release_runner is false: the release's runner is not run."
        elif module is None:
            note = "This image has no runner module (%s/runner.py); only the chains run." % OSS_DIR
        elif not everything:
            note = ("The release's runner is not run: this run is limited to some chains or targets, and the "
                    "runner brings every chain to its head.")
        elif not any(c.pending for c in self.chains):
            note = ("Nothing is pending: the release's runner is not run here (the compose alembic service runs it "
                    "at up -d and finds nothing to do).")
        elif self.check:
            note = "Check mode: the release's runner would run after the chains."
        else:
            note = None
            self.runner_module = module
        self.runner = {"command": command, "rc": None, "duration": None, "output": "", "ran": False, "note": note}

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
    def migrate(self):
        """Run the pending revisions and, for an upgrade, the release's runner; count rows around them."""
        counting = self.action == "upgrade"
        keys = sorted(set(c.db for c in self.chains if c.pending or self.runner_module))
        before = self.count_tables(keys) if counting else {}
        self.listings = dict((key, []) for key in keys) if counting else None
        self.execute()
        middle = None
        if self.runner_module and not self.failed:
            middle = self.count_tables(keys)
            self.run_release_runner()
        elif self.runner is not None and self.runner["note"] is None:
            self.runner["note"] = "The release's runner was not run: a chain failed."
        if counting:
            after = self.count_tables(keys)
            self.tables_changed = self.describe_changes(keys, before, middle, after)

    def count_tables(self, keys):
        """{database key: {table: rows}}; None for a database that could not be counted."""
        counts = {}
        for key in keys:
            try:
                counts[key] = self.dbs[key].table_counts()
            except Exception as exc:
                counts[key] = None
                self.notes.append("Could not count the rows of the %s database: %s." % (key, first_line(exc)))
        return counts

    def describe_changes(self, keys, before, middle, after):
        """tables_changed: one entry per table that appeared, disappeared or changed its row count."""
        entries = []
        for key in keys:
            if before.get(key) is None or after.get(key) is None:
                continue
            chains = [c for c in self.chains if c.db == key]
            start = before[key]
            split = middle.get(key) if middle else None
            if split is None:
                split = after[key]
            events = table_events(start, self.listings.get(key) or []) if self.listings else {}
            static = static_attribution([(rev, c.effects(rev, self.resolve)) for c in chains for rev in c.applied])
            fallback = (", ".join(r for r in (c.applied_range() for c in chains) if r)
                        or "unknown (no revision ran on this database)")
            for table, rows_before, rows_after, change in row_changes(start, after[key]):
                by = []
                first = table_change(start, split, table)
                if first is not None:
                    by.append(attribute(table, first, events, static, fallback))
                if table_change(split, after[key], table) is not None:
                    by.append("runner")
                entries.append({"database": self.db_name(key), "table": table, "rows_before": rows_before,
                                "rows_after": rows_after, "change": change, "by": ", ".join(by)})
        return entries

    def run_release_runner(self):
        """Run 'python -m <pkg>.databases.postgres.migrations.runner' as Agenta's alembic service does."""
        import subprocess
        runner, module = self.runner, self.runner_module
        short = "python -m %s" % module
        app_dir = self.root + "/app"
        env = dict(os.environ)
        env.pop(SPEC_ENV, None)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (app_dir, os.environ.get("PYTHONPATH")) if p)
        remaining = float(self.spec.get("timeout") or 600) - (time.monotonic() - self.started) - 15
        if remaining < 10:
            self.failed = ("The release's runner (%s) was not run: the chains reached head but used up the "
                           "run's timeout of %s s." % (short, self.spec.get("timeout") or 600))
            runner["note"] = "Not run: no time left."
            return
        start = time.monotonic()
        try:
            proc = subprocess.run([sys.executable, "-m", module], cwd=app_dir, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=remaining)
            output, runner["rc"] = proc.stdout, proc.returncode
            problem = None if proc.returncode == 0 else last_error_in(output.decode("utf-8", "replace"))
        except subprocess.TimeoutExpired as exc:
            output, problem = exc.output or b"", "it timed out after %d s" % remaining
        except OSError as exc:
            output, problem = b"", first_line(exc)
        runner["ran"] = True
        runner["duration"] = round(time.monotonic() - start, 3)
        runner["output"] = mask(output.decode("utf-8", "replace"))
        if problem:
            self.failed = ("The release's runner (%s) failed after the chains reached head: %s."
                           % (short, mask(problem).rstrip(".")))
        else:
            runner["note"] = reported_failure(runner["output"])

    def execute(self):
        from alembic import command
        from alembic.runtime import migration as alembic_migration_module
        from alembic.runtime.migration import MigrationContext
        applied_steps = []
        running = [None]

        def on_apply(ctx=None, step=None, heads=None, run_args=None, **_kw):
            revision = step.up_revision_id if step is not None else None
            applied_steps.append(revision)
            say_progress(running[0].name, len(applied_steps), len(running[0].pending))
            if self.listings is not None and getattr(ctx, "connection", None) is not None:
                try:
                    self.listings[running[0].db].append((revision, list_tables(ctx.connection)))
                except Exception:
                    pass  # attribution falls back to the revision files and the applied range

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
                running[0] = chain
                say_progress(chain.name, 0, len(chain.pending))
                buf = io.StringIO()
                chain.config.stdout = buf
                handler = logging.StreamHandler(buf)
                handler.setFormatter(logging.Formatter("%(levelname)-5.5s [%(name)s] %(message)s"))
                root_logger = logging.getLogger()
                root_logger.addHandler(handler)
                root_logger.setLevel(logging.INFO)
                # Alembic's own lines ("Running upgrade a -> b") go to a logger of ours that no logging setup can
                # reach: Agenta's modules reconfigure logging when a revision first imports them (while Alembic
                # formats that very line), which silenced the root handler's copy of the chain's first lines.
                alembic_log = logging.Logger("alembic.runtime.migration", logging.INFO)
                alembic_log.propagate = False
                alembic_log.addHandler(handler)
                saved_log, alembic_migration_module.log = alembic_migration_module.log, alembic_log
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
                    alembic_migration_module.log = saved_log
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
            "destructive": self.destructive,
            "tables_changed": self.tables_changed,
            "runner": self.runner if self.runner or self.action != "upgrade" else {
                "command": None, "rc": None, "duration": None, "output": "", "ran": False,
                "note": "The release's runner was not run: the run stopped before its plan was made."},
            "notes": self.notes,
            "split": self.split,
            "leftover": self.leftover,
        }


def effect_rows(effects):
    """revision_effects() as (action, table, column) rows, action in drop, truncate, delete, drop_column, rewrite."""
    rows = []
    for action, key in sorted(EFFECT_KEYS.items(), key=lambda item: ACTIONS.index(item[0])):
        for entry in effects.get(key, []):
            if action == "drop_column":
                table, column = entry.rsplit(".", 1)
                rows.append((action, table, column))
            else:
                rows.append((action, entry, None))
    return rows


def table_change(before, after, table):
    """dropped / created / fewer / more between two {table: rows} counts, or None when unchanged."""
    if table in before and table not in after:
        return "dropped"
    if table in after and table not in before:
        return "created"
    if table in before and after[table] < before[table]:
        return "fewer"
    if table in before and after[table] > before[table]:
        return "more"
    return None


def row_changes(before, after):
    """(table, rows_before, rows_after, change) for each table whose presence or row count differs."""
    found = []
    for table in sorted(set(before) | set(after)):
        change = table_change(before, after, table)
        if change is not None:
            found.append((table, before.get(table), after.get(table), change))
    return found


def table_events(start, listings):
    """{table: [revisions]} that made a table appear or disappear, from the tables listed after each revision.
    start: the tables before the first revision; listings: [(revision, tables)] in the order they ran."""
    events, previous = {}, set(start)
    for revision, tables in listings:
        tables = set(tables)
        for table in sorted(previous ^ tables):
            events.setdefault(table, []).append(revision)
        previous = tables
    return events


def static_attribution(applied):
    """{(action, table): [revisions]} from the revision files of the applied revisions, in order.
    applied: [(revision, revision_effects())]."""
    found = {}
    for revision, effects in applied:
        for action, table, _column in effect_rows(effects):
            revisions = found.setdefault((action, table), [])
            if revision not in revisions:
                revisions.append(revision)
    return found


def attribute(table, change, events, static, fallback):
    """Who changed a table: the revisions that made it appear or disappear (seen during the run), else the
    revisions whose files drop it / delete from it, else the fallback (the chains' applied ranges)."""
    if change in ("dropped", "created") and table in events:
        return ", ".join(events[table])
    if change == "dropped":
        revisions = static.get(("drop", table))
    elif change == "fewer":
        revisions = (static.get(("delete", table)) or []) + (static.get(("truncate", table)) or [])
    else:
        revisions = None
    return ", ".join(revisions) if revisions else fallback


def release_runner_module(root, edition):
    """The module Agenta's compose service 'alembic' runs (ee first in an EE image), or None (G1 has none)."""
    for package, folder in (("ee", EE_DIR), ("oss", OSS_DIR)):
        if package == "ee" and edition != "ee":
            continue
        if os.path.isfile(root + folder + "/runner.py"):
            return package + ".databases.postgres.migrations.runner"
    return None


def last_error_in(output):
    """The line of a program's output that names its error: the last 'SomeError: ...' line, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", line):
            return line
    return lines[-1] if lines else "no output"


def reported_failure(output):
    """Agenta's runner prints some failures and still exits 0 (pg_dump/psql in the nodes copy): the first such line."""
    for line in output.splitlines():
        if line.strip().startswith("\u274c"):
            return "The runner exited 0 but reported: %s" % line.strip()
    return None


def effects_phrase(effects, limit=3):
    """'drops table session_states, deletes rows of api_keys' for a refusal sentence."""
    verbs = (("drops", "drops table"), ("drops_columns", "drops column"), ("truncates", "truncates"),
             ("deletes_from", "deletes rows of"), ("rewrites", "rewrites rows of"))
    parts = ["%s %s" % (verb, name) for key, verb in verbs for name in effects.get(key, [])]
    if not parts:
        return "statements whose tables cannot be read statically"
    if len(parts) > limit:
        parts = parts[:limit] + ["%d more" % (len(parts) - limit)]
    return ", ".join(parts)


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
        run.plan_runner()
        run.assess()
        if run.action != "info" and not run.check and (any(c.pending for c in run.chains) or run.runner_module):
            run.lock(float(spec.get("lock_timeout", 300)))
            # Another run may have moved the chains while we waited: plan again under the lock.
            run.read_current()
            run.plan()
            run.migrate()
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
    out["changed"] = any(c.after != c.before for c in run.chains) or bool(run.tables_changed)
    return out


if __name__ == "__main__":
    # Importing Agenta's modules makes LiteLLM fetch its price list from the network (about 10 s offline);
    # its bundled copy is enough for migrations. An explicit setting in the environment wins.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    _spec = json.loads(os.environ.get(SPEC_ENV) or "{}")
    _result = main(_spec, _spec.get("root", ""))
    sys.__stdout__.write("\n" + MARKER + json.dumps(_result) + "\n")
    sys.__stdout__.flush()
'''
