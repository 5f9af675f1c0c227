"""additive: folders table and apps.folder_id (reversible)

First revision of the core_oss chain (version table alembic_version_oss); it builds on
the parked legacy core chain (park00000000).

Revision ID: c05500000001
Revises:
"""
import os

from alembic import op

revision = "c05500000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE folders (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            parent_id uuid REFERENCES folders (id) ON DELETE CASCADE,
            name varchar NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute("ALTER TABLE apps ADD COLUMN folder_id uuid REFERENCES folders (id) ON DELETE SET NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE apps DROP COLUMN folder_id")
    op.execute("DROP TABLE folders")
