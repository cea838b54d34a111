"""Readers' reports and statements of reasons (DSA Art. 16 and 17).

* ``report``: a reader's notice about a published comment, with category, explanation and an
  optional address for the receipt and the decision.
* ``site.report_hold_after``: open reports that send a published comment back to the queue.
* ``site.removal_grounds``: the grounds a moderator chooses from; NULL means the defaults.
* ``moderation_event.ground``: the ground of a rejection or removal.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("law", sa.String(length=500), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("source_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open", "dismissed", "upheld", name="report_status", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["comment_id"], ["comment.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["moderator.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_comment", "report", ["comment_id", "status"])
    op.create_index("ix_report_status_created", "report", ["status", "created_at"])
    op.create_index("ix_report_source_created", "report", ["source_hash", "created_at"])
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_hold_after", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("removal_grounds", sa.JSON(), nullable=True))
    with op.batch_alter_table("moderation_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ground", sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table("moderation_event", schema=None) as batch_op:
        batch_op.drop_column("ground")
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("removal_grounds")
        batch_op.drop_column("report_hold_after")
    op.drop_index("ix_report_source_created", table_name="report")
    op.drop_index("ix_report_status_created", table_name="report")
    op.drop_index("ix_report_comment", table_name="report")
    op.drop_table("report")
