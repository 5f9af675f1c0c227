"""park the legacy core chain: from here on new revisions go to the core_oss chain

Empty on purpose: the core_oss chain (version table alembic_version_oss) only runs
once this revision is recorded in alembic_version.

Revision ID: park00000000
Revises: c0de00000004
"""
import os

revision = "park00000000"
down_revision = "c0de00000004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")


def downgrade() -> None:
    pass
