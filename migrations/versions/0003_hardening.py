"""Hardening: single-use form tokens, sessions that end at logout, titles as a reader's claim.

* ``form_token_use``: the hash of every comment-form token that has been spent, so a token is
  accepted once; rows are kept until the token would have expired anyway.
* ``moderator.session_generation``: every session carries the generation it was opened in;
  logging out bumps it, which ends every session opened before, on every device.
* ``article.title_confirmed``: the first commenter's title is the reader's claim until a
  moderator confirms it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 07:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "form_token_use",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_form_token_use_expires", "form_token_use", ["expires_at"])
    with op.batch_alter_table("moderator", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("title_confirmed", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade():
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.drop_column("title_confirmed")
    with op.batch_alter_table("moderator", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
    op.drop_index("ix_form_token_use_expires", table_name="form_token_use")
    op.drop_table("form_token_use")
