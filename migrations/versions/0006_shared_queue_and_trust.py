"""A shared queue and trusted readers: claims on cards, reader keys, the sites' trust settings.

* ``comment_claim``: who is looking at which card, until when ("anna is looking at this").
* ``reader_key``: the hash of a key held by the browser that confirmed an address, bound to
  that address's keyed hash; trusted readers must send it.
* ``site.trust_readers``, ``trust_min_approved``, ``trust_days``: trust is off by default.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "comment_claim",
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("moderator_id", sa.Integer(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["comment_id"], ["comment.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["moderator_id"], ["moderator.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("comment_id"),
    )
    op.create_table(
        "reader_key",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash"),
    )
    op.create_index("ix_reader_key_email", "reader_key", ["email_hash"])
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trust_readers", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("trust_min_approved", sa.Integer(), nullable=False, server_default="3")
        )
        batch_op.add_column(
            sa.Column("trust_days", sa.Integer(), nullable=False, server_default="180")
        )


def downgrade():
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("trust_days")
        batch_op.drop_column("trust_min_approved")
        batch_op.drop_column("trust_readers")
    op.drop_index("ix_reader_key_email", table_name="reader_key")
    op.drop_table("reader_key")
    op.drop_table("comment_claim")
