"""additive and reversible: apps can be archived (a column with a default); no data is rewritten

Revision ID: 1a0000000007
Revises: 1a0000000006
"""
import os

from alembic import op

revision = "1a0000000007"
down_revision = "1a0000000006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE apps ADD COLUMN archived_at timestamptz")
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute("CREATE INDEX ix_apps_archived_at ON apps (archived_at)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_apps_archived_at")
    op.execute("ALTER TABLE apps DROP COLUMN archived_at")
