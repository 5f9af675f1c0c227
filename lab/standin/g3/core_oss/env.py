"""Alembic environment for the lab stand-in chain ``core_oss`` (core database).

The database URL never comes from the ini file: it is POSTGRES_URI_CORE when set, else
postgresql+asyncpg://POSTGRES_USER:POSTGRES_PASSWORD@postgres:5432/<POSTGRES_DB_PREFIX>_core.
Online migrations run on an asyncpg engine through ``connection.run_sync``.
Each revision runs in its own transaction (transaction_per_migration): a failing
revision rolls back only itself; earlier revisions of the run stay applied.
Version table alembic_version_oss. Refuses to upgrade unless the legacy chain
core (table alembic_version, same database) is at park00000000.
"""
import asyncio
import os
from logging.config import fileConfig
from urllib.parse import quote

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = None

CHAIN = "core_oss"
URI_VARIABLE = "POSTGRES_URI_CORE"
DB_SUFFIX = "_core"
VERSION_TABLE = "alembic_version_oss"
TRANSACTION_PER_MIGRATION = True

LEGACY_CHAIN = "core"
LEGACY_VERSION_TABLE = "alembic_version"
PARK_REVISION = "park00000000"


def _asyncpg_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql", "postgresql+psycopg2"):
        return "postgresql+asyncpg://" + rest
    return url


def database_url() -> str:
    uri = os.environ.get(URI_VARIABLE)
    if uri:
        return _asyncpg_url(uri)
    user = quote(os.environ.get("POSTGRES_USER") or "username", safe="")
    password = quote(os.environ.get("POSTGRES_PASSWORD") or "password", safe="")
    prefix = os.environ.get("POSTGRES_DB_PREFIX") or "agenta_oss"
    return f"postgresql+asyncpg://{user}:{password}@postgres:5432/{prefix}{DB_SUFFIX}"


def _command_name():
    """Name of the alembic CLI command being run (None when driven from Python)."""
    cmd = getattr(config.cmd_opts, "cmd", None) if config.cmd_opts is not None else None
    if cmd:
        return getattr(cmd[0], "__name__", None)
    return None


def check_legacy_parked(connection) -> None:
    """Refuse to run unless the legacy chain of this database is parked.

    Only upgrades (and runs driven from Python, i.e. the runner) are checked: current,
    stamp and downgrade are let through so the state can still be inspected and repaired.
    """
    if _command_name() in ("current", "stamp", "downgrade"):
        return
    rows = []
    exists = connection.execute(
        text("SELECT to_regclass(:name)"), {"name": f"public.{LEGACY_VERSION_TABLE}"}
    ).scalar()
    if exists is not None:
        rows = [r[0] for r in connection.execute(text(f"SELECT version_num FROM {LEGACY_VERSION_TABLE}"))]
    # end the implicit transaction so alembic can manage its own ones
    connection.rollback()
    if rows != [PARK_REVISION]:
        raise RuntimeError(
            f"legacy chain {LEGACY_CHAIN} is not parked at {PARK_REVISION}; "
            f"upgrade the {LEGACY_CHAIN} chain first"
        )


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        version_table=VERSION_TABLE,
        transaction_per_migration=TRANSACTION_PER_MIGRATION,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection) -> None:
    check_legacy_parked(connection)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        transaction_per_migration=TRANSACTION_PER_MIGRATION,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
