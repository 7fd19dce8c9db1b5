"""feedback and impact updates

Revision ID: a0aa2000607e
Revises: 9dda38a2971e
Create Date: 2026-11-23 13:16:26.474755
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql
import mentorapi.db.types

revision: str = 'a0aa2000607e'
down_revision: str | None = '9dda38a2971e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('feedback',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('session_id', sa.String(length=30), nullable=False),
    sa.Column('mentor_id', sa.String(length=30), nullable=False),
    sa.Column('mentee_id', sa.String(length=30), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('impact', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.Column('takeaways', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('thanks', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('visibility', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_feedback_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mentee_id'], ['mentees.id'], name=op.f('fk_feedback_mentee_id_mentees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mentor_id'], ['mentors.id'], name=op.f('fk_feedback_mentor_id_mentors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_feedback_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback')),
    sa.UniqueConstraint('session_id', 'author', name=op.f('uq_feedback_session_id_author'))
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_app_id'), ['app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_mentee_id'), ['mentee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_mentor_id'), ['mentor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_session_id'), ['session_id'], unique=False)

    op.create_table('impact_updates',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('feedback_id', sa.String(length=30), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_impact_updates_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['feedback_id'], ['feedback.id'], name=op.f('fk_impact_updates_feedback_id_feedback'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_impact_updates'))
    )
    with op.batch_alter_table('impact_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_impact_updates_app_id'), ['app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_impact_updates_feedback_id'), ['feedback_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('impact_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_impact_updates_feedback_id'))
        batch_op.drop_index(batch_op.f('ix_impact_updates_app_id'))

    op.drop_table('impact_updates')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_session_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_mentor_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_mentee_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_app_id'))

    op.drop_table('feedback')
