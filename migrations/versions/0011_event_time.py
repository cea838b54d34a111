"""Decisions are found by their time: an index on ``moderation_event.created_at``.

The statistics (``moderation/stats.py``) and the transparency report read the decisions of a
period; without an index each of them reads the whole audit trail, which grows with every
decision for as long as the installation runs.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 17:10:00
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_event_created", "moderation_event", ["created_at"], unique=False)


def downgrade():
    op.drop_index("ix_event_created", table_name="moderation_event")
