"""One-shot migration entry point of the lab's G1 stand-in (compose service ``alembic``).

    python -c 'from oss.databases.postgres.migrations.utils import run_alembic_migration; run_alembic_migration()'

G1 behaviour: migrate to head only when AGENTA_AUTO_MIGRATIONS is exactly "true", or when
the version table is missing or empty (first install). Otherwise print one line saying the
run was skipped and why, and exit successfully.
"""
import os
import sys
import traceback
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CFG_PATH = os.path.join(HERE, "alembic.oss.ini")
VERSION_TABLE = "alembic_version"


def database_url() -> str:
    """Same rule as env.py (async URL, with +asyncpg)."""
    uri = os.environ.get("POSTGRES_URI")
    if uri:
        scheme, sep, rest = uri.partition("://")
        if sep and scheme in ("postgres", "postgresql", "postgresql+psycopg2"):
            return "postgresql+asyncpg://" + rest
        return uri
    user = quote(os.environ.get("POSTGRES_USER") or "username", safe="")
    password = quote(os.environ.get("POSTGRES_PASSWORD") or "password", safe="")
    prefix = os.environ.get("POSTGRES_DB_PREFIX") or "agenta_oss"
    return f"postgresql+asyncpg://{user}:{password}@postgres:5432/{prefix}"


def sync_url(url: str) -> str:
    """URL for a plain psycopg2 client: the +asyncpg part removed."""
    return url.replace("+asyncpg", "", 1)


def auto_migrations_enabled() -> bool:
    return os.environ.get("AGENTA_AUTO_MIGRATIONS") == "true"


def version_table_state(url: str) -> str:
    """'missing', 'empty' or 'present' for the alembic_version table."""
    import psycopg2

    conn = psycopg2.connect(sync_url(url), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (f"public.{VERSION_TABLE}",))
            if cur.fetchone()[0] is None:
                return "missing"
            cur.execute(f"SELECT count(*) FROM {VERSION_TABLE}")
            return "present" if cur.fetchone()[0] else "empty"
    finally:
        conn.close()


def run_alembic_migration() -> None:
    from alembic import command
    from alembic.config import Config

    cfg_path = os.environ.get("ALEMBIC_CFG_PATH") or DEFAULT_CFG_PATH
    try:
        state = version_table_state(database_url())
    except Exception as exc:  # database unreachable: the service must fail
        print(f"alembic: cannot inspect the database: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)

    if auto_migrations_enabled():
        reason = "AGENTA_AUTO_MIGRATIONS is 'true'"
    elif state in ("missing", "empty"):
        reason = f"first install ({VERSION_TABLE} table {state})"
    else:
        value = os.environ.get("AGENTA_AUTO_MIGRATIONS")
        shown = "unset" if value is None else repr(value)
        print(
            f"alembic: skipped migrations: AGENTA_AUTO_MIGRATIONS is {shown} (only 'true' "
            f"enables them) and {VERSION_TABLE} already holds a revision",
            flush=True,
        )
        return

    print(f"alembic: migrating to head ({reason}) with {cfg_path}", flush=True)
    try:
        command.upgrade(Config(cfg_path), "head")
    except Exception as exc:
        traceback.print_exc()
        print(f"alembic: migration failed: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("alembic: migrations complete", flush=True)


if __name__ == "__main__":
    run_alembic_migration()
