"""additive: EE subscriptions (one per project)

First revision of the core_ee chain (version table alembic_version_ee). It builds on the OSS schema of v0.104.0
(core_oss c05500000001, table folders): a deployment that was not run as OSS on v0.104.0 first fails here, after
the OSS chains of the same run were applied (Agenta: "OSS -> EE: run as OSS on v0.104.0 first; skipping that stop
makes the EE migration fail partway").

Revision ID: ce0000000001
Revises:
"""
import os

from alembic import op
from sqlalchemy import text

revision = "ce0000000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    oss = op.get_bind().execute(text("SELECT to_regclass('public.folders') IS NOT NULL")).scalar()
    if not oss:
        raise RuntimeError("core_ee needs the OSS schema of v0.104.0 (table folders of core_oss c05500000001): "
                           "run the deployment as OSS on v0.104.0 first")
    op.execute(
        """
        CREATE TABLE subscriptions (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            project_id uuid NOT NULL UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
            plan varchar NOT NULL,
            active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")


def downgrade() -> None:
    op.execute("DROP TABLE subscriptions")
