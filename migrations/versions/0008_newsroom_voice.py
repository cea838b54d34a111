"""The newsroom's voice: staff replies and editors' picks.

* ``comment.staff``: written by a moderator as the newsroom, published at once.
* ``comment.featured``: an editors' pick, listed first with ``?sort=featured``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("staff", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("featured", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade():
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.drop_column("featured")
        batch_op.drop_column("staff")
