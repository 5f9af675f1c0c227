"""additive: api_keys table, projects.description

The downgrade is deliberately empty (like many upstream downgrades): it reports success
and leaves the schema of this revision in place. The upgrade uses IF NOT EXISTS so that
upgrading again after such a "downgrade" does not fail.

Revision ID: 1a0000000004
Revises: 1a0000000003
"""
import os

from alembic import op

revision = "1a0000000004"
down_revision = "1a0000000003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS api_keys (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            prefix varchar NOT NULL,
            hashed_key varchar NOT NULL,
            expires_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute("ALTER TABLE projects ADD COLUMN IF NOT EXISTS description text")


def downgrade() -> None:
    pass
