"""destructive: drop the legacy evaluation_scenarios table, rows and all (release v0.114.0 of the lab)

Like Agenta's v0.113.0 3d4e5f6a7b8c_drop_legacy_tables: the table's rows were superseded and the release drops
it on purpose. The table names are in a module-level tuple, dropped in a loop (the shape of the real revision),
so the plan has to read the constant to know what will go. No way back: the downgrade refuses.

Revision ID: c05500000004
Revises: c05500000003
"""
import os

from alembic import op

revision = "c05500000004"
down_revision = "c05500000003"
branch_labels = None
depends_on = None

LEGACY_TABLES = ("evaluation_scenarios",)


def upgrade() -> None:
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    for table in LEGACY_TABLES:
        op.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')


def downgrade() -> None:
    raise NotImplementedError(
        "revision c05500000004 dropped the legacy evaluation_scenarios table: restore from a backup"
    )
