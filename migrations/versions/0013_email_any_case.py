"""Readers' addresses found in any spelling: an index on ``lower(email)``.

A trusted reader loses the trust for ``trust_days`` with a rejected or spam comment
(``moderation/trust.py``). Comments keep the address as it was typed, and the record was read
for the address as typed now and lower-cased, so a rejection written as ``Anna@Example.org``
was missed when the next comment said ``anna@example.org``. The record is now read by the
lower-cased address, through this index (only comments with an address, as the index on
``email`` is; its condition is written on ``lower(email)`` so that SQLite sees the record's
comparison imply it).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

HAS_EMAIL = sa.text("lower(email) IS NOT NULL")


def upgrade():
    op.create_index(
        "ix_comment_email_lower",
        "comment",
        [sa.text("lower(email)"), "created_at"],
        sqlite_where=HAS_EMAIL,
        postgresql_where=HAS_EMAIL,
    )


def downgrade():
    op.drop_index("ix_comment_email_lower", table_name="comment")
