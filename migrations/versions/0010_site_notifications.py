"""Every change of a site is announced, not only a new slug (PostgreSQL only).

Each worker now keeps the sites in memory too (``moderation/state_cache.py``): every submission,
form and preflight starts by reading its site, and a site changes only when an administrator
changes it. So the trigger that told the workers of a renamed or removed site (``'*'`` on
channel ``moderation_lists``, migration 0005) now fires on any change of a site row: a paused
site, new origins or blocked words reach every worker of every host as a decision does.

The same statement is in ``moderation/state_cache.py`` (for ``create_all``); keep them alike.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 14:00:00
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Replaces migration 0005's "site_lists_changed AFTER UPDATE OF slug OR DELETE".
SITE_CHANGED = """
CREATE TRIGGER site_changed AFTER UPDATE OR DELETE ON site FOR EACH ROW
EXECUTE FUNCTION moderation_lists_reset();
"""
BEFORE = """
CREATE TRIGGER site_lists_changed AFTER UPDATE OF slug OR DELETE ON site FOR EACH ROW
EXECUTE FUNCTION moderation_lists_reset();
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS site_lists_changed ON site;" + SITE_CHANGED)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS site_changed ON site;" + BEFORE)
