"""mentor list indexes

The mentor list's hot path: keyset pages of one app's mentors in id order, and the skill
filter as an index-only scan of (skill_id, mentor_id), which replaces the index on skill_id
alone (a prefix of it; it still serves the foreign key).

Revision ID: 69b974324484
Revises: 3c3554eda44a
Create Date: 2026-11-23 13:10:49.333648
"""

from collections.abc import Sequence

from alembic import op

revision: str = '69b974324484'
down_revision: str | None = 'a0aa2000607e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mentor_skills', schema=None) as batch_op:
        # New index first, so the foreign key is never without one.
        batch_op.create_index('ix_mentor_skills_skill_id_mentor_id', ['skill_id', 'mentor_id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_mentor_skills_skill_id'))

    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.create_index('ix_mentors_app_id_id', ['app_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.drop_index('ix_mentors_app_id_id')

    with op.batch_alter_table('mentor_skills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mentor_skills_skill_id'), ['skill_id'], unique=False)
        batch_op.drop_index('ix_mentor_skills_skill_id_mentor_id')
