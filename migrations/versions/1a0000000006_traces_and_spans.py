"""additive: traces and spans (observability) in the single G1 database

Revision ID: 1a0000000006
Revises: 1a0000000005
"""
import os

from alembic import op

revision = "1a0000000006"
down_revision = "1a0000000005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE traces (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            project_id uuid NOT NULL,
            name varchar,
            start_time timestamptz NOT NULL DEFAULT now(),
            end_time timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute(
        """
        CREATE TABLE spans (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            project_id uuid NOT NULL,
            trace_id uuid NOT NULL REFERENCES traces (id) ON DELETE CASCADE,
            parent_id uuid,
            span_name varchar NOT NULL,
            span_kind varchar,
            start_time timestamptz NOT NULL DEFAULT now(),
            end_time timestamptz,
            attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX ix_spans_trace_id ON spans (trace_id)")


def downgrade() -> None:
    op.execute("DROP TABLE spans")
    op.execute("DROP TABLE traces")
