"""data: subscriptions.plan_key, filled from the plan's display name (reversible)

Revision ID: ce0000000002
Revises: ce0000000001
"""
import os

from alembic import op

revision = "ce0000000002"
down_revision = "ce0000000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE subscriptions ADD COLUMN plan_key varchar")
    op.execute("UPDATE subscriptions SET plan_key = lower(replace(plan, ' ', '_'))")
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute("UPDATE subscriptions SET active = active")  # a second statement after the switch


def downgrade() -> None:
    op.execute("ALTER TABLE subscriptions DROP COLUMN plan_key")
