"""A removed comment's events keep its site: ``moderation_event.site_id``.

The retention job removes rejected comments after ``RETENTION_REJECTED_DAYS``, and their
events lose their comment. The transparency report (DSA Art. 15 and 24) counts a site's
removals for a whole calendar year through the comment's article, so it undercounted every
removal older than the retention period. The job now writes the site on a comment's events
before it removes the comment (and on the anonymous event it leaves), and the report counts
those too. Events of comments removed before this migration cannot be attributed any more.

No foreign key: the audit trail outlives what it names, as its ``actor_name`` does.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 17:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("moderation_event", sa.Column("site_id", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("moderation_event", schema=None) as batch_op:
        batch_op.drop_column("site_id")
