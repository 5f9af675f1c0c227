"""additive: one meter per project and month (unique index)

Revision ID: 7e0000000002
Revises: 7e0000000001
"""
import os

from alembic import op

revision = "7e0000000002"
down_revision = "7e0000000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute("CREATE UNIQUE INDEX span_meters_project_month ON span_meters (project_id, month)")


def downgrade() -> None:
    op.execute("DROP INDEX span_meters_project_month")
