"""additive: traces.tags, filled from the spans' "tags" attribute

The downgrade is deliberately empty (like many upstream downgrades): it reports success
and leaves the column and the copied tags in place. The upgrade uses IF NOT EXISTS so
that upgrading again after such a "downgrade" does not fail.

Revision ID: 7a5500000002
Revises: 7a5500000001
"""
import os

from alembic import op

revision = "7a5500000002"
down_revision = "7a5500000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE traces ADD COLUMN IF NOT EXISTS tags jsonb NOT NULL DEFAULT '{}'::jsonb")
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute(
        """
        UPDATE traces t
           SET tags = s.tags
          FROM (SELECT trace_id, jsonb_object_agg(k, v) AS tags
                  FROM spans
                  CROSS JOIN LATERAL jsonb_each(
                      CASE WHEN jsonb_typeof(attributes -> 'tags') = 'object'
                           THEN attributes -> 'tags' ELSE '{}'::jsonb END) AS e(k, v)
                 GROUP BY trace_id) s
         WHERE s.trace_id = t.id
        """
    )


def downgrade() -> None:
    pass
