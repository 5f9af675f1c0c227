"""One-shot migration runner of the lab's G2/G3 stand-in (compose service ``alembic``).

    python -m oss.databases.postgres.migrations.runner      (OSS)
    python -m ee.databases.postgres.migrations.runner       (EE: lab/standin/ee/runner.py calls main("ee"))

- Chains are run in the fixed order core, core_oss, core_ee, tracing, tracing_oss, tracing_ee; a chain is
  skipped when its folder (``<chain>/alembic.ini`` next to this file, the ``*_ee`` chains under
  /app/ee/databases/postgres/migrations) is absent from the image (G2 images only have core and tracing; only an
  EE image has the ``*_ee`` chains, version table alembic_version_ee).
- Databases are named after the edition: agenta_oss_* or agenta_ee_* (POSTGRES_DB_PREFIX when no URI is set).
- Switch: ALEMBIC_AUTO_MIGRATIONS, else AGENTA_AUTO_MIGRATIONS, else on. True words
  (case-insensitive): true 1 t y yes on enable enabled; anything else means off.
- A chain whose version table is missing (or empty) is always migrated, whatever the switch.
- The first failing chain stops the run with exit status 1 (later chains are not run).
- Before the chains, the databases are split as Agenta's runner does (v0.45 - v0.113.0, ``split_core_and_tracing``):
  for each pair of RENAME_MAP, an old database without its new one is renamed (agenta_oss -> agenta_oss_core,
  supertokens_oss -> agenta_oss_supertokens), and a new one with neither name is created (agenta_oss_tracing).
  Both names present: nothing is done (Agenta's runner says nothing either). A failed rename is printed and the
  run goes on, as Agenta's does (the chain that needs the database then fails).

The pure logic (true words, switch resolution, chain discovery, URLs) is kept in small
functions that do not need a database; the unit tests import this file by path.
"""
import os
import sys
import traceback
from urllib.parse import quote

CHAIN_ORDER = ("core", "core_oss", "core_ee", "tracing", "tracing_oss", "tracing_ee")
TRUE_WORDS = frozenset({"true", "1", "t", "y", "yes", "on", "enable", "enabled"})
SWITCH_VARIABLES = ("ALEMBIC_AUTO_MIGRATIONS", "AGENTA_AUTO_MIGRATIONS")
DEFAULT_SWITCH = True

# chain -> (URI variable, database suffix, version table)
CHAIN_SETTINGS = {
    "core": ("POSTGRES_URI_CORE", "_core", "alembic_version"),
    "core_oss": ("POSTGRES_URI_CORE", "_core", "alembic_version_oss"),
    "tracing": ("POSTGRES_URI_TRACING", "_tracing", "alembic_version"),
    "tracing_oss": ("POSTGRES_URI_TRACING", "_tracing", "alembic_version_oss"),
    "core_ee": ("POSTGRES_URI_CORE", "_core", "alembic_version_ee"),
    "tracing_ee": ("POSTGRES_URI_TRACING", "_tracing", "alembic_version_ee"),
}


def rename_map(edition: str = "oss") -> dict:
    """Agenta's runner: {old name: new name}; a pair of equal names is a database to create when missing."""
    return {
        f"agenta_{edition}": f"agenta_{edition}_core",
        f"supertokens_{edition}": f"agenta_{edition}_supertokens",
        f"agenta_{edition}_tracing": f"agenta_{edition}_tracing",
    }


RENAME_MAP = rename_map("oss")

HERE = os.path.dirname(os.path.abspath(__file__))
EE_DIR = "/app/ee/databases/postgres/migrations"


def is_true_word(value) -> bool:
    """True when value is one of the accepted true words (case and surrounding spaces ignored)."""
    if value is None:
        return False
    return str(value).strip().lower() in TRUE_WORDS


def resolve_switch(env=None):
    """Return (enabled, source): the first set variable of SWITCH_VARIABLES decides.

    A variable counts as set when it is present and not empty. source is the variable
    name, or "default" when none is set.
    """
    env = os.environ if env is None else env
    for name in SWITCH_VARIABLES:
        value = env.get(name)
        if value is not None and value.strip() != "":
            return is_true_word(value), name
    return DEFAULT_SWITCH, "default"


def chain_dir(chain: str, base_dir=HERE, ee_dir=EE_DIR) -> str:
    return os.path.join(ee_dir if chain.endswith("_ee") else base_dir, chain)


def discover_chains(base_dir=HERE, ee_dir=EE_DIR):
    """Chains present (a folder with alembic.ini), in CHAIN_ORDER: the *_ee chains only in an EE image."""
    return [c for c in CHAIN_ORDER if os.path.isfile(os.path.join(chain_dir(c, base_dir, ee_dir), "alembic.ini"))]


def version_table_for(chain: str) -> str:
    return CHAIN_SETTINGS[chain][2]


def database_url(chain: str, env=None, edition: str = "oss") -> str:
    """Async URL (postgresql+asyncpg://...) of the chain's database, as env.py builds it."""
    env = os.environ if env is None else env
    variable, suffix, _ = CHAIN_SETTINGS[chain]
    uri = env.get(variable)
    if uri:
        scheme, sep, rest = uri.partition("://")
        if sep and scheme in ("postgres", "postgresql", "postgresql+psycopg2"):
            return "postgresql+asyncpg://" + rest
        return uri
    user = quote(env.get("POSTGRES_USER") or "username", safe="")
    password = quote(env.get("POSTGRES_PASSWORD") or "password", safe="")
    prefix = env.get("POSTGRES_DB_PREFIX") or f"agenta_{edition}"
    return f"postgresql+asyncpg://{user}:{password}@postgres:5432/{prefix}{suffix}"


def sync_url(url: str) -> str:
    """URL for a plain psycopg2 client: the +asyncpg part removed."""
    return url.replace("+asyncpg", "", 1)


def decide(switch_on: bool, table_state: str):
    """Return (migrate, reason) for one chain. table_state: missing, empty or present."""
    if table_state in ("missing", "empty"):
        return True, f"version table {table_state} (first install of this chain)"
    if switch_on:
        return True, "auto-migrations on"
    return False, "auto-migrations off and the version table holds a revision"


def version_table_state(url: str, table: str) -> str:
    import psycopg2

    conn = psycopg2.connect(sync_url(url), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (f"public.{table}",))
            if cur.fetchone()[0] is None:
                return "missing"
            cur.execute(f"SELECT count(*) FROM {table}")
            return "present" if cur.fetchone()[0] else "empty"
    finally:
        conn.close()


def split_actions(existing, edition: str = "oss") -> list:
    """[(action, old, new)] for the names that exist: rename, create, or nothing (skipped)."""
    actions = []
    for old, new in rename_map(edition).items():
        if old in existing and new not in existing:
            actions.append(("rename", old, new))
        elif old not in existing and new not in existing:
            actions.append(("create", old, new))
    return actions


def split_databases(env=None, edition: str = "oss") -> None:
    """Agenta's split step, on the server of the core chain's URL (its maintenance database postgres)."""
    import psycopg2

    url = sync_url(database_url("core", env, edition))
    admin = url.rsplit("/", 1)[0] + "/postgres"
    conn = psycopg2.connect(admin, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database")
            existing = {row[0] for row in cur.fetchall()}
            for action, old, new in split_actions(existing, edition):
                try:
                    if action == "rename":
                        cur.execute(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
                        print(f"runner: renamed database {old} to {new}", flush=True)
                    else:
                        cur.execute(f'CREATE DATABASE "{new}"')
                        print(f"runner: created database {new}", flush=True)
                except psycopg2.Error as exc:
                    print(f"runner: could not {action} {old} -> {new}: {str(exc).strip()}", file=sys.stderr,
                          flush=True)
    finally:
        conn.close()


def run_chain(chain: str, base_dir=HERE) -> None:
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(os.path.join(chain_dir(chain, base_dir), "alembic.ini")), "head")


def main(edition: str = "oss", base_dir=HERE) -> int:
    chains = discover_chains(base_dir)
    if edition != "ee":
        chains = [c for c in chains if not c.endswith("_ee")]
    if not chains:
        print(f"runner: no migration chains found under {base_dir}", file=sys.stderr, flush=True)
        return 1
    switch_on, source = resolve_switch()
    shown = "default" if source == "default" else f"{source}={os.environ.get(source)!r}"
    print(
        f"runner: chains {', '.join(chains)}; auto-migrations {'on' if switch_on else 'off'} ({shown})",
        flush=True,
    )
    try:
        split_databases(edition=edition)
    except Exception as exc:
        print(f"runner: cannot reach the server to split the databases: {exc}", file=sys.stderr, flush=True)
        return 1
    for chain in chains:
        table = version_table_for(chain)
        try:
            state = version_table_state(sync_url(database_url(chain, edition=edition)), table)
        except Exception as exc:
            print(f"runner: {chain}: cannot inspect the database: {exc}", file=sys.stderr, flush=True)
            return 1
        migrate, reason = decide(switch_on, state)
        if not migrate:
            print(f"runner: {chain}: skipped ({reason})", flush=True)
            continue
        print(f"runner: {chain}: upgrading to head ({reason})", flush=True)
        try:
            run_chain(chain, base_dir)
        except Exception as exc:
            traceback.print_exc()
            print(f"runner: {chain}: migration failed: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"runner: {chain}: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
