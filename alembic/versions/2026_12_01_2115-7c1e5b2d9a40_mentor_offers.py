"""mentor offers: the skills a mentor offers, as shown, stored on the mentor

Revision ID: 7c1e5b2d9a40
Revises: 5139b158761e
Create Date: 2026-12-01 21:15:00

Filled here from the links and skills (self-contained: no application code), in the order they
are shown: highest level first, then by slug.
"""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '7c1e5b2d9a40'
down_revision: str | None = '5139b158761e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_mentors = sa.table('mentors', sa.column('id', sa.String), sa.column('offers', sa.JSON))


def upgrade() -> None:
    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('offers', sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            'SELECT ms.mentor_id, s.id, s.slug, s.name, s.category, ms.level, ms.note '
            'FROM mentor_skills ms JOIN skills s ON s.id = ms.skill_id'
        )
    ).all()
    offers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for mentor_id, skill_id, slug, name, category, level, note in rows:
        offers[mentor_id].append(
            {
                'skill': {'id': skill_id, 'slug': slug, 'name': name, 'category': category},
                'level': level,
                'note': note,
            }
        )
    updates = [
        {
            'mentor_id': mentor_id,
            'shown': sorted(items, key=lambda o: (-o['level'], o['skill']['slug'])),
        }
        for mentor_id, items in offers.items()
    ]
    if updates:
        conn.execute(
            _mentors.update()
            .where(_mentors.c.id == sa.bindparam('mentor_id'))
            .values(offers=sa.bindparam('shown')),
            updates,
        )


def downgrade() -> None:
    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.drop_column('offers')
