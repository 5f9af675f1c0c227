"""park the legacy tracing chain: from here on new revisions go to the tracing_oss chain

Empty on purpose: the tracing_oss chain (version table alembic_version_oss) only runs
once this revision is recorded in alembic_version.

Revision ID: park00000000
Revises: 7ace00000002
"""
import os

revision = "park00000000"
down_revision = "7ace00000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")


def downgrade() -> None:
    pass
