"""additive: spans.status_code and an index on (project_id, start_time) (reversible)

Revision ID: 7ace00000002
Revises: 7ace00000001
"""
import os

from alembic import op

revision = "7ace00000002"
down_revision = "7ace00000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE spans ADD COLUMN status_code varchar NOT NULL DEFAULT 'UNSET'")
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute("CREATE INDEX ix_spans_project_id_start_time ON spans (project_id, start_time)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_spans_project_id_start_time")
    op.execute("ALTER TABLE spans DROP COLUMN status_code")
