"""additive: api_keys table, projects.description (reversible)

Revision ID: c0de00000004
Revises: c0de00000003
"""
import os

from alembic import op

revision = "c0de00000004"
down_revision = "c0de00000003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE api_keys (
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
    op.execute("ALTER TABLE projects ADD COLUMN description text")


def downgrade() -> None:
    op.execute("ALTER TABLE projects DROP COLUMN description")
    op.execute("DROP TABLE api_keys")
