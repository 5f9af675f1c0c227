"""data migration: rewrite evaluations.status to the new status words (reversible)

    EVALUATION_INITIALIZED -> pending      EVALUATION_STARTED -> running
    EVALUATION_FINISHED    -> success      EVALUATION_FAILED  -> failure

Existing rows are rewritten; the column default follows. Downgrade maps them back.

Revision ID: c05500000002
Revises: c05500000001
"""
import os

from alembic import op

revision = "c05500000002"
down_revision = "c05500000001"
branch_labels = None
depends_on = None

STATUS_MAP = [
    ("EVALUATION_INITIALIZED", "pending"),
    ("EVALUATION_STARTED", "running"),
    ("EVALUATION_FINISHED", "success"),
    ("EVALUATION_FAILED", "failure"),
]


def _case(pairs) -> str:
    whens = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in pairs)
    return f"CASE status {whens} ELSE status END"


def upgrade() -> None:
    op.execute("ALTER TABLE evaluations ALTER COLUMN status SET DEFAULT 'pending'")
    op.execute(f"UPDATE evaluations SET status = {_case(STATUS_MAP[:2])}")
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute(f"UPDATE evaluations SET status = {_case(STATUS_MAP[2:])}")


def downgrade() -> None:
    op.execute(f"UPDATE evaluations SET status = {_case([(n, o) for o, n in STATUS_MAP])}")
    op.execute("ALTER TABLE evaluations ALTER COLUMN status SET DEFAULT 'EVALUATION_INITIALIZED'")
