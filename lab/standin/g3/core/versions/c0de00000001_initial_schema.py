"""initial schema of the core database: projects, apps, app_variants, testsets

Revision ID: c0de00000001
Revises:
"""
import os

from alembic import op

revision = "c0de00000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE projects (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            project_name varchar NOT NULL,
            is_default boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE apps (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            app_name varchar NOT NULL,
            app_type varchar,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz
        )
        """
    )
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute(
        """
        CREATE TABLE app_variants (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            app_id uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
            project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            variant_name varchar NOT NULL,
            revision integer NOT NULL DEFAULT 1,
            config_parameters jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE testsets (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            name varchar NOT NULL,
            csvdata jsonb NOT NULL DEFAULT '[]'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX ix_apps_project_id ON apps (project_id)")
    op.execute("CREATE INDEX ix_app_variants_app_id ON app_variants (app_id)")
    op.execute("CREATE INDEX ix_testsets_project_id ON testsets (project_id)")


def downgrade() -> None:
    op.execute("DROP TABLE testsets")
    op.execute("DROP TABLE app_variants")
    op.execute("DROP TABLE apps")
    op.execute("DROP TABLE projects")
