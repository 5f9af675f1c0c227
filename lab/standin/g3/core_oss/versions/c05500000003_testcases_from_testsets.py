"""data migration: copy every testset row (testsets.csvdata element) into the new testcases table

testsets.csvdata is kept but marked as migrated (testsets.testcases_migrated_at). There is
no way back: the downgrade refuses, a rollback must restore the backup taken before the
upgrade.

Revision ID: c05500000003
Revises: c05500000002
"""
import os

from alembic import op

revision = "c05500000003"
down_revision = "c05500000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE testcases (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            testset_id uuid NOT NULL REFERENCES testsets (id) ON DELETE CASCADE,
            position integer NOT NULL,
            data jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (testset_id, position)
        )
        """
    )
    op.execute("ALTER TABLE testsets ADD COLUMN testcases_migrated_at timestamptz")
    op.execute(
        """
        INSERT INTO testcases (project_id, testset_id, position, data, created_at)
        SELECT t.project_id, t.id, e.ordinality::integer, e.value, t.created_at
          FROM testsets t
          CROSS JOIN LATERAL jsonb_array_elements(
              CASE WHEN jsonb_typeof(t.csvdata) = 'array' THEN t.csvdata ELSE '[]'::jsonb END
          ) WITH ORDINALITY AS e(value, ordinality)
        """
    )
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute("UPDATE testsets SET testcases_migrated_at = now()")
    op.execute("CREATE INDEX ix_testcases_testset_id ON testcases (testset_id)")


def downgrade() -> None:
    raise NotImplementedError(
        "revision c05500000003 (testcases split out of testsets) cannot be downgraded: "
        "restore from a backup"
    )
