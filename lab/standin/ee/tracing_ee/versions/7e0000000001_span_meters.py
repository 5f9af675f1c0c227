"""additive: EE span meters (spans counted per project and month)

First revision of the tracing_ee chain (version table alembic_version_ee).

Revision ID: 7e0000000001
Revises:
"""
import os

from alembic import op

revision = "7e0000000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE span_meters (
            id bigserial PRIMARY KEY,
            project_id uuid NOT NULL,
            month date NOT NULL,
            spans bigint NOT NULL DEFAULT 0
        )
        """
    )
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")


def downgrade() -> None:
    op.execute("DROP TABLE span_meters")
