"""Alembic environment for the lab stand-in chain ``tracing`` (tracing database).

The database URL never comes from the ini file: it is POSTGRES_URI_TRACING when set, else
postgresql+asyncpg://POSTGRES_USER:POSTGRES_PASSWORD@postgres:5432/<POSTGRES_DB_PREFIX>_tracing.
Online migrations run on an asyncpg engine through ``connection.run_sync``.
One transaction for the whole run (a failing revision rolls back the run).
"""
import asyncio
import os
from logging.config import fileConfig
from urllib.parse import quote

from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = None

CHAIN = "tracing"
URI_VARIABLE = "POSTGRES_URI_TRACING"
DB_SUFFIX = "_tracing"
VERSION_TABLE = "alembic_version"
TRANSACTION_PER_MIGRATION = False


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
