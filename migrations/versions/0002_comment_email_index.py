"""The e-mail index covers only comments that have an address, and their time.

Most comments come without an e-mail address. With every NULL in the old index, SQLite's
planner (once ANALYZE has run) judged ``email = ?`` unselective and read every comment of the
duplicate check's 24 hours instead. A partial index on (email, created_at) holds only the
addresses, and serves the duplicate check and the privacy lookups by address.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 00:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

HAS_EMAIL = sa.text("email IS NOT NULL")


def upgrade():
    op.drop_index("ix_comment_email", table_name="comment")
    op.create_index(
        "ix_comment_email_created",
        "comment",
        ["email", "created_at"],
        sqlite_where=HAS_EMAIL,
        postgresql_where=HAS_EMAIL,
    )


def downgrade():
    op.drop_index("ix_comment_email_created", table_name="comment")
    op.create_index("ix_comment_email", "comment", ["email"])
