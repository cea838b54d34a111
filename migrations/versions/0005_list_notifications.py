"""List changes are announced: triggers NOTIFY the workers' caches (PostgreSQL only).

Each worker keeps the articles' list states (version, approved count) in memory and learns of
every change through LISTEN (``moderation/state_cache.py``). These triggers send the
notification in the transaction that makes the change, whichever code or SQL makes it:
``'<site id>:<article key>'`` on channel ``moderation_lists`` when an article's version,
approved count, key or site changes, when it is removed, or when one is created with a list
already; ``'*'`` when a site is renamed or removed or either table is truncated. SQLite has no
such cache, and gets nothing.

The same statements are in ``moderation/state_cache.py`` (for ``create_all``); keep them alike.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:30:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FUNCTIONS = """
CREATE OR REPLACE FUNCTION moderation_list_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('moderation_lists', OLD.site_id || ':' || OLD.key);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('moderation_lists', NEW.site_id || ':' || NEW.key);
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION moderation_lists_reset() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('moderation_lists', '*');
    RETURN NULL;
END $$;
"""
TRIGGERS = """
CREATE TRIGGER site_lists_changed AFTER UPDATE OF slug OR DELETE ON site FOR EACH ROW
EXECUTE FUNCTION moderation_lists_reset();
CREATE TRIGGER site_lists_truncated AFTER TRUNCATE ON site FOR EACH STATEMENT
EXECUTE FUNCTION moderation_lists_reset();
CREATE TRIGGER article_list_changed AFTER UPDATE ON article FOR EACH ROW
WHEN (OLD.version IS DISTINCT FROM NEW.version
      OR OLD.approved_count IS DISTINCT FROM NEW.approved_count
      OR OLD.key IS DISTINCT FROM NEW.key OR OLD.site_id IS DISTINCT FROM NEW.site_id)
EXECUTE FUNCTION moderation_list_changed();
CREATE TRIGGER article_list_added AFTER INSERT ON article FOR EACH ROW
WHEN (NEW.version <> 0 OR NEW.approved_count <> 0)
EXECUTE FUNCTION moderation_list_changed();
CREATE TRIGGER article_list_removed AFTER DELETE ON article FOR EACH ROW
EXECUTE FUNCTION moderation_list_changed();
CREATE TRIGGER article_lists_truncated AFTER TRUNCATE ON article FOR EACH STATEMENT
EXECUTE FUNCTION moderation_lists_reset();
"""
DROP = """
DROP TRIGGER IF EXISTS article_lists_truncated ON article;
DROP TRIGGER IF EXISTS article_list_removed ON article;
DROP TRIGGER IF EXISTS article_list_added ON article;
DROP TRIGGER IF EXISTS article_list_changed ON article;
DROP TRIGGER IF EXISTS site_lists_truncated ON site;
DROP TRIGGER IF EXISTS site_lists_changed ON site;
DROP FUNCTION IF EXISTS moderation_lists_reset();
DROP FUNCTION IF EXISTS moderation_list_changed();
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTIONS + TRIGGERS)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP)
