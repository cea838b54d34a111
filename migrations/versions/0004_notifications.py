"""Notifications: the outbox, webhooks, readers' addresses and moderators' mail settings.

* ``outbox_message``: mails, webhook calls and the events they come from, written in the
  transaction of their cause and sent by ``flask --app wsgi outbox work``.
* ``webhook``: a site's HTTP subscribers.
* ``reader_address``: readers' addresses, confirmed or not; unsubscribed ones as a hash only.
* ``comment.notify``, the moderator's ``notify_*`` and ``digest_*`` columns, and the site's
  ``overdue_minutes`` and ``overdue_alerted_at``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _enum(name, *values):
    return sa.Enum(*values, name=name, native_enum=False, length=20)


def upgrade():
    op.create_table(
        "reader_address",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(), nullable=True),
        sa.Column("confirm_sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_hash"),
    )
    op.create_table(
        "webhook",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("format", _enum("webhook_format", "json", "slack"), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("failures_in_row", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", _enum("outbox_kind", "event", "mail", "webhook"), nullable=False),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("webhook_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("recipient_hash", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column(
            "state",
            _enum("outbox_state", "pending", "delivered", "failed", "cancelled"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["comment_id"], ["comment.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhook.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id"),
    )
    op.create_index("ix_outbox_due", "outbox_message", ["state", "next_attempt_at", "id"])
    op.create_index("ix_outbox_webhook", "outbox_message", ["webhook_id", "id"])
    op.create_index("ix_outbox_recipient", "outbox_message", ["recipient_hash", "created_at"])
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notify", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("moderator", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notify_email", sa.String(length=320), nullable=True))
        batch_op.add_column(
            sa.Column(
                "notify_mode",
                _enum("notify_mode", "off", "each", "digest"),
                nullable=False,
                server_default="off",
            )
        )
        batch_op.add_column(
            sa.Column("digest_hours", sa.Integer(), nullable=False, server_default="24")
        )
        batch_op.add_column(sa.Column("digest_sent_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(sa.Column("overdue_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("overdue_alerted_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("overdue_alerted_at")
        batch_op.drop_column("overdue_minutes")
    with op.batch_alter_table("moderator", schema=None) as batch_op:
        batch_op.drop_column("digest_sent_at")
        batch_op.drop_column("digest_hours")
        batch_op.drop_column("notify_mode")
        batch_op.drop_column("notify_email")
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.drop_column("notify")
    op.drop_index("ix_outbox_recipient", table_name="outbox_message")
    op.drop_index("ix_outbox_webhook", table_name="outbox_message")
    op.drop_index("ix_outbox_due", table_name="outbox_message")
    op.drop_table("outbox_message")
    op.drop_table("webhook")
    op.drop_table("reader_address")
