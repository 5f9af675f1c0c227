"""additive: spans.span_type and its index (reversible)

First revision of the tracing_oss chain (version table alembic_version_oss); it builds
on the parked legacy tracing chain (park00000000).

Revision ID: 7a5500000001
Revises:
"""
import os

from alembic import op

revision = "7a5500000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE spans ADD COLUMN span_type varchar")
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute("CREATE INDEX ix_spans_span_type ON spans (span_type)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_spans_span_type")
    op.execute("ALTER TABLE spans DROP COLUMN span_type")
