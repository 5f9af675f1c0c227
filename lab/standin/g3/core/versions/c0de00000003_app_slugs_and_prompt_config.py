"""data migration: derive apps.app_slug from app_name; nest flat variant configs under "prompt"

Existing rows are rewritten:
- apps gains app_slug, filled from app_name (lower case, runs of other characters -> "-").
- app_variants.config_parameters of the flat shape
      {"model", "temperature", "max_tokens", "prompt_system", "prompt_user", ...}
  become
      {"prompt": {"template_format": "fstring", "system_prompt", "user_prompt",
                  "llm_config": {"model", "temperature", "max_tokens"}}, ...}
  (other keys are kept as they are).

Downgrade restores the flat shape and drops app_slug (reversible).

Revision ID: c0de00000003
Revises: c0de00000002
"""
import os

from alembic import op

revision = "c0de00000003"
down_revision = "c0de00000002"
branch_labels = None
depends_on = None

FLAT_KEYS = "ARRAY['model','temperature','max_tokens','prompt_system','prompt_user']"


def upgrade() -> None:
    op.execute("ALTER TABLE apps ADD COLUMN app_slug varchar")
    op.execute(
        """
        UPDATE apps
           SET app_slug = trim(both '-' from
                              regexp_replace(lower(app_name), '[^a-z0-9]+', '-', 'g'))
        """
    )
    if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:
        raise RuntimeError(f"lab failure switch: revision {revision} failed midway")
    op.execute(
        f"""
        UPDATE app_variants
           SET config_parameters =
                 (config_parameters - {FLAT_KEYS})
                 || jsonb_build_object(
                      'prompt',
                      jsonb_strip_nulls(jsonb_build_object(
                        'template_format', 'fstring',
                        'system_prompt', config_parameters -> 'prompt_system',
                        'user_prompt', config_parameters -> 'prompt_user',
                        'llm_config', jsonb_build_object(
                          'model', config_parameters -> 'model',
                          'temperature', config_parameters -> 'temperature',
                          'max_tokens', config_parameters -> 'max_tokens'))))
         WHERE NOT config_parameters ? 'prompt'
           AND config_parameters ?| {FLAT_KEYS}
        """
    )


def downgrade() -> None:
    op.execute(
        """
        UPDATE app_variants
           SET config_parameters =
                 (config_parameters - 'prompt')
                 || jsonb_strip_nulls(jsonb_build_object(
                      'model', config_parameters #> '{prompt,llm_config,model}',
                      'temperature', config_parameters #> '{prompt,llm_config,temperature}',
                      'max_tokens', config_parameters #> '{prompt,llm_config,max_tokens}',
                      'prompt_system', config_parameters #> '{prompt,system_prompt}',
                      'prompt_user', config_parameters #> '{prompt,user_prompt}'))
         WHERE config_parameters ? 'prompt'
        """
    )
    op.execute("ALTER TABLE apps DROP COLUMN app_slug")
