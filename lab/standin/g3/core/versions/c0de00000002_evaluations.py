"""evaluations and evaluation_scenarios

Revision ID: c0de00000002
Revises: c0de00000001
"""
import os

from alembic import op

revision = "c0de00000002"
down_revision = "c0de00000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE evaluations (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            app_id uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
            testset_id uuid REFERENCES testsets (id) ON DELETE SET NULL,
            status varchar NOT NULL DEFAULT 'EVALUATION_INITIALIZED',
            average_latency jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute(
        """
        CREATE TABLE evaluation_scenarios (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            evaluation_id uuid NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
            inputs jsonb NOT NULL DEFAULT '[]'::jsonb,
            outputs jsonb NOT NULL DEFAULT '[]'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX ix_evaluations_project_id ON evaluations (project_id)")
    op.execute(
        "CREATE INDEX ix_evaluation_scenarios_evaluation_id ON evaluation_scenarios (evaluation_id)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE evaluation_scenarios")
    op.execute("DROP TABLE evaluations")
